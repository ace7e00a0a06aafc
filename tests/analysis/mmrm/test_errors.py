"""fit_mmrm refuses what it cannot estimate, with a message naming the column, visit or term."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest

from physiotrial.analysis.mmrm import fit_mmrm
from physiotrial.errors import ModelError
from tests.analysis.oracle import data

FORMULA = "y ~ baseline * visit + arm * visit + site"
LEVELS = {"arm": ("SHAM", "DN")}


def _only_v4_for_two(frame: pd.DataFrame) -> pd.DataFrame:
    keep = (frame["visit"] != "V4") | frame["id"].isin(frame["id"].unique()[:1])
    return frame[keep]


def _v4_never_with_v1(frame: pd.DataFrame) -> pd.DataFrame:
    first = frame["id"].unique()[: len(frame["id"].unique()) // 2]
    at_v1 = frame["id"].isin(first)
    return frame[~((frame["visit"] == "V4") & at_v1) & ~((frame["visit"] == "V1") & ~at_v1)]


def _no_dn_at_v4(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~((frame["visit"] == "V4") & (frame["arm"] == "DN"))]


def _doubled(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[0]]])


CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], dict[str, object], str]] = [
    ("unknown structure", lambda f: f, {"covariance": "un"}, "covariance 'un' is not known"),
    ("unknown method", lambda f: f, {"method": "GLS"}, "method 'GLS' is not known"),
    (
        "no subject column",
        lambda f: f,
        {"subject": "patient"},
        "column 'patient' is not in the data",
    ),
    ("one row twice", _doubled, {}, "participant 'P0001' has more than one row at visit 'V1'"),
    (
        "us with one participant at V4",
        _only_v4_for_two,
        {"formula": "y ~ arm + baseline"},
        "visit V4 has 1 participant(s); the us covariance needs at least 2",
    ),
    (
        "us pair never together",
        _v4_never_with_v1,
        {},
        "visits V1 and V4 are observed together in 0",
    ),
    (
        "effect not estimable",
        _no_dn_at_v4,
        {"covariance": "cs"},
        "visitV4:armDN cannot be estimated",
    ),
    ("unknown visit level", lambda f: f, {"levels": {"visit": ("V1", "V2", "V3")}}, "V4"),
    (
        "group not constant",
        lambda f: f,
        {"group": "site_by_row"},
        "is in more than one site_by_row",
    ),
]


@pytest.mark.parametrize(("name", "change", "options", "message"), CASES, ids=[c[0] for c in CASES])
def test_fit_refuses_with_a_clear_message(
    name: str,
    change: Callable[[pd.DataFrame], pd.DataFrame],
    options: dict[str, object],
    message: str,
) -> None:
    frame = change(data("mmrm_tiny"))
    frame = frame.assign(site_by_row=[f"S{i % 2}" for i in range(len(frame))])
    arguments: dict[str, object] = {"levels": LEVELS, **options}
    formula = str(arguments.pop("formula", FORMULA))
    with pytest.raises(ModelError, match=re.escape(message)):
        fit_mmrm(frame, formula, **arguments)  # type: ignore[arg-type]


def test_rows_with_a_missing_value_are_left_out_and_counted() -> None:
    frame = data("mmrm_tiny")
    full = fit_mmrm(frame, FORMULA, levels=LEVELS)
    frame.loc[[0, 5], "y"] = float("nan")
    fewer = fit_mmrm(frame, FORMULA, levels=LEVELS)
    assert fewer.dropped_rows == 2
    assert fewer.n_obs == full.n_obs - 2
    assert fewer.loglik != full.loglik


def test_the_callers_data_frame_is_left_untouched() -> None:
    frame = data("mmrm_tiny").set_index("id", drop=False)
    frame.loc[frame.index[0], "y"] = float("nan")
    before = frame.copy()
    fit_mmrm(frame, FORMULA, levels=LEVELS)
    pd.testing.assert_frame_equal(frame, before)
