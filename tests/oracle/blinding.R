# Oracle for physiotrial.analysis.blinding: Bang's blinding index per arm (Bang, Ni & Davis 2004),
# weights 1, 1/2, -1/2, -1, 0 for strongly/somewhat correct, somewhat/strongly wrong, don't know;
# SE from the multinomial variance (sum w^2 p - BI^2)/n; normal CI. Run: Rscript blinding.R
categories <- c("strongly_active", "somewhat_active", "somewhat_sham", "strongly_sham", "dont_know")
active <- c(1, 0.5, -0.5, -1, 0)
bang <- function(counts, sham) {
  w <- if (sham) -active else active
  n <- sum(counts); p <- counts / n
  bi <- sum(w * p); se <- sqrt((sum(w^2 * p) - bi^2) / n); z <- qnorm(0.975)
  c(n = n, bang_bi = bi, se = se, ci_low = bi - z * se, ci_high = bi + z * se)
}
dir.create("data", showWarnings = FALSE)
tables <- list(
  blinding_a = data.frame(arm = c("DN", "SHAM"), sham = c(FALSE, TRUE),
                          strongly_active = c(6, 2), somewhat_active = c(5, 6),
                          somewhat_sham = c(2, 4), strongly_sham = c(1, 1), dont_know = c(4, 7)),
  blinding_b = data.frame(arm = c("DN", "SHAM"), sham = c(FALSE, TRUE),
                          strongly_active = c(48, 0), somewhat_active = c(0, 22),
                          somewhat_sham = c(4, 30), strongly_sham = c(0, 0), dont_know = c(330, 319))
)
for (name in names(tables)) {
  t <- tables[[name]]
  write.csv(t, file.path("data", paste0(name, ".csv")), row.names = FALSE)
  out <- do.call(rbind, lapply(seq_len(nrow(t)), function(i)
    data.frame(arm = t$arm[i], t(bang(unlist(t[i, categories]), t$sham[i])))))
  write.csv(out, paste0(name, "_expected.csv"), row.names = FALSE)
}
