"""Simulated answers give their target scores through the real scoring code, for every
instrument of the reference protocol; screening and session answers pass the real checks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physiotrial.core.eligibility import evaluate_eligibility
from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.services.capture import session_details
from physiotrial.services.protocols import load_protocol
from physiotrial.simulate.answers import (
    INSTRUMENTS,
    answers_for,
    eligibility_answers,
    lever_arm_m,
    session_record,
)

PROTOCOL = load_protocol("popliteus-dn-koa")
PERSON = {"sex": "female", "age": 67, "height_cm": 158, "weight_kg": 74.6, "side": "left"}
SLOW = settings(max_examples=60, deadline=None)


def scores(instrument: str, targets: Mapping[str, float], seed: int = 1) -> dict[str, object]:
    answers = answers_for(instrument, targets, np.random.default_rng(seed), PERSON)
    return dict(score_response(get_instrument(instrument), answers).scores)


def test_every_instrument_of_the_reference_protocol_is_answered() -> None:
    captured = {m.instrument for m in PROTOCOL.measures}
    assert captured <= set(INSTRUMENTS)


@pytest.mark.parametrize(
    ("instrument", "key", "low", "high", "tolerance"),
    [
        ("vas", "score", 0, 100, 0.5),
        ("dn4", "total", 0, 10, 0.5),
        ("tsk11", "total", 11, 44, 0.5),
        ("pcs", "total", 0, 52, 0.5),
        ("tug", "time_s", 1, 300, 0.05 + 1e-9),
        ("six_mwt", "distance_m", 0, 1000, 0.5),
        ("knee_rom", "flexion_deg", 0, 170, 0.5),
        ("knee_rom", "extension_deficit_deg", -20, 60, 0.5),
        ("pgic", "code", 1, 7, 0.5),
    ],
)
@SLOW
@given(data=st.data())
def test_a_single_score_is_hit_to_the_instrument_resolution(
    instrument: str, key: str, low: float, high: float, tolerance: float, data: st.DataObject
) -> None:
    target = data.draw(st.floats(low - 20, high + 20, allow_nan=False))
    seed = data.draw(st.integers(0, 2**32 - 1))
    found = scores(instrument, {"flexion_deg": 110, "extension_deficit_deg": 5, key: target}, seed)
    assert abs(float(found[key]) - min(max(target, low), high)) <= tolerance  # type: ignore[arg-type]


@SLOW
@given(total=st.floats(-10, 110, allow_nan=False), seed=st.integers(0, 2**32 - 1))
def test_womac_total_100_is_within_one_item_step_of_the_target(total: float, seed: int) -> None:
    found = scores("womac", {"total_100": total}, seed)
    assert abs(float(found["total_100"]) - min(max(total, 0), 100)) <= 100 / 96  # type: ignore[arg-type]


@SLOW
@given(
    total=st.floats(0, 100, allow_nan=False),
    pain=st.floats(-20, 20),
    stiffness=st.floats(-24, 24),
    seed=st.integers(0, 2**32 - 1),
)
def test_womac_subscales_follow_their_targets_and_the_total_stays_exact(
    total: float, pain: float, stiffness: float, seed: int
) -> None:
    shrink = min(1.0, min(total, 100 - total) / 25)
    targets = {
        "total_100": total,
        "pain_100": total + pain * shrink,
        "stiffness_100": total + stiffness * shrink,
        "function_100": total - (5 * pain + 2 * stiffness) * shrink / 17,
    }
    found = scores("womac", targets, seed)
    assert abs(float(found["total_100"]) - total) <= 100 / 96  # type: ignore[arg-type]
    for name, items in (("pain", 5), ("stiffness", 2), ("function", 17)):
        raw = float(found[name])  # type: ignore[arg-type]
        assert abs(raw - targets[f"{name}_100"] * items * 4 / 100) <= 1.5


@SLOW
@given(
    extension=st.floats(0.2, 3.0),
    flexion=st.floats(0.1, 2.0),
    mass=st.floats(40, 140),
    height=st.floats(140, 200),
)
def test_hhd_force_gives_the_target_torque_per_kg(
    extension: float, flexion: float, mass: float, height: float
) -> None:
    targets = {"extension_torque_nm_kg": extension, "flexion_torque_nm_kg": flexion}
    context = {"weight_kg": mass, "height_cm": height}
    answers = answers_for("hhd_knee", targets, np.random.default_rng(0), context)
    found = score_response(get_instrument("hhd_knee"), answers).scores
    step = 0.5 * lever_arm_m(height) / float(answers["body_mass_kg"])  # type: ignore[arg-type]
    assert abs(float(found["extension_torque_nm_kg"]) - extension) <= step + 1e-9  # type: ignore[arg-type]
    assert abs(float(found["flexion_torque_nm_kg"]) - flexion) <= step + 1e-9  # type: ignore[arg-type]


def test_six_minute_walk_carries_the_participant_for_the_predicted_distance() -> None:
    found = scores("six_mwt", {"distance_m": 400.4})
    # Enright–Sherrill 1998, women: 2.11 h − 2.29 w − 5.78 age + 667 (h 158, w 74.6, age 67)
    assert found["predicted_m"] == pytest.approx(2.11 * 158 - 2.29 * 74.6 - 5.78 * 67 + 667)
    assert found["distance_m"] == 400.0


@pytest.mark.parametrize(
    ("targets", "guess", "category"),
    [
        ({"guess": 1, "certainty": 2}, "active", "strongly_active"),
        ({"guess": 2, "certainty": 1}, "sham", "somewhat_sham"),
        ({"guess": 3, "certainty": 2}, "dont_know", "dont_know"),
        ({"guess": 1, "certainty": float("nan")}, "active", None),
    ],
)
def test_blinding_guesses_score_as_guessed(
    targets: dict[str, float], guess: str, category: str | None
) -> None:
    found = scores("blinding_guess", targets)
    assert found["guess"] == guess
    if category is not None:
        assert found["bang_category"] == category


def test_an_instrument_it_cannot_answer_is_refused_naming_the_items_and_what_it_can() -> None:
    with pytest.raises(ValueError, match=r"instrument 'koos': no simulated answers for s1, s2"):
        answers_for("koos", {}, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"answered in full: vas, .* and single-item scores"):
        answers_for("koos", {}, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("instrument", "targets", "answers"),
    [
        ("nprs", {"score": 7.4}, {"points": 7}),  # integer item: rounded
        ("nprs", {"score": 12.0}, {"points": 10}),  # clipped to the item's 0-10
        ("chair_stand_30s", {"stands": 11.0}, {"stands": 11}),
    ],
)
def test_single_item_scores_are_answered_by_their_target(
    instrument: str, targets: dict[str, float], answers: dict[str, object]
) -> None:
    assert answers_for(instrument, targets, np.random.default_rng(0)) == answers


@pytest.mark.parametrize("seed", range(20))
def test_screening_answers_are_eligible_or_fail_with_reasons(seed: int) -> None:
    rng = np.random.default_rng(seed)
    eligible = evaluate_eligibility(PROTOCOL, eligibility_answers(PROTOCOL, 66, 24, rng, False))
    failed = evaluate_eligibility(PROTOCOL, eligibility_answers(PROTOCOL, 66, 24, rng, True))
    assert eligible.eligible
    assert not eligible.reasons
    assert not failed.eligible
    assert 1 <= len(failed.reasons) <= 2


@pytest.mark.parametrize(("plan", "real", "twitches"), [(0, True, (1, 5)), (0, False, (0, 0))])
def test_needling_records_pass_the_session_checks_and_only_real_needling_twitches(
    plan: int, real: bool, twitches: tuple[int, int]
) -> None:
    needling = PROTOCOL.sessions[plan]
    details = session_record(needling, True, real, "left", np.random.default_rng(3))
    checked = session_details(needling, details, "test")
    assert twitches[0] <= int(checked["local_twitch_responses"]) <= twitches[1]  # type: ignore[call-overload]
    assert 4 <= int(checked["insertions"]) <= 10  # type: ignore[call-overload]


@pytest.mark.parametrize(("delivered", "fields"), [(True, 3), (False, 1)])
def test_exercise_records_say_whether_the_session_was_completed(
    delivered: bool, fields: int
) -> None:
    exercise = PROTOCOL.sessions[1]
    details = session_record(exercise, delivered, True, "left", np.random.default_rng(3))
    checked = session_details(exercise, details, "test")
    assert checked["completed"] is delivered
    assert len(checked) == fields
