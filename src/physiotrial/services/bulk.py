"""Recording many responses from one CSV file: every row is checked before the first is written.

A file of responses has one response per row: ``study_code``, ``visit``, ``measure``, ``on``
(YYYY-MM-DD) and the item ids as further columns (blank = missing). :func:`response_rows` reads
it (pure: no database), and :func:`record_many` validates and scores every row with core against
the stored protocol before writing anything, so one bad cell writes nothing and the error names
the row, the column, the value and what is allowed, as ``physiotrial score`` does for a CSV.
Rows are counted from 1 under the header.

Only then is each row recorded with :func:`physiotrial.services.capture.record`: one transaction
and one audit row per response, exactly as if entered one at a time, so every entry stays
attributable to who entered it and when (ICH E6(R2) 4.9.0; FDA 21 CFR 11.10(e)). The database can
still refuse a row that passed (already recorded, a participant of another site or not randomised,
a visit already done on another day, the study locked meanwhile). Recording then stops at that
row; the rows before it stay committed and the error says which row failed and how many were
recorded before it. Re-running is safe: a row already recorded is refused, never stored twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from physiotrial.core.instruments import get_instrument, parse_answers
from physiotrial.core.protocol import Protocol, VisitKind
from physiotrial.errors import (
    AnswerError,
    ConflictError,
    InputFileError,
    PermissionDeniedError,
    PhysiotrialError,
)
from physiotrial.services.capture import RATER_ROLES, RecordedResponse, record, score
from physiotrial.services.context import Actor, acting, require
from physiotrial.services.schedule import not_after, reject, the_day
from physiotrial.services.study import study_protocol
from physiotrial.store.store import Store

KEY_COLUMNS = ("study_code", "visit", "measure", "on")
"""The columns every file of responses has; every other column is an item id."""


@dataclass(frozen=True)
class ResponseRow:
    """One row of a file of responses, as read: its answers still the cells' text."""

    row: int
    """Row number in the file, 1 = the first row under the header."""
    study_code: str
    visit: str
    measure: str
    done_on: date
    answers: dict[str, str]
    """Every column that is not a key column → its cell (blank = missing or not this measure's)."""


def response_rows(text: str, source: str = "input") -> list[ResponseRow]:
    """The rows of a CSV file of responses; a malformed file or key cell raises, naming where."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader, [])]
        body = list(reader)
    except csv.Error as error:
        raise InputFileError(f"{source}: not valid CSV: {error}") from None
    if not any(header):
        raise InputFileError(f"{source}: no header; columns: {', '.join(KEY_COLUMNS)}, item ids")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputFileError(f"{source}: column {', '.join(repeated)} appears more than once")
    missing = [k for k in KEY_COLUMNS if k not in header]
    if missing:
        raise InputFileError(
            f"{source}: no column {', '.join(missing)}; a file of responses has columns "
            f"{', '.join(KEY_COLUMNS)} and the item ids"
        )
    rows = []
    for number, cells in enumerate(body, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise InputFileError(
                f"{source}: row {number} has {len(cells)} cells; the header has {len(header)}"
            )
        rows.append(_row(dict(zip(header, cells, strict=True)), number, source))
    if not rows:
        raise InputFileError(f"{source}: no rows under the header")
    return rows


def _row(cells: dict[str, str], number: int, source: str) -> ResponseRow:
    where = f"{source}: row {number}, column"
    keys = {k: cells[k].strip() for k in KEY_COLUMNS}
    for key, what in (("study_code", "a study code"), ("visit", "a visit code")):
        if not keys[key]:
            raise reject(f"{where} {key}", cells[key], what)
    if not keys["measure"]:
        raise reject(f"{where} measure", cells["measure"], "a measure key")
    try:
        done_on = date.fromisoformat(keys["on"])
    except ValueError:
        raise reject(f"{where} on", cells["on"], "a date YYYY-MM-DD") from None
    answers = {k: v for k, v in cells.items() if k not in KEY_COLUMNS}
    return ResponseRow(number, keys["study_code"], keys["visit"], keys["measure"], done_on, answers)


def record_many(
    store: Store,
    actor: str,
    rows: Sequence[ResponseRow],
    source: str = "input",
    today: date | None = None,
) -> list[RecordedResponse]:
    """Check every row, then record each with :func:`record` (one transaction and audit row each).

    Nothing is written unless every row passes the checks that need no write: the visit is a
    visit of the protocol and the measure is planned at it, the acting role fits the measure's
    rater, the date is not after today, each measure appears once per participant and visit
    with one date per visit, a column that is not an item of the row's measure is blank, and
    every answer is one its item allows (scored by core, as :func:`record` will). A refusal
    while recording stops at that row; the rows before it stay recorded.
    """
    day = the_day(today)
    with store.read() as connection:
        who = acting(connection, actor)
        protocol = study_protocol(connection)
    require(who, "record")
    _consistent(rows, source)
    checked = [_answers(protocol, who, row, source, day) for row in rows]
    recorded: list[RecordedResponse] = []
    for row, answers in zip(rows, checked, strict=True):
        try:
            recorded.append(
                record(
                    store,
                    actor,
                    row.study_code,
                    row.visit,
                    row.measure,
                    answers,
                    row.done_on,
                    today=day,
                )
            )
        except PhysiotrialError as error:
            raise _stopped(error, row, len(recorded), source) from None
    return recorded


def _answers(
    protocol: Protocol, who: Actor, row: ResponseRow, source: str, day: date
) -> dict[str, str]:
    """The row's item answers (non-blank cells of its measure's items), once they all pass."""
    where = f"{source}: row {row.row}"
    visits = {v.code: v for v in protocol.visits if v.kind is not VisitKind.SCREENING}
    if row.visit not in visits:
        raise reject(f"{where}, column visit", row.visit, ", ".join(visits))
    planned = visits[row.visit].measures
    if row.measure not in planned:
        allowed = f"a measure of visit {row.visit}: {', '.join(planned) or 'none'}"
        raise reject(f"{where}, column measure", row.measure, allowed)
    measure = protocol.measure(row.measure)
    if who.role not in RATER_ROLES[measure.rater]:
        roles = ", ".join(sorted(r.value for r in RATER_ROLES[measure.rater]))
        raise PermissionDeniedError(
            f"{where}, column measure: {who.username} ({who.role.value}) may not record "
            f"{measure.key}, which is rated by the {measure.rater.value}; allowed roles: {roles}"
        )
    not_after(row.done_on, day, f"{where}, column on: done on")
    instrument = get_instrument(measure.instrument)
    items = instrument.item_ids
    for column, cell in row.answers.items():
        if column not in items and cell.strip():
            raise AnswerError(
                f"{where}, column {column}: {cell!r} is not allowed; allowed: blank ({column} is "
                f"not an item of {measure.key}, whose items are {', '.join(items)})"
            )
    answers = {k: v for k, v in row.answers.items() if k in items and v.strip()}
    columns = {k: [v] for k, v in answers.items()}
    try:
        parse_answers(
            instrument, columns, options=measure.options, first_row=row.row, row_label="row"
        )
    except AnswerError as error:
        raise AnswerError(f"{source}: {error}") from None
    score(measure, answers, f"{where} ({row.study_code} {row.visit} {row.measure})")
    return answers


def _consistent(rows: Sequence[ResponseRow], source: str) -> None:
    """Refuse a measure given twice for one visit, or one visit given two dates, in the file."""
    first: dict[tuple[str, str, str], int] = {}
    dated: dict[tuple[str, str], ResponseRow] = {}
    for row in rows:
        key = (row.study_code, row.visit, row.measure)
        if key in first:
            raise ConflictError(
                f"{source}: row {row.row} repeats row {first[key]} ({' '.join(key)}); allowed: "
                "each measure once per visit (change a recorded one with correct and a reason)"
            )
        first[key] = row.row
        earlier = dated.setdefault((row.study_code, row.visit), row)
        if earlier.done_on != row.done_on:
            raise reject(
                f"{source}: row {row.row}, column on",
                row.done_on.isoformat(),
                f"{earlier.done_on.isoformat()}, the date row {earlier.row} gives "
                f"{row.study_code} {row.visit}",
            )


def _stopped(
    error: PhysiotrialError, row: ResponseRow, recorded: int, source: str
) -> PhysiotrialError:
    """The refusal of ``row``, saying how far the file got; the same class as the refusal."""
    if recorded == 0:
        before = "no row was recorded before it"
    elif recorded == 1:
        before = "1 row was recorded before it and stays recorded"
    else:
        before = f"{recorded} rows were recorded before it and stay recorded"
    message = (
        f"{source}: row {row.row} ({row.study_code} {row.visit} {row.measure}) was refused: "
        f"{error}; {before}; row {row.row} and the rows after it were not recorded: run again "
        f"with the rows from row {row.row} on, once row {row.row} is fixed or removed (a row "
        "already recorded is refused, never recorded twice)"
    )
    try:
        return type(error)(message)
    except TypeError:  # an error class that does not take one message (ProtocolError)
        return ConflictError(message)
