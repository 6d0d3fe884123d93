# Reference values from R's `survey` package for perception/analysis/ (changes, DiD, power)
# (issue #6), beyond those of make_reference.R (reference_change.csv).
#
# Run from the repository root:
#     Rscript tests/reference/make_change.R
# Reads  tests/reference/panel_villages.csv, panel_villages3.csv (make_reference.R).
# Writes tests/reference/change_reference.csv (case,key,value; 17 significant digits)
#        tests/reference/change_panel.csv (a panel of re-interviewed respondents).
#
# Derived columns added to panel_villages3.csv (deterministic, also rebuilt by the tests):
#   region = "A" for strata S1, S2 and "B" for S3, S4     (subgroup for heterogeneity)
#   sex    = 1 + (respondent number %% 2)                  (factor covariate)
#   x      = (respondent number %% 5) / 2                  (numeric covariate)
#   trust_na = trust with NA in rows 5, 17, 230, 611, 1001 (1-based)

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
rec_contrast <- function(case, ct, df) {
  rec(case, "est", coef(ct)); rec(case, "se", SE(ct))
  rec(case, "p", 2 * pt(-abs(coef(ct) / SE(ct)), df))
}
rec_terms <- function(case, fit, terms) {
  cf <- summary(fit)$coefficients
  for (t in terms) {
    rec(case, paste0(t, ":est"), cf[t, 1]); rec(case, paste0(t, ":se"), cf[t, 2])
    rec(case, paste0(t, ":p"), cf[t, 4])
  }
  rec(case, "df.residual", fit$df.residual)
}
rec_test <- function(case, tt) {
  rec(case, "F", tt$Ftest); rec(case, "ndf", tt$df); rec(case, "ddf", tt$ddf); rec(case, "p", tt$p)
}

p2 <- read.csv(file.path(OUT, "panel_villages.csv"), stringsAsFactors = FALSE)
p3 <- read.csv(file.path(OUT, "panel_villages3.csv"), stringsAsFactors = FALSE)
rnum <- as.integer(sub(".*-r", "", p3$respondent))
p3$region <- ifelse(p3$stratum %in% c("S1", "S2"), "A", "B")
p3$sex <- 1 + rnum %% 2
p3$x <- (rnum %% 5) / 2
p3$trust_na <- p3$trust
p3$trust_na[c(5, 17, 230, 611, 1001)] <- NA
p3$fwave <- factor(p3$wave)
p3$fsex <- factor(p3$sex)

dp2 <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = p2, nest = TRUE)
dp3 <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = p3, nest = TRUE)

# ---- relative change (delta method) ---------------------------------------------
for (y in c("trust", "score")) {
  b <- svyby(as.formula(paste0("~", y)), ~wave, dp2, svymean, covmat = TRUE)
  rec_contrast(paste0("relative/", y), svycontrast(b, quote(`2` / `1` - 1)), degf(dp2))
  bt <- svyby(as.formula(paste0("~", y)), ~wave + treated, dp2, svymean, covmat = TRUE)
  rec_contrast(paste0("relative/", y, "/treated1"),
               svycontrast(bt, quote(`2.1` / `1.1` - 1)), degf(dp2))
}

# ---- change by two by-columns, 3 waves, consecutive --------------------------------
b <- svyby(~score, ~wave + treated + region, dp3, svymean, covmat = TRUE)
lab <- rownames(b)
for (g in c("0.A", "1.B")) {
  for (k in 1:2) {
    v <- setNames(numeric(length(lab)), lab)
    v[paste0(k - 1, ".", g)] <- -1; v[paste0(k, ".", g)] <- 1
    rec_contrast(paste0("byby/score/", g, "/", k, "_minus_", k - 1), svycontrast(b, v), degf(dp3))
  }
}

# ---- heterogeneity: subgroup-interacted DiD -------------------------------------
for (y in c("trust", "score")) {
  fit <- svyglm(as.formula(paste(y, "~ region * treated * fwave")), design = dp3)
  rec_terms(paste0("hetero/", y), fit, c("treated:fwave1", "treated:fwave2",
                                         "regionB:treated:fwave1", "regionB:treated:fwave2"))
  # subgroup B's effects: A's interaction plus the difference
  for (k in 1:2) {
    ct <- svycontrast(fit, setNames(c(1, 1), c(paste0("treated:fwave", k),
                                               paste0("regionB:treated:fwave", k))))
    rec_contrast(paste0("hetero/", y, "/effectB", k), ct, fit$df.residual)
  }
  rec_test(paste0("hetero/", y, "/all"), regTermTest(fit, ~region:treated:fwave))
  d3e <- update(dp3, tB1 = (region == "B") * treated * (wave == 1),
                tB2 = (region == "B") * treated * (wave == 2))
  fite <- svyglm(as.formula(paste(y, "~ region * treated * fwave - region:treated:fwave + tB1 + tB2")),
                 design = d3e)
  stopifnot(abs(coef(fite)["tB2"] - coef(fit)["regionB:treated:fwave2"]) < 1e-8)
  rec_test(paste0("hetero/", y, "/period2"), regTermTest(fite, ~tB2))
}

# ---- covariates (additive) ------------------------------------------------------
for (y in c("trust", "score")) {
  fit <- svyglm(as.formula(paste(y, "~ treated * fwave + x + fsex")), design = dp3)
  rec_terms(paste0("covariates/", y), fit, c("treated:fwave1", "treated:fwave2", "x", "fsex2"))
}

# ---- missing outcome values (svyglm drops them; PSUs keep their other rows) -------
fit <- svyglm(trust_na ~ treated * fwave, design = dp3)
rec_terms("missing/trust_na", fit, c("treated:fwave1", "treated:fwave2"))
# svyby(na.rm = TRUE, covmat = TRUE) fails in survey 4.1.1: subset first (same estimate)
b <- svyby(~trust_na, ~wave, subset(dp3, !is.na(trust_na)), svymean, covmat = TRUE)
rec_contrast("missing/trust_na/change_2_minus_0", svycontrast(b, c(-1, 0, 1)), degf(dp3))

# ---- a domain: the DiD inside strata S1-S3 ----------------------------------------
sub <- subset(dp3, stratum != "S4")
fit <- svyglm(score ~ treated * fwave, design = sub)
rec_terms("subset/score", fit, c("treated:fwave1", "treated:fwave2"))

# ---- replicate design (stratified jackknife) --------------------------------------
rep2 <- as.svrepdesign(dp2, type = "JKn")
rec("jkn", "degf", degf(rep2))
for (y in c("trust", "score")) {
  b <- svyby(as.formula(paste0("~", y)), ~wave, rep2, svymean, covmat = TRUE)
  rec_contrast(paste0("jkn/", y, "/change_2_minus_1"), svycontrast(b, c(-1, 1)), degf(rep2))
  fit <- svyglm(as.formula(paste(y, "~ treated * factor(wave)")), design = rep2)
  rec_terms(paste0("jkn/", y, "/glm_did"), fit, c("treated:factor(wave)2"))
}

# ---- a panel of re-interviewed respondents ----------------------------------------
# 3 strata x 8 villages x 6 respondents; wave 2 re-interviews each respondent with
# probability 0.8, the others are replaced by new respondents of the same village.
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240612)
rows <- list()
for (h in 1:3) for (v in 1:8) {
  psu <- sprintf("H%dV%d", h, v)
  u <- rnorm(1, 0, 0.5)
  treated <- as.integer(v <= 4)
  w <- 50 * h + 10 * v
  ids1 <- sprintf("%s-p%02d", psu, 1:6)
  keep <- runif(6) < 0.8
  ids2 <- c(ids1[keep], sprintf("%s-p%02d", psu, 6 + seq_len(sum(!keep))))
  person <- setNames(rnorm(6 + sum(!keep), 0, 0.8), c(ids1, ids2[!ids2 %in% ids1]))
  for (wave in 1:2) {
    ids <- if (wave == 1) ids1 else ids2
    eta <- -0.3 + u + person[ids] + 0.2 * (wave == 2) + 0.5 * treated * (wave == 2)
    rows[[length(rows) + 1]] <- data.frame(
      stratum = paste0("H", h), psu = psu, resp_id = ids, wave = wave, treated = treated,
      y = rbinom(length(ids), 1, plogis(eta)),
      score = round(2 + eta + rnorm(length(ids), 0, 0.5), 6), w = w, stringsAsFactors = FALSE)
  }
}
panel <- do.call(rbind, rows)
rownames(panel) <- NULL
num <- vapply(panel, is.numeric, logical(1))
out <- panel
for (j in which(num)) out[[j]] <- fmt(out[[j]])
write.csv(out, file.path(OUT, "change_panel.csv"), row.names = FALSE, quote = which(!num))
dpp <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = panel)
rec("panel_resp", "degf", degf(dpp))
for (y in c("y", "score")) {
  b <- svyby(as.formula(paste0("~", y)), ~wave, dpp, svymean, covmat = TRUE)
  rec_contrast(paste0("panel_resp/", y, "/change"), svycontrast(b, c(-1, 1)), degf(dpp))
  fit <- svyglm(as.formula(paste(y, "~ treated * factor(wave)")), design = dpp)
  rec_terms(paste0("panel_resp/", y, "/glm_did"), fit, c("treated:factor(wave)2"))
}

# ---- ICC: ANOVA mean squares (no ICC in survey) ----------------------------------
icc_from <- function(fit_anova, cluster_row, n, n0) {
  a <- anova(fit_anova)
  msb <- a[cluster_row, "Mean Sq"]; msw <- a["Residuals", "Mean Sq"]
  c(msb = msb, msw = msw, n0 = n0, icc = (msb - msw) / (msb + (n0 - 1) * msw))
}
n0_of <- function(w, cluster, stratum) {
  n_i <- tapply(w, cluster, sum)
  st_i <- tapply(stratum, cluster, function(s) s[1])
  n_h <- tapply(w, stratum, sum)
  (sum(w) - sum(n_i^2 / n_h[st_i])) / (length(n_i) - length(n_h))
}
w0 <- p3[p3$wave == 0, ]
w0$wn <- w0$w * nrow(w0) / sum(w0$w)
one <- rep("all", nrow(w0))
for (y in c("trust", "score")) {
  f_str <- as.formula(paste(y, "~ factor(stratum) + factor(psu)"))
  f_one <- as.formula(paste(y, "~ factor(psu)"))
  v <- icc_from(lm(f_str, data = w0), "factor(psu)", nrow(w0), n0_of(rep(1, nrow(w0)), w0$psu, w0$stratum))
  rec(paste0("icc/", y, "/strata"), names(v), v)
  v <- icc_from(lm(f_one, data = w0), "factor(psu)", nrow(w0), n0_of(rep(1, nrow(w0)), w0$psu, one))
  rec(paste0("icc/", y, "/pooled"), names(v), v)
  v <- icc_from(lm(f_str, data = w0, weights = wn), "factor(psu)", nrow(w0), n0_of(w0$wn, w0$psu, w0$stratum))
  rec(paste0("icc/", y, "/strata_weighted"), names(v), v)
}

df <- do.call(rbind, .rows)
stopifnot(!any(duplicated(df[, c("case", "key")])))
write.table(df, file.path(OUT, "change_reference.csv"), sep = ",", quote = FALSE, row.names = FALSE)
cat(sprintf("wrote change_reference.csv: %d rows; change_panel.csv: %d rows\n", nrow(df), nrow(panel)))
