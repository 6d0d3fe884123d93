# Reference values for tests/test_reliability_reference.py: replicate designs whose
# replicates leave a domain, a model term or a level without weight.
#
#   Rscript tests/reference/make_reliability.R      (from the repository root)
#
# Reads tests/reference/reliability_data.csv (written by make_reliability_data.py),
# writes tests/reference/reliability_reference.csv (case,key,value; values with 17
# significant digits). R 4.2, survey 4.1.
suppressMessages(library(survey))
options(survey.lonely.psu = "fail", survey.replicates.mse = FALSE)
here <- file.path("tests", "reference")
d <- read.csv(file.path(here, "reliability_data.csv"))
# svyglm.svyrep.design evaluates its own variable `g` inside the data: rename ours
names(d)[names(d) == "g"] <- "g_row"
rw <- grep("^rw[0-9]+$", names(d), value = TRUE)
boot <- svrepdesign(data = d, weights = ~w, repweights = d[, rw], type = "bootstrap",
                    scale = 1 / (length(rw) - 1), rscales = 1, combined.weights = TRUE,
                    mse = FALSE)
rows <- list()
put <- function(case, key, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, key = key,
                                          value = format(value, digits = 17))
}

# 1. svyglm on bootstrap replicates, some of which have no weight in a term's cells:
#    glm.fit gives NA for that term and svrVar discards those replicates (warning)
discarded <- 0
fit <- withCallingHandlers(
  svyglm(y ~ grp * treated * factor(wave), design = subset(boot, !is.na(y))),
  warning = function(w) {
    n <- suppressWarnings(as.integer(sub(" .*", "", conditionMessage(w))))
    if (!is.na(n)) discarded <<- n
    invokeRestart("muffleWarning")
  })
put("glm_discarded", "discarded", discarded)
se <- sqrt(diag(vcov(fit)))
for (term in names(coef(fit))) {
  put("glm_discarded", paste0(term, ":est"), coef(fit)[[term]])
  put("glm_discarded", paste0(term, ":se"), se[[term]])
}

# 2. svyciprop (logit) of each level of t1 in each domain of grp, bootstrap replicates:
#    each level and domain on its own (rare levels 8/9 lose replicates, 0-3 do not)
for (group in c("north", "south")) {
  part <- subset(boot, grp == group)
  for (level in c(0, 1, 2, 3)) {
    ci <- svyciprop(as.formula(paste0("~I(t1 == ", level, ")")), part, method = "logit")
    key <- paste0(group, ":", level)
    put("ciprop_logit_boot", paste0(key, ":est"), coef(ci))
    put("ciprop_logit_boot", paste0(key, ":lo"), confint(ci)[1])
    put("ciprop_logit_boot", paste0(key, ":hi"), confint(ci)[2])
  }
}

# 3. svyby means on a JKn design with a domain held by one village: the replicate that
#    drops the village has no weight in the domain (NaN, discarded for it alone)
jkn <- as.svrepdesign(svydesign(ids = ~v, strata = ~s, weights = ~w, data = d), type = "JKn")
by <- suppressWarnings(svyby(~x, ~tiny, jkn, svymean))
for (level in rownames(by)) {
  put("svyby_jkn_tiny", paste0(level, ":est"), coef(by)[[level]])
  put("svyby_jkn_tiny", paste0(level, ":se"), sqrt(diag(vcov(by)))[[level]])
}

out <- do.call(rbind, rows)
write.csv(out, file.path(here, "reliability_reference.csv"), row.names = FALSE, quote = FALSE)
cat("wrote", nrow(out), "rows\n")
