"""fit_batch: many trials of one design at once, the same numbers as one fit at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.mmrm import fit_batch, fit_mmrm
from physiotrial.errors import ModelError

FORMULA = "y ~ baseline * visit + arm * visit"
LEVELS = {"arm": ("SHAM", "DN")}
VISITS = ["V1", "V2", "V3", "V4"]
COVARIANCE = np.array(
    [[100, 70, 60, 50], [70, 120, 80, 70], [60, 80, 140, 90], [50, 70, 90, 160.0]]
)


def _design(n: int, seed: int, dropout: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for person in range(n):
        last = 4 if not dropout or person % 5 else 2 + person % 3
        baseline = float(rng.normal(60, 10))
        for visit in VISITS[:last]:
            arm = "DN" if person % 2 else "SHAM"
            rows.append({"id": f"P{person:03d}", "arm": arm, "visit": visit, "baseline": baseline})
    frame = pd.DataFrame(rows)
    frame["y"] = 0.0
    return frame


def _responses(frame: pd.DataFrame, trials: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    people = frame["id"].nunique()
    noise = rng.multivariate_normal(np.zeros(4), COVARIANCE, size=(trials, people))
    person = pd.factorize(frame["id"])[0]
    visit = frame["visit"].map({v: i for i, v in enumerate(VISITS)}).to_numpy()
    mean = 0.5 * frame["baseline"].to_numpy() - 3.0 * (frame["arm"] == "DN").to_numpy() * (
        visit + 1
    )
    return noise[:, person, visit] + mean


@pytest.mark.parametrize(
    ("covariance", "df", "dropout", "at"),
    [
        ("us", "kenward_roger", False, None),
        ("us", "satterthwaite", True, None),
        ("us", "kenward_roger", True, "average"),
        ("ar1", "kenward_roger", True, "V2"),
        ("toep", "satterthwaite", False, None),
    ],
)
def test_batch_agrees_with_one_fit_at_a_time(
    covariance: str, df: str, dropout: bool, at: str | None
) -> None:
    frame = _design(40, 1, dropout)
    responses = _responses(frame, 12, 2)
    batch = fit_batch(
        frame,
        responses,
        FORMULA,
        covariance=covariance,
        df=df,
        at=at,  # type: ignore[arg-type]
        levels=LEVELS,
    )
    assert len(batch) == 12
    assert batch["converged"].all()
    for trial in range(12):
        one = frame.copy()
        one["y"] = responses[trial]
        fit = fit_mmrm(one, FORMULA, covariance=covariance, levels=LEVELS)
        table = fit.arm_differences(df=df).set_index("visit")  # type: ignore[arg-type]
        want = table.loc[at or "V4"]
        for column in ("estimate", "se", "df", "p", "ci_low", "ci_high"):
            assert batch.loc[trial, column] == pytest.approx(want[column], rel=1e-8), column


def test_batch_spans_chunks_in_order() -> None:
    frame = _design(20, 3, False)
    responses = _responses(frame, 7, 4)
    whole = fit_batch(frame, responses, FORMULA, levels=LEVELS, df="satterthwaite")
    import physiotrial.analysis.mmrm.batched as batched

    original = batched.CHUNK
    batched.CHUNK = 3
    try:
        chunked = fit_batch(frame, responses, FORMULA, levels=LEVELS, df="satterthwaite")
    finally:
        batched.CHUNK = original
    pd.testing.assert_frame_equal(whole, chunked, rtol=1e-10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("shape", r"responses must be \(trials, 80\)"),
        ("nan", "responses contain missing values"),
        ("visit", "visit 'V9' is not one of V1, V2, V3, V4, average"),
    ],
)
def test_batch_refuses_bad_input(change: str, message: str) -> None:
    frame = _design(20, 3, False)
    responses = _responses(frame, 3, 4)
    at = None
    if change == "shape":
        responses = responses[:, :-1]
    elif change == "nan":
        responses[1, 5] = np.nan
    else:
        at = "V9"
    with pytest.raises(ModelError, match=message):
        fit_batch(frame, responses, FORMULA, levels=LEVELS, at=at)
