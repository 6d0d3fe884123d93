# Reference values from R's `survey` (4.1.1) and `mitools` for the models and tests of
# issue #19: ordinal regression (svyolr) and its proportional-odds test, Poisson and
# quasi-Poisson models with an offset, the binomial with trials, svyttest, svyranktest,
# regTermTest (Wald and working likelihood-ratio), svypredmeans, marginal effects by
# counterfactual prediction, and MIcombine of multiply imputed data sets.
#
# Run from the repository root:
#     Rscript tests/reference/make_models_more.R
# Reads  R survey's data(api) and perception/datasets/apiclus1_boot50_draws.csv.
# Writes tests/reference/models_more.csv (long format case,key,value; values printed with
#        format(x, digits = 17)) and tests/reference/mi_apistrat.csv (the m = 5 completed
#        copies of apistrat that the MIcombine cases combine; see "multiple imputation").
#
# CI has no R: the CSVs are committed data. Re-run only to regenerate; the output is
# byte-for-byte reproducible (the one random step, the imputations, has a fixed seed and
# its result is itself committed).
#
# Derived columns (recomputed the same way by the Python tests):
#   sch_yes = as.numeric(sch.wide == "Yes")
#   apicat  = cut(api00, c(-Inf, 600, 700, 800, Inf), labels = c("1", "2", "3", "4")):
#             the ordinal outcome, four ordered bands of the 2000 API score
#             (1: <= 600, 2: 601-700, 3: 701-800, 4: > 800; right-closed as R's cut)
#   nmeals  = round(meals * enroll / 100): pupils eligible for subsidised meals (meals is
#             their percentage), a count out of enroll trials (R rounds half to even)
#   hi      = as.numeric(api00 > 700)
#   mobhigh = factor(ifelse(mobility > 20, "Yes", "No"))
#
# Numerical settings, and why:
# - svyolr maximises the likelihood with optim's BFGS. With optim's defaults
#   (reltol = 1e-8) the coefficients stop about 1e-5 (relative) short of the maximum,
#   and the Hessian behind the standard errors is a central difference of the gradient
#   with step ndeps = 1e-3 on the coefficient scale, which is off by up to 1e-5 (relative)
#   when a covariate is in the hundreds (meals). The cases here pass
#   control = list(reltol = 1e-15, maxit = 1000, ndeps = rep(1e-6, <number of
#   parameters>)) through svyolr's `...` to optim: the maximum itself, and a Hessian that
#   agrees with steps of 1e-7 to ~1e-9. The `:default` keys of olr cases hold svyolr with
#   optim's defaults, for comparison at ~1e-4.
# - the replicate-design svyolr (MASS::polr per replicate) gets the same control.

suppressPackageStartupMessages({
  library(survey)
  library(mitools)
})

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

# coefficients of any fit with coef() and vcov(): NAME:est, NAME:se, vcov|A|B
rec_coef <- function(case, fit, prefix = "") {
  b <- coef(fit)
  V <- vcov(fit)
  nm <- names(b)
  rec(case, paste0(prefix, nm, ":est"), b)
  rec(case, paste0(prefix, nm, ":se"), sqrt(diag(as.matrix(V))))
  for (i in nm) for (j in nm) rec(case, paste(paste0(prefix, "vcov"), i, j, sep = "|"), V[i, j])
}

# svyglm: TERM:est/se/t/p, df.residual, dispersion, deviance, n, vcov|A|B
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
  rec(case, "deviance", deviance(fit))
  rec(case, "n", length(fit$y))  # rows used in the fit
  V <- vcov(fit)
  for (i in tn) for (j in tn) rec(case, paste("vcov", i, j, sep = "|"), V[i, j])
}

# htest results of svyttest / svyranktest
rec_htest <- function(case, x) {
  rec(case, "statistic", x$statistic)
  rec(case, "parameter", x$parameter)
  if (!is.null(x$ddf)) rec(case, "ddf", x$ddf)
  if (!is.null(x$estimate)) rec(case, "estimate", x$estimate)
  rec(case, "p", x$p.value)
  if (!is.null(x$conf.int)) rec(case, c("ci_low", "ci_high"), x$conf.int)
}

# regTermTest results: Wald (Ftest or chisq) or LRT (chisq, lambda)
rec_rtt <- function(case, x) {
  if (!is.null(x$Ftest)) rec(case, "Ftest", x$Ftest)
  if (!is.null(x$chisq)) rec(case, "chisq", x$chisq)
  rec(case, "df", x$df)
  if (!is.null(x$ddf)) rec(case, "ddf", x$ddf)
  rec(case, "p", x$p)
  if (!is.null(x$lambda)) rec(case, "lambda", sort(x$lambda, decreasing = TRUE))
}

# --------------------------------------------------------------------------- data --
data(api)  # R survey's api data: the data sets perception.datasets bundles
source(file.path("perception", "datasets", "apiclus1_boot50.R"))  # with_boot50()
derive <- function(df) {
  df$sch_yes <- as.numeric(df$sch.wide == "Yes")
  df$apicat <- cut(df$api00, c(-Inf, 600, 700, 800, Inf), labels = c("1", "2", "3", "4"))
  df$nmeals <- round(df$meals * df$enroll / 100)
  df$hi <- as.numeric(df$api00 > 700)
  df$mobhigh <- factor(ifelse(df$mobility > 20, "Yes", "No"))
  df
}
boot50 <- derive(with_boot50(apiclus1))
apistrat <- derive(apistrat)
apiclus1 <- derive(apiclus1)
apiclus2 <- derive(apiclus2)

strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
clus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
clus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
jk1 <- as.svrepdesign(clus1, type = "JK1")
# apiclus1_boot50: combined bootstrap weights, scale n/((n-1)(R-1)) for 15 PSUs, 50 reps
boot <- svrepdesign(data = boot50, repweights = "rw[0-9]+", weights = ~pw,
                    type = "bootstrap", scale = 15 / 686)
jkn_strat <- as.svrepdesign(strat, type = "JKn")
DESIGNS <- list(strat = strat, clus1 = clus1, clus2 = clus2, jk1 = jk1, boot = boot)
TAYLOR <- c("strat", "clus1", "clus2")
REPLICATE <- c("jk1", "boot")

# ============================================================== ordinal (svyolr) --
# apicat ~ ell + meals + stype, proportional odds with the logit and the probit link.
# Keys: TERM:est/se and vcov|A|B (terms, then the cut-points "1|2", "2|3", "3|4"),
# TERM:default_est/default_se (optim's default control), df.residual (degf - number of
# slopes), deviance, fitted:<row>:<level> (fitted.values of rows 1..5),
# pred:<profile>:<level>:est/se (predicted probabilities of the profiles below, SE by
# svycontrast's delta method on the same expression).
OLR <- apicat ~ ell + meals + stype
NPAR <- 7  # 4 slopes + 3 cut-points
CONTROL <- function(npar) list(reltol = 1e-15, maxit = 1000, ndeps = rep(1e-6, npar))
# regTermTest(method = "LRT") refits the model without the tested term by update(): the
# call then reads NDEPS from here, so NDEPS is set to the smaller model's length first
NDEPS <- rep(1e-6, NPAR)
olr_fit <- function(design, method) {
  svyolr(OLR, design, method = method,
         control = list(reltol = 1e-15, maxit = 1000, ndeps = NDEPS))
}
olr_replicate_var <- function(design, method, start) {
  df <- model.frame(design)
  betas <- apply(weights(design, "analysis"), 2, function(w) {
    f <- OLR
    environment(f) <- environment()
    m <- MASS::polr(f, data = df, weights = w, start = start, method = method,
                    control = list(reltol = 1e-15, maxit = 1000))
    c(m$coefficients, m$zeta)
  })
  svrVar(t(betas), design$scale, design$rscales, mse = design$mse, coef = start)
}
PROFILES <- data.frame(ell = c(0, 10, 40), meals = c(10, 50, 90), stype = c("E", "H", "M"))
# P(Y = k) for one profile as an expression in the coefficients (svycontrast's names)
olr_prob <- function(profile, k, method) {
  eta <- sprintf("(ell * %s + meals * %s + stypeH * %d + stypeM * %d)", profile$ell,
                 profile$meals, as.integer(profile$stype == "H"),
                 as.integer(profile$stype == "M"))
  cdf <- if (method == "logistic") function(z) sprintf("1/(1 + exp(-(%s)))", z) else
    function(z) sprintf("pnorm(%s)", z)
  cut <- c("`1|2`", "`2|3`", "`3|4`")
  upper <- if (k <= 3) cdf(sprintf("%s - %s", cut[k], eta)) else "1"
  lower <- if (k >= 2) cdf(sprintf("%s - %s", cut[k - 1], eta)) else "0"
  parse(text = sprintf("(%s) - (%s)", upper, lower))[[1]]
}
for (name in names(DESIGNS)) {
  design <- DESIGNS[[name]]
  for (method in c("logistic", "probit")) {
    case <- sprintf("%s/olr_%s", name, if (method == "logistic") "logit" else "probit")
    NDEPS <- rep(1e-6, NPAR)
    fit <- olr_fit(design, method)
    if (!is.null(fit$convergence)) stopifnot(fit$convergence == 0)
    if (name %in% REPLICATE) {
      # svyolr.svyrep.design passes `...` (method, control) to the full-sample polr only:
      # its replicate refits use the logistic link whatever `method` says, and optim's
      # default tolerance. The reference variance refits each replicate with the model's
      # own link and the tight control (R's formula otherwise: polr from the full-sample
      # estimates with the replicate weights, then svrVar); R's own SEs: r_svyolr_se.
      rec(case, paste0(names(coef(fit)), ":r_svyolr_se"), SE(fit))
      fit$var <- olr_replicate_var(design, method, coef(fit))
    }
    rec_coef(case, fit)
    default <- svyolr(OLR, design, method = method)
    rec(case, paste0(names(coef(default)), ":default_est"), coef(default))
    rec(case, paste0(names(coef(default)), ":default_se"), SE(default))
    rec(case, "df.residual", fit$df.residual)
    rec(case, "deviance", fit$deviance)
    fv <- fitted(fit)
    for (i in 1:5) rec(case, paste0("fitted:", i, ":", colnames(fv)), fv[i, ])
    for (i in seq_len(nrow(PROFILES))) {
      for (k in 1:4) {
        ct <- svycontrast(fit, olr_prob(PROFILES[i, ], k, method))
        rec(case, sprintf("pred:%d:%d:est", i, k), coef(ct))
        rec(case, sprintf("pred:%d:%d:se", i, k), SE(ct))
      }
    }
    # regTermTest on the ordinal model: Wald F, and the working LRT (saddlepoint p)
    rec_rtt(paste0(case, "/wald_stype"), regTermTest(fit, ~stype))
    rec_rtt(paste0(case, "/wald_ell_meals"), regTermTest(fit, ~ell + meals))
    # The working LRT of an svyolr in survey 4.1.1 compares a deviance computed with the
    # weights over their mean (deviance = 2 * minus-log-likelihood / mean(w)) with the
    # Hessian of the likelihood with the raw weights (V0 = solve(fit$Hess)): its
    # eigenvalues lambda come out mean(w) times too large, and the p-value with them
    # (lrt_stype_r: R's output as it is). lrt_stype puts both on one scale: the same
    # chi-squared, lambda / mean(w), and the p-value by pFsum(method = "saddlepoint"),
    # as regTermTest does for an svyglm (whose naive.cov and deviance both use w/mean(w)).
    NDEPS <- rep(1e-6, NPAR - 2)
    r_lrt <- regTermTest(fit, ~stype, method = "LRT")
    NDEPS <- rep(1e-6, NPAR)
    rec_rtt(paste0(case, "/lrt_stype_r"), r_lrt)
    lambda <- r_lrt$lambda / mean(weights(design, "sampling"))
    rec_rtt(paste0(case, "/lrt_stype"), list(
      chisq = r_lrt$chisq, df = r_lrt$df, ddf = r_lrt$ddf, lambda = lambda,
      p = pFsum(r_lrt$chisq, rep(1, length(lambda)), lambda, ddf = r_lrt$ddf,
                method = "saddlepoint", lower.tail = FALSE)))
  }
}

# ------------------------------------------------- proportional-odds (Brant) test --
# The binary models at each cut-point k = 1, 2, 3: svyglm(I(apicat > k) ~ ell + meals +
# stype, family = quasibinomial(link)), whose slopes all equal the ordinal model's under
# proportional odds. Their joint covariance comes from the stacked influence functions:
#   Taylor designs: svyrecvar(cbind(U_1, U_2, U_3), design$cluster, design$strata,
#                   design$fpc), with U_k = estfun_k %*% naive.cov_k,
#                   estfun_k = model.matrix * resid(fit_k, "working") * fit_k$weights
#                   (svy.varcoef's own formula; the diagonal blocks are vcov(fit_k));
#   replicate designs: svrVar of the stacked replicate coefficients (return.replicates).
# With b the stacked slopes (4 per cut-point, 12) and D the 8 x 12 matrix of the
# differences b_k - b_1 (k = 2, 3), W = (D b)' (D V D')^-1 (D b) on ndf = 8; for one
# slope j, D picks its differences only (ndf = 2). Reported as R's regTermTest reports a
# Wald test of an svyolr: F = W / ndf on (ndf, ddf) with ddf = degf(design) - 4 (the
# ordinal model's df.residual). Keys: <term>|all: chisq, ndf, ddf, F, p; binary:<k>:TERM:
# est/se.
po_test <- function(case, design, link, is_rep) {
  fits <- lapply(1:3, function(k) {
    dk <- update(design, yk = as.numeric(as.integer(apicat) > k))
    if (is_rep) {
      svyglm(yk ~ ell + meals + stype, dk, family = quasibinomial(link = link),
             return.replicates = TRUE)
    } else {
      svyglm(yk ~ ell + meals + stype, dk, family = quasibinomial(link = link))
    }
  })
  b <- unlist(lapply(fits, coef))
  if (is_rep) {
    reps <- do.call(cbind, lapply(fits, function(f) f$replicates))
    V <- svrVar(reps, design$scale, design$rscales, mse = design$mse, coef = b)
  } else {
    U <- do.call(cbind, lapply(fits, function(f) {
      estfun <- model.matrix(f) * resid(f, "working") * f$weights
      estfun %*% f$naive.cov
    }))
    V <- svyrecvar(U, design$cluster, design$strata, design$fpc,
                   postStrata = design$postStrata)
  }
  V <- as.matrix(V)
  for (k in 1:3) {
    idx <- (k - 1) * 5 + 1:5
    stopifnot(max(abs(V[idx, idx] - vcov(fits[[k]]))) < 1e-12 * max(abs(vcov(fits[[k]]))))
    rec(case, paste0("binary:", k, ":", names(coef(fits[[k]])), ":est"), coef(fits[[k]]))
    rec(case, paste0("binary:", k, ":", names(coef(fits[[k]])), ":se"), SE(fits[[k]]))
  }
  slopes <- c("ell", "meals", "stypeH", "stypeM")
  pos <- function(k, j) (k - 1) * 5 + 1 + match(j, slopes)
  ddf <- degf(design) - length(slopes)
  for (test in c(slopes, "all")) {
    js <- if (test == "all") slopes else test
    D <- matrix(0, nrow = 2 * length(js), ncol = length(b))
    r <- 0
    for (k in 2:3) for (j in js) {
      r <- r + 1
      D[r, pos(k, j)] <- 1
      D[r, pos(1, j)] <- -1
    }
    d <- D %*% b
    W <- drop(t(d) %*% solve(D %*% V %*% t(D), d))
    ndf <- nrow(D)
    rec(case, paste0(test, ":chisq"), W)
    rec(case, paste0(test, ":ndf"), ndf)
    rec(case, paste0(test, ":ddf"), ddf)
    rec(case, paste0(test, ":F"), W / ndf)
    rec(case, paste0(test, ":p"), pf(W / ndf, ndf, ddf, lower.tail = FALSE))
  }
}
for (name in names(DESIGNS)) {
  for (link in c("logit", "probit")) {
    po_test(sprintf("%s/po_test_%s", name, link), DESIGNS[[name]], link,
            name %in% REPLICATE)
  }
}

# ======================================================= counts, rates, trials --
# svyglm(api.stu ~ stype + meals + offset(log(enroll)), family = poisson() and
# quasipoisson()): pupils tested per enrolled pupil. apiclus2 has 6 missing enroll:
# svyglm drops those rows (na.omit). The binomial with trials:
# svyglm(cbind(nmeals, enroll - nmeals) ~ stype + ell, family = quasibinomial()).
for (name in names(DESIGNS)) {
  design <- DESIGNS[[name]]
  for (fam in c("poisson", "quasipoisson")) {
    family <- if (fam == "poisson") poisson() else quasipoisson()
    fit <- suppressWarnings(svyglm(api.stu ~ stype + meals + offset(log(enroll)), design,
                                   family = family))
    rec_glm(sprintf("%s/%s_offset", name, fam), fit)
  }
  if (name %in% TAYLOR) {
    fit <- svyglm(cbind(nmeals, enroll - nmeals) ~ stype + ell, design,
                  family = quasibinomial())
    rec_glm(sprintf("%s/binomial_trials", name), fit)
  } else {
    # svyglm.svyrep.design refits the replicates with glm.fit(X, y, weights = w / sum(w))
    # on the proportions y = nmeals / enroll: the replicate fits lose the trials (their
    # prior weights would be w * enroll). The reference for replicate designs is the
    # replicate formula itself, with the trials kept: full-sample svyglm as above, each
    # replicate glm.fit(X, nmeals / enroll, weights = w_r * enroll / sum(w_r)), start at
    # the full-sample coefficients, then svrVar (mse as the design says).
    fit <- svyglm(cbind(nmeals, enroll - nmeals) ~ stype + ell, design,
                  family = quasibinomial())
    ok <- !is.na(design$variables$enroll)
    X <- model.matrix(~stype + ell, design$variables[ok, ])
    y <- (design$variables$nmeals / design$variables$enroll)[ok]
    W <- weights(design, "analysis")[ok, , drop = FALSE]
    betas <- t(apply(W, 2, function(w) {
      wt <- w * design$variables$enroll[ok]
      glm.fit(X, y, weights = wt / sum(w), start = coef(fit),
              family = quasibinomial())$coefficients
    }))
    V <- svrVar(betas, design$scale, design$rscales, mse = design$mse, coef = coef(fit))
    case <- sprintf("%s/binomial_trials", name)
    rec(case, paste0(names(coef(fit)), ":est"), coef(fit))
    rec(case, paste0(names(coef(fit)), ":se"), sqrt(diag(as.matrix(V))))
    rec(case, "df.residual", fit$df.residual)
    rec(case, "r_svyglm_se", SE(fit))  # R's svyglm SEs (trials lost in the replicates)
  }
}

# ============================================================== regTermTest --
# regTermTest(fit, ~terms, method = "Wald") (F on (ndf, df.residual)) and
# method = "LRT" (Rao-Scott working LRT; p by pFsum's saddlepoint approximation, R's
# default), plus lrt.approximation = "satterthwaite", and df = Inf (chi-squared forms).
# (the models are fitted at the top level on `design`: regTermTest's LRT refits the
# smaller model by update(), which evaluates the call there)
rtt_models <- list(
  gaussian = quote(svyglm(api00 ~ ell + meals + stype, design)),
  binomial = quote(svyglm(sch_yes ~ ell + meals + stype, design, family = quasibinomial())),
  quasipoisson = quote(svyglm(api.stu ~ stype + meals + mobility + offset(log(enroll)),
                              design, family = quasipoisson()))
)
for (name in names(DESIGNS)) {
  design <- DESIGNS[[name]]
  for (model in names(rtt_models)) {
    fit <- eval(rtt_models[[model]])
    case <- sprintf("%s/rtt_%s", name, model)
    rec(case, "deviance", deviance(fit))
    rec_rtt(paste0(case, "/wald_stype"), regTermTest(fit, ~stype))
    rec_rtt(paste0(case, "/lrt_stype"), regTermTest(fit, ~stype, method = "LRT"))
    rec_rtt(paste0(case, "/lrt_stype_satterthwaite"),
            regTermTest(fit, ~stype, method = "LRT", lrt.approximation = "satterthwaite"))
    rec_rtt(paste0(case, "/wald_stype_chisq"), regTermTest(fit, ~stype, df = Inf))
    rec_rtt(paste0(case, "/lrt_stype_chisq"), regTermTest(fit, ~stype, df = Inf,
                                                            method = "LRT"))
    second <- if (model == "quasipoisson") ~meals + mobility else ~ell + meals
    rec_rtt(paste0(case, "/wald_two"), regTermTest(fit, second))
    rec_rtt(paste0(case, "/lrt_two"), regTermTest(fit, second, method = "LRT"))
  }
}

# ================================================================= svyttest --
# svyttest(enroll ~ comp.imp, design): the difference Yes - No of mean enrolment, t on
# df.residual = degf - 1. apiclus2 has missing enroll (dropped, as svyglm does).
for (name in names(DESIGNS)) {
  rec_htest(sprintf("%s/ttest_enroll_compimp", name),
            svyttest(enroll ~ comp.imp, DESIGNS[[name]]))
  rec_htest(sprintf("%s/ttest_api00_sch", name),
            svyttest(api00 ~ sch.wide, DESIGNS[[name]]))
}

# ============================================================== svyranktest --
# svyranktest(ell ~ comp.imp, test = ...) (two groups: t statistic, df = degf - 1,
# estimate = difference in mean rank score) and svyranktest(ell ~ stype, test = ...)
# (k groups: R returns the chi-squared in `parameter` and ndf in `statistic`; the F
# p-value is pf(chisq / ndf, ndf, degf - ndf)). k-group tests use svy.varcoef, which
# needs a linearisation design: Taylor designs only.
for (name in names(DESIGNS)) {
  for (test in c("wilcoxon", "vanderWaerden", "median")) {
    rec_htest(sprintf("%s/ranktest_%s", name, test),
              svyranktest(ell ~ comp.imp, DESIGNS[[name]], test = test))
    if (name %in% TAYLOR) {
      x <- svyranktest(ell ~ stype, DESIGNS[[name]], test = test)
      case <- sprintf("%s/ranktest_k_%s", name, test)
      rec(case, "chisq", x$parameter)
      rec(case, "ndf", x$statistic)
      rec(case, "ddf", x$ddf)
      rec(case, "p", x$p.value)
    }
  }
}
# missing outcome values: avg.ed has 26 NA in apiclus1 (rows dropped as R does)
rec_htest("clus1/ranktest_na_wilcoxon", svyranktest(avg.ed ~ comp.imp, clus1))

# ============================================================ svypredmeans --
# svypredmeans(adjustmodel, ~stype): the model refitted with stype added, everyone's
# prediction at each level, their design-weighted mean; variance = model part + the
# mean's (Graubard and Korn). Keys: <level>:est/se, vcov|A|B.
# svypredmeans fails on replicate designs in survey 4.1.1 (its update() of the design and
# model ends in an error in `[.svyrep.design`); for them the same computation is written
# out below (predmeans_by_hand: svypredmeans' own lines, with the fit that has stype).
predmeans_by_hand <- function(model, design, groups) {
  w <- weights(design, "sampling")
  mf <- model.frame(design)
  fits <- matrix(nrow = nrow(mf), ncol = length(groups))
  dg_deta <- matrix(nrow = length(coef(model)), ncol = length(groups))
  for (i in seq_along(groups)) {
    mf$stype <- factor(groups[i], levels = levels(design$variables$stype))
    eta <- predict(model, newdata = mf, type = "link", se.fit = FALSE)
    fits[, i] <- model$family$linkinv(coef(eta))
    mm <- model.matrix(terms(model), mf)
    dg_deta[, i] <- colSums(w * model$family$mu.eta(coef(eta)) * mm) / sum(w)
  }
  colnames(fits) <- groups
  cond <- svymean(fits, design)
  vv <- t(dg_deta) %*% vcov(model) %*% dg_deta + vcov(cond)
  list(coef = coef(cond), vcov = vv)
}
for (name in names(DESIGNS)) {
  design <- DESIGNS[[name]]
  for (family in c("gaussian", "binomial")) {
    case <- sprintf("%s/predmeans_%s", name, family)
    fam <- if (family == "gaussian") gaussian() else quasibinomial()
    adjust <- if (family == "gaussian") api00 ~ ell + mobility else sch_yes ~ ell + meals
    if (name %in% TAYLOR) {
      pm <- svypredmeans(svyglm(adjust, design, family = fam), ~stype)
      rec_coef(case, pm)
      # the hand-written version reproduces svypredmeans where both run
      full <- svyglm(update(adjust, . ~ . + stype), design, family = fam)
      check <- predmeans_by_hand(full, design, names(coef(pm)))
      stopifnot(max(abs(check$coef - coef(pm))) < 1e-9,
                max(abs(check$vcov - vcov(pm))) < 1e-9 * max(abs(vcov(pm))))
    } else {
      full <- svyglm(update(adjust, . ~ . + stype), design, family = fam)
      groups <- as.character(unique(design$variables$stype))
      pm <- predmeans_by_hand(full, design, groups)
      class(pm) <- "pm"
      coef.pm <- function(object, ...) object$coef
      vcov.pm <- function(object, ...) object$vcov
      rec_coef(case, pm)
    }
  }
}

# ========================================================= marginal effects --
# Logistic model sch_yes ~ stype + ell + meals. The average prediction at each level of
# stype (everyone set to that level; design-weighted mean over the rows of the fit) and
# the effects H - E, M - E. Two variances:
# - "model" (covariates held at the sample's values): predict(fit, newdata = <the model
#   frame stacked three times, stype set to E, H, M>, type = "response", vcov = TRUE),
#   then svycontrast(<that svystat>, weights w / sum(w) per block): keys
#   model:<name>:est/se;
# - "design" (also the sampling of the covariates, one linearisation): the influence of
#   level l's margin is w_i (mu_i(l) - m_l) / sum(w) + U_i' g_l, with U = estfun %*%
#   naive.cov (svy.varcoef's) and g_l = sum_i w_i mu.eta(eta_i(l)) x_i(l) / sum(w);
#   Taylor designs: svyrecvar of those influence columns; replicate designs: the model
#   refitted with each replicate's weights (svyglm(return.replicates = TRUE)) and the
#   margins recomputed with them (weights w_r), then svrVar: keys design:<name>:est/se.
# A covariate's average marginal effect (ell: mean of d mu / d ell = b_ell mu (1 - mu)):
# keys design:ell:est/se and model:ell:est/se, gradients written out below.
# The DiD in percentage points: hi ~ comp.imp * mobhigh + ell, the four cells' margins
# (names NN, NY, YN, YY: comp.imp then mobhigh, N = "No", Y = "Yes") and
# did = (YY - YN) - (NY - NN), keys as above.
margins_case <- function(case, design, formula, settings, contrasts, slope = NULL) {
  is_rep <- inherits(design, "svyrep.design")
  fit <- if (is_rep) {
    svyglm(formula, design, family = quasibinomial(), return.replicates = TRUE)
  } else {
    svyglm(formula, design, family = quasibinomial())
  }
  mf <- model.frame(fit)
  w <- weights(design, "sampling")
  tt <- delete.response(terms(fit))
  frames <- lapply(settings, function(s) {
    f <- mf
    for (v in names(s)) f[[v]] <- factor(s[[v]], levels = levels(mf[[v]]))
    f
  })
  # model variance: predict + svycontrast
  stacked <- do.call(rbind, frames)
  p <- if (is_rep) {
    predict(fit, newdata = stacked, type = "response", vcov = TRUE, return.replicates = FALSE)
  } else {
    predict(fit, newdata = stacked, type = "response", vcov = TRUE)
  }
  n <- nrow(mf)
  blocks <- lapply(seq_along(settings), function(l) {
    v <- numeric(length(settings) * n)
    v[(l - 1) * n + seq_len(n)] <- w / sum(w)
    v
  })
  names(blocks) <- names(settings)
  combos <- c(blocks, lapply(contrasts, function(cc) {
    v <- 0
    for (l in names(cc)) v <- v + cc[[l]] * blocks[[l]]
    v
  }))
  ct <- svycontrast(p, combos)
  rec(case, paste0("model:", names(combos), ":est"), coef(ct))
  rec(case, paste0("model:", names(combos), ":se"), SE(ct))
  # design variance
  margin <- function(beta, wt) {
    sapply(frames, function(f) {
      X <- model.matrix(tt, f)
      sum(wt * plogis(drop(X %*% beta))) / sum(wt)
    })
  }
  combine <- function(m) {
    c(m, sapply(contrasts, function(cc) sum(unlist(cc) * m[names(cc)])))
  }
  est <- combine(margin(coef(fit), w))
  stopifnot(max(abs(est - coef(ct))) < 1e-12)
  if (is_rep) {
    W <- weights(design, "analysis")
    reps <- t(sapply(seq_len(ncol(W)), function(r) combine(margin(fit$replicates[r, ], W[, r]))))
    V <- svrVar(reps, design$scale, design$rscales, mse = design$mse, coef = est)
  } else {
    X0 <- model.matrix(fit)
    U <- (X0 * resid(fit, "working") * fit$weights) %*% fit$naive.cov
    infl <- sapply(frames, function(f) {
      X <- model.matrix(tt, f)
      eta <- drop(X %*% coef(fit))
      mu <- plogis(eta)
      g <- colSums(w * dlogis(eta) * X) / sum(w)
      w * (mu - sum(w * mu) / sum(w)) / sum(w) + drop(U %*% g)
    })
    infl <- cbind(infl, sapply(contrasts, function(cc) infl[, names(cc)] %*% unlist(cc)))
    V <- svyrecvar(infl, design$cluster, design$strata, design$fpc,
                   postStrata = design$postStrata)
  }
  rec(case, paste0("design:", names(est), ":est"), est)
  rec(case, paste0("design:", names(est), ":se"), sqrt(diag(as.matrix(V))))
  if (!is.null(slope)) {
    # average marginal effect of a linear covariate: mean of b mu (1 - mu)
    X <- model.matrix(fit)
    b <- coef(fit)
    eta <- drop(X %*% b)
    mu <- plogis(eta)
    ame <- function(beta, wt) {
      names(beta) <- names(b)  # replicate coefficients come without names
      m <- plogis(drop(X %*% beta))
      sum(wt * beta[slope] * m * (1 - m)) / sum(wt)
    }
    est <- ame(b, w)
    # gradient of the AME in beta: e_slope mu(1-mu) + b_slope mu(1-mu)(1-2mu) x
    dmu <- mu * (1 - mu)
    grad <- colSums(w * (outer(dmu, as.numeric(names(b) == slope)) +
                           b[slope] * dmu * (1 - 2 * mu) * X)) / sum(w)
    rec(case, paste0("model:", slope, ":est"), est)
    rec(case, paste0("model:", slope, ":se"), sqrt(drop(t(grad) %*% vcov(fit) %*% grad)))
    if (is_rep) {
      W <- weights(design, "analysis")
      reps <- matrix(sapply(seq_len(ncol(W)), function(r) ame(fit$replicates[r, ], W[, r])))
      v <- svrVar(reps, design$scale, design$rscales, mse = design$mse, coef = est)
    } else {
      U <- (X * resid(fit, "working") * fit$weights) %*% fit$naive.cov
      d <- b[slope] * dmu
      v <- svyrecvar(w * (d - est) / sum(w) + drop(U %*% grad), design$cluster,
                     design$strata, design$fpc, postStrata = design$postStrata)
    }
    rec(case, paste0("design:", slope, ":est"), est)
    rec(case, paste0("design:", slope, ":se"), sqrt(as.numeric(v)))
  }
}
for (name in names(DESIGNS)) {
  design <- DESIGNS[[name]]
  margins_case(sprintf("%s/margins_stype", name), design, sch_yes ~ stype + ell + meals,
               settings = list(E = list(stype = "E"), H = list(stype = "H"),
                               M = list(stype = "M")),
               contrasts = list(`H-E` = list(H = 1, E = -1), `M-E` = list(M = 1, E = -1)),
               slope = "ell")
}
# (apiclus2 and the bootstrap replicates of apiclus1 separate hi within a cell of
# comp.imp x mobhigh: the DiD case runs on the designs where the model is estimable)
for (name in c("strat", "clus1", "jk1", "jkn_strat")) {
  design <- if (name == "jkn_strat") jkn_strat else DESIGNS[[name]]
  margins_case(sprintf("%s/margins_did", name), design,
               hi ~ comp.imp * mobhigh + ell,
               settings = list(NN = list(comp.imp = "No", mobhigh = "No"),
                               NY = list(comp.imp = "No", mobhigh = "Yes"),
                               YN = list(comp.imp = "Yes", mobhigh = "No"),
                               YY = list(comp.imp = "Yes", mobhigh = "Yes")),
               contrasts = list(did = list(YY = 1, YN = -1, NY = -1, NN = 1)))
}

# ---------------------------------------------------- ordinal marginal effects --
# The ordinal model (logit, the control above): P(apicat = k) averaged over the rows with
# everyone at each level of stype, and the effects H - E, M - E per category. Model
# variance: the gradient of the averages in (slopes, cut-points) by numDeriv::jacobian
# (Richardson extrapolation) and vcov(fit). Keys model:<level or effect>:<k>:est/se.
olr_margins <- function(case, design) {
  NDEPS <<- rep(1e-6, NPAR)
  fit <- olr_fit(design, "logistic")
  mf <- model.frame(design)
  w <- weights(design, "sampling")
  levels_ <- c("E", "H", "M")
  avg <- function(theta) {
    b <- theta[1:4]
    z <- theta[5:7]
    unlist(lapply(levels_, function(l) {
      eta <- mf$ell * b[1] + mf$meals * b[2] + (l == "H") * b[3] + (l == "M") * b[4]
      cum <- sapply(z, function(zk) plogis(zk - eta))
      pr <- cbind(cum[, 1], cum[, 2] - cum[, 1], cum[, 3] - cum[, 2], 1 - cum[, 3])
      colSums(w * pr) / sum(w)
    }))
  }
  theta <- coef(fit)
  est <- avg(theta)
  J <- numDeriv::jacobian(avg, theta)
  L <- rbind(diag(12), cbind(-diag(4), diag(4), matrix(0, 4, 4)),
             cbind(-diag(4), matrix(0, 4, 4), diag(4)))
  names_ <- c(paste0(rep(levels_, each = 4), ":", 1:4), paste0("H-E:", 1:4),
              paste0("M-E:", 1:4))
  V <- L %*% J %*% vcov(fit) %*% t(J) %*% t(L)
  rec(case, paste0("model:", names_, ":est"), L %*% est)
  rec(case, paste0("model:", names_, ":se"), sqrt(diag(V)))
}
for (name in TAYLOR) olr_margins(sprintf("%s/olr_margins_stype", name), DESIGNS[[name]])

# ============================================ pchisqsum / pFsum (regTermTest's p) --
# Upper tail of a weighted sum of chi-squared(1) variables sum a_i X_i (pchisqsum), and
# of the same over an independent chi-squared(ddf)/ddf (pFsum), by the Satterthwaite
# and the saddlepoint approximations. Keys <method>:<i> for the grid below.
SUMS <- list(
  list(x = 3, a = c(1.5, 0.5)), list(x = 12, a = c(2, 1, 0.5)), list(x = 0.4, a = c(0.9, 0.3)),
  list(x = 25, a = c(1, 1, 1, 1)), list(x = 60, a = c(3.2, 0.7)), list(x = 2, a = 1.3)
)
for (i in seq_along(SUMS)) {
  x <- SUMS[[i]]$x
  a <- SUMS[[i]]$a
  df <- rep(1, length(a))
  rec("pchisqsum", paste0("x:", i), x)
  for (method in c("satterthwaite", "saddlepoint")) {
    rec("pchisqsum", paste0(method, ":", i),
        pchisqsum(x, df, a, method = method, lower.tail = FALSE))
    for (ddf in c(10, 193)) {
      rec(sprintf("pFsum_%d", ddf), paste0(method, ":", i),
          pFsum(x, df, a, ddf = ddf, method = method, lower.tail = FALSE))
    }
  }
}

write_group("models_more.csv")

# ======================================================= multiple imputation --
# apistrat with ell and mobility made missing by a fixed rule (row i, 1-based):
#   ell missing      if (meals > 60 and i %% 3 == 0) or i %% 11 == 0
#   mobility missing if i %% 7 == 0
# completed m = 5 times by a weighted hot-deck within stype (donors drawn with
# probability proportional to pw, set.seed(19)). mi_apistrat.csv holds the completed
# copies (column imp = 1..5; imp_ell / imp_mobility flag the imputed values), the data
# the MIcombine cases below combine: the Python tests rebuild the designs from it.
# MIcombine(with(svydesign(..., data = imputationList(copies)), <estimator>),
#           df.complete = Inf | 197): keys NAME:est/se/df/missinfo, vcov|A|B.
set.seed(19)
mi <- apistrat[, c("cds", "stype", "pw", "fpc", "api00", "meals", "ell", "mobility")]
i <- seq_len(nrow(mi))
miss <- list(ell = (mi$meals > 60 & i %% 3 == 0) | i %% 11 == 0, mobility = i %% 7 == 0)
copies <- lapply(1:5, function(m) {
  out <- mi
  for (v in names(miss)) {
    for (s in levels(mi$stype)) {
      donors <- which(!miss[[v]] & mi$stype == s)
      takers <- which(miss[[v]] & mi$stype == s)
      pick <- donors[sample.int(length(donors), length(takers), replace = TRUE,
                                prob = mi$pw[donors])]
      out[[v]][takers] <- mi[[v]][pick]
    }
    out[[paste0("imp_", v)]] <- as.integer(miss[[v]])
  }
  cbind(imp = m, out)
})
write.csv(do.call(rbind, copies), file.path(OUT, "mi_apistrat.csv"), row.names = FALSE)
cat(sprintf("wrote mi_apistrat.csv: %d rows\n", 5 * nrow(mi)))
mi_des <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc,
                    data = imputationList(lapply(copies, function(x) x[, -1])))
rec_mi <- function(case, combined) {
  b <- coef(combined)
  V <- vcov(combined)
  nm <- names(b)
  rec(case, paste0(nm, ":est"), b)
  rec(case, paste0(nm, ":se"), sqrt(diag(V)))
  rec(case, paste0(nm, ":df"), combined$df)
  rec(case, paste0(nm, ":missinfo"), combined$missinfo)
  for (a in nm) for (z in nm) rec(case, paste("vcov", a, z, sep = "|"), V[a, z])
}
mi_results <- list(
  mean = with(mi_des, svymean(~ell + mobility + api00)),
  by_stype = with(mi_des, svyby(~ell, ~stype, svymean)),
  glm = with(mi_des, svyglm(api00 ~ ell + meals + mobility)),
  total = with(mi_des, svytotal(~ell))
)
for (what in names(mi_results)) {
  rec_mi(sprintf("mi/%s", what), MIcombine(mi_results[[what]]))
  rec_mi(sprintf("mi/%s_df197", what), MIcombine(mi_results[[what]], df.complete = 197))
}
write_group("models_mi.csv")
