"""Responders, Newcombe's RD CI and the NNT against R (tests/oracle/responders.R)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physiotrial.analysis.responders import (
    mcid_responder,
    nnt_wording,
    omeract_responder,
    percent_responder,
    risk_difference,
)
from tests.analysis.oracle import TOLERANCE, data, expected

FIELDS = ("risk_difference", "rd_ci_low", "rd_ci_high", "nnt", "nnt_ci_low", "nnt_ci_high")


def _check(result: object, want: object) -> None:
    for field in FIELDS:
        got, wanted = getattr(result, field), float(want[field])  # type: ignore[index]
        if math.isinf(wanted):
            assert got == wanted, field
        else:
            assert got == pytest.approx(wanted, **TOLERANCE), field


@pytest.mark.parametrize("row", range(7))
def test_newcombe_and_nnt_match_r_on_counts(row: int) -> None:
    counts = data("responders_a").iloc[row]
    result = risk_difference(*(int(counts[c]) for c in ("x1", "n1", "x2", "n2")))
    _check(result, expected("responders_a").iloc[row])


@pytest.mark.parametrize("rule", ["mcid", "percent"])
def test_responder_rules_and_rd_match_r_on_participants(rule: str) -> None:
    people = data("responders_b")
    base, after = people["baseline"].to_numpy(float), people["follow_up"].to_numpy(float)
    flag = (
        mcid_responder(base, after, 19.9) if rule == "mcid" else percent_responder(base, after, 30)
    )
    dn = (people["arm"] == "DN").to_numpy()
    result = risk_difference(
        int(flag[dn].sum()), int(dn.sum()), int(flag[~dn].sum()), int((~dn).sum())
    )
    want = expected("responders_b").set_index("definition").loc[rule]
    assert (result.responders_exp, result.responders_ctl) == (
        want["responders_exp"],
        want["responders_ctl"],
    )
    _check(result, want)


@pytest.mark.parametrize(
    ("baseline", "after", "mcid", "percent"),
    [
        (70.0, 50.1, 1.0, 0.0),  # 19.9 mm better: MCID met, 28 % short of 30 %
        (70.0, 50.2, 0.0, 0.0),
        (30.0, 21.0, 0.0, 1.0),  # exactly 30 %
        (0.0, 0.0, 0.0, 0.0),  # baseline 0 cannot improve
        (60.0, float("nan"), float("nan"), float("nan")),
    ],
)
def test_responder_rules_at_their_thresholds(
    baseline: float, after: float, mcid: float, percent: float
) -> None:
    b, a = np.array([baseline]), np.array([after])
    np.testing.assert_equal(mcid_responder(b, a, 19.9), [mcid])
    np.testing.assert_equal(percent_responder(b, a, 30), [percent])


def test_higher_better_outcomes_improve_upwards() -> None:
    assert mcid_responder(np.array([300.0]), np.array([330.0]), 25, higher_worse=False)[0] == 1.0


def test_omeract_uses_the_core_rule() -> None:
    flags = omeract_responder(
        np.array([80.0, 80.0]), np.array([35.0, 75.0]), np.array([60.0, 60.0]), np.array([58, 59.0])
    )
    np.testing.assert_equal(flags, [1.0, 0.0])


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        ((12, 18, 4, 20), "NNTB 2.1 (95% CI NNTB 1.5 to 6.6)"),
        ((5, 20, 6, 19), "NNTH 15.2 (95% CI NNTH 3.0 to ∞ to NNTB 4.8)"),
        ((3, 30, 9, 31), "NNTH 5.3 (95% CI NNTH 2.6 to ∞ to NNTB 80.0)"),
        ((0, 20, 9, 20), "NNTH 2.2 (95% CI NNTH 1.5 to 5.0)"),
    ],
)
def test_nnt_wording_follows_altman(counts: tuple[int, int, int, int], text: str) -> None:
    result = risk_difference(*counts)
    assert nnt_wording(result.nnt, result.nnt_ci_low, result.nnt_ci_high) == text
