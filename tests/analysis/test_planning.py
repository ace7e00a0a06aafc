"""Baseline/follow-up SDs and correlations for a power calculation, against numpy and pandas."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.planning import VARIABILITY_COLUMNS, ancova_sd, observed_variability
from physiotrial.errors import ModelError

nan = float("nan")
# NPRS of five patients at BL, W6, W12; p4 missed W6, p5's W12 is missing (NaN); one WOMAC.
NPRS = {
    "p1": (7.0, 5.0, 4.0),
    "p2": (6.0, 5.0, 3.0),
    "p3": (8.0, 4.0, 4.0),
    "p4": (5.0, None, 2.0),
    "p5": (9.0, 7.0, nan),
}
WOMAC = {"p1": (60.0, 40.0), "p2": (50.0, 45.0), "p3": (70.0, 41.0)}


def _scores() -> pd.DataFrame:
    rows = []
    for patient, values in NPRS.items():
        for visit, value in zip(("BL", "W6", "W12"), values, strict=True):
            if value is not None:
                rows.append((patient, visit, "nprs", value))
    for patient, (bl, w12) in WOMAC.items():
        rows += [(patient, "BL", "womac", bl), (patient, "W12", "womac", w12)]
    return pd.DataFrame(rows, columns=["patient", "visit", "outcome", "value"])


def _column(outcome: dict[str, tuple[float | None, ...]], index: int) -> pd.Series:
    return pd.Series({p: v[index] for p, v in outcome.items()}, dtype=float)


@pytest.mark.parametrize(
    ("outcome", "values", "visit", "index"),
    [("nprs", NPRS, "W6", 1), ("nprs", NPRS, "W12", 2), ("womac", WOMAC, "W12", 1)],
)
def test_follow_up_rows_match_pandas_and_numpy(
    outcome: str, values: dict[str, tuple[float | None, ...]], visit: str, index: int
) -> None:
    table = observed_variability(_scores())
    row = table[(table["outcome"] == outcome) & (table["visit"] == visit)].iloc[0]
    base, later = _column(values, 0), _column(values, index)
    both = pd.concat([base, later], axis=1).dropna()
    rho = float(np.corrcoef(both.iloc[:, 0], both.iloc[:, 1])[0, 1])
    assert row["n"] == later.count()
    assert row["mean"] == pytest.approx(later.mean())
    assert row["sd"] == pytest.approx(later.std())
    assert row["n_pairs"] == len(both)
    change = both.iloc[:, 1] - both.iloc[:, 0]
    assert row["change_mean"] == pytest.approx(change.mean())
    assert row["change_sd"] == pytest.approx(np.std(change.to_numpy(), ddof=1))
    assert row["correlation"] == pytest.approx(rho)
    assert row["ancova_sd"] == pytest.approx(later.std() * math.sqrt(1 - rho**2))


def test_baseline_rows_and_order() -> None:
    table = observed_variability(_scores())
    assert tuple(table.columns) == VARIABILITY_COLUMNS
    assert list(zip(table["outcome"], table["visit"], strict=True)) == [
        ("nprs", "BL"),
        ("nprs", "W6"),
        ("nprs", "W12"),
        ("womac", "BL"),
        ("womac", "W12"),
    ]
    bl = table.iloc[0]
    # NPRS baseline 7, 6, 8, 5, 9: mean 7, SD sqrt(10/4)
    assert (bl["n"], bl["mean"], bl["sd"]) == (5, 7.0, pytest.approx(math.sqrt(2.5)))
    assert pd.isna(bl["n_pairs"])
    assert math.isnan(bl["correlation"])
    # NPRS BL→W6 pairs p1 p2 p3 p5: (7,5) (6,5) (8,4) (9,7); changes −2 −1 −4 −2
    w6 = table.iloc[1]
    assert (w6["n_pairs"], w6["change_mean"]) == (4, -2.25)


def test_a_different_baseline_visit_name() -> None:
    scores = _scores().replace({"visit": {"BL": "week0"}})
    table = observed_variability(scores, baseline="week0")
    assert table["visit"].tolist()[:3] == ["week0", "W6", "W12"]


@pytest.mark.parametrize(
    ("sd", "rho", "wanted"), [(10.0, 0.0, 10.0), (10.0, 0.6, 8.0), (2.0, -0.8, 1.2), (3.0, 1, 0)]
)
def test_ancova_sd(sd: float, rho: float, wanted: float) -> None:
    assert ancova_sd(sd, rho) == pytest.approx(wanted)


def test_constant_values_give_nan_correlation() -> None:
    scores = pd.DataFrame(
        {
            "patient": ["a", "b", "a", "b"],
            "visit": ["BL", "BL", "W6", "W6"],
            "outcome": "nprs",
            "value": [5.0, 5.0, 3.0, 4.0],
        }
    )
    row = observed_variability(scores).iloc[1]
    assert math.isnan(row["correlation"])
    assert math.isnan(row["ancova_sd"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.drop(columns="value"), "lacks column.*value"),
        (lambda s: pd.concat([s, s.iloc[[0]]]), "more than one 'nprs' value at visit 'BL'"),
        (lambda s: s.assign(value=s["value"].astype(object).where(s.index != 2, "x")), "'x'"),
        (lambda s: s[s["visit"] != "BL"], "baseline visit 'BL' is not in scores"),
        (lambda s: s[~((s["outcome"] == "womac") & (s["visit"] == "BL"))], "'womac' has no"),
    ],
)
def test_bad_scores_are_named(change: Callable[[pd.DataFrame], pd.DataFrame], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        observed_variability(change(_scores()))


@pytest.mark.parametrize(("sd", "rho"), [(-1.0, 0.5), (1.0, 1.5), (nan, 0.2)])
def test_ancova_sd_refuses_impossible_values(sd: float, rho: float) -> None:
    with pytest.raises(ModelError):
        ancova_sd(sd, rho)
