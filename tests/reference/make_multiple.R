# Reference values for select-multiple questions (perception/survey/multiple_choice.py;
# tests/survey/test_multiple_choice.py). Run from the repository root:
#   Rscript tests/reference/make_multiple.R
# Reads tests/reference/multiple_data.csv (written by make_multiple_data.py) and writes
# tests/reference/multiple_reference.csv (case,key,value; values with 17 digits).
# Each option of `ca` is a 0/1 indicator, NA for respondents not asked (aware != 1), who
# answered with a missing code (98, 99) or left it blank: svymean(na.rm = TRUE) on them.
# R 4.2 with survey 4.1.
suppressMessages(library(survey))
options(survey.lonely.psu = "fail")

dat <- read.csv("tests/reference/multiple_data.csv", colClasses = c(ca = "character"))
answered <- dat$aware == 1 & !is.na(dat$ca) & dat$ca != "" & !(dat$ca %in% c("98", "99"))
options_ca <- c("1", "2", "3", "4", "0")
for (k in options_ca) {
  chosen <- sapply(strsplit(ifelse(is.na(dat$ca), "", dat$ca), " "), function(t) k %in% t)
  dat[[paste0("y", k)]] <- ifelse(answered, as.numeric(chosen), NA)
}
d <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = dat)
ys <- paste0("y", options_ca)
f <- as.formula(paste("~", paste(ys, collapse = " + ")))
out <- list()
put <- function(case, key, value) {
  out[[length(out) + 1]] <<- data.frame(case = case, key = key,
                                        value = format(as.numeric(unname(unlist(value))), digits = 17))
}

# overall: estimates, SEs, deff and the covariance of the options
m <- svymean(f, d, na.rm = TRUE, deff = "replace")
for (i in seq_along(ys)) {
  k <- options_ca[i]
  put("overall", paste0(k, ":est"), coef(m)[i])
  put("overall", paste0(k, ":se"), SE(m)[i])
  put("overall", paste0(k, ":deff"), deff(m)[i])
}
v <- vcov(m)
put("overall", "cov_1_2", v[1, 2])
put("overall", "cov_3_0", v[3, 5])

# intervals of svyciprop (logit, beta) for two options
for (k in c("1", "0")) {
  for (meth in c("logit", "beta")) {
    ci <- svyciprop(as.formula(paste0("~y", k)), d, method = meth, na.rm = TRUE)
    put(paste0("ciprop_", meth), paste0(k, ":low"), confint(ci)[1])
    put(paste0("ciprop_", meth), paste0(k, ":high"), confint(ci)[2])
  }
}

# by g
b <- svyby(f, ~g, d, svymean, na.rm = TRUE)
for (gi in b$g) {
  for (k in options_ca) {
    put("by_g", paste0(gi, ":", k, ":est"), b[b$g == gi, paste0("y", k)])
    put("by_g", paste0(gi, ":", k, ":se"), b[b$g == gi, paste0("se.y", k)])
  }
}

# change between waves (PSUs revisited): svyby(covmat = TRUE) + svycontrast
# (svyby's covmat = TRUE fails with na.rm = TRUE: the rows answered, as a subset, instead)
bw <- svyby(f, ~wave, subset(d, answered), svymean, covmat = TRUE)
for (k in options_ca) {
  w0 <- paste0("0:y", k)
  w1 <- paste0("1:y", k)
  L <- setNames(rep(0, length(coef(bw))), names(coef(bw)))
  L[w0] <- -1
  L[w1] <- 1
  ch <- svycontrast(bw, L)
  put("change", paste0(k, ":est"), coef(ch))
  put("change", paste0(k, ":se"), SE(ch))
}

# did: svyglm(y ~ treated * factor(wave)) on each indicator
for (k in options_ca) {
  fit <- svyglm(as.formula(paste0("y", k, " ~ treated * factor(wave)")), d)
  put("did", paste0(k, ":est"), coef(fit)["treated:factor(wave)1"])
  put("did", paste0(k, ":se"), SE(fit)["treated:factor(wave)1"])
}

write.csv(do.call(rbind, out), "tests/reference/multiple_reference.csv", row.names = FALSE)
