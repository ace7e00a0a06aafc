"""KOOS and KOOS-derived WOMAC worked examples (instruments.md §3; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import AnswerError

KOOS = get_instrument("koos")
ITEMS = KOOS.item_ids
SUBSCALE_KEYS = ("symptoms", "pain", "adl", "sport_rec", "qol")

Answers = dict[str, float | str | None]


def _all(value: float | str | None) -> Answers:
    return dict.fromkeys(ITEMS, value)


def _items(prefix: str, values: list[float | None]) -> Answers:
    return {f"{prefix}{i}": v for i, v in enumerate(values, start=1)}


# awell-score koos "random" vector (commit c37843e), official numbering. awell lists the two
# stiffness items first ("2,3,1,4,2,1,3"); here they sit at S6, S7 and the other five at S1–S5.
# The Symptoms mean does not depend on the order; the derived WOMAC stiffness does (S6 + S7 = 5).
RANDOM: Answers = {
    **_items("p", [3, 2, 1, 2, 3, 4, 1, 2, 3]),
    **_items("s", [1, 4, 2, 1, 3, 2, 3]),
    **_items("a", [2, 3, 1, 2, 4, 1, 3, 2, 3, 1, 2, 3, 4, 1, 2, 3, 2]),
    **_items("sp", [3, 4, 3, 2, 4]),
    **_items("q", [3, 2, 3, 2]),
}


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        ("awell koos all 0", _all(0), dict.fromkeys(SUBSCALE_KEYS, 100.0)),
        ("awell koos all 2", _all(2), dict.fromkeys(SUBSCALE_KEYS, 50.0)),
        ("awell koos all 4", _all(4), dict.fromkeys(SUBSCALE_KEYS, 0.0)),
        (
            "awell koos random vector (rounded to 1 decimal, as awell does)",
            RANDOM,
            {"pain": 41.7, "symptoms": 42.9, "adl": 42.6, "sport_rec": 20.0, "qol": 37.5},
        ),
        (
            "derived (instruments.md §3b) WOMAC from the awell random vector: sums",
            RANDOM,
            {"womac_pain": 13, "womac_stiffness": 5, "womac_function": 39, "womac_total": 57},
        ),
        (
            "derived (instruments.md §3b) WOMAC from the awell random vector: 0–100, higher worse",
            RANDOM,
            {
                "womac_pain_100": 65.0,
                "womac_stiffness_100": 62.5,
                "womac_function_100": 57.4,
                "womac_total_100": 59.4,
            },
        ),
        (
            "derived: all 2 gives the awell WOMAC all-2 sums (10/4/34/48) and 50 normalised",
            _all(2),
            {"womac_pain": 10, "womac_total": 48, "womac_pain_100": 50, "womac_total_100": 50},
        ),
        (
            "derived: all 0 is 100 on KOOS (best) and 0 on WOMAC (best): opposite directions",
            _all(0),
            {"pain": 100, "womac_pain": 0, "womac_function_100": 0},
        ),
    ],
)
def test_published_vectors(source: str, answers: Answers, expected: dict[str, float]) -> None:
    scores = score_response(KOOS, answers).scores
    for key, value in expected.items():
        score = scores[key]
        assert isinstance(score, float), (source, key, score)
        assert round(score, 1) == pytest.approx(value), (source, key, score)


def test_pain_with_five_of_nine_missing_is_null_and_the_rest_still_score() -> None:
    # awell koos unit test: Pain with 5 of 9 items missing → null; other subscales unaffected.
    answers = {**RANDOM, **dict.fromkeys(("p1", "p2", "p3", "p4", "p5"), None)}
    result = score_response(KOOS, answers)
    assert result.scores["pain"] is None
    assert result.unscorable["pain"].startswith("5 of 9 items missing; at most 4 allowed")
    assert "KOOS Scoring 2012" in result.unscorable["pain"]
    assert round(float(result.scores["adl"] or 0), 1) == 42.6


def test_pain_with_only_p5_to_p9_answered_is_scored() -> None:
    # derived (instruments.md §3a): P5..P9 = 3,4,1,2,3 → mean 2.6 → 100 − 65 = 35.0; five answered
    # is exactly the KOOS Scoring 2012 minimum for Pain.
    answers = {**_all(0), **_items("p", [None, None, None, None, 3, 4, 1, 2, 3])}
    assert score_response(KOOS, answers).scores["pain"] == pytest.approx(35.0)


@pytest.mark.parametrize(
    ("key", "prefix", "n_items", "minimum"),
    [
        # KOOS Scoring 2012: fewest answered items that still give a subscale score.
        ("pain", "p", 9, 5),
        ("symptoms", "s", 7, 4),
        ("adl", "a", 17, 9),
        ("sport_rec", "sp", 5, 3),
        ("qol", "q", 4, 2),
    ],
)
def test_fifty_percent_rule_at_its_boundary(
    key: str, prefix: str, n_items: int, minimum: int
) -> None:
    answered = [1.0] * minimum + [None] * (n_items - minimum)
    at_minimum = score_response(KOOS, {**_all(0), **_items(prefix, answered)})
    assert at_minimum.scores[key] == pytest.approx(75.0)  # mean 1 → 100 − 25
    one_fewer = [1.0] * (minimum - 1) + [None] * (n_items - minimum + 1)
    below = score_response(KOOS, {**_all(0), **_items(prefix, one_fewer)})
    assert below.scores[key] is None
    assert below.unscorable[key].startswith(f"{n_items - minimum + 1} of {n_items} items missing")


def test_derived_womac_uses_womac_missing_rules_on_the_mapped_items() -> None:
    # WOMAC rules (library/womac.py): pain takes the mean of the answered items with one missing,
    # and is unscorable with two missing; KOOS Pain still scores with 7 of 9 answered.
    one_missing = {**_all(2), "p5": None}
    result = score_response(KOOS, one_missing)
    assert result.scores["womac_pain"] == pytest.approx(10.0)  # 4 answered × 2 + 1 × mean 2
    two_missing = {**_all(2), "p5": None, "p9": None}
    result = score_response(KOOS, two_missing)
    assert result.scores["womac_pain"] is None
    assert result.scores["womac_total"] is None
    assert "pain" in result.unscorable["womac_total"]
    assert result.scores["pain"] == pytest.approx(50.0)


def test_derived_womac_ignores_koos_items_outside_the_mapping() -> None:
    # WOMAC pain is P5–P9 and stiffness S6–S7: P1–P4, S1–S5, Sport/Rec and QOL do not count.
    base = score_response(KOOS, _all(1)).scores
    unmapped = ("p1", "p2", "p3", "p4", "s1", "s2", "s3", "s4", "s5", "sp1", "q1")
    changed = score_response(KOOS, {**_all(1), **dict.fromkeys(unmapped, 4)}).scores
    for key in ("womac_pain", "womac_stiffness", "womac_function", "womac_total"):
        assert changed[key] == base[key], key
    assert changed["pain"] != base["pain"]


def test_derived_womac_specs_name_koos_items_and_say_they_are_derived() -> None:
    assert KOOS.score_spec("womac_pain").items == ("p5", "p6", "p7", "p8", "p9")
    assert KOOS.score_spec("womac_stiffness").items == ("s6", "s7")
    assert KOOS.score_spec("womac_function").items == tuple(f"a{i}" for i in range(1, 18))
    for spec in KOOS.scores:
        if spec.key.startswith("womac_"):
            assert "KOOS" in spec.label, spec.key
            assert "KOOS-derived" in spec.description, spec.key
            assert spec.direction == "higher_worse"
        else:
            assert spec.direction == "higher_better"
    mcid = KOOS.score_spec("womac_function_100").mcid
    assert mcid is not None
    assert "not on KOOS-derived" in mcid.note
    assert any("UNVERIFIED" in c and "KOOS→WOMAC" in c for c in KOOS.citation)


def test_labels_are_accepted_in_place_of_codes() -> None:
    # KOOS Scoring 2012: boxes None, Mild, Moderate, Severe, Extreme score 0–4.
    scores = score_response(KOOS, _all("Moderate")).scores
    assert scores["qol"] == 50.0
    assert scores["womac_total"] == 48.0


def test_out_of_range_answer_names_item_value_and_allowed() -> None:
    with pytest.raises(AnswerError) as excinfo:
        score_response(KOOS, {**_all(1), "s4": 5})
    message = str(excinfo.value)
    assert "item s4 of koos" in message
    assert "5" in message
    assert "0 (none)" in message
    assert "4 (extreme)" in message


def test_unknown_label_is_rejected() -> None:
    with pytest.raises(AnswerError, match=r"item q2 of koos: 'sometimes' is not allowed"):
        score_response(KOOS, {**_all(1), "q2": "sometimes"})
