"""Knee goniometry worked examples (instruments.md §9 conventions; derived arithmetic)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError

ROM = get_instrument("knee_rom")


@pytest.mark.parametrize(
    ("source", "flexion", "deficit", "arc"),
    [
        # derived (instruments.md §9: deficit positive degrees short of 0): 120 − 10 = 110°.
        ("flexion contracture of 10°", 120, 10, 110),
        # derived: full extension, deficit 0 → arc equals flexion.
        ("full extension", 135, 0, 135),
        # derived: hyperextension is a negative deficit: 120 − (−5) = 125°.
        ("hyperextension of 5°", 120, -5, 125),
        # derived: an ankylosed knee has no arc.
        ("ankylosed at 30°", 30, 30, 0),
    ],
)
def test_arc_is_flexion_minus_extension_deficit(
    source: str, flexion: float, deficit: float, arc: float
) -> None:
    result = score_response(
        ROM, {"flexion_deg": flexion, "extension_deficit_deg": deficit, "side": "left"}
    )
    assert result.scores == {
        "flexion_deg": flexion,
        "extension_deficit_deg": deficit,
        "arc_deg": arc,
    }, source


def test_flexion_below_the_deficit_is_impossible_and_says_why() -> None:
    result = score_response(ROM, {"flexion_deg": 20, "extension_deficit_deg": 30})
    assert result.scores["arc_deg"] is None
    assert "flexion 20° is less than the extension deficit 30°" in result.unscorable["arc_deg"]
    assert "sign convention" in result.unscorable["arc_deg"]
    assert result.scores["flexion_deg"] == 20


@pytest.mark.parametrize(
    ("missing", "present"),
    [("flexion_deg", "extension_deficit_deg"), ("extension_deficit_deg", "flexion_deg")],
)
def test_a_missing_reading_nulls_only_its_scores(missing: str, present: str) -> None:
    result = score_response(ROM, {missing: None, present: 10, "side": "right"})
    assert result.scores[present] == 10
    assert result.scores[missing] is None
    assert result.scores["arc_deg"] is None
    assert result.unscorable["arc_deg"].endswith(f"missing: {missing}")


def test_minimum_significant_difference_is_a_note_not_an_mcid() -> None:
    mcid = ROM.score_spec("flexion_deg").mcid
    assert mcid is not None
    assert mcid.value == 10
    assert "Hancock" in mcid.source
    assert "not an MCID" in mcid.note


@pytest.mark.parametrize(
    ("item", "value", "allowed"),
    [
        ("flexion_deg", 180, "0 to 170 degrees"),
        ("flexion_deg", -5, "0 to 170 degrees"),
        ("extension_deficit_deg", 75, "-20 to 60 degrees"),
        ("side", "both", "1 (left), 2 (right)"),
    ],
)
def test_wrong_value_names_item_value_and_allowed(item: str, value: object, allowed: str) -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(ROM, {"flexion_deg": 100, "extension_deficit_deg": 5, item: value})
    message = str(excinfo.value)
    assert f"item {item} of knee_rom" in message
    assert repr(value) in message
    assert f"allowed: {allowed}" in message
