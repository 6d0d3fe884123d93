# Reference values from R's `survey` package for perception's models, chi-square tests
# and contrasts (issue #4): the cases that tests/reference/reference_models.csv (written
# by make_reference.R) does not cover.
#
# Run from the repository root:
#     Rscript tests/reference/make_models.R
# Reads  R survey's data(api) and perception/datasets/apiclus1_boot50_draws.csv.
# Writes tests/reference/models_glm.csv, models_chisq.csv, models_contrast.csv
# (long format case,key,value; values printed with format(x, digits = 17)).
#
# CI has no R: the CSVs are committed data. Re-run only to regenerate.
#
# Derived columns (recomputed the same way by the Python tests):
#   sch_yes = sch.wide == "Yes"
#   mealcat = "low" if meals <= 33, "mid" if meals <= 66, else "high"
#   edcat   = NA if avg.ed is NA, "high" if avg.ed > 3, else "low"   (apiclus1 only)

suppressPackageStartupMessages(library(survey))

OUT <- file.path("tests", "reference")
stopifnot(dir.exists(OUT))

options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.replicates.mse = FALSE, survey.drop.replicates = TRUE, warn = 1)

fmt <- function(x) vapply(as.numeric(x), function(v) format(v, digits = 17), character(1))

.rows <- new.env()
.rows$data <- list()
rec <- function(case, key, value) {
  value <- as.numeric(value)
  if (length(key) == 1 && length(value) > 1) key <- paste0(key, ":", seq_along(value))
  stopifnot(length(key) == length(value))
  .rows$data[[length(.rows$data) + 1]] <-
    data.frame(case = case, key = key, value = fmt(value), stringsAsFactors = FALSE)
}
write_group <- function(file) {
  df <- do.call(rbind, .rows$data)
  stopifnot(!any(grepl("[,\"\n]", df$case)), !any(grepl("[,\"\n]", df$key)),
            !any(duplicated(df[, c("case", "key")])))
  write.table(df, file.path(OUT, file), sep = ",", quote = FALSE, row.names = FALSE)
  cat(sprintf("wrote %s: %d rows, %d cases\n", file, nrow(df), length(unique(df$case))))
  .rows$data <- list()
}

# svyglm: TERM:est/se/t/p, df.residual, dispersion, n (rows used), vcov|A|B
rec_glm <- function(case, fit) {
  sm <- summary(fit)
  cf <- sm$coefficients
  tn <- rownames(cf)
  rec(case, paste0(tn, ":est"), cf[, 1])
  rec(case, paste0(tn, ":se"), cf[, 2])
  rec(case, paste0(tn, ":t"), cf[, 3])
  rec(case, paste0(tn, ":p"), cf[, 4])
  rec(case, "df.residual", fit$df.residual)
  rec(case, "dispersion", sm$dispersion[1])
  rec(case, "n", sum(fit$prior.weights > 0))  # rows with positive weight in the fit
  V <- vcov(fit)
  for (i in tn) for (j in tn) rec(case, paste("vcov", i, j, sep = "|"), V[i, j])
  ci <- confint(fit)
  rec(case, paste0(tn, ":ci_low"), ci[, 1])
  rec(case, paste0(tn, ":ci_high"), ci[, 2])
}

rec_pred <- function(case, fit, newdata) {
  for (type in c("link", "response")) {
    p <- predict(fit, newdata = newdata, type = type)
    rec(case, paste0(type, "_est"), coef(p))
    # sqrt of the variance attribute (SE() of a replicate prediction keeps only one)
    v <- attr(p, "var")
    rec(case, paste0(type, "_se"), if (is.matrix(v)) sqrt(diag(v)) else sqrt(v))
  }
}

rec_chisq <- function(case, x) {
  rec(case, "statistic", x$statistic)
  if (length(x$parameter) == 2) {
    rec(case, "ndf", x$parameter[1]); rec(case, "ddf", x$parameter[2])
  } else {
    rec(case, "df", x$parameter[1])
  }
  rec(case, "p", x$p.value)
}

rec_contrast <- function(case, ct) {
  nm <- names(coef(ct))
  rec(case, paste0(nm, ":est"), coef(ct))
  rec(case, paste0(nm, ":se"), SE(ct))
  V <- vcov(ct)
  if (length(nm) > 1) for (i in nm) for (j in nm) rec(case, paste("vcov", i, j, sep = "|"), V[i, j])
}

# --------------------------------------------------------------------------- data --
data(api)  # R survey's api data: the data sets perception.datasets bundles
source(file.path("perception", "datasets", "apiclus1_boot50.R"))  # with_boot50()
derive <- function(df) {
  df$sch_yes <- as.numeric(df$sch.wide == "Yes")
  df$mealcat <- ifelse(df$meals <= 33, "low", ifelse(df$meals <= 66, "mid", "high"))
  df
}
boot50 <- derive(with_boot50(apiclus1))
apistrat <- derive(apistrat)
apiclus1 <- derive(apiclus1)
apiclus2 <- derive(apiclus2)
apiclus1$edcat <- ifelse(is.na(apiclus1$avg.ed), NA, ifelse(apiclus1$avg.ed > 3, "high", "low"))

strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
clus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
clus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
jk1 <- as.svrepdesign(clus1, type = "JK1")
# apiclus1_boot50: combined bootstrap weights, scale n/((n-1)(R-1)) for 15 PSUs, 50 reps
boot <- svrepdesign(data = boot50, repweights = "rw[0-9]+", weights = ~pw,
                    type = "bootstrap", scale = 15 / 686)
boot_mse <- svrepdesign(data = boot50, repweights = "rw[0-9]+", weights = ~pw,
                        type = "bootstrap", scale = 15 / 686, mse = TRUE)
lonely_data <- read.csv(file.path(OUT, "lonely_data.csv"), colClasses = c(cds = "character"))
lonely <- svydesign(id = ~dnum, strata = ~stype, weights = ~pw, nest = TRUE, data = lonely_data)

# ========================================================================== glm --
G <- api00 ~ ell + meals + mobility
B <- sch_yes ~ ell + meals + stype
rec_glm("strat/gaussian", svyglm(G, strat))
rec_glm("clus1/gaussian", svyglm(G, clus1))
rec_glm("clus2/gaussian", svyglm(G, clus2))
rec_glm("strat/binomial", svyglm(B, strat, family = quasibinomial()))
rec_glm("clus1/binomial", svyglm(B, clus1, family = quasibinomial()))
rec_glm("clus2/binomial", svyglm(B, clus2, family = quasibinomial()))
rec_glm("clus2/interaction", svyglm(api00 ~ stype * meals, clus2))
rec_glm("clus2/binomial_interaction",
        svyglm(sch_yes ~ stype * meals, clus2, family = quasibinomial()))
# missing values: R's na.action drops the rows (they stay in the design's PSUs)
rec_glm("clus1/gaussian_na", svyglm(api00 ~ ell + avg.ed, clus1))
rec_glm("clus2/gaussian_na", svyglm(api00 ~ enroll + meals, clus2))
rec_glm("clus2/binomial_na", svyglm(sch_yes ~ enroll + meals, clus2, family = quasibinomial()))
# domains
rec_glm("strat/subset_notE", svyglm(api00 ~ ell + meals, subset(strat, stype != "E")))
rec_glm("clus2/subset_E", svyglm(api00 ~ ell + meals, subset(clus2, stype == "E")))
rec_glm("clus1/subset_E_binomial",
        svyglm(sch_yes ~ ell + meals, subset(clus1, stype == "E"), family = quasibinomial()))
# replicate designs
rec_glm("jk1/gaussian", svyglm(G, jk1))
rec_glm("jk1/gaussian_na", svyglm(api00 ~ ell + avg.ed, jk1))
rec_glm("boot/gaussian", svyglm(G, boot))
rec_glm("boot/binomial", suppressWarnings(svyglm(sch_yes ~ ell + meals, boot,
                                                 family = quasibinomial())))
rec_glm("boot_mse/gaussian", svyglm(G, boot_mse))
# lonely PSU (stratum H has one PSU), adjusted
options(survey.lonely.psu = "adjust")
rec_glm("lonely_adjust/gaussian", svyglm(api00 ~ ell + meals, lonely))
options(survey.lonely.psu = "fail")

# weighted designs: the calibration enters the variance (R's postStrata in svyrecvar)
ps <- postStratify(clus1, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))
cal <- calibrate(clus1, ~stype + api99, c(6194, 755, 1018, 3914069))
rec_glm("ps/gaussian", svyglm(G, ps))
rec_glm("ps/binomial", svyglm(B, ps, family = quasibinomial()))
rec_glm("ps/gaussian_na", svyglm(api00 ~ ell + avg.ed, ps))
rec_glm("ps/subset_notE", svyglm(api00 ~ ell + meals, subset(ps, stype != "E")))
rec_glm("cal/gaussian", svyglm(G, cal))
rec_glm("cal/binomial", svyglm(B, cal, family = quasibinomial()))

# predictions with design-based SEs
nd <- data.frame(ell = c(0, 10, 30, 60), meals = c(10, 20, 60, 95), mobility = c(5, 15, 20, 40),
                 stype = c("E", "H", "M", "E"))
rec_pred("strat/predict_gaussian", svyglm(G, strat), nd)
rec_pred("clus2/predict_binomial", svyglm(B, clus2, family = quasibinomial()), nd)
rec_pred("jk1/predict_gaussian", svyglm(G, jk1), nd)

write_group("models_glm.csv")

# ====================================================================== chisq --
for (st in c("F", "Chisq", "Wald", "adjWald")) {
  rec_chisq(paste0("strat/mealcat_stype/", st), svychisq(~mealcat + stype, strat, statistic = st))
  rec_chisq(paste0("clus2/mealcat_stype/", st), svychisq(~mealcat + stype, clus2, statistic = st))
  rec_chisq(paste0("clus1/comp_awards/", st), svychisq(~comp.imp + awards, clus1, statistic = st))
  rec_chisq(paste0("clus1/edcat_stype/", st), svychisq(~edcat + stype, clus1, statistic = st))
  rec_chisq(paste0("clus2/subset_notH/", st),
            svychisq(~sch.wide + mealcat, subset(clus2, stype != "H"), statistic = st))
  rec_chisq(paste0("jk1/mealcat_stype/", st), svychisq(~mealcat + stype, jk1, statistic = st))
  rec_chisq(paste0("boot/sch_stype/", st), svychisq(~sch.wide + stype, boot, statistic = st))
  rec_chisq(paste0("ps/sch_awards/", st), svychisq(~sch.wide + awards, ps, statistic = st))
  rec_chisq(paste0("ps/subset_notE/", st),
            svychisq(~sch.wide + awards, subset(ps, stype != "E"), statistic = st))
}
write_group("models_chisq.csv")

# =================================================================== contrast --
b2 <- svyby(~api00, ~stype, clus2, svymean, covmat = TRUE)
rec_contrast("clus2/by_stype_two", svycontrast(b2, list(EminusH = c(1, -1, 0),
                                                        avg = c(1 / 3, 1 / 3, 1 / 3))))
bs <- svyby(~api00, ~stype + sch.wide, strat, svymean, covmat = TRUE)
rec_contrast("strat/by_two", svycontrast(bs, c(E.Yes = 1, E.No = -1)))
pm <- svymean(~stype, clus1)
rec_contrast("clus1/prop_stype", svycontrast(pm, c(stypeE = 1, stypeH = -1)))
tt <- svytotal(~api00 + api99, clus2)
rec_contrast("clus2/total_diff", svycontrast(tt, c(api00 = 1, api99 = -1)))
fit <- svyglm(G, strat)
rec_contrast("strat/glm_ell_minus_meals", svycontrast(fit, c(ell = 1, meals = -1)))
bj <- svyby(~api00, ~stype, jk1, svymean, covmat = TRUE)
rec_contrast("jk1/by_stype_two", svycontrast(bj, list(EminusH = c(1, -1, 0),
                                                      MminusH = c(0, -1, 1))))
# p.adjust
P <- c(0.001, 0.004, 0.019, 0.03, 0.2, 0.6, 0.012)
for (m in c("holm", "bonferroni", "hochberg", "hommel", "BH", "BY")) rec("p.adjust", m, p.adjust(P, m))
write_group("models_contrast.csv")
