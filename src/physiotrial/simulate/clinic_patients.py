"""A simulated knee or hip OA clinic patient: the baseline profiles of their scores, how the
PGIC follows change, and what the simulation keeps of them
(:mod:`physiotrial.simulate.clinic` holds the latent response model).

Baselines: VAS maximum pain 65 ± 15 mm as in the reference trial (shared/reference/trial.md);
WOMAC 0-100 45 ± 15, TSK-11 28 ± 6, TUG 11 ± 3 s, NPRS 6 ± 1.5 and 30-s chair stand 9 ± 3 as in
knee and hip OA clinic samples; a score without a profile starts just on the bad side of mid-range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from physiotrial.core.instruments.catalogue import get_instrument
from physiotrial.services.randomisation import ScheduledVisit

PGIC_BANDS = (1.8, 0.9, 0.4, -0.3, -0.8, -1.5)
"""Change in MCIDs below which the PGIC code goes up one (1 very much improved … 7)."""
PROFILES: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("vas", "score"): (65, 15, 0, 100),
    ("nprs", "score"): (6, 1.5, 0, 10),
    ("womac", "pain_100"): (45, 15, 0, 100),
    ("womac", "stiffness_100"): (45, 18, 0, 100),
    ("womac", "function_100"): (45, 15, 0, 100),
    ("tsk11", "total"): (28, 6, 11, 44),
    ("tug", "time_s"): (11, 3, 5, 40),
    ("chair_stand_30s", "stands"): (9, 3, 0, 30),
}
"""(instrument, score) → baseline mean, SD, lowest and highest of OA clinic patients."""
Trait = tuple[float, float, float, float, float, float]
"""One score of one patient: baseline, change per unit of gain, noise SD, low, high, sign."""


def profile(instrument: str, score: str) -> tuple[float, float, float, float]:
    """The clinic profile of a score, else a baseline just on the bad side of mid-range."""
    if (instrument, score) in PROFILES:
        return PROFILES[(instrument, score)]
    spec = get_instrument(instrument).score_spec(score)
    low, high = float(spec.minimum or 0), float(100 if spec.maximum is None else spec.maximum)
    worse = 0.45 if spec.direction.value == "higher_better" else 0.55
    return low + worse * (high - low), (high - low) / 8, low, high


@dataclass
class Patient:
    """One simulated patient: who they are, their latent response, and what has happened."""

    number: int
    suitable: bool
    code: str = ""
    start: date = date.min
    visits: dict[str, ScheduledVisit] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    traits: dict[tuple[str, str], Trait] = field(default_factory=dict)
    screen: tuple[int, int] = (0, 0)
    """Neuropathic screen at baseline, and the assessment it turns positive at (0: never)."""
    plateau: float = 0.0
    tau: float = 1.0
    stop_after: int | None = None
    days: dict[str, list[date]] = field(default_factory=dict)
    counted: int = 0
    last_counted: date | None = None
    baseline_main: float = math.nan
    extended: bool = False
