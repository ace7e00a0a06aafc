"""Kaplan–Meier sessions to response against R survival (tests/oracle/time_to_response.R),
lifelines, and small examples worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.time_to_response import (
    TABLE_COLUMNS,
    Band,
    by_group,
    median_sessions,
    sessions_to_response,
    step_points,
)
from physiotrial.errors import ModelError
from tests.analysis.oracle import TOLERANCE, data, expected

DATASETS = ["ties", "flat", "censored", "upper", "sim300"]
BANDS: list[tuple[Band, str]] = [("log", "log"), ("log-log", "loglog"), ("plain", "plain")]
Z = 1.959963984540054


def _frame(sessions: list[int], responded: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"sessions": sessions, "responded": responded})


def _none_or(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize(("band", "key"), BANDS)
def test_table_matches_r_survfit(name: str, band: Band, key: str) -> None:
    km = sessions_to_response(data(f"time_to_response_{name}"), band=band)
    want = expected(f"time_to_response_{name}")
    table = km.table
    assert tuple(table.columns) == TABLE_COLUMNS
    assert table["time"].tolist() == want["time"].tolist()
    assert table["at_risk"].tolist() == want["n_risk"].tolist()
    assert table["events"].tolist() == want["n_event"].tolist()
    assert table["censored"].tolist() == want["n_censor"].tolist()
    # R's fit$std.err is the SE of log S; the SE of S is S times it (summary()'s std.err).
    assert want["se"].to_numpy() == pytest.approx(
        (want["surv"] * want["std_err"]).to_numpy(), nan_ok=True
    )
    pairs = [("survival", "surv"), ("se", "se"), ("lower", f"lower_{key}")]
    for ours, theirs in [*pairs, ("upper", f"upper_{key}")]:
        got, wanted = table[ours].to_numpy(), want[theirs].to_numpy()
        # R leaves the log-log band NA where S = 1; ours is [1, 1] there (as lifelines).
        no_response_yet = np.isnan(wanted) & (table["survival"].to_numpy() == 1)
        assert (got[no_response_yet] == 1).all(), ours
        keep = ~no_response_yet
        assert got[keep] == pytest.approx(wanted[keep], nan_ok=True, **TOLERANCE), ours
    assert table["responded"].to_numpy() == pytest.approx(1 - table["survival"].to_numpy())
    assert table["responded_lower"].to_numpy() == pytest.approx(
        1 - table["upper"].to_numpy(), nan_ok=True
    )


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize(("band", "key"), BANDS)
def test_median_and_ci_match_r(name: str, band: Band, key: str) -> None:
    del key
    km = sessions_to_response(data(f"time_to_response_{name}"), band=band)
    medians = expected("time_to_response_medians")
    want = medians[(medians["dataset"] == name) & (medians["band"] == band)].iloc[0]
    assert (km.n, km.events) == (want["n"], want["events"])
    printed = [_none_or(want[c]) for c in ("median", "median_lower", "median_upper")]
    assert [km.median, km.median_lower, km.median_upper] == printed
    quantiled = [_none_or(want[c]) for c in ("quantile", "quantile_lower", "quantile_upper")]
    assert list(median_sessions(km, rule="quantile")) == quantiled


def test_flat_half_print_and_quantile_rules_differ_as_in_r() -> None:
    km = sessions_to_response(data("time_to_response_flat"))
    assert km.median == 4.0  # print.survfit: first time S ≤ 0.5
    assert median_sessions(km, "quantile")[0] == 6.0  # quantile.survfit: (4 + last time 8) / 2


def test_by_group_matches_r_strata() -> None:
    curves = by_group(data("time_to_response_sim300"), "joint")
    want = expected("time_to_response_groups").set_index("joint")
    assert list(curves) == ["hip", "knee"]
    for level, km in curves.items():
        row = want.loc[str(level)]
        assert (km.n, km.events) == (row["n"], row["events"])
        assert (km.median, km.median_lower, km.median_upper) == (
            row["median"],
            row["median_lower"],
            row["median_upper"],
        )


def test_by_group_with_two_columns_keys_by_tuple() -> None:
    frame = _frame([1, 2, 3, 1, 4], [True, False, True, True, True]).assign(
        condition=["oa", "oa", "oa", "tendinopathy", "tendinopathy"],
        joint=["knee", "knee", "hip", "knee", "knee"],
    )
    curves = by_group(frame, ["condition", "joint"])
    assert list(curves) == [("oa", "hip"), ("oa", "knee"), ("tendinopathy", "knee")]
    assert curves["oa", "knee"].table["survival"].tolist() == [0.5, 0.5]
    # S = 0.5 after 1 session, 0 after 4: R's rule takes the midpoint of [1, 4)
    assert curves["tendinopathy", "knee"].median == 2.5


@pytest.mark.parametrize("name", DATASETS)
def test_log_log_band_matches_lifelines(name: str) -> None:
    lifelines = pytest.importorskip("lifelines")
    frame = data(f"time_to_response_{name}")
    km = sessions_to_response(frame)
    fitter = lifelines.KaplanMeierFitter().fit(frame["sessions"], frame["responded"], alpha=0.05)
    table = km.table.set_index("time")
    survival = fitter.survival_function_.iloc[:, 0].reindex(table.index).to_numpy()
    band = fitter.confidence_interval_.reindex(table.index).to_numpy()
    assert table["survival"].to_numpy() == pytest.approx(survival, **TOLERANCE)
    defined = table["survival"].to_numpy() > 0  # lifelines gives [0, 0] where S = 0; ours NaN
    assert table["lower"].to_numpy()[defined] == pytest.approx(band[defined, 0], **TOLERANCE)
    assert table["upper"].to_numpy()[defined] == pytest.approx(band[defined, 1], **TOLERANCE)


def test_hand_worked_example_with_ties_and_a_censoring() -> None:
    # sessions 1, 2, 2, 3+, 4 (3+ censored):
    # k=1: n=5 d=1 S=4/5=0.8;   Greenwood Σ d/(n(n−d)) = 1/20 = 0.05; SE = 0.8·√0.05
    # k=2: n=4 d=2 S=0.8·2/4=0.4; Σ = 0.05 + 2/8 = 0.3;              SE = 0.4·√0.3
    # k=3: n=2 d=0 c=1 S=0.4 (no change)
    # k=4: n=1 d=1 S=0 (SE and band undefined). Median: first k with S ≤ 0.5 = 2.
    km = sessions_to_response(_frame([1, 2, 2, 3, 4], [True, True, True, False, True]), band="log")
    table = km.table
    assert table["time"].tolist() == [1, 2, 3, 4]
    assert table["at_risk"].tolist() == [5, 4, 2, 1]
    assert table["events"].tolist() == [1, 2, 0, 1]
    assert table["censored"].tolist() == [0, 0, 1, 0]
    assert table["survival"].tolist() == pytest.approx([0.8, 0.4, 0.4, 0.0])
    assert table["responded"].tolist() == pytest.approx([0.2, 0.6, 0.6, 1.0])
    se = [0.8 * math.sqrt(0.05), 0.4 * math.sqrt(0.3), 0.4 * math.sqrt(0.3)]
    assert table["se"].tolist()[:3] == pytest.approx(se)
    assert math.isnan(table["se"].iloc[3])
    # log band: S·exp(±z·√Σ), upper capped at 1
    assert table["lower"].iloc[1] == pytest.approx(0.4 * math.exp(-Z * math.sqrt(0.3)))
    assert table["upper"].iloc[1] == 1.0  # 0.4·exp(1.96·0.5477) = 1.17, capped at 1
    assert math.isnan(table["lower"].iloc[3])
    assert (km.median, km.n, km.events) == (2.0, 5, 4)


@pytest.mark.parametrize(
    ("sessions", "responded", "median", "quantile"),
    [
        # S: 0.75, 0.5 (at 2), flat, 0 at 4 → both rules average 2 and 4
        ([1, 2, 3, 4], [True, True, False, True], 3.0, 3.0),
        # S: 0.75, 0.5 at 2, flat to 3 (censored): print says 2, quantile (2 + 3) / 2
        ([1, 2, 3, 3], [True, True, False, False], 2.0, 2.5),
        # nobody responds: S = 1 throughout, not reached
        ([2, 3, 5], [False, False, False], None, None),
        # everybody responds after 3 sessions
        ([3, 3, 3], [True, True, True], 3.0, 3.0),
        # a response after 0 sessions counts at 0
        ([0, 0, 1, 5], [True, True, False, False], 0.0, 2.5),
    ],
)
def test_median_rules_on_small_examples(
    sessions: list[int], responded: list[bool], median: float | None, quantile: float | None
) -> None:
    km = sessions_to_response(_frame(sessions, responded))
    assert km.median == median
    assert median_sessions(km, "quantile")[0] == quantile


def test_log_log_band_by_formula_and_before_first_response() -> None:
    # sessions 0+, 1, 2: S(0)=1 (band [1, 1]), S(1)=1/2, Σ=1/(2·1)=0.5
    km = sessions_to_response(_frame([0, 1, 2], [False, True, False]))
    first, second = km.table.iloc[0], km.table.iloc[1]
    assert (first["lower"], first["upper"]) == (1.0, 1.0)
    shift = Z * math.sqrt(0.5) / math.log(0.5)
    assert second["lower"] == pytest.approx(math.exp(-math.exp(math.log(math.log(2)) - shift)))
    assert second["upper"] == pytest.approx(math.exp(-math.exp(math.log(math.log(2)) + shift)))


def test_plain_band_is_clipped_to_unit_interval() -> None:
    km = sessions_to_response(_frame([1, 2, 3], [True, False, False]), band="plain")
    lower, upper = km.table["lower"].iloc[0], km.table["upper"].iloc[0]
    half = Z * (2 / 3) * math.sqrt(1 / 6)
    assert (lower, upper) == (pytest.approx(2 / 3 - half), 1.0)


def test_step_points_trace_the_cumulative_response() -> None:
    km = sessions_to_response(_frame([1, 2, 2, 3, 4, 6], [True, True, True, False, True, False]))
    points = step_points(km)
    # S: 5/6, 3/6, (3+), 3/6·1/2=1/4, (6+) → responded 1/6, 1/2, 3/4; flat to the last time 6
    assert points["x"].tolist() == [0, 1, 1, 2, 2, 4, 4, 6]
    want = [0, 0, 1 / 6, 1 / 6, 0.5, 0.5, 0.75, 0.75]
    assert points["y"].tolist() == pytest.approx(want)
    assert (points["y_lower"] <= points["y"]).all()
    assert (points["y"] <= points["y_upper"]).all()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_frame([1, -2], [True, False]), "'sessions' is -2"),
        (_frame([1, 2], [True, False]).astype({"sessions": float}).replace(2.0, np.nan), "missing"),
        (pd.DataFrame({"sessions": [1.5], "responded": [True]}), "whole numbers"),
        (pd.DataFrame({"sessions": [1], "responded": [None]}), "'responded' is missing"),
        (pd.DataFrame({"sessions": [1], "responded": ["yes"]}), "'yes'"),
        (_frame([], []), "no rows"),
        (pd.DataFrame({"sessions": [1]}), "'responded' is missing"),
    ],
)
def test_bad_input_names_the_column_and_value(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        sessions_to_response(frame)


def test_bad_options_are_refused() -> None:
    frame = _frame([1], [True])
    with pytest.raises(ModelError, match="band 'wide'"):
        sessions_to_response(frame, band="wide")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"alpha 1\.5"):
        sessions_to_response(frame, alpha=1.5)
    with pytest.raises(ModelError, match="median rule 'mean'"):
        median_sessions(sessions_to_response(frame), "mean")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="'joint' is not in the data"):
        by_group(frame, "joint")
    with pytest.raises(ModelError, match="'joint' is missing at row 0"):
        by_group(frame.assign(joint=[None]), "joint")
