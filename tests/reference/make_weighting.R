# Reference values for perception's weighting module (issue #5) that the first
# reference (make_reference.R -> reference_weighting.csv) does not cover.
#
# Run from the repository root:
#     Rscript tests/reference/make_weighting.R
# Reads  R survey's data(api): apiclus1, apiclus2, apistrat, apipop
# Writes tests/reference/weighting_reference.csv  (case,key,value; 17 significant digits)
#        tests/reference/weighting_weights.csv    (one row per apiclus1 school: weights)
#
# Written with R 4.2.2 and survey 4.1.1. The values are committed data: CI has no R.
#
# Cases (every design is `clus1 <- svydesign(id=~dnum, weights=~pw, fpc=~fpc,
# data=apiclus1)` unless named otherwise; margins are apipop's):
#   rake_tight        rake(clus1, list(~stype, ~sch.wide), ..., control=list(maxit=100,
#                     epsilon=1e-8))   -- perception's default convergence
#   jk1_rake_tight    the same on as.svrepdesign(clus1, type="JK1")
#   ps2               postStratify(clus1, ~stype + sch.wide, xtabs(~stype+sch.wide, apipop))
#   cal2_linear, cal2_raking, cal2_logit (bounds 0.5, 2.5), cal2_linear_bounded (0.6, 1.8)
#                     calibrate(clus1, ~stype + sch.wide + api99, population = totals)
#   cal_numeric       calibrate(clus1, ~api99 - 1, population = c(api99 = ...))
#   rake_cross        rake(clus1, list(~stype + sch.wide, ~comp.imp), ..., control = tight)
#   unweighted_raking, unweighted_logit (bounds 0.5, 2.5)
#                     calibrate(svydesign(id=~dnum, data=apiclus1), ~stype + api99, ...):
#                     weights of 1, so grake rescales them first (R warns that the bounds
#                     apply after rescaling)
#   chain_ps_rake, chain_ps_ps
#                     rake(postStratify(clus1, ~stype, ...), list(~sch.wide), ...) and
#                     postStratify(postStratify(clus1, ~stype, ...), ~sch.wide, ...)
#   strat_ps          postStratify(apistrat design with fpc, ~sch.wide, ...)
#   clus2_cal         calibrate(two-stage apiclus2 design with fpc, ~stype + api99, ...)
#   jk1_cal_logit     calibrate(JK1 of clus1, ~stype + api99, calfun="logit", bounds=c(0.5,2.5))
#                     (with c(0.7, 1.7) four replicates fail to converge and R goes on
#                     with a warning; perception raises an error instead)
#   nr, jk1_nr        nonresponse adjustment within stype classes, by the delta method
#                     (svycontrast of svytotals) and by withReplicates on JK1
#   diag              Kish design effect n*sum(w^2)/sum(w)^2 overall and by stype
#   refused_bounds    calibrate(..., bounds=c(0.95, 1.05)) -> "Calibration failed"

suppressPackageStartupMessages(library(survey))

OUT <- file.path("tests", "reference")
stopifnot(dir.exists(OUT))
options(survey.lonely.psu = "fail", warn = 1)

fmt <- function(x) vapply(as.numeric(x), function(v) format(v, digits = 17), character(1))
rows <- list()
rec <- function(case, key, value) {
  value <- as.numeric(value)
  if (length(key) == 1 && length(value) > 1) key <- paste0(key, ":", seq_along(value))
  stopifnot(length(key) == length(value))
  rows[[length(rows) + 1]] <<- data.frame(case = case, key = key, value = fmt(value))
}
rec_stat <- function(case, s) {
  nm <- names(coef(s))
  rec(case, paste0(nm, ":est"), coef(s))
  rec(case, paste0(nm, ":se"), SE(s))
}
rec_by <- function(case, b) {
  rec(case, paste0(rownames(b), ":est"), coef(b))
  rec(case, paste0(rownames(b), ":se"), SE(b))
}

data(api)  # R survey's api data: the data sets perception.datasets bundles

clus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
jk1 <- as.svrepdesign(clus1, type = "JK1")
strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
clus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)

pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
pop.cal <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = 3914069)
pop.cal2 <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, sch.wideYes = 5122,
              api99 = 3914069)
pop.both <- as.data.frame(xtabs(~stype + sch.wide, data = apipop))
pop.compimp <- as.data.frame(xtabs(~comp.imp, data = apipop))
clus1_unweighted <- svydesign(id = ~dnum, data = apiclus1)
stopifnot(sum(apipop$api99) == 3914069, sum(pop.both$Freq) == 6194)

estimates <- function(name, d) {
  w <- weights(d)
  if (is.matrix(w)) w <- weights(d, "sampling")
  rec(name, "sum_weights", sum(w))
  rec_stat(paste0(name, "/mean_api00"), svymean(~api00, d))
  rec_stat(paste0(name, "/total_enroll"), svytotal(~enroll, d))
  rec_stat(paste0(name, "/total_stype"), svytotal(~stype, d))
  rec_stat(paste0(name, "/total_schwide"), svytotal(~sch.wide, d))
  rec_by(paste0(name, "/by_stype_mean"), svyby(~api00, ~stype, d, svymean))
}

tight <- list(maxit = 100, epsilon = 1e-8)
wd <- list(
  rake_tight = rake(clus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                    control = tight),
  ps2 = postStratify(clus1, ~stype + sch.wide, pop.both),
  cal2_linear = calibrate(clus1, ~stype + sch.wide + api99, population = pop.cal2),
  cal2_raking = calibrate(clus1, ~stype + sch.wide + api99, population = pop.cal2,
                          calfun = "raking"),
  cal2_logit = calibrate(clus1, ~stype + sch.wide + api99, population = pop.cal2,
                         calfun = "logit", bounds = c(0.5, 2.5)),
  cal2_linear_bounded = calibrate(clus1, ~stype + sch.wide + api99, population = pop.cal2,
                                  bounds = c(0.6, 1.8)),
  cal_numeric = calibrate(clus1, ~api99 - 1, population = c(api99 = 3914069)),
  rake_cross = rake(clus1, list(~stype + sch.wide, ~comp.imp), list(pop.both, pop.compimp),
                    control = tight),
  # equal weights of 1: every population/sample ratio is above 20, so grake rescales
  unweighted_raking = calibrate(clus1_unweighted, ~stype + api99, population = pop.cal,
                                calfun = "raking"),
  unweighted_logit = suppressWarnings(
    calibrate(clus1_unweighted, ~stype + api99, population = pop.cal, calfun = "logit",
              bounds = c(0.5, 2.5)))
)
# chained adjustments: R applies design$postStrata in the order they were added, so the
# total of the last adjustment's variable keeps a nonzero SE
wd$chain_ps_rake <- rake(postStratify(clus1, ~stype, pop.types), list(~sch.wide),
                         list(pop.schwide), control = tight)
wd$chain_ps_ps <- postStratify(postStratify(clus1, ~stype, pop.types), ~sch.wide, pop.schwide)
for (nm in names(wd)) estimates(nm, wd[[nm]])

wts <- data.frame(cds = apiclus1$cds)
for (nm in names(wd)) wts[[nm]] <- fmt(weights(wd[[nm]]))

# replicate designs
wr <- list(
  jk1_rake_tight = rake(jk1, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                        control = tight),
  jk1_cal_logit = calibrate(jk1, ~stype + api99, population = pop.cal, calfun = "logit",
                            bounds = c(0.5, 2.5))
)
for (nm in names(wr)) {
  estimates(nm, wr[[nm]])
  wts[[nm]] <- fmt(weights(wr[[nm]], "sampling"))
}

# stratified and two-stage designs
estimates_small <- function(name, d) {
  rec(name, "sum_weights", sum(weights(d)))
  rec(name, paste0("w:", seq_along(weights(d))), weights(d))
  rec_stat(paste0(name, "/mean_api00"), svymean(~api00, d))
  rec_stat(paste0(name, "/total_enroll"), svytotal(~enroll, d, na.rm = TRUE))
  rec_by(paste0(name, "/by_stype_mean"), svyby(~api00, ~stype, d, svymean))
}
estimates_small("strat_ps", postStratify(strat, ~sch.wide, pop.schwide))
estimates_small("clus2_cal", calibrate(clus2, ~stype + api99, population = pop.cal))

# ---------------- nonresponse adjustment within classes (stype) ----------------
# respondents: a fixed pattern that leaves every class with respondents
resp <- as.integer((seq_len(nrow(apiclus1)) %% 4) != 0)
nr_data <- apiclus1
nr_data$resp <- resp
for (cl in c("E", "H", "M")) {
  inc <- as.numeric(apiclus1$stype == cl)
  nr_data[[paste0("n", cl)]] <- inc
  nr_data[[paste0("r", cl)]] <- inc * resp
  nr_data[[paste0("y", cl)]] <- inc * resp * apiclus1$api00
  nr_data[[paste0("e", cl)]] <- inc * resp * apiclus1$enroll
  nr_data[[paste0("dy", cl)]] <- inc * resp * apiclus1$api00 * (apiclus1$sch.wide == "Yes")
  nr_data[[paste0("d", cl)]] <- inc * resp * (apiclus1$sch.wide == "Yes")
}
nr_design <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = nr_data)
vars <- as.vector(outer(c("n", "r", "y", "e", "dy", "d"), c("E", "H", "M"), paste0))
tt <- svytotal(make.formula(vars), nr_design)
adj <- function(v) paste0("n", c("E", "H", "M"), "*", v, c("E", "H", "M"), "/r", c("E", "H", "M"),
                          collapse = " + ")
exprs <- list(
  mean_api00 = parse(text = paste0("(", adj("y"), ")/(nE + nH + nM)"))[[1]],
  total_enroll = parse(text = adj("e"))[[1]],
  mean_api00_schwide_yes = parse(text = paste0("(", adj("dy"), ")/(", adj("d"), ")"))[[1]]
)
ct <- svycontrast(tt, exprs)
rec("nr", paste0(names(exprs), ":est"), coef(ct))
rec("nr", paste0(names(exprs), ":se"), SE(ct))
# the adjusted weights: pw * (class total / respondents' class total), 0 for nonrespondents
cls_tot <- tapply(apiclus1$pw, apiclus1$stype, sum)
cls_resp <- tapply(apiclus1$pw * resp, apiclus1$stype, sum)
w_nr <- apiclus1$pw * resp * (cls_tot / cls_resp)[apiclus1$stype]
wts$nr_resp <- resp
wts$nr <- fmt(w_nr)
# the same adjustment redone in every JK1 replicate
nr_jk1 <- as.svrepdesign(nr_design, type = "JK1")
nr_fun <- function(w, data) {
  f <- tapply(w, data$stype, sum) / tapply(w * data$resp, data$stype, sum)
  wa <- w * data$resp * f[data$stype]
  yes <- data$sch.wide == "Yes"
  c(mean_api00 = sum(wa * data$api00) / sum(wa),
    total_enroll = sum(wa * data$enroll),
    mean_api00_schwide_yes = sum(wa * data$api00 * yes) / sum(wa * yes))
}
rj <- withReplicates(nr_jk1, nr_fun)
rec("jk1_nr", paste0(names(coef(rj)), ":est"), coef(rj))
rec("jk1_nr", paste0(names(coef(rj)), ":se"), SE(rj))

# ---------------- Kish design effect due to weighting ----------------
kish <- function(w) length(w) * sum(w^2) / sum(w)^2
rec("diag", "clus1_ps:deff_kish", kish(weights(postStratify(clus1, ~stype, pop.types))))
for (s in c("E", "H", "M")) {
  w <- apistrat$pw[apistrat$stype == s]
  rec("diag", paste0("strat_", s, ":deff_kish"), kish(w))
}
rec("diag", "strat:deff_kish", kish(apistrat$pw))

# ---------------- what R refuses ----------------
refused <- tryCatch({
  calibrate(clus1, ~stype + api99, population = pop.cal, bounds = c(0.95, 1.05))
  "no error"
}, error = function(e) conditionMessage(e))
stopifnot(refused == "Calibration failed")
rec("refused_bounds", "calibration_failed", 1)

out <- do.call(rbind, rows)
stopifnot(!any(duplicated(out[, c("case", "key")])))
write.table(out, file.path(OUT, "weighting_reference.csv"), sep = ",", quote = FALSE,
            row.names = FALSE)
write.csv(wts, file.path(OUT, "weighting_weights.csv"), row.names = FALSE)
cat(sprintf("wrote weighting_reference.csv (%d rows) and weighting_weights.csv (%d rows)\n",
            nrow(out), nrow(wts)))
