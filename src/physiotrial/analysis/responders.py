"""Responders, the risk difference with Newcombe's hybrid score CI, and the NNT with its CI.

Responder rules (the protocol's ``analysis.responders``), for an outcome where higher is worse
(pain): improvement = baseline − follow-up (sign flipped where higher is better).

- ``mcid``: improvement ≥ threshold points (e.g. 19.9 mm VAS, Tubach et al. 2005);
- ``percent``: improvement ≥ threshold % of baseline (e.g. 30 %, Farrar et al. 2001); a baseline
  of 0 cannot improve and is not a response;
- ``omeract_oarsi``: ``omeract_oarsi_responder`` of
  ``physiotrial.core.instruments.library.omeract_oarsi`` (Pham et al. 2004) on the pain and
  function outcomes.

A participant whose flag cannot be decided (a missing value) is left out of the denominator:
complete-case responders, as a secondary descriptive analysis.

Risk difference RD = p₁ − p₂ (experimental − control) with Newcombe's hybrid score interval
(Newcombe, Stat Med 1998;17:873-890, method 10): with Wilson score limits (lᵢ, uᵢ) for each
proportion, L = RD − sqrt((p₁ − l₁)² + (u₂ − p₂)²), U = RD + sqrt((u₁ − p₁)² + (p₂ − l₂)²).

Number needed to treat NNT = 1 / RD with the CI from inverting the RD limits (Altman, BMJ
1998;317:1309-1312). Positive = benefit (NNTB), negative = harm (NNTH). When the RD CI excludes 0
the NNT CI is (1/U, 1/L); when it includes 0 the CI is in two pieces, "NNTB 1/U to ∞ to NNTH
1/|L|", stored as ``nnt_ci_low`` = 1/L (negative) and ``nnt_ci_high`` = 1/U (positive);
:func:`nnt_wording` writes it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from physiotrial.core.instruments.library.omeract_oarsi import omeract_oarsi_responder

FloatArray = np.ndarray[tuple[int], np.dtype[np.float64]]


def improvement(baseline: FloatArray, follow_up: FloatArray, higher_worse: bool) -> FloatArray:
    """Improvement in the outcome's units (positive = better)."""
    change: FloatArray = baseline - follow_up if higher_worse else follow_up - baseline
    return change


def mcid_responder(
    baseline: FloatArray, follow_up: FloatArray, threshold: float, higher_worse: bool = True
) -> FloatArray:
    """1.0 when the improvement reaches ``threshold`` points, 0.0 when not, NaN when missing."""
    gain = improvement(baseline, follow_up, higher_worse)
    with np.errstate(invalid="ignore"):
        flag: FloatArray = np.where(np.isnan(gain), np.nan, (gain >= threshold - 1e-9) * 1.0)
    return flag


def percent_responder(
    baseline: FloatArray, follow_up: FloatArray, threshold: float, higher_worse: bool = True
) -> FloatArray:
    """1.0 when the improvement reaches ``threshold`` % of a non-zero baseline."""
    gain = improvement(baseline, follow_up, higher_worse)
    with np.errstate(invalid="ignore", divide="ignore"):
        met = (baseline != 0) & (100.0 * gain >= threshold * np.abs(baseline) - 1e-9)
        flag: FloatArray = np.where(np.isnan(gain), np.nan, met * 1.0)
    return flag


def omeract_responder(
    pain_before: FloatArray,
    pain_after: FloatArray,
    function_before: FloatArray,
    function_after: FloatArray,
) -> FloatArray:
    """OMERACT-OARSI responder flags (0–100 domains, higher = worse; no patient global)."""
    result = omeract_oarsi_responder(pain_before, pain_after, function_before, function_after)
    flag: FloatArray = result.responder
    return flag


def wilson(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval without continuity correction (Wilson, JASA 1927;22:209-212)."""
    if n == 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@dataclass(frozen=True)
class RiskDifference:
    responders_exp: int
    n_exp: int
    responders_ctl: int
    n_ctl: int
    risk_difference: float
    rd_ci_low: float
    rd_ci_high: float
    nnt: float
    nnt_ci_low: float
    nnt_ci_high: float


def risk_difference(
    responders_exp: int, n_exp: int, responders_ctl: int, n_ctl: int, alpha: float = 0.05
) -> RiskDifference:
    """RD with Newcombe's hybrid score CI and the NNT with Altman's inverted CI."""
    counts = (responders_exp, n_exp, responders_ctl, n_ctl)
    if n_exp == 0 or n_ctl == 0:
        return RiskDifference(*counts, *([float("nan")] * 6))
    p1, p2 = responders_exp / n_exp, responders_ctl / n_ctl
    l1, u1 = wilson(responders_exp, n_exp, alpha)
    l2, u2 = wilson(responders_ctl, n_ctl, alpha)
    rd = p1 - p2
    low = rd - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = rd + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    nnt, nnt_low, nnt_high = number_needed_to_treat(rd, low, high)
    return RiskDifference(*counts, rd, low, high, nnt, nnt_low, nnt_high)


def _inverse(value: float) -> float:
    return math.copysign(math.inf, value) if value == 0 else 1.0 / value


def number_needed_to_treat(rd: float, low: float, high: float) -> tuple[float, float, float]:
    """NNT = 1/RD and its limits (Altman 1998); see the module docstring for the signs."""
    nnt = _inverse(rd)
    if low > 0 or high < 0:
        return nnt, 1.0 / high, 1.0 / low
    # The RD CI contains 0: NNTB 1/U to infinity to NNTH 1/|L|, stored as (1/L, 1/U).
    return nnt, (-math.inf if low == 0 else 1.0 / low), (math.inf if high == 0 else 1.0 / high)


def nnt_wording(nnt: float, low: float, high: float, digits: int = 1) -> str:
    """Altman's wording: 'NNTB 4.2 (95% CI NNTB 2.5 to 13.1)' or, when the RD CI includes 0,
    'NNTB 10.0 (95% CI NNTH 12.5 to ∞ to NNTB 3.3)'."""
    if any(math.isnan(v) for v in (nnt, low, high)):
        return "NNT not estimable"

    def name(value: float) -> str:
        kind = "NNTB" if value > 0 else "NNTH"
        return f"{kind} {'∞' if math.isinf(value) else format(abs(value), f'.{digits}f')}"

    if low > 0 or high < 0:
        first, second = sorted((low, high), key=abs)
        return f"{name(nnt)} (95% CI {name(first)} to {name(second).split(' ')[1]})"
    return f"{name(nnt)} (95% CI {name(low)} to ∞ to {name(high)})"
