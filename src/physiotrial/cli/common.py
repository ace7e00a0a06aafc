"""Options every study command shares: where the study is, who is acting, JSON output."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from physiotrial.cli.errors import fail
from physiotrial.errors import InputFileError
from physiotrial.services.session import Store, open_study
from physiotrial.settings import Settings

StudyDir = Annotated[
    Path,
    typer.Option(
        "--study", "-s", help="Study directory (holds the SQLite file).", envvar="PHYSIOTRIAL_STUDY"
    ),
]
Database = Annotated[
    str | None,
    typer.Option("--database", help="Database URL, e.g. postgresql+psycopg://host/db."),
]
ActAs = Annotated[str, typer.Option("--as", help="The user you act as (every write is audited).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def study_store(study: Path, database: str | None) -> Iterator[Store]:
    """The study's store for one command, closed afterwards."""
    store = open_study(Settings.resolve(study, database).database_url)
    try:
        yield store
    finally:
        store.close()


def emit(value: Any, as_json: bool, text: str) -> None:
    """Print ``text`` for people, or ``value`` as JSON with ``--json``."""
    if as_json:
        typer.echo(json.dumps(_plain(value), indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(text)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    return value


def parse_day(text: str | None, option: str) -> date:
    """A YYYY-MM-DD option; today when not given."""
    return date.today() if text is None else _iso_day(text, option)


def parse_optional_day(text: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option, or None when not given."""
    return None if text is None else _iso_day(text, option)


def _iso_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date; allowed: YYYY-MM-DD") from None


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    """Repeatable NAME=VALUE options as a mapping."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key.strip():
            raise fail(f"{option}: {value!r} is not NAME=VALUE")
        pairs[key.strip()] = item.strip()
    return pairs


def read_answers(path: Path | None, pairs: list[str], option: str) -> dict[str, Any]:
    """Answers from a file (a JSON object, or by a ``.csv`` suffix a header over one row), then
    NAME=VALUE pairs on top; a blank CSV cell is left unanswered."""
    found: dict[str, Any] = _answers_file(path) if path is not None else {}
    found.update(parse_pairs(pairs, option))
    return found


def _answers_file(path: Path) -> dict[str, Any]:
    is_csv = path.suffix.lower() == ".csv"
    try:
        # utf-8-sig: a CSV saved by a spreadsheet may start with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig" if is_csv else "utf-8")
    except OSError as error:
        raise InputFileError(f"{path}: cannot be read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path}: not UTF-8 text: {error}") from None
    if is_csv:
        return _one_row_csv(text, path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected a JSON object of id: answer")
    return data


def _one_row_csv(text: str, path: Path) -> dict[str, Any]:
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as error:
        raise InputFileError(f"{path}: not valid CSV: {error}") from None
    if len(rows) != 2:
        raise InputFileError(
            f"{path}: {max(len(rows) - 1, 0)} rows of answers; allowed: one row of answers "
            "under a header of ids"
        )
    header = [h.strip() for h in rows[0]]
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputFileError(f"{path}: column {', '.join(repeated)} appears more than once")
    if len(rows[1]) != len(header):
        raise InputFileError(
            f"{path}: the row of answers has {len(rows[1])} cells; the header has {len(header)}"
        )
    return {k: v.strip() for k, v in zip(header, rows[1], strict=True) if v.strip()}
