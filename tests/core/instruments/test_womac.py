"""WOMAC worked examples (instruments.md §2 vectors; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError

WOMAC = get_instrument("womac")
ITEMS = WOMAC.item_ids


def _all(value: float | None) -> dict[str, float | None]:
    return dict.fromkeys(ITEMS, value)


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        # awell-score womac unit tests (commit c37843e): all 0, all 2, all 4.
        ("awell all 0", _all(0), {"pain": 0, "stiffness": 0, "function": 0, "total": 0}),
        ("awell all 2", _all(2), {"pain": 10, "stiffness": 4, "function": 34, "total": 48}),
        ("awell all 4", _all(4), {"pain": 20, "stiffness": 8, "function": 68, "total": 96}),
        # derived (instruments.md §2): normalised all-2 vector is 50 on every subscale.
        (
            "derived all 2 normalised",
            _all(2),
            {"pain_100": 50, "stiffness_100": 50, "function_100": 50, "total_100": 50},
        ),
    ],
)
def test_published_vectors(
    source: str, answers: dict[str, float], expected: dict[str, float]
) -> None:
    scores = score_response(WOMAC, answers).scores
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value), (source, key)


def test_function_with_three_missing_items_takes_the_mean_of_the_answered() -> None:
    # derived (instruments.md §2): 14 answered items summing to 28 → mean 2 → 28 + 3×2 = 34.
    answers = _all(0)
    function = [f"f{i}" for i in range(1, 18)]
    for item_id, value in zip(function, [1, 3] * 7 + [None] * 3, strict=True):
        answers[item_id] = value
    assert score_response(WOMAC, answers).scores["function"] == pytest.approx(34)


def test_function_with_four_missing_items_is_unscorable_and_says_why() -> None:
    answers = _all(1)
    for item_id in ("f1", "f5", "f9", "f17"):
        answers[item_id] = None
    result = score_response(WOMAC, answers)
    assert result.scores["function"] is None
    assert result.scores["total"] is None
    assert result.unscorable["function"].startswith("4 of 17 items missing")
    assert "function" in result.unscorable["total"]
    assert result.scores["pain"] == 5


def test_labels_are_accepted_in_place_of_codes() -> None:
    answers = dict.fromkeys(ITEMS, "moderate")
    assert score_response(WOMAC, answers).scores["total"] == 48


def test_out_of_range_answer_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(WOMAC, {**_all(1), "p3": 5})
    message = str(excinfo.value)
    assert "item p3 of womac" in message
    assert "5" in message
    assert "4 (extreme)" in message


def test_nrs_and_va_formats_normalise_to_the_same_scale() -> None:
    nrs = score_response(get_instrument("womac_nrs"), dict.fromkeys(ITEMS, 5)).scores
    va = score_response(get_instrument("womac_va"), dict.fromkeys(ITEMS, 50)).scores
    assert nrs["total"] == 120
    assert va["total"] == 1200
    assert nrs["total_100"] == va["total_100"] == 50
