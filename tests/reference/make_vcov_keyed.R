# Reference values for estimate tables whose covariance is keyed by row identity
# (tests/test_vcov_keyed.py): domain estimates with their full covariance
# (svyby(..., covmat = TRUE)) and contrasts of them (svycontrast). The Python tests
# compute the same contrasts on the tables as estimated, and on the same tables sorted,
# filtered, reset and concatenated from pieces, and compare them with these values.
#
# Run from the repository root:
#     Rscript tests/reference/make_vcov_keyed.R
# Reads  R survey's api data (library(survey); data(api)); nothing outside R.
# Writes tests/reference/vcov_keyed.csv: long format case,key,value (no quoting), values
#        printed with format(x, digits = 17) so they round-trip to the same double.
#
# Keys of a case:
#   <contrast>:est, <contrast>:se   svycontrast of the case's svyby table
#   vcov|<a>|<b>                     covariance of two contrasts (svycontrast with a list)
#   row|<a>|<b>                      covariance of two svyby rows, by R's coefficient names
#                                    ("E" for one variable and one by, "E:api00" for two
#                                    variables, "E:mealcathigh" for a factor, "E.Yes" for
#                                    two by columns)
#
# Derived column (recomputed the same way by the Python tests, as in make_models.R):
#   mealcat = "low" if meals <= 33, "mid" if meals <= 66, else "high"
#
# CI has no R: the CSV is committed data. Re-run only to regenerate (R 4.2, survey 4.1.1).

suppressPackageStartupMessages(library(survey))
data(api)

OUT <- file.path("tests", "reference")
stopifnot(dir.exists(OUT))
options(survey.lonely.psu = "fail", warn = 1)

mealcat <- function(meals) ifelse(meals <= 33, "low", ifelse(meals <= 66, "mid", "high"))
apiclus1$mealcat <- mealcat(apiclus1$meals)

strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
clus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)

fmt <- function(x) vapply(as.numeric(x), function(v) format(v, digits = 17), character(1))
rows <- list()
rec <- function(case, key, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, key = key, value = fmt(value),
                                          stringsAsFactors = FALSE)
}

# the domain table's covariance, then each contrast alone and all of them together
record <- function(case, table, contrasts) {
  V <- vcov(table)
  for (a in rownames(V)) for (b in colnames(V)) rec(case, paste("row", a, b, sep = "|"), V[a, b])
  for (name in names(contrasts)) {
    one <- svycontrast(table, contrasts[[name]])
    rec(case, paste0(name, ":est"), coef(one))
    rec(case, paste0(name, ":se"), SE(one))
  }
  all <- svycontrast(table, contrasts)
  W <- vcov(all)
  for (a in names(contrasts)) for (b in names(contrasts))
    rec(case, paste("vcov", a, b, sep = "|"), W[a, b])
}

by_type <- list(
  "H-M" = c(E = 0, H = 1, M = -1),
  "E-H" = c(E = 1, H = -1, M = 0),
  "E-HM" = c(E = 1, H = -0.5, M = -0.5)
)
record("strat/api00_by_stype",
       svyby(~api00, ~stype, strat, svymean, covmat = TRUE), by_type)
record("clus1/api00_by_stype",
       svyby(~api00, ~stype, clus1, svymean, covmat = TRUE), by_type)

# several variables by domain: coefficients "E:api00", ..., "M:api99"
record("clus1/api00_api99_by_stype",
       svyby(~api00 + api99, ~stype, clus1, svymean, covmat = TRUE),
       list("growth_E-H" = c("E:api00" = 1, "E:api99" = -1, "H:api00" = -1, "H:api99" = 1),
            "api00_M-E" = c("M:api00" = 1, "E:api00" = -1)))

# proportions by domain: coefficients "E:mealcathigh", ..., "M:mealcatmid"
record("clus1/mealcat_by_stype",
       svyby(~mealcat, ~stype, clus1, svymean, covmat = TRUE),
       list("high_E-H" = c("E:mealcathigh" = 1, "H:mealcathigh" = -1),
            "M_low-high" = c("M:mealcatlow" = 1, "M:mealcathigh" = -1)))

# two by columns: coefficients "E.No", ..., "M.Yes"
record("clus1/api00_by_stype_awards",
       svyby(~api00, ~stype + awards, clus1, svymean, covmat = TRUE),
       list("awards_E" = c("E.Yes" = 1, "E.No" = -1),
            "awards_H-E" = c("H.Yes" = 1, "H.No" = -1, "E.Yes" = -1, "E.No" = 1)))

out <- do.call(rbind, rows)
stopifnot(!any(grepl("[,\"\n]", out$key)), !any(duplicated(out[, c("case", "key")])))
write.table(out, file.path(OUT, "vcov_keyed.csv"), sep = ",", quote = FALSE,
            row.names = FALSE)
cat(sprintf("wrote vcov_keyed.csv: %d rows, %d cases\n", nrow(out), length(unique(out$case))))
