"""PSEQ-10 worked examples (instruments.md §7 vectors; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import Direction, get_instrument, score_response
from physiotrial.errors import AnswerError

PSEQ = get_instrument("pseq")


def _all(value: object) -> dict[str, object]:
    return dict.fromkeys(PSEQ.item_ids, value)


@pytest.mark.parametrize(
    ("source", "answers", "total"),
    [
        ("derived (instruments.md §7): all 4", _all(4), 40),
        ("derived (instruments.md §7): all 6", _all(6), 60),
        ("derived: all 0, the floor of 0–60 (measurely)", _all(0), 0),
        (
            "derived: 0..6 then 3,3,3 → 21 + 9",
            dict(zip(PSEQ.item_ids, [0, 1, 2, 3, 4, 5, 6, 3, 3, 3], strict=True)),
            30,
        ),
    ],
)
def test_vectors(source: str, answers: dict[str, object], total: float) -> None:
    assert score_response(PSEQ, answers).scores["total"] == total, source


def test_higher_is_better_and_mcid_is_declared_with_its_source() -> None:
    # measurely / Nicholas 2007: higher = more self-efficacy; Dubé 2021: 5.5–8.5 in CLBP.
    spec = PSEQ.score_spec("total")
    assert spec.direction is Direction.HIGHER_BETTER
    assert spec.mcid is not None
    assert 5.5 <= spec.mcid.value <= 8.5
    assert "Dubé" in spec.mcid.source


def test_one_missing_item_leaves_the_total_unscored() -> None:
    # Proration rule not verified (UNVERIFIED): none allowed.
    result = score_response(PSEQ, {**_all(4), "q10": ""})
    assert result.scores["total"] is None
    assert result.unscorable["total"].startswith("1 of 10 items missing")


def test_end_labels_are_accepted_in_place_of_codes() -> None:
    answers = {**_all("completely confident"), "q1": "not at all confident"}
    assert score_response(PSEQ, answers).scores["total"] == 54


def test_out_of_range_answer_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(PSEQ, {**_all(3), "q2": 7})
    message = str(excinfo.value)
    assert "item q2 of pseq" in message
    assert "7" in message
    assert "0 (not at all confident)" in message
    assert "6 (completely confident)" in message
