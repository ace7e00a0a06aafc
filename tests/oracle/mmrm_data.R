# Datasets for the oracle of physiotrial.analysis.mmrm (the repeated-measures model, MMRM).
# Each participant has a baseline and up to four post-baseline visits V1..V4 drawn from a true MMRM:
# mean = 12 + slope(visit) * baseline + visit effect + DN x visit effect (DN improves more) + site,
# errors multivariate normal with heterogeneous SDs 10, 12, 14, 16 and a non-Toeplitz correlation
# (0.60-0.80, decaying with lag). Long format, one row per OBSERVED visit (a missed visit is an
# absent row), sorted by id then visit_num. Also writes the cLDA version of `dropout` (baseline as a
# response at V0 with DN indicators at V1..V4 only). Run from tests/oracle: Rscript mmrm_data.R
# (mmrm.R sources this file, so running mmrm.R alone regenerates the data first.)

mmrm_sd <- c(10, 12, 14, 16)
mmrm_cor <- matrix(c(
  1.00, 0.78, 0.68, 0.60,
  0.78, 1.00, 0.80, 0.70,
  0.68, 0.80, 1.00, 0.76,
  0.60, 0.70, 0.76, 1.00
), 4, 4)
mmrm_sigma <- diag(mmrm_sd) %*% mmrm_cor %*% diag(mmrm_sd)

# n_dn, n_sham: participants per arm. dropout: probability of monotone dropout (after V1, V2 or V3,
# so V1 is always seen) by arm. intermittent: probability that each visit is missed on its own.
make_mmrm <- function(seed, n_dn, n_sham, dropout = c(SHAM = 0, DN = 0), intermittent = 0) {
  set.seed(seed)
  n <- n_dn + n_sham
  arm <- sample(rep(c("SHAM", "DN"), c(n_sham, n_dn)))
  site <- sample(c("S1", "S2", "S3"), n, replace = TRUE, prob = c(0.40, 0.35, 0.25))
  baseline <- round(rnorm(n, 50, 10), 1)
  visit_effect <- c(-4, -7, -9, -10)
  dn_effect <- c(-2, -4, -6, -7)
  slope <- c(0.50, 0.55, 0.60, 0.65)
  site_effect <- c(S1 = 0, S2 = 3, S3 = -2)
  errors <- matrix(rnorm(n * 4), n, 4) %*% chol(mmrm_sigma)
  mean <- 12 + outer(baseline, slope) + matrix(visit_effect, n, 4, byrow = TRUE) +
    outer(arm == "DN", dn_effect) + site_effect[site]
  y <- round(mean + errors, 3)
  seen <- matrix(TRUE, n, 4)
  drops <- runif(n) < dropout[arm]
  last <- sample(1:3, n, replace = TRUE)
  for (i in which(drops)) seen[i, (last[i] + 1):4] <- FALSE
  if (intermittent > 0) {
    seen <- seen & matrix(runif(n * 4) >= intermittent, n, 4)
    for (i in which(rowSums(seen) == 0)) seen[i, sample(4, 1)] <- TRUE
  }
  rows <- which(seen, arr.ind = TRUE)
  rows <- rows[order(rows[, 1], rows[, 2]), , drop = FALSE]
  i <- rows[, 1]
  v <- rows[, 2]
  data.frame(
    id = sprintf("P%04d", i), arm = arm[i], site = site[i], visit = paste0("V", v),
    visit_num = v, baseline = baseline[i], y = y[rows]
  )
}

mmrm_datasets <- list(
  balanced = function() make_mmrm(71001, 60, 60),
  dropout = function() make_mmrm(71002, 60, 60, dropout = c(SHAM = 0.30, DN = 0.16)),
  intermittent = function() make_mmrm(71003, 60, 60, intermittent = 0.15),
  unequal = function() make_mmrm(71004, 70, 35, dropout = c(SHAM = 0.15, DN = 0.10)),
  tiny = function() make_mmrm(71005, 12, 12, dropout = c(SHAM = 0.10, DN = 0.10)),
  large = function() make_mmrm(71006, 1000, 1000, dropout = c(SHAM = 0.24, DN = 0.16))
)

# cLDA layout: the baseline becomes the response at V0 (visit_num 0); armDN_Vk is 1 for a DN row
# at visit Vk and 0 otherwise, so the arms share one mean at baseline.
make_clda <- function(data) {
  first <- data[!duplicated(data$id), ]
  v0 <- data.frame(id = first$id, arm = first$arm, site = first$site, visit = "V0",
                   visit_num = 0L, y = first$baseline)
  out <- rbind(v0, data[, c("id", "arm", "site", "visit", "visit_num", "y")])
  out <- out[order(out$id, out$visit_num), ]
  for (k in 1:4) out[[paste0("armDN_V", k)]] <- as.integer(out$arm == "DN" & out$visit_num == k)
  rownames(out) <- NULL
  out
}

write_mmrm_data <- function() {
  dir.create("data", showWarnings = FALSE)
  for (name in names(mmrm_datasets)) {
    write.csv(mmrm_datasets[[name]](), file.path("data", paste0("mmrm_", name, ".csv")),
              row.names = FALSE)
  }
  dropout <- read.csv(file.path("data", "mmrm_dropout.csv"))
  write.csv(make_clda(dropout), file.path("data", "mmrm_cl.csv"), row.names = FALSE)
}

if (sys.nframe() == 0L) write_mmrm_data()
