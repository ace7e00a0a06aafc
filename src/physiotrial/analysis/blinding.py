"""Bang's blinding index per arm (Bang, Ni & Davis, Control Clin Trials 2004;25:143-156).

For one arm, each respondent's guess is scored by a weight: a correct guess counts +1, a wrong one
−1 and "don't know" 0, so BI = (correct − wrong) / n; it runs from −1 (everyone guesses the other
arm) through 0 (guessing no better than chance) to +1 (everyone knows). The five-category form
(strongly / somewhat believe) uses weights 1 and ½ for correct, −½ and −1 for wrong, 0 for don't
know (Bang 2004's 2 × 5 layout, the one ``blinding_guess`` captures). BI is then a mean of those
weights, so its variance is the multinomial one, Var = (Σ wₖ² pₖ − BI²) / n, and the CI is
BI ± z SE. With weights ±1 this is exactly the 2 × 3 estimate and SE of the BI R package (Schwartz
& Mercaldo; its example 48, 4, 330 → 0.115, SE 0.018). The R oracle (tests/oracle/blinding.R)
recomputes it from the published formula.

"Correct" needs the arm's identity (sham or not): the index is not computed for a blinded
analysis, where arms are only A and B.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy import stats

CATEGORIES = ("strongly_active", "somewhat_active", "somewhat_sham", "strongly_sham", "dont_know")
"""Bang's five response categories, as ``blinding_guess.bang_category`` stores them."""
ACTIVE_WEIGHTS = {
    "strongly_active": 1.0,
    "somewhat_active": 0.5,
    "somewhat_sham": -0.5,
    "strongly_sham": -1.0,
    "dont_know": 0.0,
}
"""Weights for respondents in the active arm; the sham arm's are the same with the sign flipped."""


@dataclass(frozen=True)
class BlindingIndex:
    n: int
    bi: float
    se: float
    ci_low: float
    ci_high: float


def bang_index(counts: Mapping[str, int], sham: bool, alpha: float = 0.05) -> BlindingIndex:
    """Bang's BI for one arm from counts per category (missing categories count 0)."""
    unknown = set(counts) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown blinding categories {sorted(unknown)}; allowed: {CATEGORIES}")
    sign = -1.0 if sham else 1.0
    n = sum(int(counts.get(c, 0)) for c in CATEGORIES)
    if n == 0:
        return BlindingIndex(0, *([float("nan")] * 4))
    weights = {c: sign * w for c, w in ACTIVE_WEIGHTS.items()}
    p = {c: counts.get(c, 0) / n for c in CATEGORIES}
    bi = sum(weights[c] * p[c] for c in CATEGORIES)
    variance = max(sum(weights[c] ** 2 * p[c] for c in CATEGORIES) - bi**2, 0.0) / n
    se = math.sqrt(variance)
    z = float(stats.norm.ppf(1 - alpha / 2))
    return BlindingIndex(n, bi, se, bi - z * se, bi + z * se)
