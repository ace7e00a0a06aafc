"""Between-group difference at one visit adjusted for baseline and covariates (ANCOVA).

Why ANCOVA: for a continuous outcome measured at baseline and follow-up in a randomised trial,
regressing the follow-up value on arm and baseline gives an unbiased and more precise estimate of
the treatment effect than comparing change scores (Vickers & Altman, BMJ 2001;323:1123-1124; EMA
Guideline on adjustment for baseline covariates, EMA/CHMP/295050/2013). The protocol's covariates
(here baseline and the stratification factor sex) enter as main effects; categorical covariates as
treatment-coded factors. The effect is the coefficient of the experimental-arm indicator: with an
additive model it equals the emmeans contrast experimental − control that R reports
(tests/oracle/ancova.R), with a t-distribution CI on the residual degrees of freedom.

Multiplicity: Holm's step-down adjustment (Holm, Scand J Stat 1979;6:65-70) across the secondary
outcomes at the primary visit, as the protocol's ``multiplicity = "holm"`` asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats


@dataclass(frozen=True)
class Difference:
    """An adjusted between-group difference (experimental − control) with its inference."""

    n: int
    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p: float


NAN_DIFFERENCE = Difference(0, *([float("nan")] * 6))


def design(
    data: pd.DataFrame, experimental: str, covariates: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Intercept, the experimental-arm indicator, then each covariate.

    A numeric covariate enters as is; a text covariate as indicators of every level but the first
    (sorted). A covariate constant in the data is left out (it cannot be estimated).
    """
    columns: list[np.ndarray] = [np.ones(len(data)), (data["arm"] == experimental).to_numpy(float)]
    names = ["intercept", "arm"]
    for name in covariates:
        values = data[name]
        if pd.api.types.is_numeric_dtype(values):
            if values.nunique() > 1:
                columns.append(values.to_numpy(float))
                names.append(name)
            continue
        for level in sorted(values.astype(str).unique())[1:]:
            columns.append((values.astype(str) == level).to_numpy(float))
            names.append(f"{name}[{level}]")
    return np.column_stack(columns), names


def ancova(
    data: pd.DataFrame,
    experimental: str,
    control: str,
    covariates: Sequence[str] = ("baseline",),
    alpha: float = 0.05,
) -> Difference:
    """OLS of ``value`` on arm and ``covariates``; rows with any missing value are dropped.

    ``data`` has columns ``arm``, ``value`` and one per covariate (``baseline`` is the baseline
    value of the same outcome). Only the two arms compared are used. Returns NaN estimates when
    either arm has no complete row or no residual degree of freedom is left.
    """
    used = data[data["arm"].isin([experimental, control])]
    used = used.dropna(subset=["value", *covariates])
    if used["arm"].nunique() < 2:
        return Difference(len(used), *([float("nan")] * 6))
    x, _ = design(used, experimental, covariates)
    if len(used) <= x.shape[1]:
        return Difference(len(used), *([float("nan")] * 6))
    fit = sm.OLS(used["value"].to_numpy(float), x).fit()
    estimate, se = float(fit.params[1]), float(fit.bse[1])
    df = float(fit.df_resid)
    t = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(estimate / se), df))
    return Difference(len(used), estimate, se, df, estimate - t * se, estimate + t * se, p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values in the input order; NaN stays NaN and is not counted.

    Adjusted p_(i) = max over j ≤ i of min(1, (m − j + 1) p_(j)) for the ascending p_(j), as R's
    ``p.adjust(method = "holm")``.
    """
    values = np.asarray(p_values, dtype=float)
    known = np.flatnonzero(~np.isnan(values))
    adjusted = np.full(len(values), np.nan)
    m = len(known)
    order = known[np.argsort(values[known], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return [float(v) for v in adjusted]
