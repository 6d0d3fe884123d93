# Reference values for designs sampled with probability proportional to size, without
# replacement: R's svydesign(pps = "brewer" | "overton" | HR() | HR(psum) | ppsmat(pij)).
#
# Run from the repository root:
#     Rscript tests/reference/make_pps.R
# Written with R 4.2.2 and survey 4.1.1. The values are committed data: CI has no R.
#
# Data
#   pps_election.csv            R survey's data(election): election_pps (40 US counties
#                               drawn with probability proportional to their 2004 votes,
#                               column p), with derived columns kerry_share = Kerry / votes,
#                               winner ("Bush" when Bush > Kerry, else "Kerry"), big ("big"
#                               when votes > 2e5, else "small").
#   pps_election_jointprob.csv  election_jointprob and election_jointHR (40 x 40 joint
#   pps_election_jointHR.csv    inclusion probabilities, rows in election_pps's order).
#   pps_villages.csv            a stratified two-stage sample drawn here (seed 20240522):
#                               3 cercles of 40, 50, 60 villages; 5, 6, 7 villages drawn by
#                               systematic PPS on households in random order (a town of
#                               3000 households with certainty), 12 households by simple
#                               random sampling in each, 6 at wave 1 and 6 at wave 2.
#                               p1 = the village's inclusion probability, f2 = 12 / its
#                               households, w = 1 / (p1 f2), psum = the cercle's population
#                               sum of p1^2 over its sample size (Hartley-Rao's psum),
#                               stratum_l = the cercles with the town and one village of
#                               Koro each alone in a stratum (lonely-PSU cases).
#   pps_village_level.csv       one row per sampled village (village-level variables) and
#   pps_village_joint.csv       Hartley and Rao's approximation of its joint inclusion
#                               probabilities (pi_i pi_j across cercles; pi_j with the
#                               certainty town), labelled by village.
# The election data ships with R's survey package (GPL-2 | GPL-3), as the api data does;
# it is copied here as test data only.
#
# Writes tests/reference/pps_reference.csv (case,key,value; 17 significant digits).
# Cases are <design>/<estimate>; <design> alone holds degf, n, sum_weights.
#
# What R 4.1.1 does with pps, and how the reference deals with it:
#   - pps = "brewer" gives an ordinary survey.design2 with each PSU's own fpc 1 - p_i
#     (strata, several stages, lonely PSUs, postStratify/rake/calibrate, svyby with
#     covmat all as usual). Overton, HR and ppsmat give a "pps" design (Horvitz-Thompson
#     variance t' Dcheck t), one stage only; Overton and HR need numeric strata
#     (stratum_id here).
#   - as.svrepdesign refuses every pps design for jk1, jkn and bootstrap ("More than one
#     fpc value given" / "More than one fpc in stratum"; a "pps" object has no fpc
#     matrix) and drops the probabilities for BRR and Fay: perception refuses them all.
#   - Weighting a "pps" design: rake() stops ("postStratify not yet implemented for these
#     pps designs. Use calibrate()"); postStratify() (postStratify.pps is not registered)
#     returns a design whose variance fails ("object 'y' not found" in ppsvar); and
#     calibrate() keeps the weights but ppsvar() computes the residuals into a variable
#     it never uses (`y <- qr.resid(...)`), so the variance ignores the calibration. The weighting cases of the Horvitz-Thompson designs use
#     the weights and residual steps R uses for the same weighting of the Brewer design
#     (survey.design2: svyrecvar's postStrata loop), then R's htvar.matrix: ppsvar with
#     that residual step (ppsvar_weighted below).
#   - svyby(covmat = TRUE) of a "pps" design returns a block-diagonal covariance: the
#     contrasts and changes between domains are computed from svytotal of indicator
#     products (their full Horvitz-Thompson covariance) with svycontrast.
#   - deff of svytotal on a "pps" design divides by sum(w)^2 (N - n) / N instead of
#     sum(w)^2 / n; the total's deff is recorded as v / (svyvar * sum(w)^2 / n), R's
#     definition for survey.design2 (deff_total below). svyby's deff is not recorded.

suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE, warn = 1)

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
write_data <- function(df, file) {
  out <- df
  numeric <- vapply(out, is.numeric, logical(1))
  for (j in which(numeric)) out[[j]] <- fmt(out[[j]])
  write.csv(out, file.path(OUT, file), row.names = FALSE, quote = which(!numeric))
}
# a negative variance estimate (possible with approximate joint probabilities): R's SE
# is NaN; perception reports NaN for the variance and its deff too, and so does the
# reference
rec_stat <- function(case, s, deff = NULL, vcov = FALSE) {
  nm <- names(coef(s))
  V <- as.matrix(vcov(s))
  negative <- diag(V) < 0
  diag(V)[negative] <- NaN
  rec(case, paste0(nm, ":est"), coef(s))
  rec(case, paste0(nm, ":se"), SE(s))
  if (!is.null(deff)) rec(case, paste0(nm, ":deff"), ifelse(negative, NaN, deff))
  if (vcov) {
    for (i in seq_along(nm)) for (j in seq_along(nm))
      rec(case, paste("vcov", nm[i], nm[j], sep = ":"), V[i, j])
  }
}
rec_ratio <- function(case, r) { rec(case, "est", coef(r)); rec(case, "se", SE(r)) }
rec_by <- function(case, b) {
  rec(case, paste0(rownames(b), ":est"), coef(b))
  rec(case, paste0(rownames(b), ":se"), SE(b))
}
rec_ciprop <- function(case, ci, df) {
  rec(case, "est", coef(ci)); rec(case, "se", SE(ci))
  rec(case, "lo", confint(ci)[1]); rec(case, "hi", confint(ci)[2]); rec(case, "df", df)
}
rec_quant <- function(case, q) {
  for (v in names(q)) {
    m <- q[[v]]
    for (i in seq_len(nrow(m)))
      rec(case, paste0(v, ":q", rownames(m)[i], c(":est", ":lo", ":hi", ":se")), m[i, 1:4])
  }
}
rec_glm <- function(case, fit) {
  cf <- summary(fit)$coefficients
  rec(case, paste0(rownames(cf), ":est"), cf[, 1])
  rec(case, paste0(rownames(cf), ":se"), cf[, 2])
  rec(case, paste0(rownames(cf), ":p"), cf[, 4])
  rec(case, "df.residual", fit$df.residual)
}
rec_chisq <- function(case, x) {
  rec(case, "statistic", x$statistic)
  rec(case, "ndf", x$parameter[1]); rec(case, "ddf", x$parameter[2])
  rec(case, "p", x$p.value)
}
rec_contrast <- function(case, ct, df) {
  rec(case, "est", coef(ct)); rec(case, "se", SE(ct))
  rec(case, "p", 2 * pt(-abs(coef(ct) / SE(ct)), df))
}
rec_design <- function(name, d) {
  rec(name, "degf", degf(d))
  rec(name, "n", nrow(d$variables))
  rec(name, "sum_weights", sum(weights(d)))
}

# deff of a total as R defines it for survey.design2: v / (svyvar * sum(w)^2 / n)
deff_total <- function(formula, d) {
  s <- svytotal(formula, d)
  x <- model.matrix(update(formula, ~ . - 1), model.frame(formula, d$variables))
  n <- sum(weights(d) != 0)
  vsrs <- diag(as.matrix(svyvar(x, d))) * sum(weights(d))^2 / n
  diag(as.matrix(vcov(s))) / vsrs
}

# difference of two domain means, a / b - c / d of indicator totals (svycontrast's delta
# method on the full covariance of the totals)
domain_mean_difference <- function(d, y, domain, first, second) {
  v <- d$variables
  ind <- function(level) as.numeric(v[[domain]] == level)
  d$variables$.y1 <- v[[y]] * ind(first); d$variables$.n1 <- ind(first)
  d$variables$.y2 <- v[[y]] * ind(second); d$variables$.n2 <- ind(second)
  t <- svytotal(~ .y1 + .n1 + .y2 + .n2, d)
  svycontrast(t, quote(.y2 / .n2 - .y1 / .n1))
}

# domain estimates of a clustered "pps" design: R's svyby and subset cut the rows of
# the data but not those of Dcheck (one per PSU) and stop, so each domain is a ratio
# (or total) of indicator products on the whole design, which is what svyby computes
# where it works; keys are svyby's row names (levels joined by ".", first varying fastest)
rec_domains <- function(case, d, y, by, denominator = NULL, total = FALSE) {
  v <- d$variables
  key <- interaction(v[by], drop = TRUE, sep = ".")
  for (lev in levels(key)) {
    ind <- as.numeric(key == lev)
    d$variables$.num <- v[[y]] * ind
    if (total) {
      s <- svytotal(~.num, d)
    } else {
      d$variables$.den <- (if (is.null(denominator)) 1 else v[[denominator]]) * ind
      s <- svyratio(~.num, ~.den, d)
    }
    rec(case, paste0(lev, c(":est", ":se")), c(coef(s), SE(s)))
  }
}

# ppsvar with the residual step of svyrecvar (GREG, raking, post-stratification): what
# ppsvar computes for a weighted "pps" design once its residuals are used (see above)
ppsvar_weighted <- function(x, design) {
  x <- as.matrix(x)
  for (psvar in design$postStrata) {
    if (inherits(psvar, "greg_calibration")) {
      stopifnot(psvar$stage == 0)
      x <- as.matrix(qr.resid(psvar$qr, x / psvar$w) * psvar$w)
    } else if (inherits(psvar, "raking")) {
      for (iterations in 1:10) for (margin in psvar) {
        psw <- attr(margin, "weights")
        x <- x - psw * apply(x / psw, 2, ave, margin)
      }
    } else {
      psw <- attr(psvar, "weights")
      oldw <- attr(psvar, "oldweights")
      if (is.null(oldw)) oldw <- rep(1, length(psw))
      zeroes <- which(psw == 0 & oldw == 0)
      if (length(zeroes)) psw[zeroes] <- 1
      psvar <- as.factor(psvar)
      psmeans <- rowsum(x * oldw / psw, psvar, reorder = TRUE) / as.vector(by(oldw, psvar, sum))
      x <- x - psmeans[match(psvar, sort(unique(psvar))), ] * psw
    }
  }
  dcheck <- design$dcheck
  survey:::htvar.matrix(rowsum(x, dcheck[[1]]$id, reorder = FALSE), dcheck[[1]]$dcheck)
}
# a Horvitz-Thompson design carrying the weights and weighting steps of `weighted`, the
# same weighting of `base`, a Brewer design with the same starting weights 1 / p
with_weighting <- function(ht, weighted, base) {
  stopifnot(isTRUE(all.equal(ht$prob, base$prob, tolerance = 1e-14)))
  ht$prob <- weighted$prob
  ht$postStrata <- weighted$postStrata
  ht
}

# ---------------------------------------------------------------------------- data --
data(election)
e <- election_pps
e$kerry_share <- e$Kerry / e$votes
e$winner <- ifelse(e$Bush > e$Kerry, "Bush", "Kerry")
e$big <- ifelse(e$votes > 2e5, "big", "small")
# two artificial groups, for the change and the DiD on a design with joint probabilities
e$wave <- 1 + (seq_len(nrow(e)) %% 2)
e$treated <- as.numeric(e$Nader > 0)
write_data(e, "pps_election.csv")
for (m in c("jointprob", "jointHR")) {
  pij <- get(paste0("election_", m))
  colnames(pij) <- paste0("c", seq_len(ncol(pij)))
  write_data(as.data.frame(pij), paste0("pps_election_", m, ".csv"))
}
pop_election <- election
pop_election$winner <- ifelse(pop_election$Bush > pop_election$Kerry, "Bush", "Kerry")
pop_election$big <- ifelse(pop_election$votes > 2e5, "big", "small")

set.seed(20240522)
cercles <- c("Bandiagara", "Bankass", "Koro")
codes <- c("BDG", "BKS", "KRO")
N_h <- c(40, 50, 60)
n_h <- c(5, 6, 7)
pps_pi <- function(x, n) {  # probabilities proportional to x, certainty units at 1
  pi <- n * x / sum(x)
  while (any(pi > 1)) {
    cert <- pi >= 1
    pi[cert] <- 1
    pi[!cert] <- (n - sum(cert)) * x[!cert] / sum(x[!cert])
  }
  pi
}
systematic <- function(pi) {  # systematic PPS in a random order, certainty units taken
  take <- pi >= 1
  rest <- which(!take)
  o <- rest[sample.int(length(rest))]
  cum <- cumsum(pi[o])
  hits <- runif(1) + 0:(round(sum(pi[o])) - 1)
  take[o[findInterval(hits, c(0, cum), left.open = TRUE)]] <- TRUE
  take
}
frames <- list()
sampled <- list()
for (h in 1:3) {
  size <- round(exp(rnorm(N_h[h], log(120), 0.7))) + 20
  if (h == 3) size[1] <- 3000
  f <- data.frame(stratum = cercles[h], stratum_id = h,
                  village = sprintf("%s-%02d", codes[h], seq_len(N_h[h])),
                  households = size, p1 = pps_pi(size, n_h[h]))
  f$psum <- sum(f$p1^2) / n_h[h]
  f$u <- rnorm(N_h[h], 0, 0.5)
  f$treated <- rbinom(N_h[h], 1, 0.5)
  frames[[h]] <- f
  sampled[[h]] <- f[systematic(f$p1), ]
}
villages <- do.call(rbind, sampled)
m <- 12
rows <- list()
for (i in seq_len(nrow(villages))) {
  v <- villages[i, ]
  hh <- sort(sample.int(v$households, m))
  wave <- rep(1:2, each = m / 2)
  post <- as.numeric(wave == 2)
  rows[[i]] <- data.frame(
    stratum = v$stratum, stratum_id = v$stratum_id, village = v$village,
    hh = sprintf("%s-h%04d", v$village, hh), p1 = v$p1, f2 = m / v$households,
    psum = v$psum, wave = wave, treated = v$treated,
    trust = rbinom(m, 1, plogis(-0.2 + v$u + 0.1 * post + 0.5 * v$treated * post)),
    score = pmin(5, pmax(1, round(3 + v$u + 0.2 * post + 0.5 * v$treated * post + rnorm(m)))),
    age = 18 + rpois(m, 22), sex = sample(c("F", "M"), m, TRUE))
}
vd <- do.call(rbind, rows)
vd$w <- 1 / (vd$p1 * vd$f2)
# strata with lonely PSUs: the certainty town alone in its stratum (every f = 0: no
# variance, so not lonely: R's onestrat returns 0 first) and one village alone in its
# stratum (lonely)
vd$stratum_l <- ifelse(vd$village == "KRO-01", "Koro-town",
                       ifelse(vd$village == "KRO-15", "Koro-lone", vd$stratum))
write_data(vd, "pps_villages.csv")

# village level: one row per sampled village, joint probabilities by Hartley-Rao
vl <- villages[, c("stratum", "stratum_id", "village", "households", "p1")]
vl$incidents <- rpois(nrow(vl), exp(0.5 + 0.3 * villages$u + 0.0005 * vl$households))
vl$police_post <- rbinom(nrow(vl), 1, plogis(-1 + 0.002 * vl$households))
vl$chief_age <- 40 + rpois(nrow(vl), 15)
rownames(vl) <- NULL
pi <- vl$p1
pij <- outer(pi, pi)
for (h in 1:3) {
  s <- which(vl$stratum_id == h)
  sum_sq <- sum(frames[[h]]$p1^2)
  n <- n_h[h]
  for (i in s) for (j in s) if (i != j) {
    pij[i, j] <- (n - 1) / n * pi[i] * pi[j] + (n - 1) / n^2 * (pi[i]^2 * pi[j] + pi[i] * pi[j]^2) -
      (n - 1) / n^3 * pi[i] * pi[j] * sum_sq
  }
}
cert <- which(pi == 1)
pij[cert, ] <- rep(pi, each = length(cert))
pij[, cert] <- rep(pi, length(cert))
diag(pij) <- pi
dimnames(pij) <- list(vl$village, vl$village)
write_data(vl, "pps_village_level.csv")
joint_out <- data.frame(village = vl$village, pij, check.names = FALSE)
write_data(joint_out, "pps_village_joint.csv")

# ------------------------------------------------------------------------- designs --
election_psum <- sum(election$p^2) / 40  # Hartley-Rao's psum: population sum of p^2 / n
rec("el_hr_psum", "psum", election_psum)
el <- list(
  el_brewer = svydesign(id = ~1, fpc = ~p, data = e, pps = "brewer"),
  el_overton = svydesign(id = ~1, fpc = ~p, data = e, pps = "overton"),
  el_hr = svydesign(id = ~1, fpc = ~p, data = e, pps = HR()),
  el_hr_psum = svydesign(id = ~1, fpc = ~p, data = e, pps = HR(election_psum)),
  el_joint = svydesign(id = ~1, fpc = ~p, data = e, pps = ppsmat(election_jointprob)),
  el_joint_hr = svydesign(id = ~1, fpc = ~p, data = e, pps = ppsmat(election_jointHR)),
  el_joint_tol0 = svydesign(id = ~1, fpc = ~p, data = e,
                            pps = ppsmat(election_jointprob, tolerance = 0))
)
psum_frame <- data.frame(vd$psum)
strata_frame <- data.frame(vd$stratum_id)
vil <- list(
  vil_brewer2 = svydesign(id = ~village + hh, strata = ~stratum, fpc = ~p1 + f2, data = vd,
                          pps = "brewer"),
  vil_brewer1 = svydesign(id = ~village, strata = ~stratum, fpc = ~p1, weights = ~w,
                          data = vd, pps = "brewer"),
  vil_overton = svydesign(id = ~village, strata = ~stratum_id, fpc = ~p1, data = vd,
                          pps = "overton"),
  vil_hr = svydesign(id = ~village, strata = ~stratum_id, fpc = ~p1, data = vd, pps = HR()),
  vil_hr_psum = svydesign(id = ~village, strata = ~stratum_id, fpc = ~p1, data = vd,
                          pps = HR(psum_frame, strata_frame))
)
vlev <- list(
  vl_joint = svydesign(id = ~village, strata = ~stratum, fpc = ~p1, data = vl, pps = ppsmat(pij)),
  vl_brewer = svydesign(id = ~village, strata = ~stratum, fpc = ~p1, data = vl, pps = "brewer"),
  vl_overton = svydesign(id = ~village, strata = ~stratum_id, fpc = ~p1, data = vl,
                         pps = "overton")
)
brewer_class <- function(d) inherits(d, "survey.design2")
stopifnot(brewer_class(el$el_brewer), brewer_class(vil$vil_brewer2), !brewer_class(el$el_overton))

# --------------------------------------------------------------- election estimates --
for (name in names(el)) {
  d <- el[[name]]
  rec_design(name, d)
  m1 <- svymean(~Bush + Kerry, d, deff = "replace")
  rec_stat(paste0(name, "/mean"), m1, deff = deff(m1), vcov = TRUE)
  rec_stat(paste0(name, "/total"), svytotal(~Bush + Kerry, d),
           deff = deff_total(~Bush + Kerry, d), vcov = TRUE)
  rec_ratio(paste0(name, "/ratio"), svyratio(~Bush, ~votes, d))
  p <- svymean(~winner, d, deff = "replace")
  rec_stat(paste0(name, "/prop_winner"), p, deff = deff(p))
  for (M in c("logit", "beta", "mean", "xlogit", "asin"))
    rec_ciprop(paste0(name, "/ciprop_", M), svyciprop(~I(winner == "Bush"), d, method = M),
               degf(d))
  rec_by(paste0(name, "/by_big_mean"), svyby(~kerry_share, ~big, d, svymean))
  rec_by(paste0(name, "/by_big_total"), svyby(~Kerry, ~big, d, svytotal))
  rec_by(paste0(name, "/by_big_ratio"), svyby(~Bush, ~big, d, svyratio, denominator = ~votes))
  rec_stat(paste0(name, "/subset_mean"), svymean(~Kerry, subset(d, big == "big")))
  rec_contrast(paste0(name, "/contrast_big"),
               domain_mean_difference(d, "kerry_share", "big", "big", "small"), degf(d))
  rec_glm(paste0(name, "/glm_gaussian"), svyglm(Kerry ~ Bush, d))
  rec_glm(paste0(name, "/glm_binomial"),
          svyglm(I(winner == "Bush") ~ I(Nader > 0), d, family = quasibinomial()))
  rec_chisq(paste0(name, "/chisq"), svychisq(~winner + big, d, statistic = "F"))
  rec_contrast(paste0(name, "/change"),
               domain_mean_difference(d, "kerry_share", "wave", 1, 2), degf(d))
  rec_glm(paste0(name, "/did"), svyglm(kerry_share ~ treated * factor(wave), d))
}

# --------------------------------------------------------------- villages estimates --
for (name in names(vil)) {
  d <- vil[[name]]
  rec_design(name, d)
  m1 <- svymean(~trust + score, d, deff = "replace")
  rec_stat(paste0(name, "/mean"), m1, deff = deff(m1), vcov = TRUE)
  rec_stat(paste0(name, "/total"), svytotal(~trust, d), deff = deff_total(~trust, d))
  rec_ratio(paste0(name, "/ratio"), svyratio(~score, ~age, d))
  p <- svymean(~factor(score), d, deff = "replace")
  rec_stat(paste0(name, "/prop_score"), p, deff = deff(p))
  for (M in c("logit", "beta", "mean", "xlogit", "asin"))
    rec_ciprop(paste0(name, "/ciprop_", M), svyciprop(~I(trust == 1), d, method = M), degf(d))
  if (brewer_class(d)) {
    rec_by(paste0(name, "/by_stratum_mean"), svyby(~trust, ~stratum, d, svymean))
    rec_by(paste0(name, "/by_wave_treated_mean"), svyby(~score, ~wave + treated, d, svymean))
    s <- svymean(~score, subset(d, sex == "F"))
    rec(paste0(name, "/subset_mean"), c("score:est", "score:se"), c(coef(s), SE(s)))
  } else {
    rec_domains(paste0(name, "/by_stratum_mean"), d, "trust", "stratum")
    rec_domains(paste0(name, "/by_wave_treated_mean"), d, "score", c("wave", "treated"))
    v <- d$variables
    d$variables$.f <- as.numeric(v$sex == "F")
    d$variables$.y <- v$score * d$variables$.f
    s <- svyratio(~.y, ~.f, d)
    rec(paste0(name, "/subset_mean"), c("score:est", "score:se"), c(coef(s), SE(s)))
  }
  rec_quant(paste0(name, "/quantile"), svyquantile(~age, d, c(0.25, 0.5, 0.75)))
  rec_quant(paste0(name, "/quantile_score"),
            svyquantile(~age, d, c(0.25, 0.5, 0.75), interval.type = "score"))
  rec_contrast(paste0(name, "/change"), domain_mean_difference(d, "trust", "wave", 1, 2),
               degf(d))
  for (g in 0:1) {
    dg <- d
    v <- dg$variables
    dg$variables$.w1 <- as.numeric(v$wave == 1 & v$treated == g)
    dg$variables$.w2 <- as.numeric(v$wave == 2 & v$treated == g)
    dg$variables$.t1 <- v$trust * dg$variables$.w1
    dg$variables$.t2 <- v$trust * dg$variables$.w2
    t <- svytotal(~ .t1 + .w1 + .t2 + .w2, dg)
    rec_contrast(paste0(name, "/change_treated", g),
                 svycontrast(t, quote(.t2 / .w2 - .t1 / .w1)), degf(d))
  }
  fit <- svyglm(score ~ treated * factor(wave), d)
  rec_glm(paste0(name, "/did"), fit)
  rec_glm(paste0(name, "/glm_binomial"),
          svyglm(trust ~ treated + age, d, family = quasibinomial()))
  rec_chisq(paste0(name, "/chisq"), svychisq(~sex + trust, d, statistic = "F"))
}

# ----------------------------------------------------------- village-level estimates --
for (name in names(vlev)) {
  d <- vlev[[name]]
  rec_design(name, d)
  m1 <- svymean(~incidents + chief_age, d, deff = "replace")
  rec_stat(paste0(name, "/mean"), m1, deff = deff(m1), vcov = TRUE)
  rec_stat(paste0(name, "/total"), svytotal(~incidents + households, d),
           deff = deff_total(~incidents + households, d), vcov = TRUE)
  rec_ratio(paste0(name, "/ratio"), svyratio(~incidents, ~households, d))
  for (M in c("logit", "mean"))
    rec_ciprop(paste0(name, "/ciprop_", M), svyciprop(~I(police_post == 1), d, method = M),
               degf(d))
  rec_domains(paste0(name, "/by_stratum_total"), d, "incidents", "stratum", total = TRUE)
  rec_quant(paste0(name, "/quantile"), svyquantile(~chief_age, d, c(0.25, 0.5, 0.75)))
  rec_glm(paste0(name, "/glm_gaussian"), svyglm(incidents ~ households, d))
}

# ---------------------------------------------------------------- lonely PSUs --
# Brewer with lonely strata (column stratum_l); two stages
for (opt in c("remove", "certainty", "adjust", "average")) {
  options(survey.lonely.psu = opt)
  d <- svydesign(id = ~village + hh, strata = ~stratum_l, fpc = ~p1 + f2, data = vd,
                 pps = "brewer")
  name <- paste0("vil_lonely_", opt)
  rec_design(name, d)
  rec_stat(paste0(name, "/mean"), svymean(~trust + score, d))
  rec_by(paste0(name, "/by_wave_mean"), svyby(~trust, ~wave, d, svymean))
}
options(survey.lonely.psu = "fail")

# ---------------------------------------------------------------------- weighting --
pop_big <- data.frame(big = c("big", "small"), Freq = as.vector(table(pop_election$big)))
pop_winner <- data.frame(winner = c("Bush", "Kerry"),
                         Freq = as.vector(table(pop_election$winner)))
cal_pop <- c(`(Intercept)` = nrow(election), votes = sum(election$votes))
rec("margins", paste0("big:", pop_big$big), pop_big$Freq)
rec("margins", paste0("winner:", pop_winner$winner), pop_winner$Freq)
rec("margins", c("N", "votes"), cal_pop)
weightings <- list(
  ps_big = function(d) postStratify(d, ~big, pop_big),
  rake = function(d) rake(d, list(~big, ~winner), list(pop_big, pop_winner),
                          control = list(maxit = 100, epsilon = 1e-10)),
  cal_votes = function(d) calibrate(d, ~votes, cal_pop)
)
assignInNamespace("ppsvar", ppsvar_weighted, "survey")
for (wname in names(weightings)) {
  brewer <- weightings[[wname]](el$el_brewer)
  for (name in c("el_brewer", "el_overton", "el_joint")) {
    d <- if (name == "el_brewer") brewer else with_weighting(el[[name]], brewer, el$el_brewer)
    case <- paste0(name, "/", wname)
    rec_stat(paste0(case, "/mean"), svymean(~Bush + kerry_share, d))
    rec_stat(paste0(case, "/total"), svytotal(~Kerry + votes, d))
    if (name == "el_brewer") {
      rec_by(paste0(case, "/by_winner_mean"), svyby(~kerry_share, ~winner, d, svymean))
    } else {
      # `[.pps` zeroes Dcheck between the rows outside a domain, which is right only
      # when the scores vanish there, not after weighting: the domains as ratios
      rec_domains(paste0(case, "/by_winner_mean"), d, "kerry_share", "winner")
    }
    rec(case, "sum_weights", sum(weights(d)))
  }
}
pop_sex <- data.frame(sex = c("F", "M"), Freq = c(61000, 57000))
brewer <- postStratify(vil$vil_brewer2, ~sex, pop_sex)
rec_stat("vil_brewer2/ps_sex/mean", svymean(~trust + score, brewer))
rec_by("vil_brewer2/ps_sex/by_stratum_mean", svyby(~trust, ~stratum, brewer, svymean))
brewer1 <- postStratify(vil$vil_brewer1, ~sex, pop_sex)
base <- svydesign(id = ~village, strata = ~stratum, fpc = ~p1, data = vd, pps = "brewer")
overton <- with_weighting(vil$vil_overton, postStratify(base, ~sex, pop_sex), base)
rec_stat("vil_overton/ps_sex/mean", svymean(~trust + score, overton))
rec_stat("vil_brewer1/ps_sex/mean", svymean(~trust + score, brewer1))

# --------------------------------------------------------------------- refusals --
refused <- function(label, expr) {
  msg <- tryCatch({ expr; "" }, error = function(err) conditionMessage(err))
  cat(sprintf("%-28s %s\n", label, if (nzchar(msg)) msg else "(accepted)"))
}
cat("R refuses:\n")
refused("jk1 of brewer", as.svrepdesign(el$el_brewer, type = "JK1"))
refused("bootstrap of brewer", as.svrepdesign(el$el_brewer, type = "bootstrap"))
refused("jkn of brewer (strata)", as.svrepdesign(vil$vil_brewer1, type = "JKn"))
refused("any of overton", as.svrepdesign(el$el_overton))
refused("two stages overton", svydesign(id = ~village + hh, strata = ~stratum_id,
                                        fpc = ~p1 + f2, data = vd, pps = "overton"))
refused("two stages, one fpc", svydesign(id = ~village + hh, strata = ~stratum,
                                         fpc = ~p1, data = vd, pps = "brewer"))
refused("fpc > 1 with pps", svydesign(id = ~1, fpc = ~votes, data = e, pps = "brewer"))
refused("postStratify overton", svymean(~Kerry, postStratify(el$el_overton, ~big, pop_big)))
refused("rake overton", rake(el$el_overton, list(~big), list(pop_big)))

out <- do.call(rbind, .rows)
stopifnot(!any(duplicated(out[, c("case", "key")])))
write.table(out, file.path(OUT, "pps_reference.csv"), sep = ",", quote = FALSE,
            row.names = FALSE)
cat(sprintf("wrote pps_reference.csv: %d rows, %d cases\n", nrow(out),
            length(unique(out$case))))
