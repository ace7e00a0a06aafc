"""Clopper–Pearson CIs against scipy's exact binomial test, and the safety table's counts."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import binomtest

from physiotrial.analysis.results import COLUMNS
from physiotrial.analysis.safety import clopper_pearson, safety_table


@pytest.mark.parametrize(("k", "n"), [(0, 20), (1, 20), (7, 54), (20, 20), (3, 3), (17, 60)])
def test_clopper_pearson_matches_scipy_exact(k: int, n: int) -> None:
    wanted = binomtest(k, n).proportion_ci(method="exact")
    assert clopper_pearson(k, n) == pytest.approx((wanted.low, wanted.high), rel=1e-9, abs=1e-12)


def test_safety_table_counts_sessions_and_people() -> None:
    participants = pd.DataFrame({"study_code": ["a", "b", "c", "d"], "arm": ["X", "X", "Y", "Y"]})
    sessions = pd.DataFrame(
        {
            "study_code": ["a", "a", "a", "b", "c", "c", "d"],
            "plan": ["needling"] * 6 + ["exercise"],
            "number": [1, 2, 3, 1, 1, 2, 1],
            "delivered": [True, True, True, False, True, True, True],
        }
    )
    events = pd.DataFrame(
        {
            "study_code": ["a", "a", "c", "d"],
            "severity": ["mild", "mild", "serious", "mild"],
            "session_plan": ["needling", "needling", "needling", None],
            "session_number": [1, 1, 2, None],
        }
    )
    table = safety_table(participants, sessions, events, "needling")
    assert tuple(table.columns) == COLUMNS["safety"]
    rows = {(r.arm, r.unit): r for r in table.itertuples()}
    assert (rows["X", "session"].denominator, rows["X", "session"].with_event) == (3, 1)
    assert (rows["Y", "session"].with_event, rows["Y", "session"].serious) == (1, 1)
    assert (rows["X", "participant"].denominator, rows["X", "participant"].with_event) == (1, 1)
    assert (rows["Y", "participant"].denominator, rows["Y", "participant"].with_event) == (2, 2)
    assert rows["Y", "participant"].serious == 1
