"""Blinding-guess worked examples: the five categories of Bang, Ni & Davis 2004."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import Rater, get_instrument, score_response
from physiotrial.errors import AnswerError

BLINDING = get_instrument("blinding_guess")


@pytest.mark.parametrize(
    ("source", "answers", "guess", "category"),
    [
        # Bang 2004, Control Clin Trials 25:143-156: the 2 × 5 response layout.
        (
            "Bang: strongly believe active",
            {"guess": 1, "certainty": 2},
            "active",
            "strongly_active",
        ),
        (
            "Bang: somewhat believe active",
            {"guess": 1, "certainty": 1},
            "active",
            "somewhat_active",
        ),
        ("Bang: somewhat believe sham", {"guess": 2, "certainty": 1}, "sham", "somewhat_sham"),
        ("Bang: strongly believe sham", {"guess": 2, "certainty": 2}, "sham", "strongly_sham"),
        ("Bang: don't know, no certainty", {"guess": 3}, "dont_know", "dont_know"),
        # A certainty given with "don't know" is ignored: Bang's layout has none for it.
        (
            "don't know with a stray certainty",
            {"guess": 3, "certainty": 2},
            "dont_know",
            "dont_know",
        ),
        (
            "labels accepted",
            {"guess": "Sham", "certainty": "strongly"},
            "sham",
            "strongly_sham",
        ),
        ("labels accepted", {"guess": "don't know", "certainty": ""}, "dont_know", "dont_know"),
    ],
)
def test_bang_categories(
    source: str, answers: dict[str, object], guess: str, category: str
) -> None:
    result = score_response(BLINDING, answers)
    assert result.scores == {"guess": guess, "bang_category": category}, source
    assert not result.unscorable


def test_categories_are_bangs_five_in_order() -> None:
    assert BLINDING.score_spec("bang_category").categories == (
        "strongly_active",
        "somewhat_active",
        "somewhat_sham",
        "strongly_sham",
        "dont_know",
    )


def test_asked_of_participants_and_assessors() -> None:
    assert set(BLINDING.raters) == {Rater.PARTICIPANT, Rater.ASSESSOR}
    assert BLINDING.item("guess").required
    assert not BLINDING.item("certainty").required


def test_active_or_sham_guess_without_certainty_has_no_bang_category() -> None:
    result = score_response(BLINDING, {"guess": "active"})
    assert result.scores == {"guess": "active", "bang_category": None}
    assert "certainty missing" in result.unscorable["bang_category"]


def test_missing_guess_gives_nothing_and_says_why() -> None:
    result = score_response(BLINDING, {"certainty": 2})
    assert result.scores == {"guess": None, "bang_category": None}
    assert result.unscorable["guess"].startswith("1 of 1 items missing")
    assert "bang_category" in result.unscorable


@pytest.mark.parametrize(
    ("item", "value", "allowed"),
    [
        ("guess", 4, "1 (active), 2 (sham), 3 (don't know)"),
        ("guess", "placebo", "1 (active), 2 (sham), 3 (don't know)"),
        ("certainty", "very", "1 (somewhat), 2 (strongly)"),
    ],
)
def test_wrong_value_names_item_value_and_allowed(item: str, value: object, allowed: str) -> None:
    answers: dict[str, object] = {"guess": 1, "certainty": 1, item: value}
    with pytest.raises(AnswerError) as excinfo:
        score_response(BLINDING, answers)
    message = str(excinfo.value)
    assert f"item {item} of blinding_guess" in message
    assert repr(value) in message
    assert allowed in message
