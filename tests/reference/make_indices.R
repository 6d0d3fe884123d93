# Reference values for perception/analysis/scales.py (tests/analysis/test_scales.py).
# Run from the repository root:  Rscript tests/reference/make_indices.R
# Reads tests/reference/indices_data.csv (written by make_indices_data.py) and writes
# tests/reference/indices_reference.csv (case,key,value; values with 17 digits).
# R 4.2 with survey 4.1.
suppressMessages(library(survey))
options(survey.lonely.psu = "fail")

dat <- read.csv("tests/reference/indices_data.csv")
d <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = dat)
out <- list()
put <- function(case, key, value) {
  out[[length(out) + 1]] <<- data.frame(case = case, key = key,
                                        value = format(as.numeric(unname(unlist(value))), digits = 17))
}
codes <- function(nm) sub("^factor\\([a-z0-9_]+\\)", "", nm)

# --- likert, "separate": missing codes are categories, NA is category -1 -------------
dat$c_sep <- ifelse(is.na(dat$c), -1, dat$c)
d <- update(d, c_sep = ifelse(is.na(c), -1, c))
for (item in c("a", "b", "c_sep")) {
  m <- svymean(as.formula(paste0("~factor(", item, ")")), d)
  name <- if (item == "c_sep") "c" else item
  for (i in seq_along(coef(m))) {
    k <- codes(names(coef(m))[i])
    put(paste0("likert_separate/", name), paste0(k, ":est"), coef(m)[i])
    put(paste0("likert_separate/", name), paste0(k, ":se"), SE(m)[i])
  }
}
# by g
b <- svyby(~factor(a), ~g, d, svymean)
for (g in rownames(b)) {
  for (k in c(0, 1, 2, 3, 8, 9)) {
    col <- paste0("factor(a)", k)
    put("likert_separate_by_g/a", paste0(g, ":", k, ":est"), b[g, col])
    put("likert_separate_by_g/a", paste0(g, ":", k, ":se"), b[g, paste0("se.", col)])
  }
}

# --- likert, "exclude": shares among substantive answers ----------------------------
for (item in c("a", "b", "c")) {
  valid <- subset(d, !is.na(get(item)) & !(get(item) %in% c(8, 9)))
  m <- svymean(as.formula(paste0("~factor(", item, ")")), valid)
  for (i in seq_along(coef(m))) {
    k <- codes(names(coef(m))[i])
    put(paste0("likert_exclude/", item), paste0(k, ":est"), coef(m)[i])
    put(paste0("likert_exclude/", item), paste0(k, ":se"), SE(m)[i])
  }
}

# --- top box (codes 2, 3 among substantive answers), logit interval -----------------
for (item in c("a", "b", "c")) {
  valid <- subset(d, !is.na(get(item)) & !(get(item) %in% c(8, 9)))
  ci <- svyciprop(as.formula(paste0("~I(", item, " %in% 2:3)")), valid, method = "logit")
  put(paste0("top_box/", item), "est", coef(ci))
  put(paste0("top_box/", item), "se", SE(ci))
  put(paste0("top_box/", item), "lo", confint(ci)[1])
  put(paste0("top_box/", item), "hi", confint(ci)[2])
}
valid <- subset(d, !(a %in% c(8, 9)))
b <- svyby(~I(a %in% 2:3), ~g, valid, svyciprop, vartype = c("se", "ci"), method = "logit")
for (i in seq_len(nrow(b))) {
  g <- b$g[i]
  put("top_box_by_g/a", paste0(g, ":est"), b[i, 2])
  put("top_box_by_g/a", paste0(g, ":se"), b[i, "se.as.numeric(I(a %in% 2:3))"])
  put("top_box_by_g/a", paste0(g, ":lo"), b[i, "ci_l"])
  put("top_box_by_g/a", paste0(g, ":hi"), b[i, "ci_u"])
}

# --- index: mean of the valid items rescaled to 0-100, at least 2 valid items -------
x <- as.matrix(dat[, c("a", "b", "c")])
x[!is.na(x) & x %in% c(8, 9)] <- NA
x[x %in% c(8, 9)] <- NA
scores <- 100 * x / 3
n_valid <- rowSums(!is.na(scores))
idx <- ifelse(n_valid >= 2, rowSums(scores, na.rm = TRUE) / n_valid, NA)
d <- update(d, idx = idx)
m <- svymean(~idx, d, na.rm = TRUE)
put("index", "est", coef(m))
put("index", "se", SE(m))
put("index", "n", sum(!is.na(idx)))
b <- svyby(~idx, ~g, d, svymean, na.rm = TRUE)
for (i in seq_len(nrow(b))) {
  put("index_by_g", paste0(b$g[i], ":est"), b$idx[i])
  put("index_by_g", paste0(b$g[i], ":se"), b$se[i])
}

# --- Cronbach's alpha: weighted (cov.wt) and unweighted (var), complete cases -------
alpha <- function(S) { k <- ncol(S); k / (k - 1) * (1 - sum(diag(S)) / sum(S)) }
ok <- complete.cases(x)
xc <- x[ok, ]
wc <- dat$w[ok]
Sw <- cov.wt(xc, wt = wc)$cov
put("alpha_weighted", "alpha", alpha(Sw))
put("alpha_weighted", "n", sum(ok))
put("alpha_unweighted", "alpha", alpha(var(xc)))
for (j in 1:3) {
  put("alpha_weighted", paste0(colnames(xc)[j], ":alpha_dropped"), alpha(Sw[-j, -j]))
  r <- cov.wt(cbind(xc[, j], rowSums(xc[, -j])), wt = wc, cor = TRUE)$cor[1, 2]
  put("alpha_weighted", paste0(colnames(xc)[j], ":item_rest_corr"), r)
}

# --- item nonresponse: weighted shares of 9, 8 and NA ------------------------------
for (item in c("a", "b", "c")) {
  v <- dat[[item]]
  w <- dat$w
  put(paste0("nonresponse/", item), "dont_know", sum(w[!is.na(v) & v == 9]) / sum(w))
  put(paste0("nonresponse/", item), "refused", sum(w[!is.na(v) & v == 8]) / sum(w))
  put(paste0("nonresponse/", item), "missing", sum(w[is.na(v)]) / sum(w))
}

res <- do.call(rbind, out)
write.csv(res, "tests/reference/indices_reference.csv", row.names = FALSE, quote = FALSE)
