"""Descriptive tables: Table 1 (baseline characteristics), n/mean/SD by visit, within-arm change.

Table 1 describes the randomised groups as randomised and carries no p-values (CONSORT 2010 item
15 and its explanation: baseline differences in a randomised trial are due to chance). Within-arm
change is the mean change from baseline with a t-distribution 95 % CI (n − 1 df), observed data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def _mean_sd(values: pd.Series) -> tuple[int, float, float]:
    clean = values.dropna().astype(float)
    n = len(clean)
    mean = float(clean.mean()) if n else math.nan
    sd = float(clean.std(ddof=1)) if n > 1 else math.nan
    return n, mean, sd


def baseline_table(
    participants: pd.DataFrame,
    scores: pd.DataFrame,
    outcomes: Sequence[tuple[str, str]],
    baseline_visit: str,
    arms: Sequence[str],
) -> pd.DataFrame:
    """Table 1 rows per characteristic × arm (and "All"): age, sex, baseline of each outcome.

    ``outcomes`` are (outcome id, name shown) pairs.
    """
    rows: list[dict[str, object]] = []
    base = scores[scores["visit"] == baseline_visit]
    for arm in [*arms, "All"]:
        people = participants if arm == "All" else participants[participants["arm"] == arm]
        n, mean, sd = _mean_sd(people["age"])
        rows.append(_numeric("Age (years)", arm, n, mean, sd))
        total = int(people["sex"].notna().sum())
        for level in sorted(participants["sex"].dropna().unique()):
            count = int((people["sex"] == level).sum())
            percent = 100.0 * count / total if total else math.nan
            rows.append(
                {
                    "characteristic": f"Sex: {level}",
                    "arm": arm,
                    "n": total,
                    "mean": math.nan,
                    "sd": math.nan,
                    "count": count,
                    "percent": percent,
                    "summary": f"{count} ({percent:.1f}%)" if total else "–",
                }
            )
        for outcome, name in outcomes:
            values = base[
                (base["outcome"] == outcome) & base["study_code"].isin(people["study_code"])
            ]
            n, mean, sd = _mean_sd(values["value"])
            rows.append(_numeric(name, arm, n, mean, sd))
    return pd.DataFrame(rows)


def _numeric(name: str, arm: str, n: int, mean: float, sd: float) -> dict[str, object]:
    summary = "–" if n == 0 else f"{mean:.1f} ({sd:.1f})" if n > 1 else f"{mean:.1f}"
    return {
        "characteristic": name,
        "arm": arm,
        "n": n,
        "mean": mean,
        "sd": sd,
        "count": math.nan,
        "percent": math.nan,
        "summary": summary,
    }


def descriptives(data: pd.DataFrame) -> pd.DataFrame:
    """n, mean, SD per outcome × visit × arm from columns outcome, visit, arm, value."""
    rows = [
        {
            "outcome": o,
            "visit": v,
            "arm": a,
            **dict(zip(("n", "mean", "sd"), _mean_sd(g["value"]), strict=True)),
        }
        for (o, v, a), g in data.groupby(["outcome", "visit", "arm"], sort=False)
    ]
    return pd.DataFrame(rows, columns=["outcome", "visit", "arm", "n", "mean", "sd"])


def within_change(
    changes: Sequence[float] | np.ndarray | pd.Series, alpha: float = 0.05
) -> tuple[int, float, float, float]:
    """n, mean change and its t CI; NaN limits below 2 values."""
    values = np.asarray(changes, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return n, mean, math.nan, math.nan
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * float(values.std(ddof=1)) / math.sqrt(n)
    return n, mean, mean - half, mean + half
