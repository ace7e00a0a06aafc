"""OMERACT-OARSI responder worked examples (instruments.md §11; sources cited per case).

Pathway 2 thresholds (≥ 20 % and ≥ 10 points in ≥ 2 of 3) are worded so in the PMC8456865 trial
footnote; pathway 1 (≥ 50 % and ≥ 20 points, ≥ not >) follows Pham 2004 as recalled in
instruments.md §11, UNVERIFIED against the full text. Values are 0–100, higher = worse.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.core.instruments.library.omeract_oarsi import omeract_oarsi_responder
from physiotrial.errors import AnswerError

OMERACT = get_instrument("omeract_oarsi")
NAN = math.nan

# (source, pain b→a, function b→a, global b→a or None, responder or None, pathway or None)
CASES = [
    # instruments.md §11 derived vectors.
    ("§11 pain 60→25 (−35, −58 %)", (60, 25), (40, 40), (50, 50), True, "high_pain"),
    ("§11 pain −24 %, function −25 %", (50, 38), (40, 30), (50, 50), True, "two_of_three"),
    ("§11 function and global", (50, 42), (40, 30), (50, 38), True, "two_of_three"),
    ("§11 pain 12→5 alone (−7)", (12, 5), (40, 40), (50, 50), False, "none"),
    # Boundaries of pathway 1: exactly 50 % and exactly 20 points meet it (≥).
    ("exactly 50 % and 20 points", (40, 20), (40, 40), (50, 50), True, "high_pain"),
    ("50 % but 19 points", (38, 19), (40, 40), (50, 50), False, "none"),
    ("20 points but 48.8 %", (41, 21), (40, 40), (50, 50), False, "none"),
    ("function exactly 50 % / 20", (30, 30), (40, 20), (50, 50), True, "high_function"),
    ("both high: pain named first", (40, 20), (40, 20), (50, 50), True, "high_pain"),
    # Boundaries of pathway 2: exactly 20 % and exactly 10 points meet it (≥).
    ("exactly 20 % and 10 in two", (50, 40), (50, 40), (50, 50), True, "two_of_three"),
    ("20 % but 9 points in one", (45, 36), (50, 40), (50, 50), False, "none"),
    ("10 points but 19.6 % in one", (51, 41), (50, 40), (50, 50), False, "none"),
    ("pain and global exactly", (50, 40), (50, 50), (50, 40), True, "two_of_three"),
    ("decimals: 50.5→40.4 is 20 %", (50.5, 40.4), (50, 40), (50, 50), True, "two_of_three"),
    # Worsening is never a response; a zero baseline cannot improve.
    ("worse everywhere", (30, 60), (30, 60), (30, 60), False, "none"),
    ("zero baseline pain", (0, 0), (40, 30), (50, 50), False, "none"),
    # Patient global optional: pain and function can decide alone.
    ("no global, pain and function", (50, 40), (50, 40), None, True, "two_of_three"),
    ("no global, high pain", (60, 25), (40, 40), None, True, "high_pain"),
    ("no global, neither moderate", (50, 45), (50, 45), None, False, "none"),
    ("no global, only one moderate", (50, 40), (50, 45), None, None, None),
]


def _answers(
    pain: tuple[float, float], function: tuple[float, float], glob: tuple[float, float] | None
) -> dict[str, object]:
    answers: dict[str, object] = {
        "pain_before": pain[0],
        "pain_after": pain[1],
        "function_before": function[0],
        "function_after": function[1],
    }
    if glob is not None:
        answers.update(global_before=glob[0], global_after=glob[1])
    return answers


@pytest.mark.parametrize(("source", "pain", "function", "glob", "responder", "pathway"), CASES)
def test_instrument(
    source: str,
    pain: tuple[float, float],
    function: tuple[float, float],
    glob: tuple[float, float] | None,
    responder: bool | None,
    pathway: str | None,
) -> None:
    result = score_response(OMERACT, _answers(pain, function, glob))
    assert result.scores == {"responder": responder, "pathway": pathway}, source
    assert ("responder" in result.unscorable) is (responder is None), source


def test_function_is_vectorised_over_every_case_at_once() -> None:
    def column(index: int, side: int) -> list[float]:
        return [NAN if c[index] is None else float(c[index][side]) for c in CASES]

    result = omeract_oarsi_responder(
        column(1, 0), column(1, 1), column(2, 0), column(2, 1), column(3, 0), column(3, 1)
    )
    expected = [NAN if c[4] is None else float(c[4]) for c in CASES]
    np.testing.assert_array_equal(result.responder, expected)
    assert list(result.pathway) == [c[5] for c in CASES]


def test_global_may_be_omitted_from_the_function() -> None:
    result = omeract_oarsi_responder(
        np.array([60.0, 50.0]), np.array([25.0, 40.0]), np.array([40.0, 50.0]), [40.0, 45.0]
    )
    np.testing.assert_array_equal(result.responder, [1.0, NAN])
    assert list(result.pathway) == ["high_pain", None]


def test_function_rejects_arrays_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        omeract_oarsi_responder([50, 60], [40], [50, 60], [40, 50])


def test_missing_pain_is_undecidable_unless_the_rest_decides() -> None:
    # function high improvement decides without pain; otherwise pain is needed.
    decided = score_response(OMERACT, {"function_before": 40, "function_after": 20})
    assert decided.scores == {"responder": True, "pathway": "high_function"}
    undecided = score_response(OMERACT, {"function_before": 40, "function_after": 40})
    assert undecided.scores == {"responder": None, "pathway": None}
    assert "pain_before" in undecided.unscorable["responder"]


@pytest.mark.parametrize(("item", "value"), [("pain_before", 101), ("global_after", -1)])
def test_out_of_range_value_names_item_value_and_allowed(item: str, value: float) -> None:
    answers = {**_answers((50, 40), (50, 40), (50, 40)), item: value}
    with pytest.raises(AnswerError) as excinfo:
        score_response(OMERACT, answers)
    message = str(excinfo.value)
    assert f"item {item} of omeract_oarsi" in message
    assert str(value) in message
    assert "0 to 100 points" in message
