"""Options every study command shares: where the study is, who is acting, JSON output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

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
