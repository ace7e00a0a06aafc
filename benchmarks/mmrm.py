"""The MMRM engine against R (nlme::gls, lme4::lmer) run in the same script, and statsmodels.

Data: simulated trials with 4 visits, two arms, baseline, an unstructured covariance and 20 %
dropout at the last visit (seeded). Each size is fitted by

- physiotrial ``fit_mmrm`` (unstructured, REML) plus the arm differences with Satterthwaite df;
- R ``nlme::gls`` with ``corSymm`` + ``varIdent`` (the same model), timed inside R by
  ``system.time`` around the fit, best of 3 below 5,000 participants (R's start-up and CSV
  reading are not counted), via Rscript;
- the random-intercept model: physiotrial ``covariance="ri"`` against ``lme4::lmer`` and
  statsmodels ``MixedLM`` (REML).

Then the batched fit of 40-participant trials (trials per second, against fitting them one at a
time), and the peak memory of the fit per participant (tracemalloc) at two sizes.

Ratios printed are baseline time / physiotrial time (higher is faster). R is skipped, with a note,
where Rscript or a package is missing; ``--sizes`` limits the sizes (nlme::gls takes ~40 s at
10,000 participants).

    .venv/bin/python benchmarks/mmrm.py [--sizes 40,1000,10000,100000] [--gls-max 10000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from physiotrial.analysis.mmrm import fit_batch, fit_mmrm

FORMULA = "y ~ baseline * visit + arm * visit"
LEVELS = {"arm": ("SHAM", "DN")}
VISITS = np.array(["V1", "V2", "V3", "V4"])
COVARIANCE = np.array(
    [[100, 70, 60, 50], [70, 120, 80, 70], [60, 80, 140, 90], [50, 70, 90, 160.0]]
)

R_SCRIPT = r"""
suppressPackageStartupMessages({library(nlme); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); d$arm <- factor(d$arm, levels = c("SHAM", "DN")); d$visit <- factor(d$visit)
what <- args[2]
one <- function() {
  if (what == "gls") {
    system.time(gls(y ~ baseline * visit + arm * visit, data = d,
      correlation = corSymm(form = ~ visit_num | id), weights = varIdent(form = ~ 1 | visit)))
  } else {
    system.time(lmer(y ~ baseline * visit + arm * visit + (1 | id), data = d))
  }
}
cat(min(replicate(as.integer(args[3]), one()[["elapsed"]])), "\n")
"""


def trial(n: int, seed: int) -> pd.DataFrame:
    """n participants × 4 visits, 20 % missing the last visit."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), 4)
    visit = np.tile(np.arange(4), n)
    arm = np.where(ids % 2 == 1, "DN", "SHAM")
    baseline = rng.normal(60, 10, n)[ids]
    noise = rng.multivariate_normal(np.zeros(4), COVARIANCE, size=n).ravel()
    y = 10 + 0.5 * baseline - 2.0 * (arm == "DN") * (visit + 1) + noise
    frame = pd.DataFrame(
        {
            "id": ids,
            "arm": arm,
            "visit": VISITS[visit],
            "visit_num": visit + 1,
            "baseline": baseline,
            "y": y,
        }
    )
    return frame[~((visit == 3) & (ids % 5 == 0))].reset_index(drop=True)


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def ours(frame: pd.DataFrame, covariance: str) -> None:
    fit = fit_mmrm(frame, FORMULA, covariance=covariance, levels=LEVELS)
    fit.arm_differences(df="satterthwaite")


def r_time(frame: pd.DataFrame, what: str) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        data, script = Path(folder) / "d.csv", Path(folder) / "fit.R"
        frame.to_csv(data, index=False)
        script.write_text(R_SCRIPT)
        done = subprocess.run(
            ["Rscript", str(script), str(data), what, str(3 if len(frame) < 20_000 else 1)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"    R {what} failed: {done.stderr.strip().splitlines()[-1:]}")
            return None
        return float(done.stdout.split()[-1])


def statsmodels_time(frame: pd.DataFrame) -> float:
    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smf.mixedlm(FORMULA, frame, groups=frame["id"]).fit(reml=True)

    return best(run, 1)


def one_at_a_time(design: pd.DataFrame, responses: np.ndarray, df: str) -> None:
    single = design.copy()
    for row in responses:
        single["y"] = row
        fit_mmrm(single, FORMULA, levels=LEVELS).arm_differences(df=df)  # type: ignore[arg-type]


def sizes(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=sizes, default=[40, 1000, 10_000, 100_000])
    parser.add_argument("--gls-max", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=4000)
    options = parser.parse_args()

    print("Unstructured MMRM, REML, with Satterthwaite df (physiotrial) vs nlme::gls (R)")
    for n in options.sizes:
        frame = trial(n, n)
        ours(frame, "us")  # warm-up (imports, caches)
        mine = best(lambda f=frame: ours(f, "us"), 5 if n <= 10_000 else 2)
        line = f"  n = {n:>7,}: physiotrial {mine:8.3f} s"
        gls = r_time(frame, "gls") if n <= options.gls_max else None
        if gls is not None:
            line += f"   nlme::gls {gls:8.3f} s   ratio {gls / mine:7.1f}x"
        print(line)

    print("Random intercept, REML (physiotrial 'ri') vs lme4::lmer (R) and statsmodels MixedLM")
    for n in options.sizes:
        frame = trial(n, n)
        ours(frame, "ri")
        mine = best(lambda f=frame: ours(f, "ri"), 5 if n <= 10_000 else 2)
        line = f"  n = {n:>7,}: physiotrial {mine:8.3f} s"
        lmer = r_time(frame, "lmer")
        if lmer is not None:
            line += f"   lme4 {lmer:7.3f} s ({lmer / mine:6.1f}x)"
        if n <= 10_000:
            sm = statsmodels_time(frame)
            line += f"   statsmodels {sm:7.3f} s ({sm / mine:6.1f}x)"
        print(line)

    print("Batched fits of 40-participant trials (unstructured, REML, primary contrast at V4)")
    design = trial(40, 1)
    rng = np.random.default_rng(2)
    base = design["y"].to_numpy()
    responses = base + rng.normal(0, 8, size=(options.trials, len(design)))
    for df in ("satterthwaite", "kenward_roger"):
        fit_batch(design, responses[:50], FORMULA, levels=LEVELS, df=df)
        spent = best(lambda d=df: fit_batch(design, responses, FORMULA, levels=LEVELS, df=d), 2)
        loop = best(lambda d=df: one_at_a_time(design, responses[:100], d), 1) / 100
        rate = options.trials / spent
        print(
            f"  {df:>14}: {rate:8.0f} trials/s batched   {1 / loop:6.0f} trials/s one at a "
            f"time   ratio {rate * loop:5.1f}x"
        )

    print("Peak memory of one fit (tracemalloc)")
    for n in (10_000, 100_000):
        frame = trial(n, n)
        tracemalloc.start()
        ours(frame, "us")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  n = {n:>7,}: {peak / 2**20:7.1f} MiB   {peak / n:7.0f} bytes per participant")


if __name__ == "__main__":
    main()
