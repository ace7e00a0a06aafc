"""TSK-17 and TSK-11 worked examples (instruments.md §5 vectors; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError

TSK17 = get_instrument("tsk17")
TSK11 = get_instrument("tsk11")
REVERSED = ("q4", "q8", "q12", "q16")
# awell-score tampa "random" response Q1..Q17 (commit c37843e5); reversed items become 3,3,2,2.
AWELL_RANDOM = dict(
    zip(
        TSK17.item_ids,
        [1, 3, 3, 2, 2, 3, 2, 2, 3, 2, 3, 3, 2, 3, 3, 3, 3],
        strict=True,
    )
)


def _tsk17(value: object, reversed_value: object | None = None) -> dict[str, object]:
    """Every TSK-17 item ``value``; the reversed items ``reversed_value`` when given."""
    answers = dict.fromkeys(TSK17.item_ids, value)
    if reversed_value is not None:
        answers.update(dict.fromkeys(REVERSED, reversed_value))
    return answers


def _tsk11(answers: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in answers.items() if k in TSK11.item_ids}


@pytest.mark.parametrize(
    ("source", "answers", "total", "high"),
    [
        ("awell min: all 1, reversed items 4", _tsk17(1, 4), 17, False),
        ("awell max: all 4, reversed items 1", _tsk17(4, 1), 68, True),
        ("awell random vector", AWELL_RANDOM, 43, True),
        # derived (instruments.md §5): all 2 → 13×2 + 4×(5−2) = 38, just above the cut-off.
        ("derived cut-off: total 38 is high", _tsk17(2), 38, True),
        # derived: the same with q1 = 1 → 37, not high under '> 37' (Vlaeyen 1995 via awell
        # README; awell's code, '>= 37', would say high: the UNVERIFIED case).
        ("derived cut-off: total 37 is not high", {**_tsk17(2), "q1": 1}, 37, False),
    ],
)
def test_tsk17_vectors(source: str, answers: dict[str, object], total: float, high: bool) -> None:
    scores = score_response(TSK17, answers).scores
    assert scores["total"] == total, source
    assert scores["high"] is high, source


@pytest.mark.parametrize(
    ("source", "answers", "total"),
    [
        # derived (instruments.md §5): awell random vector, items 1,2,3,5,6,7,10,11,13,15,17.
        ("derived TSK-11 from awell random vector", _tsk11(AWELL_RANDOM), 27),
        # derived: range 11–44 (physiotutors TSK-11 page); no TSK-11 item is reversed.
        ("derived TSK-11 all 1", _tsk11(_tsk17(1)), 11),
        ("derived TSK-11 all 4", _tsk11(_tsk17(4)), 44),
    ],
)
def test_tsk11_vectors(source: str, answers: dict[str, object], total: float) -> None:
    assert score_response(TSK11, answers).scores["total"] == total, source


def test_tsk11_keeps_tsk17_ids_and_has_no_reversed_items() -> None:
    # Woby 2005 (instruments.md §5): items 4, 8, 9, 12, 14, 16 dropped.
    assert TSK11.item_ids == ("q1", "q2", "q3", "q5", "q6", "q7", "q10", "q11", "q13", "q15", "q17")
    assert not any(item.reversed for item in TSK11.items)
    assert {i.id for i in TSK17.items if i.reversed} == set(REVERSED)


def test_mcid_is_a_four_point_reduction_on_both_versions() -> None:
    # Woby 2005, CLBP (instruments.md §5).
    for instrument in (TSK17, TSK11):
        mcid = instrument.score_spec("total").mcid
        assert mcid is not None
        assert mcid.value == 4
        assert "Woby" in mcid.source


def test_one_missing_item_leaves_total_and_flag_unscored() -> None:
    # No published missing-item rule (UNVERIFIED): none allowed.
    result = score_response(TSK17, {**_tsk17(2), "q9": None})
    assert result.scores["total"] is None
    assert result.scores["high"] is None
    assert result.unscorable["total"].startswith("1 of 17 items missing")


def test_labels_are_accepted_in_place_of_codes() -> None:
    # 13 × 3 + 4 × (5 − 3) = 47.
    assert score_response(TSK17, _tsk17("somewhat agree")).scores["total"] == 47


def test_out_of_range_answer_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(TSK17, {**_tsk17(2), "q4": 5})
    message = str(excinfo.value)
    assert "item q4 of tsk17" in message
    assert "5" in message
    assert "1 (strongly disagree)" in message
    assert "4 (strongly agree)" in message


def test_tsk11_rejects_an_item_it_does_not_have() -> None:
    with pytest.raises(AnswerError, match="tsk11 has no item q4"):
        score_response(TSK11, {**_tsk11(_tsk17(2)), "q4": 2})
