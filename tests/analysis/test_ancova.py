"""ANCOVA and Holm against R (tests/oracle/ancova.R: lm + emmeans, p.adjust)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.ancova import ancova, holm
from tests.analysis.oracle import TOLERANCE, data, expected


@pytest.mark.parametrize("name", ["ancova_a", "ancova_b"])
def test_ancova_matches_r_lm_emmeans(name: str) -> None:
    fit = ancova(data(name), "DN", "SHAM", ("baseline", "sex"))
    want = expected(name).iloc[0]
    assert fit.n == want["n"]
    for field in ("estimate", "se", "df", "ci_low", "ci_high", "p"):
        assert getattr(fit, field) == pytest.approx(want[field], **TOLERANCE), field


def test_holm_matches_r_p_adjust() -> None:
    want = expected("holm")
    got = holm(want["p"].tolist())
    assert np.allclose(got, want["p_holm"], rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (
            pd.DataFrame({"arm": ["DN"] * 4, "value": [1.0, 2, 3, 4], "baseline": [1.0, 2, 3, 5]}),
            "one arm",
        ),
        (pd.DataFrame({"arm": ["DN", "SHAM"], "value": [1.0, 2], "baseline": [1.0, 3]}), "no df"),
    ],
)
def test_ancova_without_enough_data_gives_nan(rows: pd.DataFrame, reason: str) -> None:
    fit = ancova(rows, "DN", "SHAM", ("baseline",))
    assert math.isnan(fit.estimate), reason


def test_constant_covariate_is_left_out() -> None:
    frame = data("ancova_a").assign(sex="female")
    with_sex = ancova(frame, "DN", "SHAM", ("baseline", "sex"))
    without = ancova(frame, "DN", "SHAM", ("baseline",))
    assert with_sex.estimate == pytest.approx(without.estimate)
    assert with_sex.df == without.df == 35
