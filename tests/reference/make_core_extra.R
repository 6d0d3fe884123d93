# Extra reference values from R's `survey` for the estimation core (issue #3):
# the cases reference_core.csv (make_reference.R) does not hold.
#
# Run from the repository root:
#     Rscript tests/reference/make_core_extra.R
# Reads  R survey's data(api), perception/datasets/apiclus1_boot50_draws.csv and
#        tests/reference/lonely_data.csv.
# Writes tests/reference/core_extra.csv (case,key,value; 17 significant digits) and the
#        small data sets it uses: core_ties_data.csv, core_clus2_lonely_data.csv.
#
# Cases (keys as in reference_core.csv: VAR:est, VAR:se, VAR:deff, LEVEL:est, ...):
#   rep_deff/<design>/...   deff = "replace" on replicate designs (svymean, svytotal,
#                           svyratio, svyby)
#   ratio_deff/<design>     svyratio(..., deff = "replace") on linearisation designs
#   domain_ciprop/<design>/<method>/<level>  svyciprop on subset(design, stype == level)
#   domain_quantile/<design>/<level>         svyquantile on subset(design, stype == level)
#   ties/...                qrule = "math" where p * sum(w) hits a cumulative weight
#   clus2_lonely_<option>/  two-stage design with lonely second-stage units
#   lonely_schwide_<option> domains crossing strata on the lonely-PSU data
#   domain_degf/<design>    degf(subset(design, stype == level)), linearisation and replicate

suppressPackageStartupMessages(library(survey))

OUT <- file.path("tests", "reference")
stopifnot(dir.exists(OUT))

options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE,
        survey.replicates.mse = FALSE, survey.drop.replicates = TRUE, warn = 1)

fmt <- function(x) vapply(as.numeric(x), function(v) format(v, digits = 17), character(1))
rows <- list()
rec <- function(case, key, value) {
  value <- as.numeric(value)
  stopifnot(length(key) == length(value))
  rows[[length(rows) + 1]] <<- data.frame(case = case, key = key, value = fmt(value))
}
write_data <- function(df, file) {
  num <- vapply(df, is.numeric, logical(1))
  for (j in which(num)) df[[j]] <- fmt(df[[j]])
  write.csv(df, file.path(OUT, file), row.names = FALSE, quote = which(!num), na = "NA")
}
rec_stat <- function(case, s, deff = TRUE) {
  nm <- names(coef(s))
  rec(case, paste0(nm, ":est"), coef(s))
  rec(case, paste0(nm, ":se"), SE(s))
  if (deff) rec(case, paste0(nm, ":deff"), deff(s))
}
rec_by <- function(case, b, deff = FALSE) {
  labs <- rownames(b)
  rec(case, paste0(labs, ":est"), coef(b))
  rec(case, paste0(labs, ":se"), SE(b))
  if (deff) rec(case, paste0(labs, ":deff"), b[[grep("^DEff", names(b))[1]]])
}
rec_quant <- function(case, q) {
  for (v in names(q)) {
    m <- q[[v]]
    for (i in seq_len(nrow(m))) {
      p <- paste0(v, ":q", rownames(m)[i])
      rec(case, paste0(p, c(":est", ":lo", ":hi", ":se")), m[i, 1:4])
    }
  }
}

data(api)  # R survey's api data: the data sets perception.datasets bundles
source(file.path("perception", "datasets", "apiclus1_boot50.R"))  # with_boot50()
lonely_data <- read.csv(file.path(OUT, "lonely_data.csv"), colClasses = c(cds = "character"))

designs <- list(
  strat = svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat),
  clus1 = svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1),
  clus2 = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
)
reps <- list(
  jk1_clus1 = as.svrepdesign(designs$clus1, type = "JK1"),
  jkn_strat = as.svrepdesign(designs$strat, type = "JKn"),
  boot_scale = svrepdesign(data = with_boot50(apiclus1), repweights = "rw[0-9]+",
                           weights = ~pw, type = "bootstrap", scale = 15 / 686)
)

# ---- deff on replicate designs ----
for (nm in names(reps)) {
  r <- reps[[nm]]
  rec_stat(paste0("rep_deff/", nm, "/mean"), svymean(~api00 + api99, r, deff = "replace"))
  rec_stat(paste0("rep_deff/", nm, "/total"), svytotal(~api00, r, deff = "replace"))
  rec_stat(paste0("rep_deff/", nm, "/prop_stype"), svymean(~stype, r, deff = "replace"))
  # svyratio.svyrep.design fails with deff = "replace" (it does `if (deff)`); its own
  # formula is deff(svytotal(numerator - ratio * denominator, design, deff = ...)):
  rt <- svyratio(~api00, ~api99, r)
  resid <- r$variables$api00 - coef(rt) * r$variables$api99
  dt <- svytotal(resid, r, deff = "replace")
  rec(paste0("rep_deff/", nm, "/ratio"), c("est", "se", "deff"), c(coef(rt), SE(rt), deff(dt)))
  rec_by(paste0("rep_deff/", nm, "/by_stype_mean"),
         svyby(~api00, ~stype, r, svymean, deff = "replace"), deff = TRUE)
}

# ---- ratio deff, linearisation ----
for (nm in names(designs)) {
  rt <- svyratio(~api00, ~api99, designs[[nm]], deff = "replace")
  rec(paste0("ratio_deff/", nm), c("est", "se", "deff"), c(coef(rt), SE(rt), deff(rt)))
}

# ---- proportion intervals and quantiles inside a domain (R: on subset(design)) ----
all_designs <- c(designs, reps[c("jk1_clus1", "jkn_strat")])
for (nm in names(all_designs)) {
  d <- all_designs[[nm]]
  methods <- if (inherits(d, "svyrep.design")) c("logit", "mean", "beta", "xlogit", "asin")
             else c("logit", "beta", "mean", "xlogit", "asin")
  for (lev in c("E", "H", "M")) {
    sub <- subset(d, stype == lev)
    rec(paste0("domain_degf/", nm), lev, degf(sub))
    for (M in methods) {
      ci <- svyciprop(~I(sch.wide == "Yes"), sub, method = M)
      rec(paste0("domain_ciprop/", nm, "/", M, "/", lev), c("est", "se", "lo", "hi", "df"),
          c(coef(ci), SE(ci), confint(ci)[1], confint(ci)[2], degf(sub)))
    }
    q <- svyquantile(~api00, sub, quantiles = c(0.25, 0.5, 0.75), qrule = "math",
                     ci = TRUE, se = TRUE)
    rec_quant(paste0("domain_quantile/", nm, "/", lev), q)
  }
}

# ---- quantiles where p * sum(w) hits a cumulative weight exactly ----
# integer weights: cumulative weights 1, 3, 6, 10, ... of 20 ordered values; p chosen so
# that p * W is exactly a cumulative weight, falls between two, or lies below the first.
ties <- data.frame(id = 1:20, x = c(13, 1, 4, 2, 5, 9, 7, 6, 5, 3, 15, 8, 9, 17, 19, 3, 12, 11, 18, 14),
                   w = rep(c(1, 2, 3, 4), 5), psu = rep(1:10, each = 2),
                   stratum = rep(c("a", "b"), each = 10))
write_data(ties, "core_ties_data.csv")
tdes <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = ties)
W <- sum(ties$w)
o <- order(ties$x)
cw <- cumsum(ties$w[o])
ps <- sort(unique(c(cw[c(1, 2, 5, 10, 15)] / W, 0.5, 0.01, 0, 1, 0.25, 0.75)))
rec("ties", paste0("p:", seq_along(ps)), ps)
q <- svyquantile(~x, tdes, quantiles = ps, qrule = "math", ci = TRUE, se = TRUE)
rec_quant("ties/quantile", q)
# fractional weights whose running sums are not exact in binary
ties$w2 <- ties$w / 10 + 0.1
tdes2 <- svydesign(id = ~psu, strata = ~stratum, weights = ~w2, data = ties)
q <- svyquantile(~x, tdes2, quantiles = c(0.1, 0.3, 0.5, 0.7, 0.9), qrule = "math",
                 ci = TRUE, se = TRUE)
rec_quant("ties/quantile_w2", q)

# ---- two-stage design with lonely second-stage units ----
# apiclus2 with fpc2 = 2 where a district has a single sampled school: the second stage
# then has one-unit strata that are not exhaustively sampled.
cl2 <- apiclus2
single <- ave(cl2$snum, cl2$dnum, FUN = length) == 1
cl2$fpc2[single] <- 2
write_data(cl2[, c("cds", "dnum", "snum", "stype", "api00", "api99", "sch.wide", "fpc1",
                   "fpc2")], "core_clus2_lonely_data.csv")
for (opt in c("remove", "certainty", "adjust", "average")) {
  options(survey.lonely.psu = opt)
  d <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = cl2)
  rec_stat(paste0("clus2_lonely_", opt, "/mean"), svymean(~api00 + api99, d, deff = "replace"))
  rec_stat(paste0("clus2_lonely_", opt, "/total"), svytotal(~api00, d), deff = FALSE)
  rec_by(paste0("clus2_lonely_", opt, "/by_stype_mean"), svyby(~api00, ~stype, d, svymean))
}
options(survey.lonely.psu = "fail")

# ---- domains that cross strata, on the lonely-PSU data ----
for (opt in c("remove", "certainty", "adjust", "average")) {
  options(survey.lonely.psu = opt)
  d <- svydesign(id = ~dnum, strata = ~stype, weights = ~pw, nest = TRUE, data = lonely_data)
  rec_by(paste0("lonely_schwide_", opt, "/by_schwide_mean"),
         svyby(~api00, ~sch.wide, d, svymean))
  rec_by(paste0("lonely_schwide_", opt, "/by_schwide_total"),
         svyby(~api00, ~sch.wide, d, svytotal))
}
options(survey.lonely.psu = "fail")

out <- do.call(rbind, rows)
stopifnot(!any(duplicated(out[, c("case", "key")])))
write.table(out, file.path(OUT, "core_extra.csv"), sep = ",", quote = FALSE, row.names = FALSE)
cat(sprintf("wrote core_extra.csv: %d rows, R %s, survey %s\n", nrow(out),
            R.version.string, as.character(packageVersion("survey"))))
