# Reference values for perception/analysis/small_area.py (tests/analysis/test_small_area.py).
# Run from the repository root:  Rscript tests/reference/make_fay_herriot.R
# Reads tests/reference/milk.csv (R sae's `milk` data, as shipped with samplics 0.6.1; see
# README.md) and writes tests/reference/fay_herriot_reference.csv (case,key,value; 17 digits).
#
# An independent computation in base R (R's sae is not installed): the model variance is
# the root of the score equation found by uniroot() (not Fisher scoring), with full
# m x m matrices V, P throughout; the MSE terms are written from Rao & Molina (2015),
# Small Area Estimation, 2nd ed., section 6.2 in their general matrix form
# (g1 = diag(G - G V^-1 G), g2 = d' (X'V^-1X)^-1 d, g3 = tr(db V db') Vbar), not the
# simplified per-area expressions the Python code uses.
#
# Model (the example of sae's eblupFH help page): yi ~ as.factor(MajorArea), vardir = SD^2.
# Cases:
#   milk/<method>      all 43 areas
#   milk_out/<method>  areas 41-43 treated as without a sample (synthetic estimate, MSE
#                      sigma_v^2 + x'(X'V^-1X)^-1 x - b(sigma_v^2)); the model fitted on the others
#   milk_gvf/REML      areas with samp_size < 190 said to rest on 4 PSUs (< 5): their
#                      variance replaced by the GVF lm(log(SD^2) ~ log(n) + yi) fitted on
#                      the other areas, times Duan's smearing factor mean(exp(residuals))
#                      (perception's gvf="free")
#   milk_gvf_inverse/REML  the same with the log(n) coefficient fixed at -1:
#                      lm(log(SD^2 * n) ~ yi) (perception's default gvf="inverse_n")
#   milk_zero/<method> the estimates replaced by their major area's mean plus 0.2 x their
#                      deviation: the score is negative at 0, the variance is truncated to 0
options(digits = 17)

milk <- read.csv("tests/reference/milk.csv")
out <- list()
put <- function(case, key, value) {
  out[[length(out) + 1]] <<- data.frame(case = case, key = key,
                                        value = format(as.numeric(value), digits = 17))
}

score_fun <- function(y, X, psi, method) {
  m <- length(y); p <- ncol(X)
  function(s2) {
    V <- diag(s2 + psi, m); Vi <- solve(V)
    Q <- solve(t(X) %*% Vi %*% X)
    P <- Vi - Vi %*% X %*% Q %*% t(X) %*% Vi
    r <- y - X %*% (Q %*% t(X) %*% Vi %*% y)
    if (method == "REML") {
      as.numeric(-0.5 * sum(diag(P)) + 0.5 * t(y) %*% P %*% P %*% y)
    } else if (method == "ML") {
      as.numeric(-0.5 * sum(diag(Vi)) + 0.5 * t(r) %*% Vi %*% Vi %*% r)
    } else {  # FH moment equation: sum r^2 / v - (m - p)
      as.numeric(t(r) %*% Vi %*% r - (m - p))
    }
  }
}

fit_fh <- function(y, X, psi, method) {
  f <- score_fun(y, X, psi, method)
  if (f(0) <= 0) return(0)   # the root is at or below 0: truncated to 0 (sae, samplics)
  upper <- 1
  while (f(upper) > 0) upper <- upper * 2
  uniroot(f, c(0, upper), tol = 1e-15, maxiter = 1000)$root
}

fh_case <- function(case, y, X, psi, method, X_out = NULL, names_in, names_out = NULL) {
  m <- length(y)
  s2 <- fit_fh(y, X, psi, method)
  V <- diag(s2 + psi, m); Vi <- solve(V)
  Q <- solve(t(X) %*% Vi %*% X)
  beta <- Q %*% t(X) %*% Vi %*% y
  G <- diag(s2, m)
  # asymptotic variance of the model-variance estimator and its bias (order 1/m)
  if (method == "FH") {
    Vbar <- 2 * m / sum(diag(Vi))^2
    b <- 2 * (m * sum(diag(Vi %*% Vi)) - sum(diag(Vi))^2) / sum(diag(Vi))^3
  } else {
    info <- 0.5 * sum(diag(Vi %*% Vi))
    Vbar <- 1 / info
    b <- if (method == "ML") -sum(diag(Q %*% t(X) %*% Vi %*% Vi %*% X)) / (2 * info) else 0
  }
  put(case, "model_variance", s2)
  put(case, "model_variance_se", sqrt(Vbar))
  put(case, "bias", b)
  for (j in seq_len(ncol(X))) {
    put(case, paste0("beta:", colnames(X)[j]), beta[j])
    put(case, paste0("beta_se:", colnames(X)[j]), sqrt(Q[j, j]))
  }
  g1all <- diag(G - G %*% Vi %*% G)
  for (i in seq_len(m)) {
    e <- rep(0, m); e[i] <- 1
    bi <- s2 * t(e) %*% Vi                      # BLUP weights of area i: theta = x'beta + bi (y - X beta)
    gamma <- as.numeric(bi %*% e)
    eblup <- as.numeric(X[i, ] %*% beta + bi %*% (y - X %*% beta))
    d <- X[i, ] - t(X) %*% t(bi)                # x_i - X' b_i
    g2 <- as.numeric(t(d) %*% Q %*% d)
    db <- t(e) %*% (Vi - s2 * Vi %*% Vi)        # derivative of b_i' w.r.t. sigma_v^2
    g3 <- as.numeric(db %*% V %*% t(db)) * Vbar
    dg1 <- (psi[i] / (s2 + psi[i]))^2           # derivative of g1 w.r.t. sigma_v^2
    mse <- g1all[i] + g2 + 2 * g3 - b * dg1
    k <- names_in[i]
    put(case, paste0(k, ":eblup"), eblup)
    put(case, paste0(k, ":gamma"), gamma)
    put(case, paste0(k, ":g1"), g1all[i])
    put(case, paste0(k, ":g2"), g2)
    put(case, paste0(k, ":g3"), g3)
    put(case, paste0(k, ":mse"), mse)
    put(case, paste0(k, ":sampling_var"), psi[i])
  }
  if (!is.null(X_out)) {
    for (i in seq_len(nrow(X_out))) {
      x <- X_out[i, ]
      k <- names_out[i]
      put(case, paste0(k, ":eblup"), sum(x * beta))
      put(case, paste0(k, ":mse"), s2 + as.numeric(t(x) %*% Q %*% x) - b)
    }
  }
}

X_all <- model.matrix(~ factor(major_area), data = milk)
colnames(X_all) <- c("Intercept", paste0("C(major_area)[T.", 2:4, "]"))
psi_all <- milk$std_error^2
for (method in c("REML", "ML", "FH")) {
  fh_case(paste0("milk/", method), milk$direct_est, X_all, psi_all, method,
          names_in = milk$small_area)
  ins <- milk$small_area <= 40
  fh_case(paste0("milk_out/", method), milk$direct_est[ins], X_all[ins, ], psi_all[ins],
          method, X_out = X_all[!ins, ], names_in = milk$small_area[ins],
          names_out = milk$small_area[!ins])
}

# GVF: areas with samp_size < 190 rest on 4 PSUs, the others on 12
few <- milk$samp_size < 190
g <- lm(log(std_error^2) ~ log(samp_size) + direct_est, data = milk[!few, ])
smearing <- mean(exp(residuals(g)))
psi_gvf <- ifelse(few, exp(predict(g, newdata = milk)) * smearing, psi_all)
put("milk_gvf/REML", "gvf:Intercept", coef(g)[1])
put("milk_gvf/REML", "gvf:log_n", coef(g)[2])
put("milk_gvf/REML", "gvf:estimate", coef(g)[3])
put("milk_gvf/REML", "gvf:smearing", smearing)
fh_case("milk_gvf/REML", milk$direct_est, X_all, psi_gvf, "REML", names_in = milk$small_area)

# the default GVF form of perception: the coefficient of log(n) fixed at -1 (an offset)
g1 <- lm(log(std_error^2 * samp_size) ~ direct_est, data = milk[!few, ])
smearing1 <- mean(exp(residuals(g1)))
psi_inv <- ifelse(few, exp(predict(g1, newdata = milk)) / milk$samp_size * smearing1, psi_all)
put("milk_gvf_inverse/REML", "gvf:Intercept", coef(g1)[1])
put("milk_gvf_inverse/REML", "gvf:log_n", -1)
put("milk_gvf_inverse/REML", "gvf:estimate", coef(g1)[2])
put("milk_gvf_inverse/REML", "gvf:smearing", smearing1)
fh_case("milk_gvf_inverse/REML", milk$direct_est, X_all, psi_inv, "REML",
        names_in = milk$small_area)

# truncation: estimates pulled towards their major area's mean leave no area variance
means <- ave(milk$direct_est, milk$major_area)
y_zero <- means + 0.2 * (milk$direct_est - means)
for (method in c("REML", "ML", "FH")) {
  fh_case(paste0("milk_zero/", method), y_zero, X_all, psi_all, method,
          names_in = milk$small_area)
}

res <- do.call(rbind, out)
write.csv(res, "tests/reference/fay_herriot_reference.csv", row.names = FALSE, quote = FALSE)
cat("wrote", nrow(res), "values\n")
