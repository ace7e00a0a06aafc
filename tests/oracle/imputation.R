# Oracle for physiotrial.analysis.pooling (Rubin's rules as mice::pool.scalar / mice::pool, mice
# 3.15) and for the analyse-and-pool half of physiotrial.analysis.imputation: an MMRM fitted to
# each multiply imputed data set (nlme::gls, unstructured covariance = corSymm + varIdent, REML),
# the DN - SHAM difference at V4 (emmeans), pooled by Rubin's rules; and the delta-adjusted
# (tipping-point) version that adds delta to DN's imputed values.
#
# The imputations themselves are random and are not compared: the completed sets are written to
# data/mi_completed.csv and the Python test refits them with our engine. Imputation here is mice
# "norm" (Bayesian linear regression) per arm on the wide data, monotone sequence: y at visit j
# from baseline, site and y at visits < j.
#
# gls stops when nlminb's relative change in -2 log L is below 1e-10, which leaves its estimates
# and SEs up to ~1e-5 (relative) from the REML optimum; the values compared are therefore taken
# at the exact optimum: Newton steps (numDeriv) on the REML log-likelihood of the unstructured
# model, started at gls's Sigma, in a parameterisation of Sigma by its log-Cholesky factor. That
# log-likelihood is checked to equal logLik(gls) at gls's Sigma (1e-8), the polished fit must
# not be worse, and its estimate and SE must be within 1e-4 of gls + emmeans (both written).
#
# Complete-data df (dfcom) of the contrast: emmeans' mode = "df.error" for gls, N - p - (number
# of covariance parameters besides sigma) = 480 - 14 - 9 = 457, the same for every imputation;
# pooled with pool.scalar(Q, U, n = dfcom, k = 0).
# Writes data/mi.csv (y empty where missing), data/mi_completed.csv, data/mi_rubin.csv,
# mi_per_imputation_expected.csv, mi_pooled_expected.csv and mi_rubin_expected.csv.
# Run from tests/oracle: Rscript imputation.R
suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(mice)
  library(numDeriv)
})
dir.create("data", showWarnings = FALSE)
visits <- c("V1", "V2", "V3", "V4")

make <- function(seed, n) {
  set.seed(seed)
  id <- sprintf("P%03d", seq_len(n))
  arm <- rep(c("SHAM", "DN"), length.out = n)
  site <- sample(c("S1", "S2", "S3"), n, replace = TRUE)
  baseline <- round(rnorm(n, 60, 12), 1)
  sds <- c(12, 13, 14, 15)
  corr <- outer(1:4, 1:4, function(i, j) 0.7^abs(i - j))
  chol_s <- chol(diag(sds) %*% corr %*% diag(sds))
  effect <- c(-4, -7, -9, -10)
  site_shift <- c(S1 = 0, S2 = 3, S3 = -2)
  rows <- list()
  # Monotone dropout: a participant's last visit is 0 (no follow-up) to 4, ~20% gone by V4.
  last <- sample(0:4, n, replace = TRUE, prob = c(0.03, 0.05, 0.05, 0.07, 0.80))
  for (i in seq_len(n)) {
    mu <- 10 + 0.6 * baseline[i] - 2 * (1:4) + effect * (arm[i] == "DN") + site_shift[site[i]]
    y <- round(mu + as.vector(rnorm(4) %*% chol_s), 1)
    if (last[i] < 4) y[(last[i] + 1):4] <- NA
    rows[[i]] <- data.frame(id = id[i], arm = arm[i], site = site[i], visit = visits,
                            visit_num = 1:4, baseline = baseline[i], y = y)
  }
  do.call(rbind, rows)
}

impute_arm <- function(long, seed, m) {
  wide <- reshape(long[, c("id", "site", "baseline", "visit", "y")], idvar = "id",
                  timevar = "visit", direction = "wide", v.names = "y")
  wide$site <- factor(wide$site)
  cols <- paste0("y.", visits)
  predictors <- make.predictorMatrix(wide)
  predictors[, ] <- 0
  for (j in seq_along(cols)) {
    predictors[cols[j], c("site", "baseline", cols[seq_len(j - 1)])] <- 1
  }
  method <- make.method(wide)
  method[] <- ""
  method[cols] <- "norm"
  imp <- mice(wide, m = m, method = method, predictorMatrix = predictors,
              visitSequence = "monotone", maxit = 1, seed = seed, printFlag = FALSE)
  out <- list()
  for (k in seq_len(m)) {
    done <- complete(imp, k)
    for (j in seq_along(visits)) {
      out[[length(out) + 1]] <- data.frame(imputation = k, id = done$id, visit = visits[j],
                                           y = done[[cols[j]]])
    }
  }
  do.call(rbind, out)
}

# REML log-likelihood of the unstructured model on complete balanced data, Sigma = L L' with
# log-diagonal L (theta); nlme's constant, so it equals logLik(gls) at gls's Sigma.
reml_us <- function(theta, X, Y) {
  t <- ncol(Y)
  L <- matrix(0, t, t)
  L[lower.tri(L, diag = TRUE)] <- theta
  diag(L) <- exp(diag(L))
  S_inv <- chol2inv(t(L))
  xvx <- Reduce(`+`, lapply(seq_along(X), function(i) crossprod(X[[i]], S_inv %*% X[[i]])))
  xvy <- Reduce(`+`, lapply(seq_along(X), function(i) crossprod(X[[i]], S_inv %*% Y[i, ])))
  beta <- solve(xvx, xvy)
  rss <- sum(vapply(seq_along(X), function(i) {
    r <- Y[i, ] - X[[i]] %*% beta
    drop(crossprod(r, S_inv %*% r))
  }, 0))
  value <- -0.5 * ((length(Y) - ncol(X[[1]])) * log(2 * pi) + 2 * nrow(Y) * sum(log(diag(L))) +
                     determinant(xvx)$modulus[1] + rss)
  structure(value, beta = drop(beta), vcov = solve(xvx))
}

polish <- function(fit, frame) {
  x_all <- model.matrix(fit, data = frame)
  ids <- unique(frame$id)
  X <- lapply(ids, function(s) x_all[frame$id == s, , drop = FALSE])
  Y <- t(vapply(ids, function(s) frame$y[frame$id == s], numeric(length(visits))))
  start <- t(chol(getVarCov(fit)))
  diag(start) <- log(diag(start))
  theta <- start[lower.tri(start, diag = TRUE)]
  f <- function(th) as.numeric(reml_us(th, X, Y))
  at_gls <- f(theta)
  stopifnot(abs(at_gls - as.numeric(logLik(fit))) < 1e-8)
  for (step in 1:6) {
    g <- grad(f, theta)
    if (max(abs(g)) < 1e-7) break
    theta <- theta - solve(hessian(f, theta), g)
  }
  g <- grad(f, theta)
  stopifnot(max(abs(g)) < 1e-6, f(theta) >= at_gls - 1e-10)
  best <- reml_us(theta, X, Y)
  contrast <- setNames(numeric(ncol(x_all)), colnames(x_all))
  contrast[c("armDN", "visitV4:armDN")] <- 1
  list(estimate = sum(contrast * attr(best, "beta")),
       se = sqrt(drop(contrast %*% attr(best, "vcov") %*% contrast)),
       loglik = as.numeric(best), gain = as.numeric(best) - at_gls)
}

fit_v4 <- function(frame) {
  frame$visit <- factor(frame$visit, levels = visits)
  frame$arm <- factor(frame$arm, levels = c("SHAM", "DN"))
  frame$site <- factor(frame$site)
  frame <- frame[order(frame$id, frame$visit_num), ]
  fit <- gls(y ~ baseline * visit + arm * visit + site, data = frame, method = "REML",
             correlation = corSymm(form = ~ visit_num | id),
             weights = varIdent(form = ~ 1 | visit),
             control = glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-12,
                                  msTol = 1e-12, opt = "nlminb"))
  grid <- emmeans(fit, ~ arm | visit, mode = "df.error", data = frame)
  con <- as.data.frame(contrast(grid, list(dn_minus_sham = c(-1, 1))))
  at <- con[con$visit == "V4", ]
  # The same difference from the coefficients, as a check on emmeans' reading of the model.
  beta <- coef(fit)
  stopifnot(abs(at$estimate - (beta["armDN"] + beta["visitV4:armDN"])) < 1e-8)
  exact <- polish(fit, frame)
  stopifnot(abs(exact$estimate / at$estimate - 1) < 1e-4, abs(exact$se / at$SE - 1) < 1e-4)
  list(estimate = exact$estimate, se = exact$se, df = at$df, n = nrow(frame), k = length(beta),
       loglik = exact$loglik, gls_estimate = at$estimate, gls_se = at$SE, gain = exact$gain)
}

pooled_row <- function(delta, q, u, n, k) {
  p <- pool.scalar(q, u, n = n, k = k)
  lambda <- (1 + 1 / p$m) * p$b / p$t
  se <- sqrt(p$t)
  statistic <- p$qbar / se
  data.frame(delta = delta, m = p$m, qbar = p$qbar, ubar = p$ubar, b = p$b, t = p$t,
             dfcom = n - k, df = p$df, riv = p$r, lambda = lambda, fmi = p$fmi, se = se,
             statistic = statistic,
             p = 2 * pt(abs(statistic), pmax(p$df, 0.001), lower.tail = FALSE),
             ci_low = p$qbar + qt(0.025, p$df) * se, ci_high = p$qbar + qt(0.975, p$df) * se)
}

# --- the trial-like data, imputed per arm, analysed and pooled ---------------------------------
observed <- make(20260, 120)
write.csv(observed, file.path("data", "mi.csv"), row.names = FALSE, na = "")
m <- 10
imputed <- rbind(impute_arm(observed[observed$arm == "SHAM", ], 7101, m),
                 impute_arm(observed[observed$arm == "DN", ], 7102, m))
keys <- observed[, c("id", "arm", "site", "visit", "visit_num", "baseline")]
keys$imputed <- is.na(observed$y)
completed <- merge(imputed, keys, by = c("id", "visit"))
completed <- completed[order(completed$imputation, completed$id, completed$visit_num),
                       c("imputation", "id", "arm", "site", "visit", "visit_num", "baseline",
                         "y", "imputed")]
stopifnot(!anyNA(completed$y), nrow(completed) == m * nrow(observed))
write.csv(completed, file.path("data", "mi_completed.csv"), row.names = FALSE)

per <- list()
pooled <- list()
for (delta in c(0, 2, 5)) {
  q <- numeric(m); u <- numeric(m); n <- NA; k <- NA
  for (i in seq_len(m)) {
    frame <- completed[completed$imputation == i, ]
    shift <- frame$imputed & frame$arm == "DN"
    frame$y[shift] <- frame$y[shift] + delta
    f <- fit_v4(frame)
    q[i] <- f$estimate; u[i] <- f$se^2; n <- f$n; k <- f$k
    if (f$df != n - k - 9) stop("emmeans df ", f$df, " is not n - k - 9 = ", n - k - 9)
    per[[length(per) + 1]] <- data.frame(delta = delta, imputation = i, estimate = f$estimate,
                                         se = f$se, df = f$df, loglik = f$loglik,
                                         gls_estimate = f$gls_estimate, gls_se = f$gls_se,
                                         loglik_gain = f$gain)
  }
  pooled[[length(pooled) + 1]] <- pooled_row(delta, q, u, n - k - 9, 0)
}
write.csv(do.call(rbind, per), "mi_per_imputation_expected.csv", row.names = FALSE)
write.csv(do.call(rbind, pooled), "mi_pooled_expected.csv", row.names = FALSE)

# --- Rubin's rules alone, on cases that exercise each branch of pool.scalar --------------------
set.seed(20261)
cases <- list(
  list(q = rnorm(5, -3, 0.8), u = runif(5, 1, 2), n = 60, k = 6),     # small dfcom
  list(q = rnorm(20, 1.5, 0.3), u = runif(20, 0.2, 0.3), n = 480, k = 14),
  list(q = rnorm(3, 0, 2), u = runif(3, 0.5, 1), n = Inf, k = 0),      # Rubin (1987) df
  list(q = c(2, 2, 2, 2), u = c(0.5, 0.5, 0.5, 0.5), n = 100, k = 4),  # B = 0: lambda floored
  list(q = rnorm(2, 10, 5), u = c(0.01, 0.02), n = 30, k = 3)          # m = 2, B >> U
)
rubin_data <- list()
rubin_out <- list()
for (i in seq_along(cases)) {
  cs <- cases[[i]]
  rubin_data[[i]] <- data.frame(case = i, q = cs$q, u = cs$u, dfcom = cs$n - cs$k)
  rubin_out[[i]] <- cbind(case = i, pooled_row(NA, cs$q, cs$u, cs$n, cs$k)[, -1])
}
write.csv(do.call(rbind, rubin_data), file.path("data", "mi_rubin.csv"), row.names = FALSE)
write.csv(do.call(rbind, rubin_out), "mi_rubin_expected.csv", row.names = FALSE)
