"""CSV input on the command line: ``record --csv FILE`` and ``screen --answers FILE.csv``.

``record --csv`` checks and scores every row before it writes any (one bad cell writes nothing, and
the error names the row, the column, the value and what is allowed), then records each row in its
own transaction with its own audit row; a refusal by the database stops at that row, keeps the rows
before it and says how many there were. Each test runs on SQLite and PostgreSQL (``database_url``)
through typer's CliRunner with ``--database URL``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.errors import NotFoundError
from physiotrial.services.capture import record, response_history
from physiotrial.store.store import Store
from tests.services.helpers_capture import BASELINE, DAY0, ELIGIBLE, counts, enrol, make_study

runner = CliRunner()
KEYS = ("study_code", "visit", "measure", "on")


def _row(code: str, measure: str, /, **changes: object) -> dict[str, object]:
    """A CSV row of ``measure`` at BL on DAY0 with the BASELINE answers, then ``changes``."""
    return {"study_code": code, "visit": "BL", "measure": measure, "on": DAY0.isoformat()} | (
        BASELINE[measure] | changes
    )


def _write(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    """The rows as a CSV: key columns, then every item any row answers; other cells blank."""
    items = list(dict.fromkeys(k for row in rows for k in row if k not in KEYS))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*KEYS, *items], restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def study(database_url: str) -> Iterator[tuple[Store, str]]:
    """The reference trial with one participant, SEV-001, randomised on DAY0."""
    store = make_study(database_url)
    yield store, enrol(store)
    store.close()


def _run(store: Store, *args: str) -> Any:
    return runner.invoke(app, [*args, "--database", store.url])


def _recorded(store: Store, code: str, measure: str) -> bool:
    try:
        response_history(store, "dm", (code, "BL", measure))
    except NotFoundError:
        return False
    return True


# --- record --csv: every row recorded -----------------------------------------------------------


def test_record_csv_records_three_rows(study: tuple[Store, str], tmp_path: Path) -> None:
    store, code = study
    before = counts(store)
    rows = [_row(code, "vas_max"), _row(code, "womac"), _row(code, "tug")]
    path = _write(tmp_path / "responses.csv", rows)

    result = _run(store, "record", "--csv", str(path), "--as", "assessor", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(d["study_code"], d["visit"], d["measure"], d["version"]) for d in data] == [
        (code, "BL", "vas_max", 1),
        (code, "BL", "womac", 1),
        (code, "BL", "tug", 1),
    ]
    assert data[0]["scores"] == {"score": 72.0}
    assert {k: data[1]["scores"][k] for k in ("pain", "stiffness", "function", "total")} == {
        "pain": 10.0,
        "stiffness": 4.0,
        "function": 34.0,
        "total": 48.0,
    }
    assert data[2]["scores"] == {"time_s": 11.2, "high_fall_risk": False}
    assert {d["done_on"] for d in data} == {"2025-03-03"}
    assert {d["entered_by"] for d in data} == {"assessor"}
    after = counts(store)
    # one response row and one audit row per CSV row; BL marked done once
    assert after["responses"] == before["responses"] + 3
    assert after["audit"] == before["audit"] + 3
    assert after["visits done"] == before["visits done"] + 1
    [womac] = response_history(store, "dm", (code, "BL", "womac"))
    assert womac.answers == dict.fromkeys(BASELINE["womac"], 2)


def test_record_csv_prints_a_line_per_row(study: tuple[Store, str], tmp_path: Path) -> None:
    store, code = study
    path = _write(tmp_path / "r.csv", [_row(code, "vas_max"), _row(code, "tug")])

    result = _run(store, "record", "--csv", str(path), "--as", "assessor")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"recorded 2 responses from {path}",
        f"row 1: {code} BL vas_max (response 1)",
        "  scores: score=72",
        f"row 2: {code} BL tug (response 2)",
        "  scores: time_s=11.2, high_fall_risk=False",
    ]


# --- record --csv: one bad cell writes nothing -------------------------------------------------

PCS_BLANK = {f"q{i}": "" for i in range(1, 14)}

BAD_ROW_3 = [
    pytest.param(
        "pcs",
        {"q1": "9"},
        "assessor",
        "r.csv: row 3, item q1 of pcs: '9' is not allowed; allowed: 0 (not at all), 1 (to a "
        "slight degree), 2 (to a moderate degree), 3 (to a great degree), 4 (all the time) or "
        "blank for missing",
        id="answer out of range",
    ),
    pytest.param(
        "tug",
        {"p1": "2"},
        "assessor",
        "r.csv: row 3, column p1: '2' is not allowed; allowed: blank (p1 is not an item of tug, "
        "whose items are time_s, walking_aid)",
        id="cell of another measure's item",
    ),
    pytest.param(
        "tug",
        {"on": "2025-02-30"},
        "assessor",
        "r.csv: row 3, column on: '2025-02-30' is not allowed; allowed: a date YYYY-MM-DD",
        id="not a date",
    ),
    pytest.param(
        "tug",
        {"on": "2025-03-04"},
        "assessor",
        "r.csv: row 3, column on: '2025-03-04' is not allowed; allowed: 2025-03-03, the date "
        "row 1 gives SEV-001 BL",
        id="second date for one visit",
    ),
    pytest.param(
        "vas_max",
        {"visit": "M6", "on": "2999-01-01"},
        "assessor",
        "r.csv: row 3, column on: done on 2999-01-01 is after today",
        id="date in the future",
    ),
    pytest.param(
        "tug",
        {"visit": "XX"},
        "assessor",
        "r.csv: row 3, column visit: 'XX' is not allowed; allowed: BL, T1, T2, T3, W3, M3, M6",
        id="unknown visit",
    ),
    pytest.param(
        "tug",
        {"measure": "pgic"},
        "assessor",
        "r.csv: row 3, column measure: 'pgic' is not allowed; allowed: a measure of visit BL: "
        "vas_max, vas_current, vas_min, womac, dn4, tsk11, pcs, tug, six_mwt, strength, rom",
        id="measure not planned at the visit",
    ),
    pytest.param(
        "vas_max",
        {},
        "assessor",
        "r.csv: row 3 repeats row 1 (SEV-001 BL vas_max); allowed: each measure once per visit",
        id="measure twice",
    ),
    pytest.param(
        "pcs",
        PCS_BLANK,
        "assessor",
        "r.csv: row 3 (SEV-001 BL pcs): no item answered; items: q1, q2",
        id="no answer",
    ),
    pytest.param(
        "tug",
        {},
        "coord",
        "r.csv: row 3, column measure: coord (coordinator) may not record tug, which is rated "
        "by the assessor; allowed roles: assessor",
        id="rater the role may not enter",
    ),
    pytest.param(
        "tug",
        {"study_code": " "},
        "assessor",
        "r.csv: row 3, column study_code: ' ' is not allowed; allowed: a study code",
        id="blank study code",
    ),
]


@pytest.mark.parametrize(("measure", "changes", "actor", "message"), BAD_ROW_3)
def test_record_csv_with_a_bad_row_3_writes_nothing(
    study: tuple[Store, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    measure: str,
    changes: dict[str, object],
    actor: str,
    message: str,
) -> None:
    store, code = study
    assert code == "SEV-001"
    before = counts(store)
    rows = [_row(code, "vas_max"), _row(code, "womac"), _row(code, measure, **changes)]
    _write(tmp_path / "r.csv", rows)
    monkeypatch.chdir(tmp_path)  # the error names the file as given: r.csv

    result = _run(store, "record", "--csv", "r.csv", "--as", actor)

    assert result.exit_code == 1
    assert result.output.startswith(f"error: {message}"), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert counts(store) == before


# --- record --csv: a refusal by the database mid-file ------------------------------------------

REFUSED_ROW_3 = [
    pytest.param(
        "recorded",
        "r.csv: row 3 (SEV-001 BL vas_max) was refused: SEV-001 BL vas_max is already recorded "
        "(response 1); change it with correct and a reason; 2 rows were recorded before it and "
        "stay recorded; row 3 and the rows after it were not recorded",
        id="measure already recorded",
    ),
    pytest.param(
        "UNI",
        "r.csv: row 3 (UNI-001 BL vas_max) was refused: assessor works at another site and may "
        "not record for this participant; 2 rows were recorded before it and stay recorded",
        id="participant of another site",
    ),
    pytest.param(
        "SEV-999",
        "r.csv: row 3 (SEV-999 BL vas_max) was refused: no participant 'SEV-999'; 2 rows were "
        "recorded before it and stay recorded",
        id="no such participant",
    ),
]


@pytest.mark.parametrize(("case", "message"), REFUSED_ROW_3)
def test_record_csv_stops_at_a_refused_row_and_keeps_the_rows_before(
    study: tuple[Store, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    message: str,
) -> None:
    store, code = study
    row_3 = _row(code, "vas_max")
    if case == "recorded":
        record(store, "patient", code, "BL", "vas_max", BASELINE["vas_max"], DAY0)
    elif case == "UNI":
        row_3["study_code"] = enrol(store, site="UNI")
    else:
        row_3["study_code"] = case
    before = counts(store)
    rows = [_row(code, "womac"), _row(code, "tug"), row_3, _row(code, "pcs")]
    _write(tmp_path / "r.csv", rows)
    monkeypatch.chdir(tmp_path)

    result = _run(store, "record", "--csv", "r.csv", "--as", "assessor")

    assert result.exit_code == 1
    assert result.output.startswith(f"error: {message}"), result.output
    assert result.output.strip().endswith(
        "run again with the rows from row 3 on, once row 3 is fixed or removed (a row already "
        "recorded is refused, never recorded twice)"
    )
    after = counts(store)
    assert after["responses"] == before["responses"] + 2  # rows 1 and 2, committed
    assert after["audit"] == before["audit"] + 2
    assert [_recorded(store, code, m) for m in ("womac", "tug", "pcs")] == [True, True, False]

    # Running the whole file again is safe: row 1 is refused, nothing is recorded twice.
    again = _run(store, "record", "--csv", "r.csv", "--as", "assessor")
    assert again.exit_code == 1
    assert again.output.startswith(
        f"error: r.csv: row 1 ({code} BL womac) was refused: {code} BL womac is already recorded"
    )
    assert "no row was recorded before it" in again.output
    assert counts(store) == after

    # The rows from row 3 on, row 3 removed: the rest is recorded.
    _write(tmp_path / "rest.csv", rows[3:])
    rest = _run(store, "record", "--csv", "rest.csv", "--as", "assessor")
    assert rest.exit_code == 0, rest.output
    assert rest.output.startswith("recorded 1 response from rest.csv")
    assert counts(store)["responses"] == after["responses"] + 1


# --- record: the file itself, and how the options combine (no database is opened) -------------

HEADER = "study_code,visit,measure,on,mm"

BAD_FILES = [
    pytest.param(
        "", "r.csv: no header; columns: study_code, visit, measure, on, item ids", id="empty"
    ),
    pytest.param(
        "study_code,visit,on,mm\nSEV-001,BL,2025-03-03,40\n",
        "r.csv: no column measure; a file of responses has columns study_code, visit, measure, "
        "on and the item ids",
        id="key column missing",
    ),
    pytest.param(
        f"{HEADER},mm\nSEV-001,BL,vas_max,2025-03-03,40,41\n",
        "r.csv: column mm appears more than once",
        id="column twice",
    ),
    pytest.param(
        f"{HEADER}\nSEV-001,BL,vas_max,2025-03-03,40\nSEV-001,BL,vas_min\n",
        "r.csv: row 2 has 3 cells; the header has 5",
        id="short row",
    ),
    pytest.param(f"{HEADER}\n\n,,,,\n", "r.csv: no rows under the header", id="no rows"),
    pytest.param(
        f"{HEADER}\nSEV-001,BL,vas_max,03/03/2025,40\n",
        "r.csv: row 1, column on: '03/03/2025' is not allowed; allowed: a date YYYY-MM-DD",
        id="date not ISO",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_record_csv_refuses_a_malformed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    (tmp_path / "r.csv").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["record", "--csv", "r.csv", "--as", "assessor"])
    assert result.exit_code == 1
    assert result.output == f"error: {message}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no study database was opened


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["SEV-001", "--visit", "BL", "--csv", "r.csv"],
            "--csv takes every response from the file; do not give STUDY_CODE, --visit",
        ),
        (
            ["--csv", "r.csv", "--measure", "womac", "--on", "2025-03-03", "--answer", "p1=2"],
            "--csv takes every response from the file; do not give --measure, --on, --answer",
        ),
        (
            ["SEV-001", "--visit", "BL"],
            "name what to record: STUDY_CODE --visit V --measure M, or --csv FILE",
        ),
        (["--csv", "missing.csv"], "missing.csv: cannot be read: No such file or directory"),
    ],
)
def test_record_options_combine_one_way_or_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["record", *args, "--as", "assessor"])
    assert result.exit_code == 1
    assert result.output == f"error: {message}\n"
    assert list(tmp_path.iterdir()) == []  # no study database was opened


def test_record_help_explains_what_a_refusal_mid_file_leaves() -> None:
    result = runner.invoke(app, ["record", "--help"])
    text = " ".join(result.output.split())
    for fragment in (
        "one bad cell writes nothing",
        "the rows before it stay recorded",
        "Re-running is safe",
    ):
        assert fragment in text


# --- screen --answers FILE.csv -----------------------------------------------------------------


ELIGIBLE_CELLS = {
    k: ("yes" if v else "no") if isinstance(v, bool) else str(v) for k, v in ELIGIBLE.items()
}
"""The eligible answers of helpers_capture as CSV cells."""

SCREENING = [
    pytest.param({}, [], True, [], id="every criterion answered"),
    pytest.param(
        {"needle_phobia": "yes"},
        [],
        False,
        ["needle_phobia yes: excluded (Fear of needles (needle phobia))"],
        id="an exclusion",
    ),
    pytest.param({"age": ""}, [], False, ["age: not answered"], id="blank cell is unanswered"),
    pytest.param({"age": "45"}, ["--answer", "age=66"], True, [], id="--answer overrides"),
]


@pytest.mark.parametrize(("changes", "extra", "eligible", "reasons"), SCREENING)
def test_screen_takes_answers_from_a_one_row_csv(
    study: tuple[Store, str],
    tmp_path: Path,
    changes: dict[str, str],
    extra: list[str],
    eligible: bool,
    reasons: list[str],
) -> None:
    store, _ = study
    before = counts(store)
    answers = ELIGIBLE_CELLS | changes
    path = tmp_path / "eligibility.CSV"  # the suffix decides, in any case
    path.write_text(",".join(answers) + "\n" + ",".join(answers.values()) + "\n")
    args = ["screen", "--site", "SEV", "--name", "Ana", "--answers", str(path), *extra]
    args += ["--factor", "sex=female", "--on", "2025-03-04", "--as", "coord", "--json"]

    result = _run(store, *args)

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["study_code"], data["eligible"], data["reasons"]) == ("SEV-002", eligible, reasons)
    assert data["screened_on"] == "2025-03-04"
    assert counts(store)["audit"] == before["audit"] + 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("age,acr_knee_oa\n63,yes\n70,no\n", "e.csv: 2 rows of answers; allowed: one row"),
        ("age,acr_knee_oa\n", "e.csv: 0 rows of answers; allowed: one row of answers"),
        ("age,age\n63,64\n", "e.csv: column age appears more than once"),
        ("age,acr_knee_oa\n63\n", "e.csv: the row of answers has 1 cells; the header has 2"),
    ],
)
def test_screen_refuses_a_csv_that_is_not_one_row_of_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    (tmp_path / "e.csv").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    args = ["screen", "--site", "SEV", "--name", "Ana", "--answers", "e.csv", "--as", "coord"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {message}")
    assert [p.name for p in tmp_path.iterdir()] == ["e.csv"]  # no study database was opened
