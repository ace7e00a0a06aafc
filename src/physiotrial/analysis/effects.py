"""Standardised mean difference of change from baseline: Hedges' g with an approximate CI.

g = J · d, where d = (mean change experimental − mean change control) / pooled SD of change
(pooled over both arms with n − 1 weights), and J = 1 − 3 / (4 (n₁ + n₂) − 9) is Hedges'
small-sample correction in the approximation of Hedges & Olkin (Statistical Methods for
Meta-Analysis, Academic Press 1985, ch. 5). Its approximate large-sample standard error (Hedges &
Olkin 1985, ch. 5, with g in place of δ; the equation numbers were not checked) is

    SE(g) = sqrt((n₁ + n₂) / (n₁ n₂) + g² / (2 (n₁ + n₂)))

and the CI is g ± z₍₁₋α/₂₎ SE(g). The R oracle (tests/oracle/effects.R) computes the same
formulas independently with R's own mean, sd and qnorm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class HedgesG:
    n_exp: int
    n_ctl: int
    g: float
    se: float
    ci_low: float
    ci_high: float


Values = Sequence[float] | np.ndarray | pd.Series


def hedges_g(experimental: Values, control: Values, alpha: float = 0.05) -> HedgesG:
    """Hedges' g of experimental − control; NaN values are dropped, NaN result below 2 + 2."""
    a = np.asarray(experimental, dtype=float)
    b = np.asarray(control, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return HedgesG(n1, n2, *([float("nan")] * 4))
    pooled = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    if pooled == 0:
        return HedgesG(n1, n2, *([float("nan")] * 4))
    d = (a.mean() - b.mean()) / pooled
    g = float((1 - 3 / (4 * (n1 + n2) - 9)) * d)
    se = math.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2 * (n1 + n2)))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return HedgesG(n1, n2, g, se, g - z * se, g + z * se)
