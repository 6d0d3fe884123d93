# Reference values from R's `survey` package for the list experiments of perception
# (perception/analysis/list_experiments.py, list_diagnostics.py, list_models.py).
#
# Run from the repository root:
#     Rscript tests/reference/make_list_experiments.R
# Reads  R survey's data(api); tests/reference/panel_villages3.csv (make_reference.R).
# Writes tests/reference/list_experiments_reference.csv (case,key,value; 17 digits).
#
# A synthetic list experiment, deterministic (no random numbers), is added to the data;
# tests/analysis/test_list_experiments.py builds the same columns:
#   api data (J = 3):
#     le_list  = 1 if (snum * 37) %% 11 < 5 else 0            (the list heard)
#     control  = (api00 > 650) + (meals < 40) + (mobility > 15)
#     le_count = control + le_list * (ell > 25)                  (sensitive: ell > 25)
#   panel_villages3 (J = 3), rnum = the respondent number of `respondent`:
#     le_list  = (rnum + wave) %% 2
#     control  = trust + (score > 1.5) + (rnum %% 3 == 0)
#     le_count = control + le_list * (score > 2.2)
#
# The prevalence is svyby(~le_count, ~le_list [+ domain], design, svymean, covmat = TRUE)
# followed by svycontrast (treatment list minus control list); its design effect is the
# variance of that contrast over the sum of the two means' SRS variances (SE^2 / deff of
# each mean, deff = "replace"). The proportions of respondent types of Blair & Imai's
# test are contrasts of the means of I(le_count <= y) on the two lists.

suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.replicates.mse = FALSE, warn = 1)

OUT <- file.path("tests", "reference")
stopifnot(dir.exists(OUT))
fmt <- function(x) vapply(as.numeric(x), function(v) format(v, digits = 17), character(1))
.rows <- list()
rec <- function(case, key, value) {
  value <- as.numeric(value)
  if (length(key) == 1 && length(value) > 1) key <- paste0(key, ":", seq_along(value))
  stopifnot(length(key) == length(value))
  .rows[[length(.rows) + 1]] <<- data.frame(case = case, key = key, value = fmt(value))
}

add_list_api <- function(d) {
  d$le_list <- as.integer((d$snum * 37) %% 11 < 5)
  control <- (d$api00 > 650) + (d$meals < 40) + (d$mobility > 15)
  d$le_count <- control + d$le_list * (d$ell > 25)
  for (y in 0:3) d[[paste0("le", y)]] <- as.numeric(d$le_count <= y)
  d
}

data(api)
strat_data <- add_list_api(apistrat)
clus1_data <- add_list_api(apiclus1)
clus2_data <- add_list_api(apiclus2)
pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
designs <- list(
  strat = svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat_data),
  clus1 = svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = clus1_data),
  clus2 = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = clus2_data)
)
designs$clus1_ps <- postStratify(designs$clus1, ~stype, pop.types)
designs$jk1_clus1 <- as.svrepdesign(designs$clus1, type = "JK1")

# the prevalence of a svyby table by le_list (+ domain): contrasts and design effects
prevalence <- function(case, b, domains, design) {
  lab <- rownames(b)
  L <- list()
  for (g in domains) {
    v <- setNames(numeric(length(lab)), lab)
    if (g == "") {
      v[c("0", "1")] <- c(-1, 1)
    } else {
      v[paste0(c("0.", "1."), g)] <- c(-1, 1)
    }
    L[[if (g == "") "all" else g]] <- v
  }
  ct <- svycontrast(b, L)
  V <- vcov(ct)
  se_arm <- setNames(SE(b), lab)
  d_arm <- setNames(b[["DEff.le_count"]], lab)  # deff.svyby reads only deff = TRUE
  for (i in seq_along(L)) {
    g <- names(L)[i]
    arms <- names(which(L[[i]] != 0))
    vsrs <- sum(se_arm[arms]^2 / d_arm[arms])
    rec(case, paste0(g, ":est"), coef(ct)[i])
    rec(case, paste0(g, ":se"), sqrt(V[i, i]))
    rec(case, paste0(g, ":deff"), V[i, i] / vsrs)
    for (j in seq_along(L)) rec(case, paste0("vcov:", g, ":", names(L)[j]), V[i, j])
  }
  rec(case, "degf", degf(design))
}

for (name in setdiff(names(designs), "clus1_ps")) {
  d <- designs[[name]]
  b <- svyby(~le_count, ~le_list, d, svymean, covmat = TRUE, deff = "replace")
  prevalence(paste0(name, "/prevalence"), b, "", d)
  b <- svyby(~le_count, ~le_list + stype, d, svymean, covmat = TRUE, deff = "replace")
  prevalence(paste0(name, "/prevalence_by_stype"), b, c("E", "H", "M"), d)
}

# the post-stratified design: svyby(covmat = TRUE) fails on it in survey 4.1.1, so the
# lists' means are the ratios sum(w y 1[list, domain]) / sum(w 1[list, domain]) of
# svyratio(covmat = TRUE) (the same estimator) and their contrasts are taken by hand
d <- designs$clus1_ps
for (by_stype in c(FALSE, TRUE)) {
  groups <- if (by_stype) c("E", "H", "M") else "all"
  num <- den <- character(0)
  for (g in groups) for (a in 0:1) {
    inside <- (d$variables$le_list == a) & (if (by_stype) d$variables$stype == g else TRUE)
    d$variables[[paste0("d_", g, "_", a)]] <- as.numeric(inside)
    d$variables[[paste0("n_", g, "_", a)]] <- d$variables$le_count * inside
    num <- c(num, paste0("n_", g, "_", a)); den <- c(den, paste0("d_", g, "_", a))
  }
  r <- svyratio(as.formula(paste("~", paste(num, collapse = "+"))),
                as.formula(paste("~", paste(den, collapse = "+"))), d, covmat = TRUE)
  keep <- paste0(num, "/", den)
  est <- coef(r)[keep]
  V <- vcov(r)[keep, keep]
  L <- matrix(0, length(groups), length(keep))
  for (i in seq_along(groups)) L[i, c(2 * i - 1, 2 * i)] <- c(-1, 1)
  pe <- as.vector(L %*% est)
  pv <- L %*% V %*% t(L)
  case <- if (by_stype) "clus1_ps/prevalence_by_stype" else "clus1_ps/prevalence"
  for (i in seq_along(groups)) {
    rec(case, paste0(groups[i], ":est"), pe[i])
    rec(case, paste0(groups[i], ":se"), sqrt(pv[i, i]))
    for (j in seq_along(groups)) rec(case, paste0("vcov:", groups[i], ":", groups[j]), pv[i, j])
  }
  rec(case, "degf", degf(d))
}

# ---- Blair & Imai's proportions of respondent types, design-based ------------------
for (name in c("strat", "clus1", "jk1_clus1")) {
  d <- designs[[name]]
  b <- svyby(~le0 + le1 + le2 + le3, ~le_list, d, svymean, covmat = TRUE)
  lab <- names(coef(b))  # "0:le0", "1:le0", ...
  J <- 3
  L <- list()
  for (y in 0:(J - 1)) {  # pi(y, 1) = P(Y <= y | control) - P(Y <= y | treatment)
    v <- setNames(numeric(length(lab)), lab)
    v[paste0("0:le", y)] <- 1; v[paste0("1:le", y)] <- -1
    L[[paste0("y", y, "z1")]] <- v
  }
  for (y in 1:J) {  # pi(y, 0) = P(Y <= y | treatment) - P(Y <= y - 1 | control)
    v <- setNames(numeric(length(lab)), lab)
    v[paste0("1:le", y)] <- 1; v[paste0("0:le", y - 1)] <- -1
    L[[paste0("y", y, "z0")]] <- v
  }
  ct <- svycontrast(b, L)
  V <- vcov(ct)
  for (i in seq_along(L)) {
    rec(paste0(name, "/types"), paste0(names(L)[i], ":est"), coef(ct)[i])
    for (j in seq_along(L)) rec(paste0(name, "/types"),
                                paste0("vcov:", names(L)[i], ":", names(L)[j]), V[i, j])
  }
}

# ---- the linear list model: svyglm(count ~ (x) * list) ----------------------------
for (name in c("strat", "clus1", "jk1_clus1")) {
  fit <- svyglm(le_count ~ ell * le_list, design = designs[[name]])
  cf <- summary(fit)$coefficients
  for (t in rownames(cf)) {
    rec(paste0(name, "/linear"), paste0(t, ":est"), cf[t, 1])
    rec(paste0(name, "/linear"), paste0(t, ":se"), cf[t, 2])
  }
  rec(paste0(name, "/linear"), "df.residual", fit$df.residual)
}

# ---- waves: change and DiD of the prevalence ------------------------------------------
p3 <- read.csv(file.path(OUT, "panel_villages3.csv"), stringsAsFactors = FALSE)
rnum <- as.integer(sub(".*-r", "", p3$respondent))
p3$le_list <- (rnum + p3$wave) %% 2
p3$le_count <- p3$trust + (p3$score > 1.5) + (rnum %% 3 == 0) + p3$le_list * (p3$score > 2.2)
dp3 <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = p3, nest = TRUE)
rep3 <- as.svrepdesign(dp3, type = "JKn")
for (name in c("panel", "panel_jkn")) {
  d <- if (name == "panel") dp3 else rep3
  b <- svyby(~le_count, ~le_list + wave, d, svymean, covmat = TRUE, deff = "replace")
  prevalence(paste0(name, "/prevalence_by_wave"), b, c("0", "1", "2"), d)
  lab <- rownames(b)
  for (k in 1:2) {  # change of the prevalence, wave k minus wave 0
    v <- setNames(numeric(length(lab)), lab)
    v[c(paste0("1.", k), paste0("0.", k), "1.0", "0.0")] <- c(1, -1, -1, 1)
    ct <- svycontrast(b, v)
    rec(paste0(name, "/change"), paste0(k, ":est"), coef(ct))
    rec(paste0(name, "/change"), paste0(k, ":se"), SE(ct))
  }
  b <- svyby(~le_count, ~le_list + treated + wave, d, svymean, covmat = TRUE)
  lab <- rownames(b)
  L <- list()
  for (k in 1:2) {  # DiD of the prevalence: (T_k - T_0) - (C_k - C_0), each a contrast of lists
    v <- setNames(numeric(length(lab)), lab)
    for (tr in 0:1) for (w in c(0, k)) {
      sign <- (if (tr == 1) 1 else -1) * (if (w == k) 1 else -1)
      v[paste0("1.", tr, ".", w)] <- sign
      v[paste0("0.", tr, ".", w)] <- -sign
    }
    L[[paste0("did", k)]] <- v
  }
  ct <- svycontrast(b, L)
  for (i in 1:2) {
    rec(paste0(name, "/did"), paste0(i, ":est"), coef(ct)[i])
    rec(paste0(name, "/did"), paste0(i, ":se"), sqrt(vcov(ct)[i, i]))
  }
  rec(paste0(name, "/did"), "cov:1:2", vcov(ct)[1, 2])
  rec(paste0(name, "/did"), "degf", degf(d))
}

df <- do.call(rbind, .rows)
stopifnot(!any(duplicated(df[, c("case", "key")])))
write.table(df, file.path(OUT, "list_experiments_reference.csv"), sep = ",", quote = FALSE,
            row.names = FALSE)
cat(sprintf("wrote list_experiments_reference.csv: %d rows\n", nrow(df)))
