# Oracle for physiotrial.analysis.ancova: ANCOVA of follow-up on arm + baseline + sex (lm + emmeans)
# and Holm's adjustment (p.adjust). Writes its seeded datasets to data/ and the expected values
# beside this script. Run from tests/oracle: Rscript ancova.R
suppressPackageStartupMessages(library(emmeans))

make <- function(seed, n, effect, missing) {
  set.seed(seed)
  arm <- rep(c("DN", "SHAM"), length.out = n)
  sex <- sample(c("female", "male"), n, replace = TRUE, prob = c(0.65, 0.35))
  baseline <- round(rnorm(n, 70, 12), 1)
  value <- round(20 + 0.6 * baseline - effect * (arm == "DN") + 4 * (sex == "male") + rnorm(n, 0, 15), 1)
  if (missing > 0) value[sample(n, missing)] <- NA
  data.frame(study_code = sprintf("P%03d", seq_len(n)), arm, sex, baseline, value)
}

fit_one <- function(name, data) {
  write.csv(data, file.path("data", paste0(name, ".csv")), row.names = FALSE, na = "")
  data$arm <- factor(data$arm, levels = c("SHAM", "DN"))
  data$sex <- factor(data$sex)
  fit <- lm(value ~ arm + baseline + sex, data = data)
  contrast <- summary(contrast(emmeans(fit, "arm"), list(dn_minus_sham = c(-1, 1))),
                      infer = c(TRUE, TRUE), level = 0.95)
  out <- data.frame(
    n = nobs(fit), estimate = contrast$estimate, se = contrast$SE, df = contrast$df,
    ci_low = contrast$lower.CL, ci_high = contrast$upper.CL, p = contrast$p.value
  )
  write.csv(out, paste0(name, "_expected.csv"), row.names = FALSE)
}

dir.create("data", showWarnings = FALSE)
fit_one("ancova_a", make(20251, 38, 30, 0))
fit_one("ancova_b", make(20252, 61, 8, 7))

p <- c(0.0004, 0.03, NA, 0.012, 0.2, 0.049, 0.7)
write.csv(data.frame(p = p, p_holm = p.adjust(p, method = "holm")), "holm_expected.csv",
          row.names = FALSE, na = "")
