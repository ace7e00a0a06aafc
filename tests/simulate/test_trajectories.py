"""The simulated reference trial matches the published abstract (trial.md): differences in change,
SDs of change, directions of every outcome, correlations, blinding, dropout, randomisation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from physiotrial.core.instruments import Direction, get_instrument
from physiotrial.services.protocols import load_protocol
from physiotrial.simulate.trajectories import (
    clipped_mean,
    simulate_cohort,
    simulate_participants,
    target_column,
)

PROTOCOL = load_protocol("popliteus-dn-koa")
FOLLOW_UPS = ("W3", "M3", "M6")


@pytest.fixture(scope="module")
def large() -> pd.DataFrame:
    return simulate_participants(PROTOCOL, 5000, seed=11)


def improvement(frame: pd.DataFrame, column: str, visit: str, worse: int = 1) -> pd.Series:
    """Baseline − follow-up for a higher-is-worse score (the other way round otherwise)."""
    return worse * (frame[f"{column}@BL"] - frame[f"{column}@{visit}"])


@pytest.mark.parametrize("visit", FOLLOW_UPS)
@pytest.mark.parametrize(
    ("column", "difference", "tolerance", "sd", "sd_tolerance"),
    [("vas_max.score", 30.0, 1.5, 18.0, 1.0), ("womac.total_100", 16.0, 1.0, 12.0, 0.75)],
)
def test_published_difference_in_change_and_sd_of_change(
    large: pd.DataFrame,
    visit: str,
    column: str,
    difference: float,
    tolerance: float,
    sd: float,
    sd_tolerance: float,
) -> None:
    dn, sham = large[large["arm"] == "DN"], large[large["arm"] == "SHAM"]
    gain_dn, gain_sham = improvement(dn, column, visit), improvement(sham, column, visit)
    assert gain_dn.mean() - gain_sham.mean() == pytest.approx(difference, abs=tolerance)
    pooled = math.sqrt((gain_dn.var() + gain_sham.var()) / 2)
    assert pooled == pytest.approx(sd, abs=sd_tolerance)
    assert gain_sham.mean() > 5  # both arms improve


@pytest.mark.parametrize("outcome", [o.id for o in PROTOCOL.outcomes])
def test_every_outcome_favours_dry_needling_at_six_months(
    large: pd.DataFrame, outcome: str
) -> None:
    spec = PROTOCOL.outcome(outcome)
    instrument = get_instrument(PROTOCOL.measure(spec.measure).instrument)
    worse = 1 if instrument.score_spec(spec.score).direction is Direction.HIGHER_WORSE else -1
    column = f"{spec.measure}.{spec.score}"
    dn, sham = large[large["arm"] == "DN"], large[large["arm"] == "SHAM"]
    assert (
        improvement(dn, column, "M6", worse).mean() > improvement(sham, column, "M6", worse).mean()
    )
    assert improvement(sham, column, "M6", worse).mean() > 0


@pytest.mark.parametrize("outcome", [o.id for o in PROTOCOL.outcomes])
def test_targets_exist_for_every_outcome_and_visit_within_the_score_range(
    large: pd.DataFrame, outcome: str
) -> None:
    spec = PROTOCOL.outcome(outcome)
    score = get_instrument(PROTOCOL.measure(spec.measure).instrument).score_spec(spec.score)
    for visit in spec.visits:
        values = large[target_column(spec.measure, spec.score, visit)]
        assert values.notna().all()
        assert values.min() >= (score.minimum or 0)
        assert values.max() <= (score.maximum or 1e9)


@pytest.mark.parametrize(
    ("first", "second", "sign"),
    [
        ("vas_max.score", "womac.total_100", 1),
        ("womac.total_100", "tsk11.total", 1),
        ("womac.total_100", "pcs.total", 1),
        ("vas_max.score", "tug.time_s", 1),
        ("womac.total_100", "dn4.total", 1),
        ("vas_max.score", "six_mwt.distance_m", -1),
        ("womac.total_100", "strength.extension_torque_nm_kg", -1),
        ("pcs.total", "rom.flexion_deg", -1),
        ("six_mwt.distance_m", "strength.flexion_torque_nm_kg", 1),
    ],
)
def test_baseline_scores_correlate_through_severity(
    large: pd.DataFrame, first: str, second: str, sign: int
) -> None:
    r = np.corrcoef(large[f"{first}@BL"], large[f"{second}@BL"])[0, 1]
    assert 0.1 < sign * r < 0.8


def test_changes_correlate_across_outcomes_and_visits(large: pd.DataFrame) -> None:
    vas = improvement(large, "vas_max.score", "M6")
    assert np.corrcoef(vas, improvement(large, "womac.total_100", "M6"))[0, 1] > 0.2
    assert np.corrcoef(vas, improvement(large, "vas_max.score", "W3"))[0, 1] > 0.4


def test_the_arms_share_a_baseline_and_differ_only_after_it() -> None:
    cohort = simulate_cohort(PROTOCOL, 200, seed=3)
    dn, sham = cohort.targets["DN"], cohort.targets["SHAM"]
    baseline = [c for c in dn.columns if c.endswith("@BL")]
    pd.testing.assert_frame_equal(dn[baseline], sham[baseline])
    assert (dn["vas_max.score@M6"] <= sham["vas_max.score@M6"]).all()


@pytest.mark.parametrize(
    ("measure", "visit", "arm_gap"),
    [("guess_participant", "T3", 0.15), ("guess_assessor", "W3", 0)],
)
def test_participants_guess_active_more_after_real_needling_assessors_near_chance(
    large: pd.DataFrame, measure: str, visit: str, arm_gap: float
) -> None:
    active = large[target_column(measure, "guess", visit)] == 1
    by_arm = active.groupby(large["arm"]).mean()
    if arm_gap:
        assert by_arm["DN"] - by_arm["SHAM"] > arm_gap
    else:
        assert abs(by_arm["DN"] - by_arm["SHAM"]) < 0.06
        assert 0.25 < by_arm.mean() < 0.4


def test_about_one_in_ten_is_lost_after_w3_or_m3(large: pd.DataFrame) -> None:
    lost = large["lost_after"] != ""
    assert lost.mean() == pytest.approx(0.10, abs=0.02)
    assert set(large.loc[lost, "lost_after"]) == {"W3", "M3"}
    assert set(large.loc[lost, "departure"]) == {"lost_to_follow_up", "withdrawn"}


def test_participants_are_eligible_adults_with_knee_oa(large: pd.DataFrame) -> None:
    assert large["age"].min() >= 50
    assert set(large["kl_grade"]) == {2, 3, 4}
    assert large["symptom_months"].min() >= 3
    assert large["bmi"].between(15, 50).all()
    assert 0.6 < (large["sex"] == "female").mean() < 0.7


def test_arms_are_balanced_within_sex_by_blocks_of_two_and_four() -> None:
    frame = simulate_participants(PROTOCOL, 38, seed=2025)
    for _, group in frame.groupby("sex"):
        counts = group["arm"].value_counts()
        assert abs(counts.get("DN", 0) - counts.get("SHAM", 0)) <= 2


def test_the_same_seed_gives_the_same_participants() -> None:
    first = simulate_participants(PROTOCOL, 40, seed=9)
    pd.testing.assert_frame_equal(first, simulate_participants(PROTOCOL, 40, seed=9))
    assert not first.equals(simulate_participants(PROTOCOL, 40, seed=10))


@pytest.mark.parametrize(
    ("mu", "sd", "low", "high", "expected"),
    [
        (0.0, 1.0, -math.inf, math.inf, 0.0),
        (0.0, 1.0, 0.0, math.inf, 1 / math.sqrt(2 * math.pi)),  # E[max(Z, 0)] = φ(0)
        (50.0, 10.0, 0.0, 100.0, 50.0),
        (-5.0, 1.0, 0.0, 100.0, 0.0),
    ],
)
def test_clipped_mean_of_a_normal(
    mu: float, sd: float, low: float, high: float, expected: float
) -> None:
    assert clipped_mean(mu, sd, low, high) == pytest.approx(expected, abs=1e-6)
