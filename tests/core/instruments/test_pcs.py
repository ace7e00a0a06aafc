"""PCS worked examples (instruments.md §6 vectors; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError

PCS = get_instrument("pcs")
KEYS = ("rumination", "magnification", "helplessness", "total")


def _all(value: object) -> dict[str, object]:
    return dict.fromkeys(PCS.item_ids, value)


def _vector(values: list[int]) -> dict[str, object]:
    return dict(zip(PCS.item_ids, values, strict=True))


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        # awell-score pcs unit tests (commit c37843e5).
        ("awell all 0", _all(0), (0, 0, 0, 0)),
        ("awell all 2", _all(2), (8, 6, 12, 26)),
        ("awell all 4", _all(4), (16, 12, 24, 52)),
        (
            "awell Q1..Q13 = 0,1,2,3,0,0,1,4,2,1,3,0,4",
            _vector([0, 1, 2, 3, 0, 0, 1, 4, 2, 1, 3, 0, 4]),
            (10, 5, 6, 21),
        ),
    ],
)
def test_published_vectors(
    source: str, answers: dict[str, object], expected: tuple[float, ...]
) -> None:
    scores = score_response(PCS, answers).scores
    assert tuple(scores[k] for k in KEYS) == expected, source


@pytest.mark.parametrize(
    ("source", "answers", "total", "relevant"),
    [
        # derived (RehabMeasures cut-off '> 30', instruments.md §6): 30 is not, 31 is.
        ("derived total 30", _vector([4, 4, 4, 4, 4, 4, 4, 2, 0, 0, 0, 0, 0]), 30, False),
        ("derived total 31", _vector([4, 4, 4, 4, 4, 4, 4, 3, 0, 0, 0, 0, 0]), 31, True),
        ("awell all 4 (52)", _all(4), 52, True),
        ("awell all 0 (0)", _all(0), 0, False),
    ],
)
def test_clinically_relevant_cut_off(
    source: str, answers: dict[str, object], total: float, relevant: bool
) -> None:
    scores = score_response(PCS, answers).scores
    assert scores["total"] == total, source
    assert scores["clinically_relevant"] is relevant, source


def test_subscales_partition_the_items() -> None:
    # RehabMeasures / awell (instruments.md §6): R 8–11, M 6, 7, 13, H 1–5, 12.
    subscales = {key: set(PCS.score_spec(key).items) for key in KEYS[:3]}
    assert subscales["rumination"] == {"q8", "q9", "q10", "q11"}
    assert subscales["magnification"] == {"q6", "q7", "q13"}
    assert subscales["helplessness"] == {"q1", "q2", "q3", "q4", "q5", "q12"}
    assert set.union(*subscales.values()) == set(PCS.item_ids)


def test_a_missing_item_unscores_its_subscale_and_the_total_only() -> None:
    # No published missing-item rule (UNVERIFIED): none allowed.
    result = score_response(PCS, {**_all(2), "q9": None})
    assert result.scores["rumination"] is None
    assert result.scores["total"] is None
    assert result.scores["clinically_relevant"] is None
    assert result.scores["magnification"] == 6
    assert result.scores["helplessness"] == 12
    assert result.unscorable["rumination"].startswith("1 of 4 items missing")


def test_labels_are_accepted_in_place_of_codes() -> None:
    assert score_response(PCS, _all("all the time")).scores["total"] == 52
    assert score_response(PCS, _all("Not at all")).scores["total"] == 0


def test_out_of_range_answer_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(PCS, {**_all(1), "q13": 5})
    message = str(excinfo.value)
    assert "item q13 of pcs" in message
    assert "5" in message
    assert "0 (not at all)" in message
    assert "4 (all the time)" in message
