# Oracle for physiotrial.analysis.formula: design matrices of model formulas as R's
# model.matrix builds them with default treatment contrasts (stats::terms.formula orders the
# terms and decides, term by term, which factors get contrasts and which get one indicator per
# level). Writes its seeded dataset to data/formula.csv, a reference grid to
# data/formula_grid.csv, and beside this script:
#   formula_expected.csv        formula, column (1-based), name, row (1-based), value
#   formula_terms_expected.csv  formula, position (1-based), term  (attr(terms, "term.labels"))
#   formula_grid_expected.csv   formula, column, name, row, value of the grid coded with the
#                               levels of the data (as emmeans builds its reference grid)
# Run from tests/oracle: Rscript formula.R

set.seed(20260)
n <- 24
raw <- data.frame(
  y = round(rnorm(n, 50, 10), 1),
  baseline = round(rnorm(n, 60, 12), 1),
  age = sample(45:80, n, replace = TRUE),
  visit = sample(sprintf("V%d", 1:4), n, replace = TRUE),
  arm = sample(c("DN", "SHAM"), n, replace = TRUE),
  site = sample(sprintf("S%d", 1:3), n, replace = TRUE),
  sex = sample(c("female", "male"), n, replace = TRUE),
  prior = sample(c(TRUE, FALSE), n, replace = TRUE)
)
# Every level is present, so levels inferred from the data equal the declared ones.
stopifnot(length(unique(raw$visit)) == 4, length(unique(raw$site)) == 3)
dir.create("data", showWarnings = FALSE)
write.csv(raw, file.path("data", "formula.csv"), row.names = FALSE)

frame <- raw
frame$arm <- factor(frame$arm, levels = c("SHAM", "DN"))  # SHAM is the reference, as in Python

formulas <- c(
  "y ~ baseline * visit + arm * visit + site",
  "y ~ arm*visit",
  "y ~ visit + visit:arm",
  "y ~ 0 + visit + arm:visit",
  "y ~ arm:visit",
  "y ~ baseline:arm + visit",
  "y ~ arm*visit*sex",
  "y ~ 1",
  "y ~ baseline",
  "y ~ visit - 1",
  "y ~ visit - 1 + arm",
  "y ~ (arm + sex) * visit",
  "y ~ baseline * age + prior",
  "y ~ 0 + baseline + visit:arm",
  "y ~ (visit + arm + sex)^2",
  "y ~ sex + arm:sex:visit - 1",
  "y ~ visit:baseline + arm",
  "y ~ arm + visit + arm:visit - arm",
  "~ visit + arm",
  "y ~ 0",
  "y ~ arm:sex + visit:sex",   # visit by contrasts: its margin (sex) lies within arm:sex
  "y ~ (arm + visit):sex"
)

long <- function(formula, x) {
  if (ncol(x) == 0) {
    return(data.frame(formula = character(), column = integer(), name = character(),
                      row = integer(), value = numeric()))
  }
  data.frame(
    formula = formula,
    column = rep(seq_len(ncol(x)), each = nrow(x)),
    name = rep(colnames(x), each = nrow(x)),
    row = rep(seq_len(nrow(x)), times = ncol(x)),
    value = as.vector(x)
  )
}

matrices <- list()
terms_out <- list()
for (f in formulas) {
  x <- model.matrix(as.formula(f), frame)
  matrices[[f]] <- long(f, x)
  labels <- attr(terms(as.formula(f)), "term.labels")
  terms_out[[f]] <- data.frame(formula = rep(f, length(labels)), position = seq_along(labels),
                               term = labels)
}
write.csv(do.call(rbind, matrices), "formula_expected.csv", row.names = FALSE)
write.csv(do.call(rbind, terms_out), "formula_terms_expected.csv", row.names = FALSE)

# A reference grid (visit x arm x site at the mean baseline, sex and prior fixed), coded with the
# levels of the fitted data: the rows of X behind least-squares means.
grid <- expand.grid(
  visit = sprintf("V%d", 1:4), arm = c("SHAM", "DN"), site = sprintf("S%d", 1:3),
  stringsAsFactors = FALSE
)
grid$baseline <- mean(raw$baseline)
grid$age <- 60
grid$sex <- "male"
grid$prior <- TRUE
write.csv(grid, file.path("data", "formula_grid.csv"), row.names = FALSE)
grid_out <- list()
for (f in c("y ~ baseline * visit + arm * visit + site", "y ~ visit + visit:arm",
            "y ~ (visit + arm + sex)^2")) {
  tt <- delete.response(terms(as.formula(f)))
  fitted <- model.frame(as.formula(f), frame)
  coded <- model.frame(tt, grid, xlev = .getXlevels(tt, fitted))
  grid_out[[f]] <- long(f, model.matrix(tt, coded))
}
write.csv(do.call(rbind, grid_out), "formula_grid_expected.csv", row.names = FALSE)
