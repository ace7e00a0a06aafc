"""The simulator is calibrated to the published trial: the analysis recovers the published effect.

Issue 4: over 20 seeds, the 95% CI of the 6-month VAS between-group difference (ANCOVA on
baseline and sex, the protocol's covariates; participants lost before M6 are missing) covers the
published 30 mm in at least 17. The pure trajectory generator is the one the service-level
simulator applies by arm, so this checks what the demo database contains without 20 runs
through the services.
"""

from __future__ import annotations

import pandas as pd

from physiotrial.analysis.ancova import ancova
from physiotrial.services.protocols import load_protocol
from physiotrial.simulate.trajectories import simulate_participants, target_column

PUBLISHED_VAS = 30.0  # Sci Rep 2025;15:44117: mean difference in change 30 [18.4, 42.0]


def _m6_difference(seed: int) -> tuple[float, float, float]:
    protocol = load_protocol("popliteus-dn-koa")
    people = simulate_participants(protocol, 38, seed)
    followed = ~people["lost_after"].isin(["W3", "M3"])
    data = pd.DataFrame(
        {
            "arm": people["arm"],
            "value": people[target_column("vas_max", "score", "M6")].where(followed),
            "baseline": people[target_column("vas_max", "score", "BL")],
            "sex": people["sex"],
        }
    )
    result = ancova(data, "DN", "SHAM", ("baseline", "sex"))
    # DN − SHAM in mm of pain: the published difference favouring DN is its negative.
    return -result.estimate, -result.ci_high, -result.ci_low


def test_ci_covers_the_published_difference_in_at_least_17_of_20_seeds() -> None:
    intervals = [_m6_difference(seed) for seed in range(1, 21)]
    covered = sum(low <= PUBLISHED_VAS <= high for _, low, high in intervals)
    assert covered >= 17, intervals
    mean_estimate = sum(estimate for estimate, _, _ in intervals) / len(intervals)
    assert 25 < mean_estimate < 35
