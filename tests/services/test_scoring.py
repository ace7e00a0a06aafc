"""Scoring files: JSON and CSV in, JSON and CSV out, errors that name row, item and value."""

from __future__ import annotations

import csv
import io
import json

import pytest

from physiotrial.errors import AnswerError, InputFileError, InstrumentError
from physiotrial.services.scoring import render, score_text
from physiotrial.simulate.files import womac_csv

WOMAC_ITEMS = [f"{p}{i}" for p, n in (("p", 5), ("s", 2), ("f", 17)) for i in range(1, n + 1)]


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_csv_scores_every_row_and_passes_other_columns_through() -> None:
    rows = [
        {"participant": "P1", "visit": "BL", **dict.fromkeys(WOMAC_ITEMS, 2)},
        {"participant": "P2", "visit": "BL", **dict.fromkeys(WOMAC_ITEMS, 4)},
        {"participant": "P3", "visit": "W3", **dict.fromkeys(WOMAC_ITEMS, 0), "f1": ""},
    ]
    out = list(csv.DictReader(io.StringIO(render(score_text("womac", _csv(rows)), "csv"))))
    assert [r["participant"] for r in out] == ["P1", "P2", "P3"]
    assert [r["visit"] for r in out] == ["BL", "BL", "W3"]
    assert [r["total"] for r in out] == ["48", "96", "0"]
    assert out[0]["total_100"] == "50"
    assert out[2]["unscorable"] == ""


def test_unscorable_subscale_is_empty_with_the_reason() -> None:
    row = {"id": "P9", **dict.fromkeys(WOMAC_ITEMS, 1), "p1": "", "p2": "NA"}
    out = next(csv.DictReader(io.StringIO(render(score_text("womac", _csv([row])), "csv"))))
    assert out["pain"] == ""
    assert out["total"] == ""
    assert out["function"] == "17"
    assert "pain: 2 of 5 items missing; at most 1 allowed" in out["unscorable"]


def test_one_json_object_gives_one_json_object() -> None:
    scored = score_text("vas", '{"mm": 37.5}', "answers.json")
    payload = json.loads(render(scored, "json"))
    assert payload["scores"] == {"score": 37.5}
    assert payload["instrument"] == "vas"
    assert payload["unscorable"] == {}


def test_wrong_csv_value_names_file_row_item_value_and_allowed() -> None:
    rows = [dict.fromkeys(WOMAC_ITEMS, 1), {**dict.fromkeys(WOMAC_ITEMS, 1), "s2": "7"}]
    with pytest.raises(AnswerError) as excinfo:
        score_text("womac", _csv(rows), "answers.csv")
    assert str(excinfo.value) == (
        "answers.csv: row 2, item s2 of womac: '7' is not allowed; allowed: 0 (none), 1 (mild), "
        "2 (moderate), 3 (severe), 4 (extreme) or blank for missing"
    )


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("", InputFileError, "no answers"),
        ('{"mm": 1', InputFileError, "not valid JSON"),
        ("[1, 2]", InputFileError, "JSON must be an object"),
        ('{"cm": 4}', AnswerError, "unknown item cm; items: mm"),
        ("a,b\n1,2\n", InputFileError, "no column is an item of this instrument"),
        ("mm,mm\n1,2\n", InputFileError, "column mm appears more than once"),
        ("id,mm\nP1,3,4\n", InputFileError, "row 1 has 3 cells; the header has 2"),
        (
            "mm\nabc\n",
            AnswerError,
            "row 1, item mm of vas: 'abc' is not allowed; allowed: 0 to 100",
        ),
    ],
)
def test_bad_files_get_one_clear_error(text: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as excinfo:
        score_text("vas", text, "in")
    assert fragment in str(excinfo.value)


def test_unknown_instrument_lists_the_known_ones() -> None:
    with pytest.raises(InstrumentError, match="no instrument named 'wormac'; known instruments:"):
        score_text("wormac", "{}")


def test_thousand_row_file_scores_like_row_by_row() -> None:
    text = womac_csv(1000, seed=7)
    out = list(csv.DictReader(io.StringIO(render(score_text("womac", text), "csv"))))
    source = list(csv.DictReader(io.StringIO(text)))
    assert len(out) == 1000
    for original, scored in zip(source[:50], out[:50], strict=True):
        pain = [original[f"p{i}"] for i in range(1, 6)]
        answered = [int(v) for v in pain if v != ""]
        if len(answered) >= 4:
            expected = sum(answered) + (5 - len(answered)) * sum(answered) / len(answered)
            assert float(scored["pain"]) == pytest.approx(expected)
        else:
            assert scored["pain"] == ""
