# Oracle for physiotrial.analysis.mmrm: the repeated-measures model (MMRM) fitted by R to the six
# datasets of mmrm_data.R (and the cLDA layout of `dropout`), with formula
#   y ~ baseline * visit + arm * visit + site      (arm levels SHAM, DN; REML unless said)
# covariance structures from nlme::gls (us, cs, csh, ar1, arh1, toep; us also by ML), glmmTMB
# (us_by_arm: one unstructured Sigma per arm) and lme4/lmerTest (ri, rs); least-squares means and
# DN - SHAM differences from emmeans; Satterthwaite and Kenward-Roger degrees of freedom from
# lmerTest/pbkrtest for lmer fits and from kr.R (our implementation, validated here against them)
# for gls and glmmTMB fits. Every covariance estimate is taken to the exact REML/ML optimum (Newton
# steps on kr.R's analytic gradient) and the R fit is then evaluated there (see MMRM.md).
# Writes data/mmrm_<name>.csv, mmrm_<name>_expected.csv and the cLDA pair mmrm_cl*.
# Run from tests/oracle: Rscript mmrm.R   (prints the convergence and validation tables; naming
# datasets, e.g. Rscript mmrm.R tiny cl, refits only those)
suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(emmeans)
  library(glmmTMB)
  library(numDeriv)
})
source("mmrm_data.R")
source("kr.R")
emm_options(pbkrtest.limit = Inf, lmerTest.limit = Inf)

FORMULA <- y ~ baseline * visit + arm * visit + site
GLS_CONTROL <- glsControl(tolerance = 1e-10, msTol = 1e-12, maxIter = 500, msMaxIter = 500,
                          opt = "nlminb")
LMER_CONTROL <- lmerControl(optimizer = "nloptwrap", optCtrl = list(
  xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15, maxeval = 1e5))
# dispformula = ~0 fixes the residual variance at exp(zerodisp_val); 1 instead of glmmTMB's default
# 1.5e-8 gives the same marginal model (the us() block absorbs it) without the ill-conditioned
# Laplace step that makes the default's log-likelihood and gradient inaccurate (see MMRM.md).
TMB_CONTROL <- glmmTMBControl(zerodisp_val = 0)

stability <- list()
validation <- list()
note <- function(table, ...) {
  row <- data.frame(...)
  if (table == "stability") stability[[length(stability) + 1]] <<- row
  else validation[[length(validation) + 1]] <<- row
}
rel <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))
# covariance matrices compared on the correlation scale; coefficients in units of their SE
rel_cov <- function(A, B) max(abs(A - B) / sqrt(outer(diag(B), diag(B))))
rel_coef <- function(a, b, V) max(abs(a - b) / sqrt(diag(V)))
# covariance parameters relative to max(|theta_k|, 1e-3 max |theta|) (a covariance can be near 0)
rel_theta <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-3 * max(abs(b))))

prepare <- function(d) {
  d$arm <- factor(d$arm, levels = c("SHAM", "DN"))
  d$visit <- factor(d$visit, levels = paste0("V", 1:4))
  d$site <- factor(d$site)
  d
}

out_rows <- function(model, method, quantity, term, value) {
  data.frame(model = model, method = method, quantity = quantity, term = term,
             value = sprintf("%.15g", unname(value)))
}

# --- polishing: damped Newton on kr.R's analytic gradient ------------------------------------
# (Fisher scoring with the expected information while far from the optimum, Newton near it)
polish <- function(theta, design, st, method = "REML", iter = 60) {
  ll <- mmrm_loglik(theta, design, st, method)
  scale <- pmax(abs(theta), 1e-3 * max(abs(theta)))
  newton <- FALSE
  for (i in seq_len(iter)) {
    step <- if (newton) mmrm_newton_step(theta, design, st, method)$step else
      c(solve(mmrm_pieces(theta, design, st, second = FALSE)$info,
              mmrm_gradient(theta, design, st, method)))
    a <- 1
    repeat {
      new <- theta + a * step
      lln <- mmrm_loglik(new, design, st, method)
      if (is.finite(lln) && lln >= ll - 1e-8) break
      a <- a / 2
      if (a < 1e-10) stop("Newton steps do not increase the likelihood")
    }
    theta <- new
    ll <- lln
    size <- max(abs(a * step) / scale)
    if (newton && size < 1e-13) break
    if (size < 1e-5) newton <- TRUE
  }
  theta
}

# a start 2% away from theta; unstructured matrices are moved by D (0.97 S + 0.03 diag(S)) D,
# D = diag(1.02, 0.98, ...), which stays positive definite
wiggle <- function(theta, kind) {
  if (!kind %in% c("us", "us_by_arm")) return(theta * (1 + 0.02 * rep(c(1, -1), length.out = length(theta))))
  nt <- length(theta)
  per <- if (kind == "us") nt else nt / 2
  t <- (sqrt(8 * per + 1) - 1) / 2
  u <- us_index(t, seq_len(t))
  D <- diag(1 + 0.02 * rep(c(1, -1), length.out = t))
  unlist(lapply(split(theta, rep(seq_len(nt / per), each = per)), function(th) {
    S <- matrix(0, t, t)
    S[u$idx] <- th
    S[u$idx[, 2:1]] <- th
    S2 <- D %*% (0.97 * S + 0.03 * diag(diag(S))) %*% D
    S2[u$idx]
  }), use.names = FALSE)
}

newton_distance <- function(theta, design, st, method = "REML") {
  step <- mmrm_newton_step(theta, design, st, method)$step
  max(abs(step) / pmax(abs(theta), 1e-3 * max(abs(theta))))
}

# --- gls structures ------------------------------------------------------------------------
GLS_KINDS <- c("us", "cs", "csh", "ar1", "arh1", "toep")

gls_struct <- function(kind, visit_num, labels) {
  switch(kind,
    us = struct_us(length(visit_num), labels),
    cs = struct_cs(length(visit_num)),
    csh = struct_het(visit_num, "csh", labels),
    ar1 = struct_ar1(visit_num),
    arh1 = struct_het(visit_num, "arh1", labels),
    toep = struct_toep(length(visit_num))
  )
}

theta_from_sigma <- function(kind, S, labels) {
  t <- nrow(S)
  th <- switch(kind,
    us = S[us_index(t, labels)$idx],
    cs = c(S[2, 1], S[1, 1] - S[2, 1]),
    csh = , arh1 = c(diag(S), S[2, 1] / sqrt(S[1, 1] * S[2, 2])),
    ar1 = c(S[1, 1], S[2, 1] / S[1, 1]),
    toep = S[1, ]
  )
  th
}

# correlation and variance-function objects of a gls fit: nlme's default start (S = NULL), or
# the correlation and SD ratios of S held fixed (gls then only profiles the scale sigma^2)
gls_args <- function(kind, S = NULL, ref = NULL, labels = NULL) {
  if (is.null(S)) {
    cor <- switch(kind,
      us = corSymm(form = ~ pos | id),
      cs = , csh = corCompSymm(form = ~ 1 | id),
      ar1 = , arh1 = corAR1(form = ~ visit_num | id),
      toep = toep_cor()
    )
    args <- list(correlation = cor)
    if (kind %in% c("us", "csh", "arh1")) args$weights <- varIdent(form = ~ 1 | visit)
    return(args)
  }
  C <- cov2cor(S)
  cor <- switch(kind,
    us = corSymm(C[lower.tri(C)], form = ~ pos | id, fixed = TRUE),
    cs = , csh = corCompSymm(C[2, 1], form = ~ 1 | id, fixed = TRUE),
    ar1 = , arh1 = corAR1(C[2, 1], form = ~ visit_num | id, fixed = TRUE),
    toep = toep_cor(C[1, ], fixed = TRUE)
  )
  args <- list(correlation = cor)
  if (kind %in% c("us", "csh", "arh1")) {
    sd <- setNames(sqrt(diag(S)), labels)
    args$weights <- varIdent(form = ~ 1 | visit, fixed = sd[setdiff(labels, ref)] / sd[ref])
  }
  args
}

# corARMA(p = 3) starting at the Toeplitz correlations r: nlme stores the AR part as
# log((1 + pacf) / (1 - pacf)); its constructor refuses AR coefficients >= 1 in absolute value,
# which a stationary fit can have, so the unconstrained values are set directly.
toep_cor <- function(r = NULL, fixed = FALSE) {
  cor <- corARMA(form = ~ visit_num | id, p = 3, q = 0, fixed = fixed)
  if (!is.null(r)) {
    pacf <- ARMAacf(ar = c(solve(toeplitz(r[1:3]), r[2:4])), lag.max = 3, pacf = TRUE)
    cor[] <- log((1 + pacf) / (1 - pacf))
  }
  cor
}

gls_sigma <- function(fit, data, labels) {
  t <- length(labels)
  full <- names(which(table(data$id) == t))[1]
  C <- corMatrix(fit$modelStruct$corStruct)[[full]]
  w <- if (is.null(fit$modelStruct$varStruct)) rep(1, t) else
    coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)[labels]
  S <- fit$sigma^2 * outer(w, w) * C
  chk <- unclass(getVarCov(fit, individual = full))
  stopifnot(max(abs(S - chk)) < 1e-8 * max(abs(S)))
  dimnames(S) <- list(labels, labels)
  S
}

fit_gls_raw <- function(formula, data, args, method, control = GLS_CONTROL) {
  do.call(gls, c(list(model = formula, data = data, method = method, control = control), args))
}

# fit with nlme's optimiser, take theta to the exact optimum (polish), and refit gls with the
# correlation and variance ratios fixed there; returns the final fit, its theta and the first fit
fit_gls <- function(kind, data, design, formula, visit_num, labels, method = "REML", name = "",
                    compare_optim = TRUE) {
  st <- gls_struct(kind, visit_num, labels)
  fit0 <- fit_gls_raw(formula, data, gls_args(kind), method)
  theta0 <- theta_from_sigma(kind, gls_sigma(fit0, data, labels), labels)
  stopifnot(max(abs(st$sigma(theta0)[[1]] - gls_sigma(fit0, data, labels))) < 1e-8)
  theta_opt <- polish(theta0, design, st, method)
  # varIdent's reference level (ratio 1) is the first level met in the data
  ref <- if (kind %in% c("us", "csh", "arh1"))
    attr(fit0$modelStruct$varStruct, "groupNames")[1] else NULL
  fit <- fit_gls_raw(formula, data, gls_args(kind, st$sigma(theta_opt)[[1]], ref, labels), method)
  theta <- theta_from_sigma(kind, gls_sigma(fit, data, labels), labels)
  names(theta) <- st$names
  stopifnot(length(coef(fit$modelStruct)) == 0, rel_theta(theta, theta_opt) < 1e-11)
  pc <- mmrm_pieces(theta, design, st, second = FALSE)
  # a second optimum from a start 2% away, and (small data) nlme's other optimiser
  theta_alt <- polish(wiggle(theta0, kind), design, st, method)
  optim_gap <- NA
  if (compare_optim) {
    fit_o <- tryCatch(fit_gls_raw(formula, data, gls_args(kind), method,
                                  glsControl(tolerance = 1e-10, msTol = 1e-14, maxIter = 500,
                                             msMaxIter = 5000, opt = "optim")),
                      error = function(e) NULL)
    if (!is.null(fit_o)) {
      optim_gap <- rel_theta(theta_from_sigma(kind, gls_sigma(fit_o, data, labels), labels), theta)
    }
  }
  note("stability", dataset = name, model = kind, method = method,
       nlminb_default_vs_optimum = rel_theta(theta0, theta), optim_vs_optimum = optim_gap,
       coef_default_vs_final_in_se = max(abs(coef(fit0) - coef(fit)) / sqrt(diag(pc$Phi))),
       optimum_from_other_start = rel_theta(theta_alt, theta),
       final_newton_step = newton_distance(theta, design, st, method))
  # our likelihood, beta and Phi at the fit equal nlme's; for ML, nlme's vcov() is Phi scaled by
  # N / (N - p) (gls computes varBeta with sqrt((N - REML p) / (N - p))), so the ML outputs use Phi
  inflation <- if (method == "ML") design$N / (design$N - design$p) else 1
  stopifnot(abs(c(logLik(fit)) - mmrm_loglik(theta, design, st, method)) < 1e-8,
            rel_coef(pc$beta, coef(fit), pc$Phi) < 1e-9,
            rel_cov(pc$Phi * inflation, unclass(vcov(fit))) < 1e-9)
  list(fit = fit, theta = theta, struct = st, sigma = st$sigma(theta)[[1]], Phi = pc$Phi,
       inflation = inflation, fit0 = fit0)
}

# --- emmeans: least-squares means by visit, DN - SHAM by visit and averaged ---------------------
emm_all <- function(fit, data, ...) {
  e <- suppressMessages(emmeans(fit, ~ arm | visit, data = data, ...))
  ea <- suppressMessages(emmeans(fit, ~ arm, data = data, ...))
  cv <- contrast(e, list(diff = c(-1, 1)))
  ca <- contrast(ea, list(diff = c(-1, 1)))
  s <- summary(e, infer = c(FALSE, TRUE))
  sv <- summary(cv, infer = c(FALSE, TRUE))
  sa <- summary(ca, infer = c(FALSE, TRUE))
  list(
    ls = data.frame(term = paste0(s$arm, "|", s$visit), estimate = s$emmean, se = s$SE,
                    df = s$df, p = s$p.value),
    diff = data.frame(term = c(as.character(sv$visit), "average"),
                      estimate = c(sv$estimate, sa$estimate), se = c(sv$SE, sa$SE),
                      df = c(sv$df, sa$df), p = c(sv$p.value, sa$p.value)),
    L_ls = e@linfct, L_diff = rbind(cv@linfct, ca@linfct)
  )
}

p_t <- function(est, se, df) 2 * pt(-abs(est / se), df)

cov_rows <- function(model, method, S, labels, prefix = "") {
  u <- us_index(nrow(S), labels)
  out_rows(model, method, "cov", paste0(prefix, u$names), S[u$idx])
}

# rows for a model whose df come from kr.R (gls and glmmTMB)
own_df_rows <- function(model, method, em, theta, design, st, coef, coef_se, loglik, cov) {
  tab <- mmrm_df_table(rbind(em$L_ls, em$L_diff), theta, design, st, method)
  nl <- nrow(em$L_ls)
  ls <- tab[seq_len(nl), ]
  df <- tab[-seq_len(nl), ]
  stopifnot(max(abs(ls$estimate - em$ls$estimate) / ls$se) < 1e-9,
            max(abs(df$estimate - em$diff$estimate) / df$se) < 1e-9)
  Jg <- -numDeriv::jacobian(function(th) mmrm_gradient(th, design, st, method), theta,
                            method.args = modifyList(ND_ARGS, list(d = 1e-3)))
  note("validation", dataset = NAME, check = paste0(model, " ", method,
       ": analytic observed information vs numDeriv Jacobian of the analytic gradient"),
       max_rel_diff = rel_cov(mmrm_observed_info(theta, design, st, method), (Jg + t(Jg)) / 2))
  note("validation", dataset = NAME, check = paste0(model, " ", method,
       ": Satterthwaite df, analytic observed information vs numDeriv::hessian"),
       max_rel_diff = rel(tab$df_satterthwaite_numderiv, tab$df_satterthwaite))
  r <- list(
    out_rows(model, method, "coef", names(coef), coef),
    out_rows(model, method, "coef_se", names(coef), coef_se),
    cov,
    out_rows(model, method, "theta", st$names, theta),
    out_rows(model, method, "loglik", "", loglik),
    out_rows(model, method, "lsmean", em$ls$term, ls$estimate),
    out_rows(model, method, "lsmean_se", em$ls$term, ls$se),
    out_rows(model, method, "lsmean_df_satterthwaite", em$ls$term, ls$df_satterthwaite),
    out_rows(model, method, "diff", em$diff$term, df$estimate),
    out_rows(model, method, "diff_se", em$diff$term, df$se),
    out_rows(model, method, "diff_df_satterthwaite", em$diff$term, df$df_satterthwaite),
    out_rows(model, method, "diff_p_satterthwaite", em$diff$term,
             p_t(df$estimate, df$se, df$df_satterthwaite))
  )
  if (method == "REML") {
    r <- c(r, list(
      out_rows(model, method, "diff_se_kenward_roger", em$diff$term, df$se_kenward_roger),
      out_rows(model, method, "diff_df_kenward_roger", em$diff$term, df$df_kenward_roger),
      out_rows(model, method, "diff_p_kenward_roger", em$diff$term,
               p_t(df$estimate, df$se_kenward_roger, df$df_kenward_roger)),
      out_rows(model, method, "lsmean_se_kenward_roger", em$ls$term, ls$se_kenward_roger),
      out_rows(model, method, "lsmean_df_kenward_roger", em$ls$term, ls$df_kenward_roger)
    ))
  }
  list(rows = do.call(rbind, r), table = tab)
}

# --- glmmTMB -----------------------------------------------------------------------------------
# polish in glmmTMB's own parameters (Newton on TMB's gradient), then refit from there
fit_tmb <- function(formula, data) {
  m0 <- glmmTMB(formula, data, dispformula = ~0, REML = TRUE, control = TMB_CONTROL)
  obj <- m0$obj
  par <- m0$fit$par
  for (i in 1:8) {
    H <- optimHess(par, obj$fn, obj$gr)
    step <- -solve(H, c(obj$gr(par)))
    par <- par + step
    if (max(abs(step)) < 1e-12) break
  }
  m <- glmmTMB(formula, data, dispformula = ~0, REML = TRUE, control = TMB_CONTROL,
               start = list(theta = unname(par)))
  list(fit = m, fit0 = m0)
}

tmb_sigmas <- function(m) {
  vc <- VarCorr(m)$cond
  lapply(vc, function(G) {
    S <- G[seq_len(nrow(G)), seq_len(ncol(G))] + sigma(m)^2 * diag(nrow(G))
    stopifnot(min(eigen(G, only.values = TRUE)$values) > 0)
    S
  })
}

# --- lmer --------------------------------------------------------------------------------------
lmer_theta <- function(m, kind) {
  if (kind == "ri") return(c(tau = VarCorr(m)$id[1, 1], sigma2 = sigma(m)^2))
  G <- VarCorr(m)$id
  c(g11 = G[1, 1], g21 = G[2, 1], g22 = G[2, 2], sigma2 = sigma(m)^2)
}

fit_lmer <- function(kind, data, design, name) {
  form <- if (kind == "ri") update(FORMULA, . ~ . + (1 | id)) else
    update(FORMULA, . ~ . + (1 + visit_num | id))
  st <- if (kind == "ri") struct_cs(4) else struct_rs(1:4)
  m0 <- lmerTest::lmer(form, data = data, REML = TRUE, control = LMER_CONTROL)
  theta0 <- lmer_theta(m0, kind)
  theta_opt <- polish(theta0, design, st)
  # lme4's relative covariance factor at the optimum; lmer with optimizer = NULL evaluates there
  lt <- if (kind == "ri") sqrt(theta_opt[1] / theta_opt[2]) else {
    L <- t(chol(matrix(theta_opt[c(1, 2, 2, 3)], 2) / theta_opt[4]))
    L[lower.tri(L, diag = TRUE)]
  }
  m <- lmerTest::lmer(form, data = data, REML = TRUE, start = list(theta = unname(lt)),
                      control = lmerControl(optimizer = NULL))
  theta <- lmer_theta(m, kind)
  note("stability", dataset = name, model = kind, method = "REML",
       nlminb_default_vs_optimum = rel_theta(theta0, theta), optim_vs_optimum = NA,
       coef_default_vs_final_in_se = max(abs(fixef(m0) - fixef(m)) / sqrt(diag(as.matrix(vcov(m))))),
       optimum_from_other_start = rel_theta(polish(wiggle(theta0, kind), design, st), theta),
       final_newton_step = newton_distance(theta, design, st))
  stopifnot(abs(c(logLik(m)) - mmrm_loglik(theta, design, st)) < 1e-8, c(logLik(m)) >= c(logLik(m0)) - 1e-9)
  list(fit = m, theta = theta, struct = st)
}

# --- one dataset -------------------------------------------------------------------------------
fit_dataset <- function(name) {
  NAME <<- name
  raw <- read.csv(file.path("data", paste0("mmrm_", name, ".csv")))
  d <- prepare(raw)
  d$pos <- d$visit_num
  labels <- paste0("V", 1:4)
  X <- model.matrix(FORMULA, d)
  design <- mmrm_design(X, d$y, d$id, d$visit_num)
  big <- name == "large"
  rows <- list()
  add <- function(r) rows[[length(rows) + 1]] <<- r

  # gls structures (REML) and us by ML
  gls_fits <- list()
  for (kind in c(GLS_KINDS, "us_ML")) {
    k <- sub("_ML", "", kind)
    method <- if (kind == "us_ML") "ML" else "REML"
    g <- fit_gls(k, d, design, FORMULA, 1:4, labels, method, name, compare_optim = !big)
    gls_fits[[kind]] <- g
    em <- emm_all(g$fit, d, mode = "df.error")
    if (kind == "us") gls_em <- em
    res <- own_df_rows(k, method, em, g$theta, design, g$struct, coef(g$fit),
                       sqrt(diag(g$Phi)), c(logLik(g$fit)),
                       cov_rows(k, method, g$sigma, labels))
    add(res$rows)
    stopifnot(rel(res$table$se * sqrt(g$inflation), c(em$ls$se, em$diff$se)) < 1e-9)
    # cross-check of our Satterthwaite with emmeans' (which for gls falls back to its
    # "appx-satterthwaite": refits to simulated responses; slow, so on two datasets)
    if (method == "REML" && name %in% c("dropout", "tiny")) {
      set.seed(1)
      ems <- tryCatch(emm_all(g$fit0, d, mode = "appx-satterthwaite", extra.iter = 20),
                      error = function(e) NULL)
      if (!is.null(ems)) {
        note("validation", dataset = name, check = paste0(k, ": our Satterthwaite df vs emmeans appx-satterthwaite"),
             max_rel_diff = rel(res$table$df_satterthwaite, c(ems$ls$df, ems$diff$df)))
      }
    }
  }

  # us in glmmTMB vs gls (reported, not written), with glmmTMB's defaults and with ours
  tu <- fit_tmb(update(FORMULA, . ~ . + us(0 + visit | id)), d)
  td <- suppressWarnings(glmmTMB(update(FORMULA, . ~ . + us(0 + visit | id)), d, dispformula = ~0,
                                 REML = TRUE))
  gu <- gls_fits$us
  iu <- us_index(4, labels)$idx
  for (v in list(list("glmmTMB defaults", td), list("zerodisp_val = 0, polished", tu$fit))) {
    m <- v[[2]]
    note("validation", dataset = name, check = paste0("us_glmmtmb (", v[[1]], ") vs gls us: theta"),
         max_rel_diff = rel_theta(tmb_sigmas(m)[[1]][iu], gu$theta))
    note("validation", dataset = name, check = paste0("us_glmmtmb (", v[[1]], ") vs gls us: coef in SE"),
         max_rel_diff = rel_coef(fixef(m)$cond, coef(gu$fit), gu$Phi))
    note("validation", dataset = name, check = paste0("us_glmmtmb (", v[[1]], ") vs gls us: loglik (abs)"),
         max_rel_diff = abs(c(logLik(m)) - c(logLik(gu$fit))))
  }

  # us_by_arm: one unstructured covariance per arm (glmmTMB)
  d$dSHAM <- as.numeric(d$arm == "SHAM")
  d$dDN <- as.numeric(d$arm == "DN")
  tb <- fit_tmb(update(FORMULA, . ~ . + us(0 + visit:dSHAM | id) + us(0 + visit:dDN | id)), d)
  Sb <- tmb_sigmas(tb$fit)
  arm_of <- ifelse(grepl("dSHAM", sapply(Sb, function(S) rownames(S)[1])), "SHAM", "DN")
  names(Sb) <- arm_of
  Sb <- lapply(Sb[c("SHAM", "DN")], function(S) {
    dimnames(S) <- list(labels, labels)
    S
  })
  st_arm <- struct_us_groups(4, c("SHAM", "DN"), labels)
  design_arm <- mmrm_design(X, d$y, d$id, d$visit_num, as.integer(d$arm))
  u <- us_index(4, labels)
  theta_arm <- setNames(c(Sb$SHAM[u$idx], Sb$DN[u$idx]), st_arm$names)
  theta_arm0 <- {
    S0 <- tmb_sigmas(tb$fit0)
    unlist(lapply(S0[match(c("SHAM", "DN"), arm_of)], function(S) S[u$idx]))
  }
  pc <- mmrm_pieces(theta_arm, design_arm, st_arm, second = FALSE)
  note("stability", dataset = name, model = "us_by_arm", method = "REML",
       nlminb_default_vs_optimum = rel_theta(theta_arm0, theta_arm), optim_vs_optimum = NA,
       coef_default_vs_final_in_se = max(abs(fixef(tb$fit0)$cond - fixef(tb$fit)$cond) / sqrt(diag(pc$Phi))),
       optimum_from_other_start = rel_theta(polish(wiggle(theta_arm0, "us_by_arm"), design_arm, st_arm),
                                      theta_arm),
       final_newton_step = newton_distance(theta_arm, design_arm, st_arm))
  stopifnot(abs(c(logLik(tb$fit)) - mmrm_loglik(theta_arm, design_arm, st_arm)) < 1e-8,
            rel_coef(pc$beta, fixef(tb$fit)$cond, pc$Phi) < 1e-8)
  note("validation", dataset = name, check = "us_by_arm: glmmTMB vcov SE / sqrt(diag Phi) - 1 (not used)",
       max_rel_diff = rel(sqrt(diag(vcov(tb$fit)$cond)), sqrt(diag(pc$Phi))))
  em <- emm_all(tb$fit, d)
  stopifnot(identical(dim(em$L_ls), dim(gls_em$L_ls)), max(abs(em$L_ls - gls_em$L_ls)) < 1e-12,
            max(abs(em$L_diff - gls_em$L_diff)) < 1e-12)
  res <- own_df_rows("us_by_arm", "REML", em, theta_arm, design_arm, st_arm, fixef(tb$fit)$cond,
                     sqrt(diag(pc$Phi)), c(logLik(tb$fit)),
                     rbind(cov_rows("us_by_arm", "REML", Sb$SHAM, labels, "SHAM|"),
                           cov_rows("us_by_arm", "REML", Sb$DN, labels, "DN|")))
  add(res$rows)

  # lmer: random intercept (ri) and random intercept + slope on visit_num (rs)
  for (kind in c("ri", "rs")) {
    l <- fit_lmer(kind, d, design, name)
    es <- emm_all(l$fit, d, lmer.df = "satterthwaite")
    ek <- emm_all(l$fit, d, lmer.df = "kenward-roger")
    S <- l$struct$sigma(l$theta)[[1]]
    add(rbind(
      out_rows(kind, "REML", "coef", names(fixef(l$fit)), fixef(l$fit)),
      out_rows(kind, "REML", "coef_se", names(fixef(l$fit)), sqrt(diag(as.matrix(vcov(l$fit))))),
      cov_rows(kind, "REML", S, labels),
      out_rows(kind, "REML", "theta", names(l$theta), l$theta),
      out_rows(kind, "REML", "loglik", "", c(logLik(l$fit))),
      out_rows(kind, "REML", "lsmean", es$ls$term, es$ls$estimate),
      out_rows(kind, "REML", "lsmean_se", es$ls$term, es$ls$se),
      out_rows(kind, "REML", "lsmean_df_satterthwaite", es$ls$term, es$ls$df),
      out_rows(kind, "REML", "diff", es$diff$term, es$diff$estimate),
      out_rows(kind, "REML", "diff_se", es$diff$term, es$diff$se),
      out_rows(kind, "REML", "diff_df_satterthwaite", es$diff$term, es$diff$df),
      out_rows(kind, "REML", "diff_p_satterthwaite", es$diff$term, es$diff$p),
      out_rows(kind, "REML", "diff_se_kenward_roger", ek$diff$term, ek$diff$se),
      out_rows(kind, "REML", "diff_df_kenward_roger", ek$diff$term, ek$diff$df),
      out_rows(kind, "REML", "diff_p_kenward_roger", ek$diff$term, ek$diff$p),
      out_rows(kind, "REML", "lsmean_se_kenward_roger", ek$ls$term, ek$ls$se),
      out_rows(kind, "REML", "lsmean_df_kenward_roger", ek$ls$term, ek$ls$df)
    ))
    # validation of kr.R against pbkrtest (KR) and lmerTest (Satterthwaite) at lmer's estimates
    mine <- mmrm_df_table(rbind(es$L_ls, es$L_diff), l$theta, design, l$struct)

    se_r <- c(es$ls$se, es$diff$se)
    note("validation", dataset = name, check = paste0(kind, ": kr.R SE vs emmeans(lmer)"),
         max_rel_diff = rel(mine$se, se_r))
    note("validation", dataset = name, check = paste0(kind, ": kr.R KR SE vs emmeans(lmer, kenward-roger)"),
         max_rel_diff = rel(mine$se_kenward_roger, c(ek$ls$se, ek$diff$se)))
    note("validation", dataset = name, check = paste0(kind, ": kr.R KR df vs emmeans(lmer, kenward-roger)"),
         max_rel_diff = rel(mine$df_kenward_roger, c(ek$ls$df, ek$diff$df)))
    note("validation", dataset = name, check = paste0(kind, ": kr.R KR df, Theta from Phi_A, vs pbkrtest"),
         max_rel_diff = rel(mine$df_kr_theta_phiA, c(ek$ls$df, ek$diff$df)))
    note("validation", dataset = name, check = paste0(kind, ": kr.R KR df: pbkrtest formula vs 2/A1"),
         max_rel_diff = rel(mine$df_kr_2_over_A1, mine$df_kenward_roger))
    note("validation", dataset = name, check = paste0(kind, ": kr.R Satterthwaite df vs emmeans(lmer, satterthwaite)"),
         max_rel_diff = rel(mine$df_satterthwaite, c(es$ls$df, es$diff$df)))
    note("validation", dataset = name, check = paste0(kind, ": kr.R Satterthwaite df, numDeriv::hessian, vs lmerTest"),
         max_rel_diff = rel(mine$df_satterthwaite_numderiv, c(es$ls$df, es$diff$df)))
    if (kind == "ri") {
      # the same model as gls corCompSymm (rho > 0): kr.R on the gls fit vs pbkrtest on lmer
      g <- gls_fits$cs
      stopifnot(g$theta[1] > 0)
      mine_g <- mmrm_df_table(rbind(es$L_ls, es$L_diff), g$theta, design, g$struct)
      note("validation", dataset = name, check = "ri as gls cs: theta gls vs lmer", max_rel_diff = rel(g$theta, l$theta))
      note("validation", dataset = name, check = "ri as gls cs: kr.R KR SE vs pbkrtest",
           max_rel_diff = rel(mine_g$se_kenward_roger, c(ek$ls$se, ek$diff$se)))
      note("validation", dataset = name, check = "ri as gls cs: kr.R KR df vs pbkrtest",
           max_rel_diff = rel(mine_g$df_kenward_roger, c(ek$ls$df, ek$diff$df)))
      note("validation", dataset = name, check = "ri as gls cs: kr.R Satterthwaite df vs lmerTest",
           max_rel_diff = rel(mine_g$df_satterthwaite, c(es$ls$df, es$diff$df)))
    }
  }
  add(rbind(out_rows("all", "", "n_participants", "", length(unique(d$id))),
            out_rows("all", "", "n_obs", "", nrow(d))))
  out <- do.call(rbind, rows)
  write.csv(out, paste0("mmrm_", name, "_expected.csv"), row.names = FALSE, quote = 1:4)
}

# --- cLDA on `dropout` ---------------------------------------------------------------------------
fit_clda <- function() {
  NAME <<- "cl"
  d <- read.csv(file.path("data", "mmrm_cl.csv"))
  labels <- paste0("V", 0:4)
  d$visit <- factor(d$visit, levels = labels)
  d$site <- factor(d$site)
  d$pos <- d$visit_num + 1L
  form <- y ~ visit + site + armDN_V1 + armDN_V2 + armDN_V3 + armDN_V4
  X <- model.matrix(form, d)
  design <- mmrm_design(X, d$y, d$id, d$pos)
  g <- fit_gls("us", d, design, form, 0:4, labels, "REML", "cl")
  L <- diag(ncol(X))[match(paste0("armDN_V", 1:4), colnames(X)), , drop = FALSE]
  tab <- mmrm_df_table(L, g$theta, design, g$struct)
  terms <- paste0("V", 1:4)
  stopifnot(max(abs(tab$estimate - coef(g$fit)[paste0("armDN_V", 1:4)]) / tab$se) < 1e-9,
            max(abs(tab$se - sqrt(diag(vcov(g$fit)))[paste0("armDN_V", 1:4)]) / tab$se) < 1e-9)
  note("validation", dataset = "cl", check = "us REML: Satterthwaite df, analytic observed information vs numDeriv::hessian",
       max_rel_diff = rel(tab$df_satterthwaite_numderiv, tab$df_satterthwaite))
  out <- rbind(
    out_rows("us", "REML", "coef", names(coef(g$fit)), coef(g$fit)),
    out_rows("us", "REML", "coef_se", names(coef(g$fit)), sqrt(diag(vcov(g$fit)))),
    cov_rows("us", "REML", g$sigma, labels),
    out_rows("us", "REML", "theta", g$struct$names, g$theta),
    out_rows("us", "REML", "loglik", "", c(logLik(g$fit))),
    out_rows("us", "REML", "diff", terms, tab$estimate),
    out_rows("us", "REML", "diff_se", terms, tab$se),
    out_rows("us", "REML", "diff_df_satterthwaite", terms, tab$df_satterthwaite),
    out_rows("us", "REML", "diff_p_satterthwaite", terms, p_t(tab$estimate, tab$se, tab$df_satterthwaite)),
    out_rows("us", "REML", "diff_se_kenward_roger", terms, tab$se_kenward_roger),
    out_rows("us", "REML", "diff_df_kenward_roger", terms, tab$df_kenward_roger),
    out_rows("us", "REML", "diff_p_kenward_roger", terms,
             p_t(tab$estimate, tab$se_kenward_roger, tab$df_kenward_roger)),
    out_rows("all", "", "n_participants", "", length(unique(d$id))),
    out_rows("all", "", "n_obs", "", nrow(d))
  )
  write.csv(out, "mmrm_cl_expected.csv", row.names = FALSE, quote = 1:4)
}

# --- derivative check of the covariance parameterisations (first and second) --------------------
check_derivatives <- function() {
  vn <- 1:4
  structs <- list(csh = struct_het(vn, "csh"), arh1 = struct_het(vn, "arh1"), ar1 = struct_ar1(vn),
                  rs = struct_rs(vn), toep = struct_toep(4), us = struct_us(4))
  thetas <- list(csh = c(90, 120, 180, 250, 0.7), arh1 = c(90, 120, 180, 250, 0.8),
                 ar1 = c(150, 0.75), rs = c(80, -5, 6, 40), toep = c(150, 110, 90, 70),
                 us = c(90, 80, 80, 75, 120, 110, 115, 180, 150, 250))
  worst <- 0
  for (k in names(structs)) {
    st <- structs[[k]]
    th <- thetas[[k]]
    J <- numDeriv::jacobian(function(x) c(st$sigma(x)[[1]]), th)
    for (a in seq_along(th)) {
      worst <- max(worst, max(abs(J[, a] - c(st$d1(th)[[a]][[1]]))) / max(abs(J)))
      Ha <- numDeriv::jacobian(function(x) c(st$d1(x)[[a]][[1]]), th)
      for (b in seq_along(th)) {
        d2 <- st$d2(th, a, b)
        an <- if (is.null(d2)) rep(0, 16) else c(d2[[1]])
        worst <- max(worst, max(abs(Ha[, b] - an)) / max(abs(J)))
      }
    }
  }
  note("validation", dataset = "-", check = "dSigma/dtheta and d2Sigma: analytic vs numDeriv",
       max_rel_diff = worst)
}

started <- Sys.time()
write_mmrm_data()
check_derivatives()
todo <- commandArgs(TRUE)
if (length(todo) == 0) todo <- c(names(mmrm_datasets), "cl")
for (name in intersect(todo, names(mmrm_datasets))) {
  t0 <- Sys.time()
  fit_dataset(name)
  cat(sprintf("%-12s %6.1f s\n", name, as.numeric(Sys.time() - t0, units = "secs")))
}
if ("cl" %in% todo) {
  t0 <- Sys.time()
  fit_clda()
  cat(sprintf("%-12s %6.1f s\n", "cl", as.numeric(Sys.time() - t0, units = "secs")))
}
cat(sprintf("total        %6.1f s\n\n", as.numeric(Sys.time() - started, units = "secs")))
options(width = 200)
cat("Convergence (max relative difference in theta unless said):\n")
print(do.call(rbind, stability), digits = 3, row.names = FALSE)
cat("\nValidation:\n")
print(do.call(rbind, validation), digits = 3, row.names = FALSE)
