"""DN4, S-LANSS and painDETECT worked examples (instruments.md §4; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError, InstrumentError

DN4 = get_instrument("dn4")
SLANSS = get_instrument("slanss")
PAINDETECT = get_instrument("paindetect")

Answers = dict[str, float | str | None]


def _answers(item_ids: tuple[str, ...], values: list[float | str | None]) -> Answers:
    return dict(zip(item_ids, values, strict=True))


# --- DN4 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "values", "total", "positive"),
    [
        # derived (instruments.md §4a): interview yes,yes,no,yes,no,no,no + exam yes,no,no → 4.
        ("derived §4a", [1, 1, 0, 1, 0, 0, 0, 1, 0, 0], 4, True),
        # boundary, cut-off ≥4 (Perez 2007): 3 yes answers is negative.
        ("Perez 2007 cut-off, 3", [1, 1, 0, 1, 0, 0, 0, 0, 0, 0], 3, False),
        ("range: all no", [0] * 10, 0, False),
        ("range: all yes", [1] * 10, 10, True),
    ],
)
def test_dn4_vectors(source: str, values: list[float], total: float, positive: bool) -> None:
    scores = score_response(DN4, _answers(DN4.item_ids, list(values))).scores
    assert scores["total"] == total, source
    assert scores["positive"] is positive, source


def test_dn4_labels_are_accepted() -> None:
    labels: list[float | str | None] = [
        "yes",
        "YES",
        "no",
        "yes",
        "No",
        "no",
        "no",
        "yes",
        "no",
        "n",
    ]
    scores = score_response(DN4, _answers(DN4.item_ids, labels)).scores
    assert scores == {"total": 4.0, "positive": True}


def test_dn4_any_missing_item_gives_no_score_and_says_why() -> None:
    # Missing-item rule UNVERIFIED (no source found): every item is required.
    values: list[float | str | None] = [1, 1, 1, 1, 1, 1, 1, 1, 1, None]
    result = score_response(DN4, _answers(DN4.item_ids, values))
    assert result.scores == {"total": None, "positive": None}
    assert result.unscorable["total"].startswith("1 of 10 items missing; at most 0 allowed")
    assert "positive" in result.unscorable


def test_dn4_is_recorded_by_an_assessor() -> None:
    assert [r.value for r in DN4.raters] == ["assessor"]
    assert any("UNVERIFIED" in c for c in DN4.citation)


def test_dn4_wrong_value_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(DN4, {"brushing": 2})
    message = str(excinfo.value)
    assert "item brushing of dn4" in message
    assert "2" in message
    assert "0 (no), 1 (yes)" in message


# --- S-LANSS --------------------------------------------------------------------------------


def _slanss_yes(*numbers: int) -> Answers:
    """S-LANSS answers with 'yes' on the given 1-based item numbers, 'no' elsewhere."""
    return {item_id: int(n in numbers) for n, item_id in enumerate(SLANSS.item_ids, start=1)}


@pytest.mark.parametrize(
    ("source", "answers", "options", "total", "positive"),
    [
        # derived (instruments.md §4b), weights 5,5,3,2,1,5,3: yes on 1, 3, 6 → 13 → positive.
        ("derived §4b, 13", _slanss_yes(1, 3, 6), {}, 13, True),
        # derived (instruments.md §4b): yes on 2, 4, 5, 7 → 11 → negative at the default 12.
        ("derived §4b, 11", _slanss_yes(2, 4, 5, 7), {}, 11, False),
        # the same 11 with the cut-off option at 10 (Bennett 2005: sensitivity varies with it).
        ("cutoff option 10, 11", _slanss_yes(2, 4, 5, 7), {"cutoff": 10}, 11, True),
        # boundaries: exactly at the cut-off is positive (≥), one below is negative.
        ("boundary 12 at cutoff 12", _slanss_yes(1, 2, 4), {}, 12, True),
        ("boundary 10 at cutoff 10", _slanss_yes(1, 2), {"cutoff": 10}, 10, True),
        ("boundary 9 at cutoff 10", _slanss_yes(1, 3, 5), {"cutoff": 10}, 9, False),
        ("range: all yes", _slanss_yes(1, 2, 3, 4, 5, 6, 7), {}, 24, True),
        ("range: all no", _slanss_yes(), {}, 0, False),
    ],
)
def test_slanss_vectors(
    source: str, answers: Answers, options: dict[str, int], total: float, positive: bool
) -> None:
    scores = score_response(SLANSS, answers, options=options).scores
    assert scores["total"] == total, source
    assert scores["positive"] is positive, source


def test_slanss_labels_are_accepted() -> None:
    answers = {k: "yes" if v else "no" for k, v in _slanss_yes(1, 3, 6).items()}
    assert score_response(SLANSS, answers).scores == {"total": 13.0, "positive": True}


def test_slanss_cutoff_outside_its_choices_is_refused() -> None:
    with pytest.raises(InstrumentError, match="option cutoff of slanss: 11 is not allowed"):
        score_response(SLANSS, _slanss_yes(1), options={"cutoff": 11})


def test_slanss_wrong_value_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(SLANSS, {**_slanss_yes(), "rub_test": "maybe"})
    message = str(excinfo.value)
    assert "item rub_test of slanss" in message
    assert "'maybe'" in message
    assert "0 (no), 1 (yes)" in message


# --- painDETECT -----------------------------------------------------------------------------

SYMPTOMS = (
    "burning",
    "tingling",
    "light_touch",
    "pain_attacks",
    "cold_heat",
    "numbness",
    "pressure",
)


def _pd(symptoms: list[float], pattern: float | str, radiating: float | str) -> Answers:
    return {**_answers(SYMPTOMS, list(symptoms)), "pattern": pattern, "radiating": radiating}


@pytest.mark.parametrize(
    ("source", "answers", "total", "category"),
    [
        # derived (instruments.md §4c): symptoms 3,2,4,1,0,2,3 (15) + persistent with attacks (−1)
        # + radiating yes (+2) → 16 → uncertain.
        ("derived §4c", _pd([3, 2, 4, 1, 0, 2, 3], 2, 1), 16, "uncertain"),
        # bands ≤12 / 13–18 / ≥19 (src-signal summary of Freynhagen 2006), at each edge.
        ("band edge 12", _pd([2, 2, 2, 2, 2, 2, 0], 1, 0), 12, "unlikely"),
        ("band edge 13", _pd([2, 2, 2, 2, 2, 2, 0], 3, 0), 13, "uncertain"),
        ("band edge 18", _pd([3, 3, 3, 3, 3, 1, 0], 1, 1), 18, "uncertain"),
        ("band edge 19", _pd([3, 3, 3, 3, 3, 1, 0], 4, 1), 19, "likely"),
        # range −1…38 (NINDS CDE): the minimum needs the −1 pattern, the maximum a +1 pattern.
        ("range minimum", _pd([0] * 7, 2, 0), -1, "unlikely"),
        ("range maximum", _pd([5] * 7, 3, 1), 38, "likely"),
    ],
)
def test_paindetect_vectors(source: str, answers: Answers, total: float, category: str) -> None:
    scores = score_response(PAINDETECT, answers).scores
    assert scores["total"] == total, source
    assert scores["category"] == category, source


@pytest.mark.parametrize(
    ("code", "value"),
    [
        # pattern values as tabulated in PMC7136290 Table 3 (Freynhagen 2006 not read).
        (1, 0),  # persistent with slight fluctuations
        (2, -1),  # persistent with attacks
        (3, 1),  # attacks without pain between
        (4, 1),  # attacks with pain between
    ],
)
def test_paindetect_pattern_values(code: int, value: float) -> None:
    total = score_response(PAINDETECT, _pd([1] * 7, code, 0)).scores["total"]
    assert total == 7 + value


def test_paindetect_labels_are_accepted() -> None:
    answers = _pd([3, 2, 4, 1, 0, 2, 3], "persistent with attacks", "yes")
    answers["burning"] = "moderately"
    assert score_response(PAINDETECT, answers).scores == {"total": 16.0, "category": "uncertain"}


def test_paindetect_missing_item_gives_no_score_and_says_why() -> None:
    result = score_response(PAINDETECT, _pd([3, 2, 4, 1, 0, 2, 3], 2, None))
    assert result.scores == {"total": None, "category": None}
    assert result.unscorable["category"].startswith("1 of 9 items missing")


def test_paindetect_wrong_value_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(PAINDETECT, _pd([0] * 7, 5, 0))
    message = str(excinfo.value)
    assert "item pattern of paindetect" in message
    assert "5" in message
    assert "1 (persistent with slight fluctuations)" in message
    assert "4 (attacks with pain between)" in message
