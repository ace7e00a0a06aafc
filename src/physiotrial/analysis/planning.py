"""A clinic's own scores feeding a trial's sample-size calculation.

A power calculation for a baseline-adjusted analysis needs, per outcome, the SD at follow-up and
the correlation ρ between baseline and follow-up: ANCOVA's residual SD is σ·sqrt(1 − ρ²) (Borm,
Fransen & Lemmens, J Clin Epidemiol 2007;60:1234-1238), which for ρ = 0.5 already cuts the
sample size by a quarter, and an MMRM needs the same SDs and correlations at each visit. The SD
of change from baseline is given too, for a change-score design (whose variance 2σ²(1 − ρ) beats
the follow-up alone only when ρ > 0.5). Published values may come from other populations; the
clinic's own patients are a closer guess at the trial's.

SDs are sample SDs (n − 1 divisor) and correlations Pearson's, over the patients observed at both
visits, as R's ``sd`` and ``cor(use = "complete.obs")`` give them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from physiotrial.errors import ModelError

VARIABILITY_COLUMNS = (
    "outcome",
    "visit",
    "n",
    "mean",
    "sd",
    "n_pairs",
    "change_mean",
    "change_sd",
    "correlation",
    "ancova_sd",
)


def ancova_sd(sd: float, rho: float) -> float:
    """Residual SD after adjusting for baseline, σ·sqrt(1 − ρ²) (Borm et al. 2007)."""
    if not sd >= 0:
        raise ModelError(f"sd {sd!r} must be a number ≥ 0")
    if not -1 <= rho <= 1:
        raise ModelError(f"correlation {rho!r} must lie between −1 and 1")
    return sd * math.sqrt(1 - rho * rho)


def observed_variability(scores: pd.DataFrame, baseline: str = "BL") -> pd.DataFrame:
    """One row per outcome × visit (``VARIABILITY_COLUMNS``); the baseline row first.

    ``scores`` is long: patient, visit, outcome, value (missing values are left out). Later
    visits come in the order they first appear. At the baseline row the paired columns are NaN.
    """
    frame = _checked(scores, baseline)
    rows: list[dict[str, object]] = []
    for outcome in frame["outcome"].unique():
        wide = frame[frame["outcome"] == outcome].pivot(
            index="patient", columns="visit", values="value"
        )
        if baseline not in wide.columns:
            raise ModelError(
                f"outcome {outcome!r} has no value at baseline visit {baseline!r}; "
                f"its visits are {list(wide.columns)}"
            )
        base = wide[baseline].dropna().to_numpy(dtype=float)
        rows.append(_row(outcome, baseline, base, None))
        for visit in frame.loc[frame["outcome"] == outcome, "visit"].unique():
            if visit != baseline:
                pair = wide[[baseline, visit]].dropna().to_numpy(dtype=float)
                later = wide[visit].dropna().to_numpy(dtype=float)
                rows.append(_row(outcome, visit, later, pair))
    table = pd.DataFrame(rows, columns=list(VARIABILITY_COLUMNS))
    return table.astype({"n": "int64", "n_pairs": "Int64"})


def _row(
    outcome: object, visit: object, values: np.ndarray, pair: np.ndarray | None
) -> dict[str, object]:
    nan = float("nan")
    sd = _sd(values)
    row: dict[str, object] = {
        "outcome": outcome,
        "visit": visit,
        "n": len(values),
        "mean": float(values.mean()) if len(values) else nan,
        "sd": sd,
        "n_pairs": None,
        "change_mean": nan,
        "change_sd": nan,
        "correlation": nan,
        "ancova_sd": nan,
    }
    if pair is not None:
        change = pair[:, 1] - pair[:, 0]
        rho = _pearson(pair[:, 0], pair[:, 1])
        row |= {
            "n_pairs": len(pair),
            "change_mean": float(change.mean()) if len(change) else nan,
            "change_sd": _sd(change),
            "correlation": rho,
            "ancova_sd": nan if math.isnan(rho) or math.isnan(sd) else ancova_sd(sd, rho),
        }
    return row


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN with fewer than 2 pairs or no spread (R's cor gives NA there)."""
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if denominator == 0:
        return float("nan")
    return float(np.clip((dx * dy).sum() / denominator, -1.0, 1.0))


def _checked(scores: pd.DataFrame, baseline: str) -> pd.DataFrame:
    missing = [c for c in ("patient", "visit", "outcome", "value") if c not in scores.columns]
    if missing:
        raise ModelError(
            f"scores lacks column(s) {', '.join(missing)}; needs patient, visit, outcome, value"
        )
    for column in ("patient", "visit", "outcome"):
        if scores[column].isna().any():
            row = scores.index[scores[column].isna()][0]
            raise ModelError(f"scores column {column!r} is missing at row {row}")
    values = pd.to_numeric(scores["value"], errors="coerce")
    bad = values.isna() & scores["value"].notna()
    if bad.any():
        row = scores.index[bad.to_numpy()][0]
        raise ModelError(
            f"scores column 'value' is {scores['value'].loc[row]!r} at row {row}; allowed: numbers"
        )
    frame = scores.assign(value=values.astype(float))
    twice = frame.duplicated(["patient", "visit", "outcome"], keep=False)
    if twice.any():
        first = frame[twice].iloc[0]
        raise ModelError(
            f"patient {first['patient']!r} has more than one {first['outcome']!r} value at visit "
            f"{first['visit']!r}; give one value per patient, outcome and visit"
        )
    if baseline not in set(frame["visit"]):
        raise ModelError(
            f"baseline visit {baseline!r} is not in scores (visits: "
            f"{sorted(map(str, set(frame['visit'])))})"
        )
    return frame
