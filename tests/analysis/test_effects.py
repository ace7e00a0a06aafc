"""Hedges' g against the published formulas computed in R (tests/oracle/effects.R)."""

from __future__ import annotations

import math

import pytest

from physiotrial.analysis.effects import hedges_g
from tests.analysis.oracle import TOLERANCE, data, expected


@pytest.mark.parametrize("name", ["effects_a", "effects_b"])
def test_hedges_g_matches_r(name: str) -> None:
    frame = data(name)
    result = hedges_g(
        frame.loc[frame["arm"] == "DN", "change"], frame.loc[frame["arm"] == "SHAM", "change"]
    )
    want = expected(name).iloc[0]
    assert (result.n_exp, result.n_ctl) == (want["n_exp"], want["n_ctl"])
    for field in ("g", "se", "ci_low", "ci_high"):
        assert getattr(result, field) == pytest.approx(want[field], **TOLERANCE), field


@pytest.mark.parametrize(
    ("a", "b"),
    [([1.0], [1.0, 2.0]), ([1.0, 1.0], [1.0, 1.0]), ([float("nan"), 2.0], [1.0, 3.0])],
)
def test_hedges_g_not_estimable(a: list[float], b: list[float]) -> None:
    assert math.isnan(hedges_g(a, b).g)


def test_hedges_g_sign_is_experimental_minus_control() -> None:
    assert hedges_g([10.0, 12, 14], [0.0, 2, 4]).g > 0
