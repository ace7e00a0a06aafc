"""Scoring answers held in a file: one JSON object, a JSON list, or a CSV with a response per row.

The CSV path is vectorised end to end (columns are parsed and scored as numpy arrays), so 100,000
rows take seconds. Columns that are not items of the instrument (a participant id, a visit code)
pass through to the output unchanged and in their original order.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from physiotrial.core.instruments import (
    ScoreKind,
    ScoreTable,
    get_instrument,
    parse_answers,
    score_answers,
)
from physiotrial.core.instruments.spec import OptionValue
from physiotrial.errors import AnswerError, InputFileError

OutputFormat = Literal["json", "csv"]


@dataclass(frozen=True)
class ScoredFile:
    """Scores for every response of a file, with the columns that passed through."""

    table: ScoreTable
    passthrough: dict[str, list[str]]
    single: bool  # the input was one JSON object, so the output is one object too


def score_text(
    instrument_name: str,
    text: str,
    source: str = "input",
    options: Mapping[str, OptionValue] | None = None,
) -> ScoredFile:
    """Parse, validate and score answers given as JSON or CSV text."""
    instrument = get_instrument(instrument_name)
    stripped = text.lstrip()
    if not stripped:
        raise InputFileError(f"{source}: no answers (the input is empty)")
    if stripped[0] in "{[":
        rows, single = _json_rows(stripped, source)
        columns = _columns_from_records(rows, instrument.item_ids, source)
        passthrough: dict[str, list[str]] = {}
        row_label = "" if single else "record"
    else:
        columns, passthrough = _csv_columns(stripped, instrument.item_ids, source)
        single = False
        row_label = "row"
    try:
        answers = parse_answers(instrument, columns, options=options, row_label=row_label)
    except AnswerError as error:
        raise AnswerError(f"{source}: {error}") from None
    return ScoredFile(score_answers(answers), passthrough, single)


def _json_rows(text: str, source: str) -> tuple[list[Mapping[str, Any]], bool]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{source}: not valid JSON: {error}") from None
    if isinstance(data, dict):
        return [data], True
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data, False
    raise InputFileError(f"{source}: JSON must be an object (item id → answer) or a list of them")


def _columns_from_records(
    rows: Sequence[Mapping[str, Any]], item_ids: Sequence[str], source: str
) -> dict[str, list[object]]:
    known = set(item_ids)
    for number, row in enumerate(rows, start=1):
        unknown = sorted(set(row) - known)
        if unknown:
            where = f"record {number}: " if len(rows) > 1 else ""
            raise AnswerError(
                f"{source}: {where}unknown item {', '.join(unknown)}; items: {', '.join(item_ids)}"
            )
    return {item: [row.get(item) for row in rows] for item in item_ids}


def _csv_columns(
    text: str, item_ids: Sequence[str], source: str
) -> tuple[dict[str, list[object]], dict[str, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
        body = list(reader)
    except csv.Error as error:
        raise InputFileError(f"{source}: not valid CSV: {error}") from None
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise InputFileError(f"{source}: column {', '.join(duplicated)} appears more than once")
    body = [row for row in body if any(cell.strip() for cell in row)]
    for number, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise InputFileError(
                f"{source}: row {number} has {len(row)} cells; the header has {len(header)}"
            )
    if not set(header) & set(item_ids):
        raise InputFileError(
            f"{source}: no column is an item of this instrument; expected columns among: "
            f"{', '.join(item_ids)}"
        )
    transposed = list(zip(*body, strict=True)) if body else [() for _ in header]
    by_name = {name: list(cells) for name, cells in zip(header, transposed, strict=True)}
    items: dict[str, list[object]] = {k: list(v) for k, v in by_name.items() if k in item_ids}
    passthrough = {k: v for k, v in by_name.items() if k not in item_ids}
    return items, passthrough


# --- output ---------------------------------------------------------------------------------


def render(scored: ScoredFile, fmt: OutputFormat) -> str:
    """The scores as JSON (an object for one response, else a list) or as CSV."""
    if fmt == "csv":
        return _render_csv(scored)
    records = [_record(scored, row) for row in range(len(scored.table))]
    payload: object = records[0] if scored.single else records
    return json.dumps(payload, indent=2, ensure_ascii=False)


def _record(scored: ScoredFile, row: int) -> dict[str, object]:
    response = scored.table.row(row)
    record: dict[str, object] = {k: v[row] for k, v in scored.passthrough.items()}
    record.update(
        instrument=response.instrument,
        version=response.version,
        scores=response.scores,
        unscorable=response.unscorable,
    )
    return record


def _render_csv(scored: ScoredFile) -> str:
    table = scored.table
    columns: dict[str, list[str]] = dict(scored.passthrough)
    for spec in table.instrument.scores:
        columns[spec.key] = _cells(table.columns[spec.key].values, spec.kind)
    columns["unscorable"] = _reasons(table)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return out.getvalue()


def _cells(values: np.ndarray[Any, Any], kind: ScoreKind) -> list[str]:
    if kind is ScoreKind.CATEGORY:
        return ["" if v is None else str(v) for v in values]
    numbers = values.astype(float).tolist()
    if kind is ScoreKind.FLAG:
        return ["" if math.isnan(v) else ("true" if v else "false") for v in numbers]
    return ["" if math.isnan(v) else format(v, ".10g") for v in numbers]


def _reasons(table: ScoreTable) -> list[str]:
    cells = [""] * len(table)
    for key, column in table.columns.items():
        for row in np.flatnonzero(column.reasons != None):  # noqa: E711  (elementwise test)
            note = f"{key}: {column.reasons[row]}"
            cells[row] = f"{cells[row]}; {note}" if cells[row] else note
    return cells
