"""Multiple imputation and Rubin's rules (physiotrial.analysis.imputation, .pooling).

Against R (tests/oracle/imputation.R): Rubin's rules vs mice::pool.scalar; our MMRM on R's
completed data sets (mice, per arm) vs nlme::gls + emmeans per imputation, and pooled, with and
without a delta added to DN's imputed values. Our own imputation is random, so it is checked by
what must hold: reproducibility, exactness on complete data, the conditional-normal draw, and
recovery of a known effect from a simulated MAR trial.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.imputation import (
    conditional_normal,
    draw_inverse_wishart,
    impute_mar,
    mi_analysis,
    shift_imputed,
    tipping_delta,
    tipping_point,
)
from physiotrial.analysis.mmrm import fit_mmrm
from physiotrial.analysis.pooling import pool_completed, rubin
from physiotrial.errors import ModelError
from tests.analysis.oracle import TOLERANCE, data, expected

FORMULA = "y ~ baseline * visit + arm * visit + site"
ARMS = {"arm": ("SHAM", "DN")}
RUBIN_FIELDS = {"qbar": "estimate", "ubar": "ubar", "b": "b", "t": "t", "dfcom": "dfcom"}
RUBIN_FIELDS |= {k: k for k in ("df", "riv", "lambda", "fmi", "se", "statistic", "p")}
RUBIN_FIELDS |= {"ci_low": "ci_low", "ci_high": "ci_high"}


# --- Rubin's rules vs mice::pool.scalar --------------------------------------------------------


@pytest.mark.parametrize("case", [1, 2, 3, 4, 5])
def test_rubin_matches_mice_pool_scalar(case: int) -> None:
    # 1 small dfcom, 2 m = 20, 3 dfcom = inf (Rubin 1987 df), 4 B = 0 (lambda floored), 5 m = 2
    rows = data("mi_rubin").query("case == @case")
    got = rubin(rows["q"], rows["u"], float(rows["dfcom"].iloc[0])).as_dict()
    want = expected("mi_rubin").query("case == @case").iloc[0]
    for theirs, ours in RUBIN_FIELDS.items():
        assert got[ours] == pytest.approx(want[theirs], rel=1e-10, abs=1e-12), theirs


@pytest.mark.parametrize(
    ("estimates", "variances", "dfcom", "message"),
    [
        ([1.0], [0.5], 10.0, "m >= 2"),
        ([1.0, 2.0], [0.5], 10.0, "one variance per estimate"),
        ([1.0, 2.0], [0.5, -0.1], 10.0, "variances >= 0"),
        ([1.0, 2.0], [0.0, 0.0], 10.0, "positive mean"),
        ([1.0, math.nan], [0.5, 0.5], 10.0, "finite"),
        ([1.0, 2.0], [0.5, 0.5], 0.0, "dfcom"),
    ],
)
def test_rubin_refuses_what_it_cannot_pool(
    estimates: list[float], variances: list[float], dfcom: float, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        rubin(estimates, variances, dfcom)


# --- our MMRM on R's completed data sets -------------------------------------------------------


def _r_completed(delta: float) -> pd.DataFrame:
    return shift_imputed(data("mi_completed"), delta, arms=("DN",))


@pytest.mark.parametrize("delta", [0, 2, 5])
def test_each_completed_set_matches_gls_emmeans(delta: int) -> None:
    completed = _r_completed(delta)
    want = expected("mi_per_imputation").query("delta == @delta").set_index("imputation")
    for number, rows in completed.groupby("imputation"):
        fit = fit_mmrm(rows, FORMULA, levels=ARMS)
        v4 = fit.arm_differences(df="residual").set_index("visit").loc["V4"]
        assert v4["estimate"] == pytest.approx(want.loc[number, "estimate"], **TOLERANCE)
        assert v4["se"] == pytest.approx(want.loc[number, "se"], **TOLERANCE)
        assert fit.loglik == pytest.approx(want.loc[number, "loglik"], **TOLERANCE)


@pytest.mark.parametrize("delta", [0, 2, 5])
def test_pooled_v4_difference_matches_mice(delta: int) -> None:
    want = expected("mi_pooled").query("delta == @delta").iloc[0]
    # R's per-imputation SE is the model-based one (df="residual" gives it); dfcom is the one R
    # used: emmeans' df.error for gls, 480 rows - 14 coefficients - 9 covariance parameters.
    pooled = pool_completed(_r_completed(delta), FORMULA, levels=ARMS, df="residual", dfcom=457)
    got = pooled.set_index("visit").loc["V4"]
    assert got["m"] == want["m"] == 10
    names = {"estimate": "qbar", "total_variance": "t", "t": "statistic"}
    for ours in ("estimate", "se", "df", "p", "ci_low", "ci_high", "dfcom", "ubar", "b"):
        assert got[ours] == pytest.approx(want[names.get(ours, ours)], **TOLERANCE), ours
    for ours in ("total_variance", "t", "riv", "lambda", "fmi"):
        assert got[ours] == pytest.approx(want[names.get(ours, ours)], **TOLERANCE), ours


def test_delta_moves_only_values_imputed_after_dropout() -> None:
    # P1 (DN) misses V2 between observed visits and drops out after V3; P2 is SHAM.
    completed = pd.DataFrame(
        {
            "imputation": [1] * 8,
            "id": ["P1"] * 4 + ["P2"] * 4,
            "arm": ["DN"] * 4 + ["SHAM"] * 4,
            "visit": ["V1", "V2", "V3", "V4"] * 2,
            "y": [10.0, 11, 12, 13, 20, 21, 22, 23],
            "imputed": [False, True, False, True, False, False, True, True],
        }
    )
    cases = [
        (("DN",), [10, 11, 12, 16, 20, 21, 22, 23]),
        (("SHAM",), [10, 11, 12, 13, 20, 21, 25, 26]),
        (("DN", "SHAM"), [10, 11, 12, 16, 20, 21, 25, 26]),
    ]
    for arms, wanted in cases:
        assert shift_imputed(completed, 3.0, arms=arms)["y"].tolist() == wanted, arms


# --- our imputation -----------------------------------------------------------------------------


def test_imputation_is_reproducible_and_leaves_observed_values_alone() -> None:
    observed = data("mi")
    first = impute_mar(observed, m=3, seed=11, covariates=("baseline", "site"))
    again = impute_mar(observed, m=3, seed=11, covariates=("baseline", "site"))
    other = impute_mar(observed, m=3, seed=12, covariates=("baseline", "site"))
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 3 * len(observed)
    assert first["y"].notna().all()
    assert first["imputed"].sum() == 3 * observed["y"].isna().sum()
    seen = first[~first["imputed"]]
    assert np.array_equal(seen["y"], np.tile(observed["y"].dropna(), 3))
    assert np.array_equal(seen["y"], other[~other["imputed"]]["y"])
    assert not np.any(first[first["imputed"]]["y"].to_numpy() == other[other["imputed"]]["y"])
    per_set = first[first["imputed"]].groupby("imputation")["y"].mean()
    assert per_set.nunique() == 3


def test_absent_rows_are_the_same_as_empty_rows() -> None:
    # (participants with no follow-up at all would have no row left, so they are left out)
    observed = data("mi")
    followed = observed[observed["id"].isin(observed.dropna(subset=["y"])["id"])]
    from_empty = impute_mar(followed, m=2, seed=5)
    from_absent = impute_mar(followed.dropna(subset=["y"]), m=2, seed=5)
    # site and baseline are copied from the participant, visit_num from the visit
    pd.testing.assert_frame_equal(from_empty, from_absent, check_dtype=False)


def test_draws_follow_the_conditional_normal_of_the_arm_model() -> None:
    # Over 300 imputations the mean draw of a missing visit must be the conditional mean under
    # the arm's REML fit, within 4 Monte Carlo SEs: for a participant with no follow-up (baseline
    # alone) and for one seen at V1..V3.
    observed = data("mi")
    m = 300
    completed = impute_mar(observed, m=m, seed=3)
    sham = observed[observed["arm"] == "SHAM"]  # the participants without follow-up are SHAM
    fit = fit_mmrm(sham.dropna(subset=["y"]), "y ~ baseline + visit")
    counts = sham.groupby("id")["y"].count()
    for wanted_count in (0, 3):
        person = counts[counts == wanted_count].index[0]
        rows = sham[sham["id"] == person]
        seen = rows["y"].notna().to_numpy()
        mu = fit.design.encode(rows) @ fit.coefficients.to_numpy()
        regression, cov = conditional_normal(fit.sigma(), seen)
        mean = mu[~seen] + regression @ (rows["y"].to_numpy()[seen] - mu[seen])
        draws = completed[(completed["id"] == person) & completed["imputed"]]
        draws = draws.pivot(index="imputation", columns="visit", values="y").to_numpy()
        error = draws.mean(axis=0) - mean
        assert np.all(np.abs(error) < 4 * draws.std(axis=0, ddof=1) / math.sqrt(m)), person
        # and their spread at least the conditional variance, less 4 SEs of a sample variance
        spread = draws.var(axis=0, ddof=1)
        assert np.all(spread > np.diag(cov) * (1 - 4 * math.sqrt(2 / (m - 1)))), person


def test_conditional_normal_matches_the_precision_matrix_identity() -> None:
    sigma = np.array([[4.0, 2.0, 1.0], [2.0, 9.0, 3.0], [1.0, 3.0, 16.0]])
    seen = np.array([True, False, True])
    regression, cov = conditional_normal(sigma, seen)
    precision = np.linalg.inv(sigma)
    # y_M | y_O has covariance inv(P_MM) and regression -inv(P_MM) P_MO (P = sigma^-1)
    assert cov == pytest.approx(np.linalg.inv(precision[np.ix_(~seen, ~seen)]), rel=1e-12)
    assert regression == pytest.approx(-cov @ precision[np.ix_(~seen, seen)], rel=1e-12)
    nothing, whole = conditional_normal(sigma, np.zeros(3, dtype=bool))
    assert nothing.shape == (3, 0)
    assert np.array_equal(whole, sigma)


def test_inverse_wishart_draws_have_the_textbook_mean() -> None:
    # E = scale / (df - p - 1); each element within 4 Monte Carlo SEs of it
    scale = np.array([[6.0, 2.0, 1.0], [2.0, 5.0, 2.0], [1.0, 2.0, 4.0]])
    rng = np.random.default_rng(2026)
    draws = np.stack([draw_inverse_wishart(12.0, scale, rng) for _ in range(20000)])
    se = draws.std(axis=0, ddof=1) / math.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - scale / 8.0) < 4 * se)
    assert all(np.all(np.linalg.eigvalsh(d) > 0) for d in draws[:100])


def test_complete_data_give_b_zero_and_the_direct_fit() -> None:
    complete = data("mi_completed").query("imputation == 1").drop(columns=["imputation", "imputed"])
    m = 3
    pooled = mi_analysis(complete, FORMULA, m=m, seed=1, levels=ARMS).pooled.set_index("visit")
    direct = fit_mmrm(complete, FORMULA, levels=ARMS).arm_differences().set_index("visit")
    assert list(pooled.index) == ["V1", "V2", "V3", "V4", "average"]
    for visit, row in pooled.iterrows():
        # identical sets fitted in one batch: zero up to rounding in the last bits
        assert abs(row["b"]) < 1e-20 * row["estimate"] ** 2
        assert abs(row["riv"]) < 1e-15
        assert abs(row["lambda"]) < 1e-15
        assert row["estimate"] == pytest.approx(direct.loc[visit, "estimate"], rel=1e-12)
        assert row["se"] == pytest.approx(direct.loc[visit, "se"], rel=1e-12)
        # Barnard-Rubin with lambda floored at 1e-4, as mice: a little below dfcom
        dfcom = direct.loc[visit, "df"]
        df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - 1e-4)
        df_old = (m - 1) / 1e-8
        assert row["dfcom"] == pytest.approx(dfcom, rel=1e-12)
        assert row["df"] == pytest.approx(df_old * df_obs / (df_old + df_obs), rel=1e-12)


EFFECT = np.array([-4.0, -7.0, -9.0, -10.0])


def _simulate_mar(seed: int, n: int = 600) -> pd.DataFrame:
    """A trial with common slope on baseline, AR(0.7) errors with SDs 12..15, DN better by
    EFFECT, and monotone dropout after each visit more likely the higher the value just seen."""
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "SHAM", "DN")
    baseline = rng.normal(60, 12, n)
    sds = np.array([12.0, 13.0, 14.0, 15.0])
    sigma = np.outer(sds, sds) * 0.7 ** np.abs(np.subtract.outer(range(4), range(4)))
    mean = 10 + 0.6 * baseline[:, None] - 2 * np.arange(1, 5) + np.outer(arm == "DN", EFFECT)
    y = mean + rng.standard_normal((n, 4)) @ np.linalg.cholesky(sigma).T
    seen = np.ones((n, 4), dtype=bool)
    for visit in range(3):
        leave = rng.random(n) < 1 / (1 + np.exp(2.5 - 0.08 * (y[:, visit] - 40)))
        seen[seen[:, visit] & leave, visit + 1 :] = False
    return pd.DataFrame(
        {
            "id": np.repeat([f"P{i:04d}" for i in range(n)], 4),
            "arm": np.repeat(arm, 4),
            "visit": np.tile(["V1", "V2", "V3", "V4"], n),
            "baseline": np.repeat(baseline, 4),
            "y": np.where(seen, y, np.nan).ravel(),
        }
    )


def test_mar_imputation_recovers_the_effect_and_the_mmrm() -> None:
    trial = _simulate_mar(20260)
    assert trial.query("visit == 'V4'")["y"].isna().mean() > 0.2
    # The analysis model is the imputation model (per arm: baseline slope, visit means, own
    # unstructured covariance), so the pooled estimate converges to the MAR MMRM's as m grows
    # and differs from it by Monte Carlo error, SD sqrt(B/m) (Rubin 1987, §3.3).
    formula = "y ~ arm * visit + arm * baseline"
    m = 20
    mi = mi_analysis(trial, formula, m=m, seed=7, levels=ARMS, group="arm").pooled
    v4 = mi.set_index("visit").loc["V4"]
    direct = fit_mmrm(trial, formula, levels=ARMS, group="arm").arm_differences()
    mmrm = direct.set_index("visit").loc["V4"]
    assert abs(v4["estimate"] - EFFECT[3]) < 3 * v4["se"]
    assert abs(v4["estimate"] - mmrm["estimate"]) < 4 * math.sqrt(v4["b"] / m)
    assert 0 < v4["fmi"] < 1
    assert v4["se"] > mmrm["se"] * 0.9  # MI cannot be much more precise than the ML fit


def test_tipping_point_is_where_the_ci_reaches_zero() -> None:
    trial = _simulate_mar(20261)
    formula = "y ~ arm * visit + baseline * visit"
    grid = [10.0, 20.0, 30.0, 40.0]
    result = tipping_point(trial, formula, grid, m=5, seed=9, levels=ARMS)
    table = result.table.set_index("delta")
    assert (result.direction, result.shifted_arm, result.visit) == (1.0, "DN", "V4")
    assert list(table.index) == [0.0, *grid]
    assert table.loc[0.0, "estimate"] < 0
    assert table.loc[0.0, "p"] < 0.05
    assert (np.diff(table["estimate"]) > 0).all()  # more harm to DN's dropouts, less benefit
    left = max(d for d in grid if table.loc[d, "p"] < 0.05)
    right = min(d for d in grid if table.loc[d, "p"] >= 0.05)
    assert left < result.tipping_point < right
    # Refit at the tipping point: its upper limit is 0 up to linear interpolation's error,
    # h^2 max|f''| / 8, with f'' from the second differences of the limit on the grid (x 2).
    again = tipping_point(trial, formula, [result.tipping_point], m=5, seed=9, levels=ARMS)
    limit = table["ci_high"].to_numpy()
    bound = np.max(np.abs(np.diff(limit, 2))) / 8 * 2
    assert abs(again.table["ci_high"].iloc[-1]) < bound


@pytest.mark.parametrize(
    ("deltas", "estimate", "p", "limit", "direction", "wanted"),
    [
        # p reaches 0.05 between 2 and 4, where the upper limit goes -1 -> +1: half-way, 3
        ([0, 2, 4, 6], [-5, -4, -3, -2], [0.001, 0.01, 0.2, 0.5], [-3, -1, 1, 2], 1.0, 3.0),
        ([0, 2, 4], [-2, -1, 0], [0.2, 0.3, 0.4], [1, 2, 3], 1.0, 0.0),  # not significant at 0
        ([0, 2, 4], [-9, -8, -7], [0.001, 0.002, 0.003], [-5, -4, -3], 1.0, math.nan),  # no tip
        # a positive effect weakened by negative deltas: the lower limit +1 -> -3 at -2 -> -4
        ([-4, -2, 0, 2], [1, 3, 5, 7], [0.3, 0.01, 0.001, 0.0001], [-3, 1, 3, 5], -1.0, -2.5),
    ],
)
def test_tipping_delta_interpolates_the_ci_limit(
    deltas: list[float],
    estimate: list[float],
    p: list[float],
    limit: list[float],
    direction: float,
    wanted: float,
) -> None:
    # the limit nearest zero is ci_high for a negative effect and ci_low for a positive one
    far = [e * 3 for e in estimate]
    low, high = (far, limit) if direction > 0 else (limit, far)
    table = pd.DataFrame(
        {"delta": deltas, "estimate": estimate, "p": p, "ci_low": low, "ci_high": high}
    )
    assert tipping_delta(table, direction, 0.05) == pytest.approx(wanted, nan_ok=True)


# --- input errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "arguments", "message"),
    [
        (None, {"experimental": "ACU"}, "arm 'ACU' is not in the data; arms are DN, SHAM"),
        (None, {"control": "PLACEBO"}, "arm 'PLACEBO' is not in the data"),
        (None, {"m": 1}, "m >= 2"),
        (None, {"m": 2.5}, "m >= 2"),
        (None, {"formula": "score ~ arm * visit"}, "column 'score' is not in the data"),
        (None, {"formula": "log(y) ~ arm"}, "one outcome column"),
        (None, {"levels": {"visit": ("V1", "V2", "V3")}}, "visit: value 'V4' is not one of"),
        ("baseline", {}, "column 'baseline' is missing for participant 'P001'"),
    ],
)
def test_mi_analysis_refuses_bad_input(
    change: str | None, arguments: dict[str, object], message: str
) -> None:
    observed = data("mi")
    if change is not None:
        observed.loc[observed["id"] == "P001", change] = np.nan
    call: dict[str, object] = {"formula": FORMULA, "m": 3, "seed": 1, **arguments}
    with pytest.raises(ModelError, match=message):
        mi_analysis(observed, **call)  # type: ignore[arg-type]


def test_tipping_point_refuses_an_unknown_shift() -> None:
    with pytest.raises(ModelError, match="shift 'both' is not known"):
        tipping_point(data("mi"), FORMULA, [1.0], m=2, seed=1, shift="both")


def test_impute_mar_refuses_a_participant_in_two_arms() -> None:
    observed = data("mi")
    observed.loc[(observed["id"] == "P001") & (observed["visit"] == "V4"), "arm"] = "DN"
    with pytest.raises(ModelError, match="participant 'P001' is in more than one arm"):
        impute_mar(observed, m=2, seed=1)
