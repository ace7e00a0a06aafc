# Oracle for physiotrial.analysis.time_to_response: Kaplan-Meier sessions to response (Kaplan &
# Meier 1958), Greenwood SE, pointwise bands of conf.type "log", "log-log" and "plain", and the
# median with its CI as print.survfit (summary(fit)$table) and quantile.survfit give them.
# survfit's std.err is the SE of -log S (cumulative hazard); se = surv * std.err is the SE of S
# that summary(fit) prints. Run from tests/oracle: Rscript time_to_response.R
library(survival)
dir.create("data", showWarnings = FALSE)

sets <- list(
  # ties of events and censorings at one time, a censoring at 0 sessions, S exactly 0.5 over
  # [4, 6) then dropping (R averages 4 and 6 to 5), and the last patient at risk responding (S = 0).
  ties = data.frame(
    sessions = c(0, 1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 9),
    responded = c(FALSE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE,
                  TRUE)
  ),
  # S reaches exactly 0.5 and stays flat to the last censoring: print.survfit says 4,
  # quantile.survfit averages 4 with the last time (8).
  flat = data.frame(sessions = 1:8, responded = c(TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, FALSE,
                                                   FALSE)),
  # heavy censoring (people stop after a few sessions): the median is not reached.
  censored = data.frame(
    sessions = c(1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 6, 8, 10, 12),
    responded = c(FALSE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, TRUE,
                  FALSE, FALSE, FALSE, FALSE)
  ),
  # the median is reached but the upper limit of its CI is not.
  upper = data.frame(
    sessions = c(1, 2, 3, 4, 4, 5, 6, 7, 8, 9),
    responded = c(TRUE, TRUE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE)
  )
)
set.seed(20240607)
n <- 300
joint <- sample(c("knee", "hip"), n, replace = TRUE, prob = c(0.6, 0.4))
rate <- ifelse(joint == "knee", 0.16, 0.10)
response <- rgeom(n, rate) + 1                 # session after which response is first seen
stopped <- pmin(sample(1:12, n, replace = TRUE), 12)
sets$sim300 <- data.frame(
  sessions = pmin(response, stopped),
  responded = response <= stopped,
  joint = joint
)

types <- c(log = "log", loglog = "log-log", plain = "plain")
medians <- list()
for (name in names(sets)) {
  d <- sets[[name]]
  write.csv(d, file.path("data", paste0("time_to_response_", name, ".csv")), row.names = FALSE)
  out <- NULL
  for (key in names(types)) {
    fit <- survfit(Surv(sessions, responded) ~ 1, data = d, conf.type = types[[key]])
    if (is.null(out)) {
      out <- data.frame(time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event,
                        n_censor = fit$n.censor, surv = fit$surv, std_err = fit$std.err,
                        se = summary(fit, times = fit$time, censored = TRUE)$std.err)
    }
    out[[paste0("lower_", key)]] <- fit$lower
    out[[paste0("upper_", key)]] <- fit$upper
    table <- summary(fit)$table
    q <- quantile(fit, 0.5)
    medians[[length(medians) + 1]] <- data.frame(
      dataset = name, band = types[[key]], n = table[["n.start"]], events = table[["events"]],
      median = table[["median"]], median_lower = table[["0.95LCL"]],
      median_upper = table[["0.95UCL"]], quantile = q$quantile[[1]],
      quantile_lower = q$lower[[1]], quantile_upper = q$upper[[1]]
    )
  }
  write.csv(out, paste0("time_to_response_", name, "_expected.csv"), row.names = FALSE)
}
write.csv(do.call(rbind, medians), "time_to_response_medians_expected.csv", row.names = FALSE)

# By joint (strata), log-log band: the median and its CI per level.
fit <- survfit(Surv(sessions, responded) ~ joint, data = sets$sim300, conf.type = "log-log")
table <- summary(fit)$table
write.csv(data.frame(joint = sub("joint=", "", rownames(table)), n = table[, "n.start"],
                     events = table[, "events"], median = table[, "median"],
                     median_lower = table[, "0.95LCL"], median_upper = table[, "0.95UCL"]),
          "time_to_response_groups_expected.csv", row.names = FALSE)
