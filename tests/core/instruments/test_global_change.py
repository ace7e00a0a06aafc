"""GRC and PGIC worked examples (instruments.md §10; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.core.instruments.scoring import parse_answers
from physiotrial.errors import AnswerError, InstrumentError

GRC = get_instrument("grc")
PGIC = get_instrument("pgic")


@pytest.mark.parametrize(
    ("source", "answer", "score"),
    [
        # Kamper 2009 (15-point format): the score is the rating itself, −7 … +7.
        ("15-point floor", -7, -7),
        ("15-point unchanged", 0, 0),
        ("15-point ceiling", 7, 7),
        ("numeric text", "+3", 3),
    ],
)
def test_grc_score_is_the_rating(source: str, answer: object, score: float) -> None:
    assert score_response(GRC, {"change": answer}).scores["score"] == score, source


@pytest.mark.parametrize("answer", [8, -8, 2.5])
def test_grc_rejects_values_off_the_15_point_scale(answer: float) -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(GRC, {"change": answer})
    message = str(excinfo.value)
    assert "item change of grc" in message
    assert repr(answer) in message
    assert "whole numbers -7 to 7" in message


def test_grc_options_store_anchor_wording_and_reference_time_point() -> None:
    # instruments.md §10: store the anchor wording and the reference time point.
    answers = parse_answers(
        GRC,
        {"change": [2]},
        options={"anchors": "much worse | same | much better", "reference": "week 6 visit"},
    )
    assert answers.option("anchors") == "much worse | same | much better"
    assert answers.option("reference") == "week 6 visit"
    with pytest.raises(InstrumentError, match="no option 'points'"):
        parse_answers(GRC, {"change": [2]}, options={"points": 11})


@pytest.mark.parametrize(
    ("source", "answer", "code", "label", "improved"),
    [
        # Farrar 2001: "much improved" and "very much improved" = clinically important.
        ("Farrar 2001: very much improved", 1, 1, "very much improved", True),
        ("Farrar 2001: much improved", 2, 2, "much improved", True),
        ("Farrar 2001: minimally improved is not", 3, 3, "minimally improved", False),
        ("no change", 4, 4, "no change", False),
        ("very much worse", 7, 7, "very much worse", False),
        ("label accepted", "Much Improved", 2, "much improved", True),
        ("label accepted", "much worse", 6, "much worse", False),
    ],
)
def test_pgic_code_label_and_improved(
    source: str, answer: object, code: float, label: str, improved: bool
) -> None:
    scores = score_response(PGIC, {"impression": answer}).scores
    assert scores == {"code": code, "label": label, "improved": improved}, source


def test_pgic_labels_are_stored_in_code_order() -> None:
    # instruments.md §10: store labels, not just codes (coding varies between studies).
    labels = [c.label for c in PGIC.item("impression").choices]
    assert labels[0] == "very much improved"
    assert labels[-1] == "very much worse"
    assert [c.code for c in PGIC.item("impression").choices] == list(range(1, 8))
    assert tuple(labels) == PGIC.score_spec("label").categories


def test_pgic_blank_answer_gives_no_scores_and_says_why() -> None:
    result = score_response(PGIC, {"impression": None})
    assert result.scores == {"code": None, "label": None, "improved": None}
    assert set(result.unscorable) == {"code", "label", "improved"}


def test_pgic_wrong_value_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(PGIC, {"impression": "slightly better"})
    message = str(excinfo.value)
    assert "item impression of pgic" in message
    assert "'slightly better'" in message
    assert "1 (very much improved)" in message
    assert "7 (very much worse)" in message
