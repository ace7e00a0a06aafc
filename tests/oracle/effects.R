# Oracle for physiotrial.analysis.effects: Hedges' g of change with the Hedges & Olkin (1985)
# correction J = 1 - 3/(4(n1+n2)-9) and SE sqrt((n1+n2)/(n1 n2) + g^2/(2(n1+n2))), by formula.
# Run from tests/oracle: Rscript effects.R
make <- function(seed, n1, n2, delta, sd) {
  set.seed(seed)
  data.frame(
    arm = c(rep("DN", n1), rep("SHAM", n2)),
    change = round(c(rnorm(n1, -40, sd), rnorm(n2, -40 + delta, sd)), 1)
  )
}
g_of <- function(name, data) {
  dir.create("data", showWarnings = FALSE)
  write.csv(data, file.path("data", paste0(name, ".csv")), row.names = FALSE)
  a <- data$change[data$arm == "DN"]; b <- data$change[data$arm == "SHAM"]
  n1 <- length(a); n2 <- length(b)
  s <- sqrt(((n1 - 1) * var(a) + (n2 - 1) * var(b)) / (n1 + n2 - 2))
  g <- (1 - 3 / (4 * (n1 + n2) - 9)) * (mean(a) - mean(b)) / s
  se <- sqrt((n1 + n2) / (n1 * n2) + g^2 / (2 * (n1 + n2)))
  z <- qnorm(0.975)
  write.csv(data.frame(n_exp = n1, n_ctl = n2, g = g, se = se, ci_low = g - z * se,
                       ci_high = g + z * se), paste0(name, "_expected.csv"), row.names = FALSE)
}
g_of("effects_a", make(31, 18, 20, 30, 18))
g_of("effects_b", make(32, 9, 14, 5, 12))
