"""Constrained longitudinal data analysis against R (tests/oracle/mmrm.R, gls on mmrm_cl.csv)."""

from __future__ import annotations

import pandas as pd
import pytest

from physiotrial.analysis.mmrm.clda import clda_frame, fit_clda
from physiotrial.errors import ModelError
from tests.analysis.oracle import data, expected

CLOSE = {"rel": 1e-6, "abs": 1e-9}


def test_clda_matches_r_gls_with_baseline_as_a_response() -> None:
    result = fit_clda(data("mmrm_dropout"), covariates=("site",), visits=("V1", "V2", "V3", "V4"))
    fit = result.fit
    want = expected("mmrm_cl")
    want = want[want["model"] == "us"].set_index(["quantity", "term"])["value"]
    assert fit.loglik == pytest.approx(want.xs("loglik", level=0).iloc[0], **CLOSE)
    for term, value in fit.coefficients.items():
        assert value == pytest.approx(want[("coef", term)], **CLOSE), term
        assert fit.se[term] == pytest.approx(want[("coef_se", term)], **CLOSE), term
    sigma = fit.sigma()
    for a, first in enumerate(fit.visits):
        for b in range(a + 1):
            assert sigma[a, b] == pytest.approx(want[("cov", f"{first}:{fit.visits[b]}")], **CLOSE)
    satterthwaite = fit_clda(
        data("mmrm_dropout"),
        covariates=("site",),
        visits=("V1", "V2", "V3", "V4"),
        df="satterthwaite",
    ).differences.set_index("visit")
    kenward = result.differences.set_index("visit")
    for visit in ("V1", "V2", "V3", "V4"):
        assert satterthwaite.loc[visit, "estimate"] == pytest.approx(want[("diff", visit)], **CLOSE)
        assert satterthwaite.loc[visit, "se"] == pytest.approx(want[("diff_se", visit)], **CLOSE)
        assert satterthwaite.loc[visit, "df"] == pytest.approx(
            want[("diff_df_satterthwaite", visit)], rel=1e-3
        )
        assert kenward.loc[visit, "se"] == pytest.approx(
            want[("diff_se_kenward_roger", visit)], **CLOSE
        )
        assert kenward.loc[visit, "df"] == pytest.approx(
            want[("diff_df_kenward_roger", visit)], rel=1e-3
        )
        assert kenward.loc[visit, "p"] == pytest.approx(
            want[("diff_p_kenward_roger", visit)], rel=1e-3
        )


def test_clda_frame_puts_baseline_first_with_arms_constrained_equal() -> None:
    raw = data("mmrm_tiny")
    frame, indicators = clda_frame(
        raw,
        subject="id",
        visit="visit",
        arm="arm",
        baseline="baseline",
        response="y",
        experimental="DN",
        keep=("site",),
    )
    assert indicators == ["armDN_V1", "armDN_V2", "armDN_V3", "armDN_V4"]
    first = frame[frame["visit"] == "V0"]
    assert len(first) == raw["id"].nunique()
    assert (first[indicators].to_numpy() == 0).all()
    one = raw.iloc[0]
    row = first[first["id"] == one["id"]].iloc[0]
    assert row["y"] == one["baseline"]
    assert row["site"] == one["site"]
    later = frame[(frame["visit"] == "V2") & (frame["arm"] == "DN")]
    assert (later["armDN_V2"] == 1).all()
    assert (later[["armDN_V1", "armDN_V3", "armDN_V4"]].to_numpy() == 0).all()


def test_clda_refuses_a_baseline_visit_name_already_used() -> None:
    raw = data("mmrm_tiny").assign(visit=lambda f: f["visit"].replace({"V1": "V0"}))
    with pytest.raises(ModelError, match="already has rows called 'V0'"):
        clda_frame(
            raw,
            subject="id",
            visit="visit",
            arm="arm",
            baseline="baseline",
            response="y",
            experimental="DN",
        )


def test_clda_without_follow_up_visits_keeps_baseline_only_participants() -> None:
    raw = data("mmrm_dropout")
    dropped = raw[~raw["id"].isin(raw["id"].unique()[:3])]
    only_baseline = raw[raw["id"].isin(raw["id"].unique()[:3])].drop_duplicates("id")
    frame = pd.concat([dropped, only_baseline.assign(visit="V1", y=float("nan"))])
    result = fit_clda(frame, covariates=("site",), visits=("V1", "V2", "V3", "V4"))
    # the three contribute their baseline row: one more participant each than without them
    assert result.fit.n_participants == raw["id"].nunique()
