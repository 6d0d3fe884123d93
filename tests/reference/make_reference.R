# Reference values from R's `survey` package for perception's tests.
#
# Run from the repository root:
#     Rscript tests/reference/make_reference.R
# Data: R survey's data(api) and perception/datasets/apiclus1_boot50_draws.csv.
# Writes tests/reference/*.csv (long format: case,key,value; values printed with
# format(x, digits = 17)) and tests/reference/PROGRESS.md.
#
# The values are committed data: CI has no R. Re-run only to regenerate.
# See tests/reference/README.md for the list of cases and the exact R calls.

suppressPackageStartupMessages(library(survey))

OUT <- file.path("tests", "reference")
stopifnot(dir.exists(OUT))

options(survey.lonely.psu = "fail",
        survey.adjust.domain.lonely = FALSE,
        survey.replicates.mse = FALSE,
        survey.drop.replicates = TRUE,
        warn = 1)

# --------------------------------------------------------------------------
# recording helpers
# --------------------------------------------------------------------------

fmt <- function(x) {
  x <- as.numeric(x)
  vapply(x, function(v) format(v, digits = 17), character(1))
}

# data files: numeric columns with 17 significant digits, character columns quoted
write_data <- function(df, file) {
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  num <- vapply(df, is.numeric, logical(1))
  for (j in which(num)) df[[j]] <- fmt(df[[j]])
  write.csv(df, file.path(OUT, file), row.names = FALSE, quote = which(!num), na = "NA")
}

.rows <- new.env()
.rows$group <- NULL
.rows$data <- list()
.refused <- list()

start_group <- function(name) {
  .rows$group <- name
  .rows$data <- list()
}

rec <- function(case, key, value) {
  value <- as.numeric(value)
  if (length(key) == 1 && length(value) > 1) key <- paste0(key, ":", seq_along(value))
  stopifnot(length(key) == length(value))
  .rows$data[[length(.rows$data) + 1]] <-
    data.frame(case = case, key = key, value = fmt(value), stringsAsFactors = FALSE)
  invisible(NULL)
}

write_group <- function(file) {
  df <- do.call(rbind, .rows$data)
  bad <- grepl("[,\"\n]", df$case) | grepl("[,\"\n]", df$key)
  if (any(bad)) stop("case/key with a comma or quote: ", paste(df$key[bad], collapse = " "))
  dup <- duplicated(df[, c("case", "key")])
  if (any(dup)) stop("duplicated case/key: ", paste(df$case[dup], df$key[dup], collapse = " "))
  write.table(df, file.path(OUT, file), sep = ",", quote = FALSE, row.names = FALSE)
  cat(sprintf("wrote %s: %d rows, %d cases\n", file, nrow(df), length(unique(df$case))))
  invisible(df)
}

# try an estimate; on error record what R refused and go on
attempt <- function(label, expr) {
  tryCatch(expr, error = function(e) {
    msg <- conditionMessage(e)
    cat("REFUSED:", label, "->", msg, "\n")
    .refused[[length(.refused) + 1]] <<- data.frame(what = label, error = gsub("[\r\n]+", " ", msg))
    NULL
  })
}

# svystat (svymean / svytotal): VAR:est, VAR:se, [VAR:deff], [vcov:A:B]
rec_stat <- function(case, s, deff = FALSE, vcov = FALSE) {
  nm <- names(coef(s))
  rec(case, paste0(nm, ":est"), coef(s))
  rec(case, paste0(nm, ":se"), SE(s))
  if (deff) rec(case, paste0(nm, ":deff"), deff(s))
  if (vcov) rec_vcov(case, vcov(s))
}

# keys "vcov:A:B"; with sep = "|" (model terms contain ':'), keys "vcov|A|B"
rec_vcov <- function(case, V, prefix = "vcov", sep = ":") {
  V <- as.matrix(V)
  nm <- rownames(V)
  for (i in seq_along(nm)) for (j in seq_along(nm))
    rec(case, paste(prefix, nm[i], nm[j], sep = sep), V[i, j])
}

# svyratio: est, se (as in r_survey_api.csv)
rec_ratio <- function(case, r) {
  rec(case, "est", coef(r))
  rec(case, "se", SE(r))
}

# svyby: LEVEL:est, LEVEL:se, [LEVEL:deff]; LEVEL is R's row name ("E", "E.No")
rec_by <- function(case, b, deff = FALSE) {
  labs <- rownames(b)
  est <- coef(b)
  se <- SE(b)
  stopifnot(length(est) == length(labs), length(se) == length(labs))
  rec(case, paste0(labs, ":est"), est)
  rec(case, paste0(labs, ":se"), se)
  # deff(<svyby>) fails in survey 4.1.1 when deff = "replace" (it does !"replace"):
  # read the DEff column of the svyby table instead.
  if (deff) rec(case, paste0(labs, ":deff"), b[[grep("^DEff", names(b))[1]]])
}

# svyquantile (survey >= 4.1 "newsvyquantile"): VAR:qP:est, :lo, :hi, :se
rec_quant <- function(case, q) {
  for (v in names(q)) {
    m <- q[[v]]
    for (i in seq_len(nrow(m))) {
      p <- paste0(v, ":q", rownames(m)[i])
      rec(case, paste0(p, c(":est", ":lo", ":hi", ":se")), m[i, 1:4])
    }
  }
}

# svyciprop: est, se, lo, hi, df
rec_ciprop <- function(case, ci, df) {
  rec(case, "est", coef(ci))
  rec(case, "se", SE(ci))
  rec(case, "lo", confint(ci)[1])
  rec(case, "hi", confint(ci)[2])
  rec(case, "df", df)
}

# svyglm: TERM:est, :se, :t, :p and df.residual (df of the t tests), dispersion
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
}

rec_contrast <- function(case, ct, df = NULL) {
  rec(case, "est", coef(ct))
  rec(case, "se", SE(ct))
  if (!is.null(df)) {
    tval <- coef(ct) / SE(ct)
    rec(case, "df", df)
    rec(case, "p", 2 * pt(-abs(tval), df))
  }
}

# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

data(api)  # R survey's api data: the data sets perception.datasets bundles
source(file.path("perception", "datasets", "apiclus1_boot50.R"))  # with_boot50()
apiclus1_boot50 <- with_boot50(apiclus1)

stopifnot(nrow(apistrat) == 200, nrow(apiclus1) == 183, nrow(apiclus2) == 126,
          nrow(apipop) == 6194, nrow(apiclus1_boot50) == 183)

# lonely-PSU data: apistrat, all rows of stype E and M, and of stype H only the rows
# of the first H district (dnum) in file order -> stratum H has exactly one PSU.
first_H_dnum <- apistrat$dnum[apistrat$stype == "H"][1]
lonely_data <- apistrat[apistrat$stype != "H" | apistrat$dnum == first_H_dnum, ]
rownames(lonely_data) <- NULL
write_data(lonely_data, "lonely_data.csv")

# --------------------------------------------------------------------------
# designs
# --------------------------------------------------------------------------

designs <- list(
  strat       = svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat),
  strat_nofpc = svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat),
  clus1       = svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1),
  clus1_nofpc = svydesign(id = ~dnum, weights = ~pw, data = apiclus1),
  clus2       = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2),
  clus2_nofpc = svydesign(id = ~dnum + snum, weights = ~pw, data = apiclus2),
  srs         = svydesign(id = ~1, weights = ~pw, data = apistrat)
)
lonely <- svydesign(id = ~dnum, strata = ~stype, weights = ~pw, nest = TRUE, data = lonely_data)
lonely_options <- c("remove", "certainty", "adjust", "average")

ciprop_methods <- c("logit", "beta", "mean", "xlogit", "asin")
QS <- c(0.25, 0.5, 0.75)

# ==========================================================================
# (1) CORE: estimation, replicate designs, quantiles, ciprop
# ==========================================================================
start_group("core")

core_estimates <- function(name, d) {
  vars <- names(d$variables)
  rec(name, "degf", degf(d))
  rec(name, "n", nrow(d))
  rec(name, "sum_weights", sum(weights(d)))

  attempt(paste(name, "mean"), {
    m <- svymean(~api00 + api99, d, deff = "replace")
    rec_stat(paste0(name, "/mean"), m, deff = TRUE, vcov = TRUE)
  })
  attempt(paste(name, "mean_enroll_narm"),
          rec_stat(paste0(name, "/mean_enroll_narm"),
                   svymean(~enroll, d, na.rm = TRUE, deff = "replace"), deff = TRUE))
  attempt(paste(name, "total"),
          rec_stat(paste0(name, "/total"),
                   svytotal(~enroll, d, na.rm = TRUE, deff = "replace"), deff = TRUE))
  attempt(paste(name, "total_api00"),
          rec_stat(paste0(name, "/total_api00"), svytotal(~api00, d)))
  attempt(paste(name, "ratio"), rec_ratio(paste0(name, "/ratio"), svyratio(~api00, ~api99, d)))
  attempt(paste(name, "prop_stype"),
          rec_stat(paste0(name, "/prop_stype"), svymean(~stype, d, deff = "replace"), deff = TRUE))
  attempt(paste(name, "prop_schwide"),
          rec_stat(paste0(name, "/prop_schwide"), svymean(~sch.wide, d, deff = "replace"), deff = TRUE))
  attempt(paste(name, "by_stype_mean"),
          rec_by(paste0(name, "/by_stype_mean"),
                 svyby(~api00, ~stype, d, svymean, deff = "replace"), deff = TRUE))
  attempt(paste(name, "by_stype_schwide_mean"),
          rec_by(paste0(name, "/by_stype_schwide_mean"),
                 svyby(~api00, ~stype + sch.wide, d, svymean)))
  attempt(paste(name, "by_stype_total"),
          rec_by(paste0(name, "/by_stype_total"),
                 svyby(~enroll, ~stype, d, svytotal, na.rm = TRUE)))
  attempt(paste(name, "by_stype_ratio"),
          rec_by(paste0(name, "/by_stype_ratio"),
                 svyby(~api00, by = ~stype, denominator = ~api99, design = d, FUN = svyratio)))
  for (M in ciprop_methods) {
    attempt(paste(name, "ciprop", M), {
      ci <- svyciprop(~I(sch.wide == "Yes"), d, method = M)
      rec_ciprop(paste0(name, "/ciprop_", M), ci, degf(d))
    })
  }
  # Woodruff interval (interval.type = "mean", the default; "mixed" does not exist in 4.1)
  attempt(paste(name, "quantile"), {
    q <- svyquantile(~api00, d, quantiles = QS, qrule = "math", ci = TRUE, se = TRUE)
    rec_quant(paste0(name, "/quantile"), q)
  })
  for (it in c("beta", "xlogit", "asin", "score")) {
    attempt(paste(name, "quantile", it), {
      q <- svyquantile(~api00, d, quantiles = QS, qrule = "math", ci = TRUE, se = TRUE,
                       interval.type = it)
      rec_quant(paste0(name, "/quantile_", it), q)
    })
  }
  attempt(paste(name, "quantile_enroll_narm"), {
    q <- svyquantile(~enroll, d, quantiles = QS, qrule = "math", ci = TRUE, se = TRUE, na.rm = TRUE)
    rec_quant(paste0(name, "/quantile_enroll_narm"), q)
  })
}

for (nm in names(designs)) core_estimates(nm, designs[[nm]])
# survey 4.1 has no interval.type = "mixed" (the Woodruff interval is interval.type = "mean")
invisible(attempt("svyquantile(..., interval.type = 'mixed') on strat",
                  svyquantile(~api00, designs$strat, quantiles = QS, qrule = "math",
                              interval.type = "mixed", ci = TRUE, se = TRUE)))

for (opt in lonely_options) {
  options(survey.lonely.psu = opt)
  core_estimates(paste0("lonely_", opt), lonely)
}
options(survey.lonely.psu = "fail")
lonely_fail <- attempt("lonely_fail svymean (expected to fail)", svymean(~api00, lonely))

# ---------------- replicate designs ----------------

rep_estimates <- function(name, r) {
  vars <- names(r$variables)
  rec(name, "degf", degf(r))
  rec(name, "scale", r$scale)
  rec(name, "n_replicates", ncol(r$repweights))
  rec(name, "mse", as.numeric(isTRUE(r$mse)))
  rs <- r$rscales
  rec(name, paste0("rscales:", seq_along(rs)), rs)
  if (all(c("api00", "api99") %in% vars)) {
    attempt(paste(name, "mean"),
            rec_stat(paste0(name, "/mean"), svymean(~api00 + api99, r), vcov = TRUE))
    attempt(paste(name, "ratio"), rec_ratio(paste0(name, "/ratio"), svyratio(~api00, ~api99, r)))
  }
  if ("enroll" %in% vars)
    attempt(paste(name, "total"),
            rec_stat(paste0(name, "/total"), svytotal(~enroll, r, na.rm = TRUE)))
  attempt(paste(name, "total_api00"), rec_stat(paste0(name, "/total_api00"), svytotal(~api00, r)))
  attempt(paste(name, "prop_stype"), rec_stat(paste0(name, "/prop_stype"), svymean(~stype, r)))
  attempt(paste(name, "by_stype_mean"),
          rec_by(paste0(name, "/by_stype_mean"), svyby(~api00, ~stype, r, svymean)))
  if ("sch.wide" %in% vars) {
    for (M in c("logit", "mean")) attempt(paste(name, "ciprop", M), {
      ci <- svyciprop(~I(sch.wide == "Yes"), r, method = M)
      rec_ciprop(paste0(name, "/ciprop_", M), ci, degf(r))
    })
  }
  # Woodruff interval through the replicate design (default interval.type = "mean")
  attempt(paste(name, "quantile"), {
    q <- svyquantile(~api00, r, quantiles = QS, qrule = "math", ci = TRUE, se = TRUE)
    rec_quant(paste0(name, "/quantile"), q)
  })
  # replicate quantiles: SE from the spread of the replicate quantiles
  attempt(paste(name, "quantile_rep"), {
    q <- suppressWarnings(suppressMessages(
      svyquantile(~api00, r, quantiles = QS, qrule = "math", ci = TRUE, se = TRUE,
                  interval.type = "quantile")))
    rec_quant(paste0(name, "/quantile_rep"), q)
  })
}

write_repweights <- function(r, data, file) {
  W <- weights(r, "analysis")
  colnames(W) <- paste0("rep", seq_len(ncol(W)))
  out <- data.frame(cds = data$cds, pw = weights(r, "sampling"), W, check.names = FALSE)
  write_data(out, file)
}

reps <- list(
  jk1_clus1       = as.svrepdesign(designs$clus1, type = "JK1"),
  jk1_clus1_nofpc = as.svrepdesign(designs$clus1_nofpc, type = "JK1"),
  jkn_strat       = as.svrepdesign(designs$strat, type = "JKn"),
  jkn_strat_nofpc = as.svrepdesign(designs$strat_nofpc, type = "JKn")
)
# JKn needs strata: clus1 has none, so JKn on clus1_nofpc is clus1 with strata=~stype
# (nest=TRUE); R refuses JKn on an unstratified design -> record the refusal.
invisible(attempt("as.svrepdesign(clus1_nofpc, type='JKn')", as.svrepdesign(designs$clus1_nofpc, type = "JKn")))
reps$jkn_clus1_nofpc_stype <- as.svrepdesign(
  svydesign(id = ~dnum, strata = ~stype, weights = ~pw, nest = TRUE, data = apiclus1), type = "JKn")
reps$jk1_clus1_mse <- as.svrepdesign(designs$clus1, type = "JK1", mse = TRUE)

for (nm in names(reps)) rep_estimates(nm, reps[[nm]])

write_repweights(reps$jk1_clus1, apiclus1, "jk1_clus1_repweights.csv")
write_repweights(reps$jkn_strat, apistrat, "jkn_strat_repweights.csv")

# JKn with a lonely PSU, under each lonely.psu option (option read when building)
for (opt in lonely_options) {
  options(survey.lonely.psu = opt)
  attempt(paste("jkn lonely", opt), {
    r <- as.svrepdesign(lonely, type = "JKn")
    nm <- paste0("jkn_lonely_", opt)
    rec(nm, "degf", degf(r))
    rec(nm, "scale", r$scale)
    rec(nm, "n_replicates", ncol(r$repweights$weights))
    rec_stat(paste0(nm, "/mean"), svymean(~api00 + api99, r))
  })
}
options(survey.lonely.psu = "fail")

# ---------------- user-supplied bootstrap weights ----------------
# apiclus1_boot50: rw1..rw50 are combined (analysis) weights.
# bootstrap scale for 15 PSUs and 50 replicates: n/((n-1)(R-1)) = 15/(14*49) = 15/686
BOOT_SCALE <- 15 / 686
bd <- apiclus1_boot50
boots <- list(
  # type="bootstrap", no scale: R uses scale = 1/(R-1) = 1/49, rscales = 1
  boot_default = svrepdesign(data = bd, repweights = "rw[0-9]+", weights = ~pw, type = "bootstrap"),
  # type="bootstrap", scale given: R keeps it, rscales = 1
  boot_scale = svrepdesign(data = bd, repweights = "rw[0-9]+", weights = ~pw, type = "bootstrap",
                           scale = BOOT_SCALE),
  # type="other", scale given: rscales set to 1 (with a warning)
  other_scale = suppressWarnings(
    svrepdesign(data = bd, repweights = "rw[0-9]+", weights = ~pw, type = "other",
                scale = BOOT_SCALE)),
  boot_scale_mse = svrepdesign(data = bd, repweights = "rw[0-9]+", weights = ~pw, type = "bootstrap",
                               scale = BOOT_SCALE, mse = TRUE),
  other_scale_mse = suppressWarnings(
    svrepdesign(data = bd, repweights = "rw[0-9]+", weights = ~pw, type = "other",
                scale = BOOT_SCALE, mse = TRUE))
)
for (nm in names(boots)) rep_estimates(nm, boots[[nm]])
for (nm in names(boots)) {
  attempt(paste(nm, "mean_api00"),
          rec_stat(paste0(nm, "/mean_api00"), svymean(~api00, boots[[nm]])))
}

# ---------------- BRR / Fay ----------------
# 2 PSUs per stratum, from apistrat: within each stype (E, H, M in that order), rows
# sorted by cds; consecutive blocks of 5 schools form a PSU (E: 20 PSUs, H: 10, M: 10);
# consecutive pairs of PSUs form a stratum (20 strata).  PSU "Ep03" is the 3rd block of
# E schools; stratum "Es02" holds PSUs Ep03 and Ep04.
brr_parts <- lapply(c("E", "H", "M"), function(s) {
  x <- apistrat[apistrat$stype == s, ]
  x <- x[order(x$cds), ]
  k <- ceiling(seq_len(nrow(x)) / 5)
  x$psu <- sprintf("%sp%02d", s, k)
  x$stratum <- sprintf("%ss%02d", s, ceiling(k / 2))
  x
})
brr_data <- do.call(rbind, brr_parts)
rownames(brr_data) <- NULL
brr_data <- brr_data[, c("cds", "stype", "stratum", "psu", "pw", "api00", "api99",
                         "enroll", "sch.wide", "meals", "ell")]
stopifnot(all(tapply(brr_data$psu, brr_data$stratum, function(p) length(unique(p))) == 2))
write_data(brr_data, "brr_data.csv")

brr_lin <- svydesign(id = ~psu, strata = ~stratum, weights = ~pw, data = brr_data)
brr <- as.svrepdesign(brr_lin, type = "BRR")
fay <- as.svrepdesign(brr_lin, type = "Fay", fay.rho = 0.3)
core_brr <- function(name, d) {
  rec(name, "degf", degf(d))
  if (inherits(d, "svyrep.design")) {
    rec(name, "scale", d$scale)
    rec(name, "n_replicates", ncol(weights(d, "analysis")))
    rec(name, "rho", if (is.null(d$rho)) 0 else d$rho)
    rs <- d$rscales
    rec(name, paste0("rscales:", seq_along(rs)), rs)
  }
  rec_stat(paste0(name, "/mean"), svymean(~api00 + api99, d), vcov = TRUE)
  rec_stat(paste0(name, "/total"), svytotal(~enroll, d))
  rec_ratio(paste0(name, "/ratio"), svyratio(~api00, ~api99, d))
  rec_by(paste0(name, "/by_stype_mean"), svyby(~api00, ~stype, d, svymean))
}
core_brr("brr_linearization", brr_lin)
core_brr("brr", brr)
core_brr("fay03", fay)
write_repweights(brr, brr_data, "brr_repweights.csv")
write_repweights(fay, brr_data, "fay03_repweights.csv")
# the Hadamard matrix brrweights() used: hadamard(number of strata) (20 strata -> 24 x 24),
# rows 2..(nstrata+1) are used for strata in sorted (character) order of stratum label.
H <- survey:::hadamard(length(unique(brr_data$stratum)))
colnames(H) <- paste0("rep", seq_len(ncol(H)))
write_data(data.frame(row = seq_len(nrow(H)), H), "brr_hadamard.csv")
# self-check of the rule the README states: strata sorted by label are k = 1..20; within a
# stratum PSUs in order of first appearance; in replicate r the first PSU of stratum k gets
# multiplier (2 - rho) if H[k + 1, r] == 1, else rho; the second PSU the other one.
check_brr <- function(rep, rho) {
  sl <- sort(unique(brr_data$stratum))
  k <- match(brr_data$stratum, sl)
  first <- !duplicated(brr_data$stratum) |
    brr_data$psu == ave(brr_data$psu, brr_data$stratum, FUN = function(p) p[1])
  mult <- sapply(seq_len(ncol(H)), function(r) {
    hk <- H[k + 1, r] == 1
    ifelse(first == hk, 2 - rho, rho)
  })
  stopifnot(max(abs(mult * brr_data$pw - weights(rep, "analysis"))) < 1e-9)
}
check_brr(brr, 0)
check_brr(fay, 0.3)

core_df <- write_group("reference_core.csv")

# ---- check against r_survey_api.csv (R survey 4.1 values, 15 digits) ----
api_ref <- read.csv(file.path(OUT, "r_survey_api.csv"), colClasses = "character")
api_ref <- api_ref[api_ref$case != "meta" & !grepl("glm", api_ref$case), ]
mm <- merge(api_ref, core_df, by = c("case", "key"), suffixes = c(".api", ".ours"), all.x = TRUE)
a <- as.numeric(mm$value.api); b <- as.numeric(mm$value.ours)
reldiff <- abs(a - b) / pmax(abs(a), 1e-300)
reldiff[a == 0 & b == 0] <- 0
n_missing <- sum(is.na(b))
n_bad <- sum(!is.na(b) & !(reldiff < 1e-12 | abs(a - b) < 1e-12))
api_check_core <- sprintf("%d r_survey_api.csv core keys; %d missing here; %d differ by more than 1e-12 (max rel diff %.3g)",
                         nrow(mm), n_missing, n_bad, max(reldiff, na.rm = TRUE))
cat("r_survey_api.csv check (core):", api_check_core, "\n")
if (n_missing > 0) print(mm[is.na(b), c("case", "key")])
if (n_bad > 0) print(mm[!is.na(b) & reldiff >= 1e-12, ])

progress <- c("# Reference generation progress",
              "",
              sprintf("Generated by `Rscript tests/reference/make_reference.R` with %s, survey %s.",
                      R.version.string, as.character(packageVersion("survey"))),
              "",
              sprintf("- [x] (1) core estimation, replicate designs, quantiles, ciprop -> reference_core.csv (%d rows)", nrow(core_df)),
              sprintf("      check against tests/reference/r_survey_api.csv: %s", api_check_core))
writeLines(progress, file.path(OUT, "PROGRESS.md"))

# ==========================================================================
# (2) MODELS, chi-square tests, contrasts
# ==========================================================================
start_group("models")

glm_designs <- c("strat", "strat_nofpc", "clus1", "clus1_nofpc", "clus2", "clus2_nofpc")
for (nm in glm_designs) {
  d <- designs[[nm]]
  attempt(paste(nm, "glm_gaussian"),
          rec_glm(paste0(nm, "/glm_gaussian"), svyglm(api00 ~ ell + meals + mobility, design = d)))
  attempt(paste(nm, "glm_quasibinomial"),
          rec_glm(paste0(nm, "/glm_quasibinomial"),
                  svyglm(I(sch.wide == "Yes") ~ ell + meals + stype, design = d,
                         family = quasibinomial())))
  attempt(paste(nm, "glm_interaction"),
          rec_glm(paste0(nm, "/glm_interaction"), svyglm(api00 ~ stype * meals, design = d)))
  for (st in c("F", "Chisq", "Wald", "adjWald", "saddlepoint")) {
    attempt(paste(nm, "chisq", st), {
      x <- svychisq(~sch.wide + stype, d, statistic = st)
      case <- paste0(nm, "/chisq_", st)
      rec(case, "statistic", x$statistic)
      if (length(x$parameter) == 2) {
        rec(case, "ndf", x$parameter[1])
        rec(case, "ddf", x$parameter[2])
      } else if (length(x$parameter) == 1) {
        rec(case, "df", x$parameter[1])
      }
      rec(case, "p", x$p.value)
    })
  }
  attempt(paste(nm, "contrast_by_stype"), {
    b <- svyby(~api00, ~stype, d, svymean, covmat = TRUE)
    rec_vcov(paste0(nm, "/by_stype_mean_covmat"), vcov(b))
    rec_contrast(paste0(nm, "/contrast_by_stype_EminusH"), svycontrast(b, c(E = 1, H = -1, M = 0)))
  })
  attempt(paste(nm, "contrast_mean"), {
    m <- svymean(~api00 + api99, d)
    rec_contrast(paste0(nm, "/contrast_api00_minus_api99"), svycontrast(m, c(1, -1)))
  })
}

for (nm in c("jk1_clus1", "jkn_strat")) {
  r <- reps[[nm]]
  attempt(paste(nm, "glm_gaussian"),
          rec_glm(paste0(nm, "/glm_gaussian"), svyglm(api00 ~ ell + meals + mobility, design = r)))
  attempt(paste(nm, "glm_quasibinomial"),
          rec_glm(paste0(nm, "/glm_quasibinomial"),
                  suppressWarnings(svyglm(I(sch.wide == "Yes") ~ ell + meals + stype, design = r,
                                          family = quasibinomial()))))
  attempt(paste(nm, "contrast_by_stype"), {
    b <- svyby(~api00, ~stype, r, svymean, covmat = TRUE)
    rec_vcov(paste0(nm, "/by_stype_mean_covmat"), vcov(b))
    rec_contrast(paste0(nm, "/contrast_by_stype_EminusH"), svycontrast(b, c(E = 1, H = -1, M = 0)))
  })
  attempt(paste(nm, "contrast_mean"), {
    m <- svymean(~api00 + api99, r)
    rec_contrast(paste0(nm, "/contrast_api00_minus_api99"), svycontrast(m, c(1, -1)))
  })
  attempt(paste(nm, "chisq F"), {
    x <- svychisq(~sch.wide + stype, r, statistic = "F")
    case <- paste0(nm, "/chisq_F")
    rec(case, "statistic", x$statistic)
    rec(case, "ndf", x$parameter[1]); rec(case, "ddf", x$parameter[2])
    rec(case, "p", x$p.value)
  })
}

models_df <- write_group("reference_models.csv")
mm <- merge(read.csv(file.path(OUT, "r_survey_api.csv"), colClasses = "character"),
            models_df, by = c("case", "key"), suffixes = c(".api", ".ours"))
rd_glm <- max(abs(as.numeric(mm$value.api) / as.numeric(mm$value.ours) - 1))
api_check_models <- sprintf("%d r_survey_api.csv glm keys matched, max rel diff %.3g", nrow(mm), rd_glm)
cat("r_survey_api.csv check (models):", api_check_models, "\n")
progress <- c(progress,
              sprintf("- [x] (2) models, chi-square, contrasts -> reference_models.csv (%d rows)", nrow(models_df)),
              sprintf("      check against r_survey_api.csv: %s", api_check_models))
writeLines(progress, file.path(OUT, "PROGRESS.md"))

# ==========================================================================
# (3) WEIGHTING on clus1, margins from apipop
# ==========================================================================
start_group("weighting")

pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
pop.cal <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = 3914069)
# the margins are apipop's
stopifnot(all(table(apipop$stype)[c("E", "H", "M")] == pop.types$Freq),
          all(table(apipop$sch.wide)[c("No", "Yes")] == pop.schwide$Freq),
          sum(apipop$api99) == pop.cal[["api99"]], sum(pop.types$Freq) == 6194,
          sum(pop.schwide$Freq) == 6194, nrow(apipop) == 6194)

clus1 <- designs$clus1
wd <- list(
  clus1 = clus1,
  ps = postStratify(clus1, ~stype, pop.types),
  rake = rake(clus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide)),
  cal_linear = calibrate(clus1, ~stype + api99, population = pop.cal),
  cal_raking = calibrate(clus1, ~stype + api99, population = pop.cal, calfun = "raking"),
  cal_logit = calibrate(clus1, ~stype + api99, population = pop.cal, calfun = "logit",
                        bounds = c(0.7, 1.7)),
  cal_linear_bounded = calibrate(clus1, ~stype + api99, population = pop.cal,
                                 bounds = c(0.7, 1.7))
)
wd$rake_trim <- trimWeights(wd$rake, upper = 38, lower = 30)
wd$rake_trim_strict <- trimWeights(wd$rake, upper = 38, lower = 30, strict = TRUE)

weighting_estimates <- function(name, d) {
  w <- weights(d)
  if (is.matrix(w)) w <- weights(d, "sampling")
  rec(name, "sum_weights", sum(w))
  rec(name, "min_weight", min(w)); rec(name, "max_weight", max(w))
  rec(name, "degf", degf(d))
  rec_stat(paste0(name, "/mean_api00"), svymean(~api00, d))
  rec_stat(paste0(name, "/total_enroll"), svytotal(~enroll, d))
  rec_stat(paste0(name, "/total_stype"), svytotal(~stype, d))
  rec_stat(paste0(name, "/total_schwide"), svytotal(~sch.wide, d))
  rec_stat(paste0(name, "/total_api99"), svytotal(~api99, d))
  rec_by(paste0(name, "/by_stype_mean"), svyby(~api00, ~stype, d, svymean))
}
for (nm in names(wd)) attempt(paste("weighting", nm), weighting_estimates(paste0("wt_", nm), wd[[nm]]))

wts <- data.frame(cds = apiclus1$cds, stype = apiclus1$stype, sch.wide = apiclus1$sch.wide,
                  api99 = apiclus1$api99)
for (nm in names(wd)) wts[[nm]] <- weights(wd[[nm]])
write_data(wts, "weights_clus1.csv")

# trimming on strat (pw takes 3 values: 15.10, 20.36, 44.21)
strat_trim <- list(
  strat_trim = trimWeights(designs$strat, upper = 40, lower = 18),
  strat_trim_strict = trimWeights(designs$strat, upper = 40, lower = 18, strict = TRUE)
)
for (nm in names(strat_trim)) attempt(paste("weighting", nm), {
  d <- strat_trim[[nm]]
  rec(paste0("wt_", nm), "sum_weights", sum(weights(d)))
  rec(paste0("wt_", nm), paste0("w:", seq_len(nrow(apistrat))), weights(d))
  rec_stat(paste0("wt_", nm, "/mean_api00"), svymean(~api00, d))
  rec_stat(paste0("wt_", nm, "/total_enroll"), svytotal(~enroll, d))
})

# the same adjustments on the JK1 replicate design of clus1
jk1 <- reps$jk1_clus1
wr <- list(
  jk1 = jk1,
  jk1_ps = postStratify(jk1, ~stype, pop.types),
  jk1_rake = rake(jk1, list(~stype, ~sch.wide), list(pop.types, pop.schwide)),
  jk1_cal_linear = calibrate(jk1, ~stype + api99, population = pop.cal),
  jk1_cal_raking = calibrate(jk1, ~stype + api99, population = pop.cal, calfun = "raking")
)
for (nm in names(wr)) attempt(paste("weighting", nm), weighting_estimates(paste0("wt_", nm), wr[[nm]]))
write_repweights(wr$jk1_ps, apiclus1, "jk1_clus1_ps_repweights.csv")

weighting_df <- write_group("reference_weighting.csv")
progress <- c(progress,
              sprintf("- [x] (3) weighting (postStratify, rake, calibrate, trimWeights; linearization and JK1) -> reference_weighting.csv (%d rows), weights_clus1.csv", nrow(weighting_df)))
writeLines(progress, file.path(OUT, "PROGRESS.md"))

# ==========================================================================
# (4) BEFORE / AFTER: revisited villages
# ==========================================================================
start_group("change")

# 4 strata x 10 villages (PSUs); every village visited in each wave with new respondents.
# 3 waves are generated (0 = pre-baseline, 1 = baseline, 2 = endline); the 2-wave file
# panel_villages.csv holds waves 1 and 2 (rows identical to those in panel_villages3.csv).
# Treatment (villages 1,3,5,7,9 of each stratum) acts only at wave 2.
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240611)
strata_M <- c(S1 = 60, S2 = 45, S3 = 80, S4 = 50)      # villages in the population
strata_eff <- c(S1 = -0.4, S2 = 0.0, S3 = 0.3, S4 = 0.6)
rows <- list()
for (h in names(strata_M)) {
  for (v in 1:10) {
    psu <- sprintf("%sV%02d", h, v)
    treated <- as.integer(v %% 2 == 1)
    u <- rnorm(1, 0, 0.6)                     # village effect, shared by the waves
    pop_v <- 300 + 50 * ((v * 7 + match(h, names(strata_M)) * 3) %% 11)
    for (wave in 0:2) {
      n_vw <- 8 + (v + wave + match(h, names(strata_M))) %% 5
      eta <- -0.2 + strata_eff[[h]] + u + 0.15 * wave + 0.6 * treated * (wave == 2) +
        0.1 * treated
      p <- plogis(eta)
      trust <- rbinom(n_vw, 1, p)
      score <- rbinom(n_vw, 3, plogis(eta - 0.3))
      rows[[length(rows) + 1]] <- data.frame(
        stratum = h, psu = psu, wave = wave, respondent = sprintf("%s-w%d-r%02d", psu, wave, seq_len(n_vw)),
        treated = treated, trust = trust, score = score,
        w = (strata_M[[h]] / 10) * pop_v / n_vw,
        stringsAsFactors = FALSE)
    }
  }
}
panel3 <- do.call(rbind, rows)
panel3 <- panel3[order(panel3$wave, panel3$stratum, panel3$psu, panel3$respondent), ]
rownames(panel3) <- NULL
panel <- panel3[panel3$wave %in% c(1, 2), ]
rownames(panel) <- NULL
write_data(panel, "panel_villages.csv")
write_data(panel3, "panel_villages3.csv")

panel$fwave <- factor(panel$wave)
panel3$fwave <- factor(panel3$wave)
dp <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = panel, nest = TRUE)
dp3 <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = panel3, nest = TRUE)
dfp <- degf(dp)
rec("panel", "degf", dfp); rec("panel", "n", nrow(panel))
rec("panel3", "degf", degf(dp3)); rec("panel3", "n", nrow(panel3))

for (y in c("trust", "score")) {
  fy <- as.formula(paste0("~", y))
  # change over waves
  b <- svyby(fy, ~wave, dp, svymean, covmat = TRUE)
  rec_by(paste0("panel/", y, "/by_wave"), b)
  rec_vcov(paste0("panel/", y, "/by_wave"), vcov(b))
  rec_contrast(paste0("panel/", y, "/change_2_minus_1"), svycontrast(b, c(-1, 1)), df = dfp)
  # ignoring the revisits (each wave a separate PSU set): for contrast only
  # by treated group
  bt <- svyby(fy, ~wave + treated, dp, svymean, covmat = TRUE)
  rec_by(paste0("panel/", y, "/by_wave_treated"), bt)
  rec_vcov(paste0("panel/", y, "/by_wave_treated"), vcov(bt))
  lab <- rownames(bt)          # "1.0" "2.0" "1.1" "2.1"
  cc <- function(wts) { v <- setNames(numeric(length(lab)), lab); v[names(wts)] <- wts; v }
  rec_contrast(paste0("panel/", y, "/change_2_minus_1_treated0"),
               svycontrast(bt, cc(c(`1.0` = -1, `2.0` = 1))), df = dfp)
  rec_contrast(paste0("panel/", y, "/change_2_minus_1_treated1"),
               svycontrast(bt, cc(c(`1.1` = -1, `2.1` = 1))), df = dfp)
  rec_contrast(paste0("panel/", y, "/did_cells"),
               svycontrast(bt, cc(c(`1.1` = -1, `2.1` = 1, `1.0` = 1, `2.0` = -1))), df = dfp)
  # difference in differences by regression
  fit <- svyglm(as.formula(paste(y, "~ treated * fwave")), design = dp)
  rec_glm(paste0("panel/", y, "/glm_did"), fit)
  rec_vcov(paste0("panel/", y, "/glm_did"), vcov(fit), sep = "|")

  # 3 waves
  b3 <- svyby(fy, ~wave, dp3, svymean, covmat = TRUE)
  rec_by(paste0("panel3/", y, "/by_wave"), b3)
  rec_vcov(paste0("panel3/", y, "/by_wave"), vcov(b3))
  rec_contrast(paste0("panel3/", y, "/change_1_minus_0"), svycontrast(b3, c(-1, 1, 0)), df = degf(dp3))
  rec_contrast(paste0("panel3/", y, "/change_2_minus_1"), svycontrast(b3, c(0, -1, 1)), df = degf(dp3))
  rec_contrast(paste0("panel3/", y, "/change_2_minus_0"), svycontrast(b3, c(-1, 0, 1)), df = degf(dp3))
  bt3 <- svyby(fy, ~wave + treated, dp3, svymean, covmat = TRUE)
  rec_by(paste0("panel3/", y, "/by_wave_treated"), bt3)
  fit3 <- svyglm(as.formula(paste(y, "~ treated * fwave")), design = dp3)
  rec_glm(paste0("panel3/", y, "/glm_event"), fit3)
  rec_vcov(paste0("panel3/", y, "/glm_event"), vcov(fit3), sep = "|")
  # joint test of all treated x wave terms
  tt <- regTermTest(fit3, ~treated:fwave)
  rec(paste0("panel3/", y, "/regtermtest_interactions"), "F", tt$Ftest)
  rec(paste0("panel3/", y, "/regtermtest_interactions"), "ndf", tt$df)
  rec(paste0("panel3/", y, "/regtermtest_interactions"), "ddf", tt$ddf)
  rec(paste0("panel3/", y, "/regtermtest_interactions"), "p", tt$p)
  # pre-trend: the treated x wave-1 term alone (same model, explicit dummies)
  dp3e <- update(dp3, w1 = as.numeric(wave == 1), w2 = as.numeric(wave == 2),
                 tw1 = treated * (wave == 1), tw2 = treated * (wave == 2))
  fit3e <- svyglm(as.formula(paste(y, "~ treated + w1 + w2 + tw1 + tw2")), design = dp3e)
  stopifnot(max(abs(coef(fit3e) - coef(fit3))) < 1e-8)
  pt1 <- regTermTest(fit3e, ~tw1)
  rec(paste0("panel3/", y, "/regtermtest_pretrend"), "F", pt1$Ftest)
  rec(paste0("panel3/", y, "/regtermtest_pretrend"), "ndf", pt1$df)
  rec(paste0("panel3/", y, "/regtermtest_pretrend"), "ddf", pt1$ddf)
  rec(paste0("panel3/", y, "/regtermtest_pretrend"), "p", pt1$p)
}

change_df <- write_group("reference_change.csv")
progress <- c(progress,
              sprintf("- [x] (4) before/after, DiD, event study on revisited villages -> reference_change.csv (%d rows), panel_villages.csv, panel_villages3.csv", nrow(change_df)))

# refusals
if (length(.refused)) {
  ref <- do.call(rbind, .refused)
  write_data(ref, "r_refused.csv")
  progress <- c(progress, "", sprintf("R refused %d calls; see r_refused.csv.", nrow(ref)))
}
writeLines(progress, file.path(OUT, "PROGRESS.md"))
cat("done\n")
