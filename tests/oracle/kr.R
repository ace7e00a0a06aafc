# Helpers sourced by mmrm.R (oracle for physiotrial.analysis.mmrm): our own REML machinery for a
# repeated-measures model with one covariance matrix Sigma(theta) per covariance group (one group,
# or one per arm), so that Satterthwaite and Kenward-Roger degrees of freedom can be computed for
# nlme::gls and glmmTMB fits, for which no R package gives them.
#   - Satterthwaite (1946) as in lmerTest (Kuznetsova, Brockhoff & Christensen 2017):
#     df = 2 v^2 / (g' W g), v = L Phi L', g_j = dv/dtheta_j = -L Phi P_j Phi L', W = inverse of the
#     observed information (minus the Hessian of the REML, or ML, log-likelihood in theta), computed
#     analytically (mmrm_observed_info); numDeriv::hessian of mmrm_loglik is kept as a cross-check.
#   - Kenward & Roger (1997, Biometrics 53:983-997), with the second-derivative term R_ij, and the
#     variant pbkrtest (Halekoh & Hojsgaard 2014) uses: W = inverse expected REML information
#     I_ij = 0.5 tr(P dV_i P dV_j); Theta built from the UNADJUSTED Phi (pbkrtest::Lb_ddf).
# Participants are grouped by (covariance group, set of observed visits) and every sum over
# participants of X_i' A X_i is taken from per-pattern cross-product moments, so the cost does not
# grow with the number of participants once the moments are built.

suppressPackageStartupMessages(library(numDeriv))

# numDeriv's Richardson extrapolation starting from 1% steps (its default 10% can leave the set of
# positive-definite Sigma for strongly correlated visits)
ND_ARGS <- list(eps = 1e-4, d = 0.01, zero.tol = sqrt(.Machine$double.eps / 7e-7), r = 4, v = 2)

# --- design: per-pattern moments -------------------------------------------------------------
# X: N x p model matrix; y: response; id: participant; pos: position 1..t of the row's visit in
# Sigma; group: covariance group 1..G of the row (constant within a participant).
mmrm_design <- function(X, y, id, pos, group = rep(1L, length(y))) {
  id <- as.character(id)
  key <- tapply(seq_along(y), id, function(r) paste(group[r[1]], paste(sort(pos[r]), collapse = ".")))
  patterns <- lapply(split(names(key), unname(key)), function(ids) {
    rows <- which(id %in% ids)
    o <- sort(unique(pos[rows]))
    m <- length(o)
    # rows of each visit, in the same participant order
    by_visit <- lapply(o, function(v) {
      r <- rows[pos[rows] == v]
      r[order(id[r])]
    })
    p <- ncol(X)
    MXX <- matrix(0, p * p, m * m)
    MXy <- matrix(0, p, m * m)
    Myy <- numeric(m * m)
    for (b in seq_len(m)) for (a in seq_len(m)) {
      k <- a + m * (b - 1)
      Xa <- X[by_visit[[a]], , drop = FALSE]
      Xb <- X[by_visit[[b]], , drop = FALSE]
      MXX[, k] <- c(crossprod(Xa, Xb))
      MXy[, k] <- crossprod(Xa, y[by_visit[[b]]])
      Myy[k] <- sum(y[by_visit[[a]]] * y[by_visit[[b]]])
    }
    list(group = group[rows[1]], obs = o, n = length(ids), MXX = MXX, MXy = MXy, Myy = Myy)
  })
  list(patterns = unname(patterns), p = ncol(X), N = length(y), names = colnames(X))
}

# sum over the pattern's participants of X_i' A X_i (A may be non-symmetric)
xax <- function(pat, A, p) matrix(pat$MXX %*% c(A), p, p)

# --- covariance structures: theta -> Sigma per group, first and second derivatives ---------
# Each structure: names, t, groups, sigma(theta) -> list of t x t matrices (one per group),
# d1(theta) -> list over k of list over groups (NULL = zero), d2(theta, k, l) -> same or NULL.
struct_linear <- function(basis, names, t, groups = 1L) {
  list(
    names = names, t = t, groups = groups,
    sigma = function(theta) lapply(seq_len(groups), function(g) {
      S <- matrix(0, t, t)
      for (k in seq_along(theta)) if (!is.null(basis[[k]][[g]])) S <- S + theta[k] * basis[[k]][[g]]
      S
    }),
    d1 = function(theta) basis,
    d2 = function(theta, k, l) NULL
  )
}

unit_sym <- function(t, a, b) {
  E <- matrix(0, t, t)
  E[a, b] <- 1
  E[b, a] <- 1
  E
}

us_index <- function(t, labels) {
  idx <- do.call(rbind, lapply(seq_len(t), function(b) cbind(a = b:t, b = b)))
  list(idx = idx, names = paste0(labels[idx[, "a"]], ":", labels[idx[, "b"]]))
}

# unstructured: theta = lower triangle (column by column) of Sigma, variances and covariances
struct_us <- function(t, labels = paste0("V", seq_len(t))) {
  u <- us_index(t, labels)
  basis <- lapply(seq_len(nrow(u$idx)), function(k) list(unit_sym(t, u$idx[k, 1], u$idx[k, 2])))
  struct_linear(basis, u$names, t)
}

# one unstructured Sigma per group (arm); theta names "<group label>|Va:Vb"
struct_us_groups <- function(t, group_labels, labels = paste0("V", seq_len(t))) {
  u <- us_index(t, labels)
  G <- length(group_labels)
  basis <- list()
  nm <- character()
  for (g in seq_len(G)) for (k in seq_len(nrow(u$idx))) {
    b <- vector("list", G)
    b[[g]] <- unit_sym(t, u$idx[k, 1], u$idx[k, 2])
    basis[[length(basis) + 1]] <- b
    nm <- c(nm, paste0(group_labels[g], "|", u$names[k]))
  }
  struct_linear(basis, nm, t, G)
}

# compound symmetry / random intercept: Sigma = tau * J + sigma2 * I
struct_cs <- function(t) {
  struct_linear(list(list(matrix(1, t, t)), list(diag(t))), c("tau", "sigma2"), t)
}

# homogeneous Toeplitz: theta = covariance at lag 0..t-1
struct_toep <- function(t) {
  lag <- abs(outer(seq_len(t), seq_len(t), "-"))
  struct_linear(lapply(0:(t - 1), function(k) list((lag == k) * 1)), paste0("lag", 0:(t - 1)), t)
}

# random intercept and slope on visit_num: Sigma = Z G Z' + sigma2 I, Z rows (1, visit_num)
struct_rs <- function(visit_num) {
  t <- length(visit_num)
  one <- rep(1, t)
  struct_linear(list(list(outer(one, one)), list(outer(one, visit_num) + outer(visit_num, one)),
                     list(outer(visit_num, visit_num)), list(diag(t))),
                c("g11", "g21", "g22", "sigma2"), t)
}

# AR(1): sigma2 * rho^|a-b| (distance in visit_num units)
struct_ar1 <- function(visit_num) {
  t <- length(visit_num)
  d <- abs(outer(visit_num, visit_num, "-"))
  C <- function(r) r^d
  C1 <- function(r) ifelse(d == 0, 0, d * r^pmax(d - 1, 0))
  C2 <- function(r) ifelse(d <= 1, 0, d * (d - 1) * r^pmax(d - 2, 0))
  list(
    names = c("sigma2", "rho"), t = t, groups = 1L,
    sigma = function(theta) list(theta[1] * C(theta[2])),
    d1 = function(theta) list(list(C(theta[2])), list(theta[1] * C1(theta[2]))),
    d2 = function(theta, k, l) {
      if (k == 1 && l == 1) NULL
      else if (k == 2 && l == 2) list(theta[1] * C2(theta[2]))
      else list(C1(theta[2]))
    }
  )
}

# heterogeneous variances s_1..s_t with correlation c_ab(rho): Sigma_ab = sqrt(s_a s_b) c_ab(rho).
# csh: c = rho off the diagonal; arh1: c = rho^|a-b|.
struct_het <- function(visit_num, kind = c("csh", "arh1"), labels = paste0("V", seq_along(visit_num))) {
  kind <- match.arg(kind)
  t <- length(visit_num)
  d <- abs(outer(visit_num, visit_num, "-"))
  off <- d > 0
  if (kind == "csh") {
    C <- function(r) ifelse(off, r, 1)
    C1 <- function(r) off * 1
    C2 <- function(r) matrix(0, t, t)
  } else {
    C <- function(r) r^d
    C1 <- function(r) ifelse(d == 0, 0, d * r^pmax(d - 1, 0))
    C2 <- function(r) ifelse(d <= 1, 0, d * (d - 1) * r^pmax(d - 2, 0))
  }
  rho_k <- t + 1
  list(
    names = c(paste0(labels, ":", labels), "rho"), t = t, groups = 1L,
    sigma = function(theta) {
      s <- sqrt(theta[1:t])
      list(outer(s, s) * C(theta[rho_k]))
    },
    d1 = function(theta) {
      v <- theta[1:t]
      s <- sqrt(v)
      r <- theta[rho_k]
      out <- lapply(1:t, function(k) {
        D <- matrix(0, t, t)
        D[k, ] <- 0.5 * s / s[k] * C(r)[k, ]
        D[, k] <- D[k, ]
        D[k, k] <- 1
        list(D)
      })
      c(out, list(list(outer(s, s) * C1(r))))
    },
    d2 = function(theta, k, l) {
      v <- theta[1:t]
      s <- sqrt(v)
      r <- theta[rho_k]
      if (k > l) {
        tmp <- k
        k <- l
        l <- tmp
      }
      D <- matrix(0, t, t)
      if (l == rho_k && k == rho_k) return(list(outer(s, s) * C2(r)))
      if (l == rho_k) {
        D[k, ] <- 0.5 * s / s[k] * C1(r)[k, ]
        D[, k] <- D[k, ]
        D[k, k] <- 0
        return(list(D))
      }
      if (k == l) {
        D[k, ] <- -0.25 * s / v[k]^1.5 * C(r)[k, ]
        D[, k] <- D[k, ]
        D[k, k] <- 0
        return(list(D))
      }
      D[k, l] <- D[l, k] <- 0.25 / (s[k] * s[l]) * C(r)[k, l]
      list(D)
    }
  )
}

# --- likelihood -------------------------------------------------------------------------------
gls_sums <- function(design, Sig) {
  p <- design$p
  XVX <- matrix(0, p, p)
  XVy <- numeric(p)
  yVy <- 0
  logdet <- 0
  for (pat in design$patterns) {
    S <- Sig[[pat$group]][pat$obs, pat$obs, drop = FALSE]
    ch <- chol(S)
    Si <- chol2inv(ch)
    logdet <- logdet + pat$n * 2 * sum(log(diag(ch)))
    XVX <- XVX + xax(pat, Si, p)
    XVy <- XVy + c(pat$MXy %*% c(Si))
    yVy <- yVy + sum(pat$Myy * c(Si))
  }
  list(XVX = XVX, XVy = XVy, yVy = yVy, logdet = logdet)
}

# REML (Harville 1977: no log|X'X| term) or ML log-likelihood, constants included
mmrm_loglik <- function(theta, design, struct, method = "REML") {
  Sig <- struct$sigma(theta)
  ok <- all(vapply(Sig, function(S) all(eigen(S, symmetric = TRUE, only.values = TRUE)$values > 0),
                   logical(1)))
  if (!ok) return(-Inf)
  s <- gls_sums(design, Sig)
  ch <- chol(s$XVX)
  beta <- backsolve(ch, forwardsolve(t(ch), s$XVy))
  rss <- s$yVy - sum(beta * s$XVy)
  N <- design$N
  p <- design$p
  if (method == "REML") {
    -0.5 * ((N - p) * log(2 * pi) + s$logdet + 2 * sum(log(diag(ch))) + rss)
  } else {
    -0.5 * (N * log(2 * pi) + s$logdet + rss)
  }
}

# analytic gradient of the log-likelihood in theta (used to check that a fit is at the optimum)
mmrm_gradient <- function(theta, design, struct, method = "REML") {
  Sig <- struct$sigma(theta)
  s <- gls_sums(design, Sig)
  Phi <- solve(s$XVX)
  beta <- c(Phi %*% s$XVy)
  d1 <- struct$d1(theta)
  p <- design$p
  grad <- numeric(length(theta))
  for (pat in design$patterns) {
    o <- pat$obs
    m <- length(o)
    Si <- solve(Sig[[pat$group]][o, o, drop = FALSE])
    # residual cross-products sum_i r_i r_i'
    bM <- matrix(crossprod(beta, pat$MXy), m, m)
    Rg <- matrix(pat$Myy, m, m) - bM - t(bM) + matrix(crossprod(pat$MXX, c(outer(beta, beta))), m, m)
    for (k in seq_along(theta)) {
      D <- d1[[k]][[pat$group]]
      if (is.null(D)) next
      D <- D[o, o, drop = FALSE]
      A <- Si %*% D %*% Si
      term <- pat$n * sum(Si * D) - sum(A * Rg)
      if (method == "REML") term <- term - sum(Phi * xax(pat, A, p))
      grad[k] <- grad[k] - 0.5 * term
    }
  }
  grad
}

# Newton's method on the analytic gradient (Hessian = numerical Jacobian of the gradient): used to
# measure how far a fitted theta is from the exact optimum, never to replace R's fit.
mmrm_newton_step <- function(theta, design, struct, method = "REML") {
  g <- mmrm_gradient(theta, design, struct, method)
  H <- numDeriv::jacobian(function(th) mmrm_gradient(th, design, struct, method), theta,
                         method.args = ND_ARGS)
  H <- (H + t(H)) / 2
  list(gradient = g, step = -c(solve(H, g)))
}

# --- observed information (minus the Hessian of the log-likelihood in theta), analytically -----
# With P = V^-1 - V^-1 X Phi X' V^-1, V_i = dV/dtheta_i, V_ij = d2V/dtheta_i dtheta_j:
#   REML: J_ij = 0.5 tr(P V_ij) - 0.5 tr(P V_i P V_j) - 0.5 y'P V_ij P y + y'P V_i P V_j P y
#   ML (beta profiled out): the same with V^-1 in place of P in the two trace terms.
# (Harville 1977; the derivative of P is -P V_j P.)
mmrm_observed_info <- function(theta, design, struct, method = "REML") {
  Sig <- struct$sigma(theta)
  d1 <- struct$d1(theta)
  K <- length(theta)
  p <- design$p
  s <- gls_sums(design, Sig)
  Phi <- solve(s$XVX)
  beta <- c(Phi %*% s$XVy)
  trVV <- matrix(0, K, K)    # tr(V^-1 V_i V^-1 V_j)
  trV2 <- matrix(0, K, K)    # tr(V^-1 V_ij)
  trPhiR <- matrix(0, K, K)  # tr(Phi X'V^-1 V_ij V^-1 X)
  rVVr <- matrix(0, K, K)    # r'V^-1 V_i V^-1 V_j V^-1 r
  rV2r <- matrix(0, K, K)    # r'V^-1 V_ij V^-1 r
  b <- matrix(0, p, K)       # X'V^-1 V_i V^-1 r
  Pk <- replicate(K, matrix(0, p, p), simplify = FALSE)
  Qkl <- replicate(K * K, matrix(0, p, p), simplify = FALSE)
  for (pat in design$patterns) {
    o <- pat$obs
    m <- length(o)
    g <- pat$group
    Si <- solve(Sig[[g]][o, o, drop = FALSE])
    bM <- matrix(crossprod(beta, pat$MXy), m, m)
    Rg <- matrix(pat$Myy, m, m) - bM - t(bM) + matrix(crossprod(pat$MXX, c(outer(beta, beta))), m, m)
    D <- lapply(seq_len(K), function(k) if (is.null(d1[[k]][[g]])) NULL else d1[[k]][[g]][o, o, drop = FALSE])
    for (k in seq_len(K)) {
      if (is.null(D[[k]])) next
      A <- Si %*% D[[k]] %*% Si
      b[, k] <- b[, k] + c(pat$MXy %*% c(A)) - c(xax(pat, A, p) %*% beta)
      Pk[[k]] <- Pk[[k]] - xax(pat, A, p)
      for (l in seq_len(K)) {
        if (is.null(D[[l]])) next
        B <- A %*% D[[l]] %*% Si
        trVV[k, l] <- trVV[k, l] + pat$n * sum(diag(Si %*% D[[k]] %*% Si %*% D[[l]]))
        rVVr[k, l] <- rVVr[k, l] + sum(B * Rg)
        Qkl[[(l - 1) * K + k]] <- Qkl[[(l - 1) * K + k]] + xax(pat, B, p)
        D2 <- struct$d2(theta, k, l)
        if (!is.null(D2) && !is.null(D2[[g]])) {
          E <- D2[[g]][o, o, drop = FALSE]
          C <- Si %*% E %*% Si
          trV2[k, l] <- trV2[k, l] + pat$n * sum(Si * E)
          trPhiR[k, l] <- trPhiR[k, l] + sum(Phi * xax(pat, C, p))
          rV2r[k, l] <- rV2r[k, l] + sum(C * Rg)
        }
      }
    }
  }
  J <- matrix(0, K, K)
  for (k in seq_len(K)) for (l in seq_len(K)) {
    yPVPVPy <- rVVr[k, l] - c(b[, k] %*% Phi %*% b[, l])
    if (method == "REML") {
      trPVPV <- trVV[k, l] - 2 * sum(Phi * t(Qkl[[(l - 1) * K + k]])) +
        sum(diag(Phi %*% Pk[[k]] %*% Phi %*% Pk[[l]]))
      trPV2 <- trV2[k, l] - trPhiR[k, l]
    } else {
      trPVPV <- trVV[k, l]
      trPV2 <- trV2[k, l]
    }
    J[k, l] <- 0.5 * trPV2 - 0.5 * trPVPV - 0.5 * rV2r[k, l] + yPVPVPy
  }
  (J + t(J)) / 2
}

# --- Phi, P_i, Q_ij, R_ij and the expected REML information ----------------------------------
mmrm_pieces <- function(theta, design, struct, second = TRUE) {
  Sig <- struct$sigma(theta)
  d1 <- struct$d1(theta)
  K <- length(theta)
  p <- design$p
  s <- gls_sums(design, Sig)
  Phi <- solve(s$XVX)
  Phi <- (Phi + t(Phi)) / 2
  beta <- c(Phi %*% s$XVy)
  P <- replicate(K, matrix(0, p, p), simplify = FALSE)
  Q <- replicate(K * K, matrix(0, p, p), simplify = FALSE)
  R <- replicate(K * K, matrix(0, p, p), simplify = FALSE)
  Tr <- matrix(0, K, K)
  for (pat in design$patterns) {
    o <- pat$obs
    g <- pat$group
    Si <- solve(Sig[[g]][o, o, drop = FALSE])
    D <- lapply(seq_len(K), function(k) if (is.null(d1[[k]][[g]])) NULL else d1[[k]][[g]][o, o, drop = FALSE])
    SiD <- lapply(D, function(Dk) if (is.null(Dk)) NULL else Si %*% Dk)
    for (k in seq_len(K)) {
      if (is.null(D[[k]])) next
      P[[k]] <- P[[k]] - xax(pat, SiD[[k]] %*% Si, p)
      for (l in seq_len(K)) {
        if (is.null(D[[l]])) next
        Q[[(l - 1) * K + k]] <- Q[[(l - 1) * K + k]] + xax(pat, SiD[[k]] %*% SiD[[l]] %*% Si, p)
        Tr[k, l] <- Tr[k, l] + pat$n * sum(diag(SiD[[k]] %*% SiD[[l]]))
        if (second) {
          D2 <- struct$d2(theta, k, l)
          if (!is.null(D2) && !is.null(D2[[g]])) {
            R[[(l - 1) * K + k]] <- R[[(l - 1) * K + k]] +
              xax(pat, Si %*% D2[[g]][o, o, drop = FALSE] %*% Si, p)
          }
        }
      }
    }
  }
  info <- matrix(0, K, K)
  for (k in seq_len(K)) for (l in seq_len(K)) {
    info[k, l] <- 0.5 * (Tr[k, l] - 2 * sum(Phi * t(Q[[(l - 1) * K + k]])) +
                           sum(diag(Phi %*% P[[k]] %*% Phi %*% P[[l]])))
  }
  list(Phi = Phi, beta = beta, P = P, Q = Q, R = R, info = (info + t(info)) / 2, K = K)
}

# Kenward-Roger adjusted covariance Phi_A = Phi + 2 Lambda (KR 1997 eq. for Phi_A, with R_ij
# unless linear = TRUE, which is what pbkrtest computes for its linear parameterisation)
kr_adjust <- function(pc, linear = FALSE) {
  K <- pc$K
  W <- solve(pc$info)
  U <- matrix(0, nrow(pc$Phi), ncol(pc$Phi))
  for (k in seq_len(K)) for (l in seq_len(K)) {
    term <- pc$Q[[(l - 1) * K + k]] - pc$P[[k]] %*% pc$Phi %*% pc$P[[l]]
    if (!linear) term <- term - pc$R[[(l - 1) * K + k]] / 4
    U <- U + W[k, l] * term
  }
  Lambda <- pc$Phi %*% U %*% pc$Phi
  PhiA <- pc$Phi + 2 * Lambda
  list(PhiA = (PhiA + t(PhiA)) / 2, W = W)
}

# KR degrees of freedom of L (q rows), the formulas of pbkrtest::Lb_ddf; theta_from = "Phi" (what
# pbkrtest and the paper use) or "PhiA" (the alternative some implementations use).
kr_df <- function(L, pc, adj, theta_from = "Phi") {
  L <- matrix(L, ncol = length(pc$beta))
  q <- nrow(L)
  V0 <- if (theta_from == "Phi") pc$Phi else adj$PhiA
  Theta <- t(L) %*% solve(L %*% V0 %*% t(L), L)
  K <- pc$K
  u <- lapply(seq_len(K), function(k) Theta %*% pc$Phi %*% pc$P[[k]] %*% pc$Phi)
  A1 <- 0
  A2 <- 0
  for (k in seq_len(K)) for (l in seq_len(K)) {
    A1 <- A1 + adj$W[k, l] * sum(diag(u[[k]])) * sum(diag(u[[l]]))
    A2 <- A2 + adj$W[k, l] * sum(u[[k]] * t(u[[l]]))
  }
  B <- (A1 + 6 * A2) / (2 * q)
  g <- ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
  den <- 3 * q + 2 * (1 - g)
  c1 <- g / den
  c2 <- (q - g) / den
  c3 <- (q + 2 - g) / den
  rho <- 1 / q * ((1 - A2 / q) / (1 - c2 * B))^2 * (1 + c1 * B) / (1 - c3 * B)
  df <- 4 + (q + 2) / (q * rho - 1)
  c(df = df, A1 = A1, A2 = A2, df_2_over_A1 = 2 / A1)
}

# observed-information Satterthwaite for each row of L; hessian = "analytic" (mmrm_observed_info)
# or "numDeriv" (numDeriv::hessian of mmrm_loglik, Richardson from 1% steps; a cross-check only:
# it is accurate to about 1e-5, the analytic one to rounding)
satterthwaite_df <- function(L, theta, design, struct, pc, method = "REML", hessian = "analytic") {
  H <- if (hessian == "analytic") mmrm_observed_info(theta, design, struct, method) else
    numDeriv::hessian(function(th) -mmrm_loglik(th, design, struct, method), theta,
                      method.args = ND_ARGS)
  if (any(!is.finite(H))) {
    # a near-singular Sigma: 1% steps left the positive-definite set, so start from 0.1%
    H <- numDeriv::hessian(function(th) -mmrm_loglik(th, design, struct, method), theta,
                           method.args = modifyList(ND_ARGS, list(d = 1e-3)))
  }
  W <- solve((H + t(H)) / 2)
  L <- matrix(L, ncol = length(pc$beta))
  apply(L, 1, function(l) {
    v <- c(l %*% pc$Phi %*% l)
    g <- vapply(pc$P, function(Pk) -c(l %*% pc$Phi %*% Pk %*% pc$Phi %*% l), numeric(1))
    2 * v^2 / c(g %*% W %*% g)
  })
}

# all KR and Satterthwaite numbers for the rows of L (one-row contrasts)
mmrm_df_table <- function(L, theta, design, struct, method = "REML", linear = FALSE) {
  pc <- mmrm_pieces(theta, design, struct, second = !linear)
  L <- matrix(L, ncol = design$p)
  out <- data.frame(
    estimate = c(L %*% pc$beta),
    se = sqrt(rowSums((L %*% pc$Phi) * L)),
    df_satterthwaite = satterthwaite_df(L, theta, design, struct, pc, method),
    df_satterthwaite_numderiv = satterthwaite_df(L, theta, design, struct, pc, method, "numDeriv")
  )
  if (method == "REML") {
    adj <- kr_adjust(pc, linear = linear)
    out$se_kenward_roger <- sqrt(rowSums((L %*% adj$PhiA) * L))
    kr <- t(apply(L, 1, function(l) kr_df(l, pc, adj)))
    out$df_kenward_roger <- kr[, "df"]
    out$df_kr_2_over_A1 <- kr[, "df_2_over_A1"]
    out$df_kr_theta_phiA <- apply(L, 1, function(l) kr_df(l, pc, adj, "PhiA")["df"])
  }
  out
}
