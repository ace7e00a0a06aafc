"""Hand-held dynamometry worked examples (instruments.md §9 definitions; derived arithmetic)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError

HHD = get_instrument("hhd_knee")
FULL = {
    "extension_n": 300,
    "flexion_n": 150,
    "lever_arm_m": 0.35,
    "body_mass_kg": 70,
    "side": "right",
    "position": "seated",
    "test_type": "break",
    "fixation": "belt",
    "trial_used": "max",
}


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        # derived (instruments.md §9: torque = force × lever arm; per kg = torque / body mass):
        # 300 N × 0.35 m = 105 N·m; 105 / 70 = 1.5 N·m/kg; 150 × 0.35 = 52.5; 52.5 / 70 = 0.75.
        (
            "full measurement",
            FULL,
            {
                "extension_force_n": 300,
                "flexion_force_n": 150,
                "extension_torque_nm": 105,
                "flexion_torque_nm": 52.5,
                "extension_torque_nm_kg": 1.5,
                "flexion_torque_nm_kg": 0.75,
            },
        ),
        # derived: 420 N × 0.3 m = 126 N·m; 126 / 84 = 1.5 N·m/kg.
        (
            "other lever arm",
            {"extension_n": 420, "lever_arm_m": 0.3, "body_mass_kg": 84},
            {"extension_torque_nm": 126, "extension_torque_nm_kg": 1.5},
        ),
        # derived: zero force is zero torque.
        (
            "no force produced",
            {**FULL, "flexion_n": 0},
            {"flexion_torque_nm": 0, "flexion_torque_nm_kg": 0},
        ),
    ],
)
def test_torque_arithmetic(
    source: str, answers: dict[str, object], expected: dict[str, float]
) -> None:
    result = score_response(HHD, answers)
    for key, value in expected.items():
        assert result.scores[key] == pytest.approx(value), (source, key)


@pytest.mark.parametrize(
    ("missing", "null_keys"),
    [
        (
            "lever_arm_m",
            {
                "extension_torque_nm",
                "flexion_torque_nm",
                "extension_torque_nm_kg",
                "flexion_torque_nm_kg",
            },
        ),
        ("body_mass_kg", {"extension_torque_nm_kg", "flexion_torque_nm_kg"}),
        ("flexion_n", {"flexion_force_n", "flexion_torque_nm", "flexion_torque_nm_kg"}),
        ("extension_n", {"extension_force_n", "extension_torque_nm", "extension_torque_nm_kg"}),
    ],
)
def test_each_score_is_null_only_when_its_own_item_is_missing(
    missing: str, null_keys: set[str]
) -> None:
    result = score_response(HHD, {**FULL, missing: None})
    assert {key for key, value in result.scores.items() if value is None} == null_keys
    assert set(result.unscorable) == null_keys
    for key in null_keys:
        assert result.unscorable[key].endswith(f"missing: {missing}")


def test_context_items_are_optional_and_do_not_change_scores() -> None:
    bare = {k: v for k, v in FULL.items() if k.endswith(("_n", "_m", "_kg"))}
    assert score_response(HHD, bare).scores == score_response(HHD, FULL).scores


@pytest.mark.parametrize(
    ("item", "value", "allowed"),
    [
        ("body_mass_kg", 400, "25 to 300 kg"),
        ("lever_arm_m", 35, "0.1 to 0.6 m"),  # centimetres typed for metres
        ("extension_n", -10, "0 to 1500 N"),
        ("fixation", "strap", "1 (belt), 2 (frame), 3 (none)"),
    ],
)
def test_wrong_value_names_item_value_and_allowed(item: str, value: object, allowed: str) -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(HHD, {**FULL, item: value})
    message = str(excinfo.value)
    assert f"item {item} of hhd_knee" in message
    assert repr(value) in message
    assert f"allowed: {allowed}" in message


def test_an_item_is_scored_exactly_when_a_score_uses_it() -> None:
    used = {item for spec in HHD.scores for item in spec.items}
    for item in HHD.items:
        assert item.scored == (item.id in used), item.id
