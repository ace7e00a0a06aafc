# Oracle for physiotrial.analysis.responders: risk difference with Newcombe's hybrid score CI
# (1998, method 10; Wilson limits from prop.test(correct = FALSE)) and the NNT with Altman's (1998)
# inverted CI. Dataset a: counts; dataset b: participant values, responders by a 19.9-point MCID
# and a 30 % reduction (higher = worse). Run from tests/oracle: Rscript responders.R
newcombe <- function(x1, n1, x2, n2) {
  w1 <- prop.test(x1, n1, correct = FALSE)$conf.int
  w2 <- prop.test(x2, n2, correct = FALSE)$conf.int
  p1 <- x1 / n1; p2 <- x2 / n2; rd <- p1 - p2
  low <- rd - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2)
  high <- rd + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2)
  if (low > 0 || high < 0) nnt_ci <- c(1 / high, 1 / low) else nnt_ci <- c(1 / low, 1 / high)
  data.frame(responders_exp = x1, n_exp = n1, responders_ctl = x2, n_ctl = n2,
             risk_difference = rd, rd_ci_low = low, rd_ci_high = high, nnt = 1 / rd,
             nnt_ci_low = nnt_ci[1], nnt_ci_high = nnt_ci[2])
}
dir.create("data", showWarnings = FALSE)
counts <- data.frame(x1 = c(12, 5, 0, 18, 7, 3, 10), n1 = c(18, 20, 15, 18, 25, 30, 40),
                     x2 = c(4, 6, 2, 0, 7, 9, 10), n2 = c(20, 19, 15, 20, 25, 31, 39))
write.csv(counts, file.path("data", "responders_a.csv"), row.names = FALSE)
write.csv(do.call(rbind, Map(newcombe, counts$x1, counts$n1, counts$x2, counts$n2)),
          "responders_a_expected.csv", row.names = FALSE)

set.seed(41)
n <- 44
people <- data.frame(arm = rep(c("DN", "SHAM"), each = n / 2),
                     baseline = round(runif(n, 40, 95), 1))
people$follow_up <- round(pmax(0, people$baseline - ifelse(people$arm == "DN", 30, 12) +
                                 rnorm(n, 0, 18)), 1)
write.csv(people, file.path("data", "responders_b.csv"), row.names = FALSE)
rules <- list(mcid = (people$baseline - people$follow_up) >= 19.9,
              percent = 100 * (people$baseline - people$follow_up) >= 30 * people$baseline)
out <- do.call(rbind, lapply(names(rules), function(rule) {
  flag <- rules[[rule]]; dn <- people$arm == "DN"
  cbind(definition = rule, newcombe(sum(flag[dn]), sum(dn), sum(flag[!dn]), sum(!dn)))
}))
write.csv(out, "responders_b_expected.csv", row.names = FALSE)
