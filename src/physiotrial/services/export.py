"""Exporting the study data as tidy, pseudonymised tables for analysis (CSV and Parquet).

Tidy: one kind of observation per table, a row per observation, a column per variable (Wickham,
J Stat Softw 2014;59(10)): ``scores`` has a row per participant × visit × measure × score key,
``item_answers`` a row per item answer, ``sessions`` a row per session with a column per field of
its session plan. Only current versions of corrected records are exported; the history stays in
the database and its audit trail. Never exported (DESIGN.md): ``identities`` and usernames; for a
role that may not see allocations (:func:`blinding.sees_allocation`) the ``arm`` column and the
``unblinded_only`` session fields. Arms pass through :func:`blinding.arm_for`; a site-bound role
exports its own site only. ``data_dictionary.csv`` describes every column (from the protocol and
the instrument catalogue); ``manifest.json`` says who, when, blinded or not, and the lock's data
hash when locked. Each export is a row in the audit trail (action ``export``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from physiotrial import __version__
from physiotrial.core.instruments import ScoreKind, get_instrument
from physiotrial.core.protocol import Protocol
from physiotrial.errors import ConflictError, OutputFileError
from physiotrial.services import safety
from physiotrial.services.blinding import arm_for, sees_allocation
from physiotrial.services.context import SITE_BOUND, Actor, acting, require, writing
from physiotrial.services.enrolment import CONSENTED, ELIGIBLE, SCREEN_FAILED
from physiotrial.services.locking import lock_in_force
from physiotrial.services.randomisation import RANDOMISED
from physiotrial.services.study import study_info, study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

FORMATS = ("csv", "parquet")
_ARROW = {"text": pa.string(), "integer": pa.int64(), "number": pa.float64()}
_ARROW |= {"boolean": pa.bool_(), "date": pa.date32()}
_PANDAS = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
_FIELD_TYPES = {"integer": "integer", "number": "number", "yes_no": "boolean"}
_VERSION = "Record version (1 = first entry; higher = a correction with a reason)"


@dataclass(frozen=True)
class Column:
    """A column as the dictionary describes it; ``applies_to`` narrows a row to one context."""

    name: str
    type: str
    meaning: str
    allowed: str = ""
    unit: str = ""
    applies_to: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    notes: tuple[Column, ...] = ()


@dataclass(frozen=True)
class ExportResult:
    """What was exported, where, by whom, blinded or not, and the lock's data hash if locked."""

    directory: Path
    files: tuple[Path, ...]
    tables: dict[str, int]
    blinded: bool
    data_hash: str | None
    exported_at: str
    exported_by: str


def export(
    store: Store, actor: str, directory: Path, formats: Sequence[str] = FORMATS
) -> ExportResult:
    """Write the tidy tables, the data dictionary and the manifest to ``directory``."""
    chosen = tuple(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        given = ", ".join(repr(f) for f in unknown) or "(none)"
        raise ConflictError(f"export format {given} is not known; allowed: csv, parquet")
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "export")
        protocol = study_protocol(connection)
        blinded = not sees_allocation(connection, who)
        site = who.site_id if who.role in SITE_BOUND else None
        people = _people(connection, site)
        tables = [
            _participants(connection, protocol, people, None if blinded else who),
            _simple(connection, people, "visits"),
            *_responses(connection, protocol, people),
            _sessions(connection, protocol, people, blinded),
            _simple(connection, people, "adverse_events"),
            _simple(connection, people, "dispositions"),
            _simple(connection, people, "deviations"),
        ]
        lock = lock_in_force(connection)
    counts = {t.name: len(t.rows) for t in tables}
    note = f"{sum(counts.values())} rows in {len(tables)} tables as {', '.join(chosen)}"
    with writing(store, actor, "export", reason=note, when_locked=True) as (tx, _):
        at = tx.at  # logged before anything is written: every look at the data is on record
    try:
        directory.mkdir(parents=True, exist_ok=True)
        files = [path for table in tables for path in _write(table, directory, chosen)]
        files.append(_dictionary(tables, directory))
    except OSError as error:
        raise OutputFileError(f"cannot write the export to {directory}: {error}") from None
    info = study_info(store)
    digest = lock.data_hash if lock else None
    payload = {
        "format": "physiotrial-export-1",
        "study_id": info.study_id,
        "exported_at": at,
        "exported_by": who.username,
        "role": who.role.value,
        "blinded": blinded,
        "site_only": site is not None,
        "locked": lock is not None,
        "data_hash": digest,
        "lock_id": lock.lock_id if lock else None,
        "locked_at": lock.locked_at if lock else None,
        "protocol_version": info.protocol_version,
        "protocol_hash": info.protocol_hash,
        "software_version": __version__,
        "tables": counts,
        "files": {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
    }
    manifest = directory / "manifest.json"
    manifest.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return ExportResult(directory, (*files, manifest), counts, blinded, digest, at, who.username)


def _write(table: Table, directory: Path, formats: Iterable[str]) -> list[Path]:
    types = pa.schema([(c.name, _ARROW[c.type]) for c in table.columns])
    data = {c.name: [row.get(c.name) for row in table.rows] for c in table.columns}
    arrow = pa.Table.from_pydict(data, schema=types)
    written: list[Path] = []
    for fmt in formats:
        path = directory / f"{table.name}.{fmt}"
        if fmt == "parquet":
            pq.write_table(arrow, path)
        else:
            frame = arrow.to_pandas(types_mapper=_PANDAS.get)
            frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written


def _dictionary(tables: Sequence[Table], directory: Path) -> Path:
    rows = [{"table": t.name, **asdict(c)} for t in tables for c in (*t.columns, *t.notes)]
    path = directory / "data_dictionary.csv"
    frame = pd.DataFrame(rows).rename(columns={"name": "column"})
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def _range(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'} to {'' if high is None else f'{high:g}'}"


# --- tables ---------------------------------------------------------------------------------

_CODE = Column("study_code", "text", "Pseudonymous participant code (site code and number)")


def _people(connection: Connection, site_id: int | None) -> dict[int, dict[str, Any]]:
    p, s = schema.participants, schema.sites
    query = select(p, s.c.code.label("site")).join(s, s.c.id == p.c.site_id)
    if site_id is not None:
        query = query.where(p.c.site_id == site_id)
    rows = connection.execute(query.order_by(p.c.study_code)).mappings()
    return {int(r["id"]): dict(r) for r in rows}


def _rows(
    connection: Connection, table: Any, people: Mapping[int, Any], *order: Any
) -> list[dict[str, Any]]:
    """Rows of ``table`` (current versions only) for the exported participants, by study code."""
    p = schema.participants
    query = select(table, p.c.study_code).join(p, p.c.id == table.c.participant_id)
    if "current" in table.c:
        query = query.where(table.c.current.is_(True))
    found = connection.execute(query.order_by(p.c.study_code, *order)).mappings()
    return [dict(r) for r in found if r["participant_id"] in people]


def _participants(
    connection: Connection,
    protocol: Protocol,
    people: Mapping[int, Any],
    who: Actor | None,
) -> Table:
    """Arms only for an actor who may see them (``who`` is None for a blinded export)."""
    statuses = (ELIGIBLE, SCREEN_FAILED, CONSENTED, RANDOMISED, *safety.DEPARTURES)
    factors = protocol.randomisation.factors
    columns = [
        _CODE,
        Column("site", "text", "Recruiting site code"),
        Column("status", "text", "Participant status now", ", ".join(statuses)),
        *(Column(f.id, "text", f"{f.label} (factor)", ", ".join(f.levels)) for f in factors),
        Column("randomised_on", "date", "Date of randomisation (blank: not randomised)"),
    ]
    if who is not None:
        allowed = ", ".join(f"{a.code} ({a.name})" for a in protocol.arms)
        columns.append(Column("arm", "text", "Allocated arm (unblinded export only)", allowed))
    a = schema.allocations
    query = select(a.c.participant_id, a.c.randomised_on, a.c.arm)
    allocated = {pid: (day, arm) for pid, day, arm in connection.execute(query)}
    rows = []
    for pid, person in people.items():
        row = {k: person[k] for k in ("study_code", "site", "status")}
        row |= {f.id: person["factor_levels"].get(f.id) for f in factors}
        day, arm = allocated.get(pid, (None, None))
        row |= {"randomised_on": day, "arm": None if who is None else arm_for(connection, who, arm)}
        rows.append(row)
    return Table("participants", tuple(columns), rows)


def _responses(
    connection: Connection, protocol: Protocol, people: Mapping[int, Any]
) -> tuple[Table, Table]:
    r, v, p = schema.responses, schema.visits, schema.participants
    measures = {m.key: i for i, m in enumerate(protocol.measures)}
    query = (
        select(r, v.c.code.label("visit"), v.c.done_on.label("visit_date"), v.c.planned)
        .add_columns(p.c.study_code)
        .join(v, v.c.id == r.c.visit_id)
        .join(p, p.c.id == r.c.participant_id)
        .where(r.c.current.is_(True))
        .order_by(p.c.study_code, v.c.planned, r.c.id)
    )
    found = [dict(x) for x in connection.execute(query).mappings() if x["participant_id"] in people]
    found.sort(key=lambda x: (x["study_code"], x["planned"], measures.get(x["measure"], 99)))
    scores: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for row in found:  # _write keeps only each table's declared columns
        row["done_on"] = row["done_on"] or row["visit_date"]  # NULL: recorded before 0004
        instrument = get_instrument(row["instrument"])
        for spec in instrument.scores:
            value, category = row["scores"].get(spec.key), spec.kind is ScoreKind.CATEGORY
            number = None if value is None or category else float(value)
            label = None if value is None or not category else str(value)
            why = row["unscorable"].get(spec.key)
            scores.append(
                row | {"score": spec.key, "value": number, "label": label, "unscorable": why}
            )
        for item in instrument.item_ids:  # answers are codes or numbers (capture.score) or None
            answers.append(row | {"item": item, "answer": row["answers"].get(item)})
    score_notes, item_notes = _instrument_notes(protocol)
    return (
        Table("scores", _columns("scores"), scores, score_notes),
        Table("item_answers", _columns("item_answers"), answers, item_notes),
    )


def _instrument_notes(protocol: Protocol) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
    """Dictionary rows giving each measure's score ranges and each item's allowed answers."""
    scores, items = [], []
    for measure in protocol.measures:
        instrument = get_instrument(measure.instrument)
        for spec in instrument.scores:
            where = f"measure={measure.key}; score={spec.key}"
            meaning = f"{instrument.title}: {spec.label}"
            if spec.direction.value != "none":
                meaning += f"; {spec.direction.value.replace('_', ' is ')}"
            if spec.kind is ScoreKind.CATEGORY:
                allowed = ", ".join(spec.categories)
                scores.append(Column("label", "text", meaning, allowed, applies_to=where))
                continue
            flag = spec.kind is ScoreKind.FLAG
            allowed = "1 (yes), 0 (no)" if flag else _range(spec.minimum, spec.maximum)
            scores.append(Column("value", "number", meaning, allowed, spec.unit or "", where))
        for item in instrument.items:
            where = f"measure={measure.key}; item={item.id}"
            meaning = f"{instrument.title}: {item.label}"
            items.append(
                Column("answer", "number", meaning, item.allowed(), item.unit or "", where)
            )
    return tuple(scores), tuple(items)


def _sessions(
    connection: Connection, protocol: Protocol, people: Mapping[int, Any], blinded: bool
) -> Table:
    plans = ", ".join(f"{p.code} ({p.name})" for p in protocol.sessions)
    columns = [
        _CODE,
        Column("plan", "text", "Session plan code of the protocol", plans),
        Column("number", "integer", "Session number within the plan"),
        Column("held_on", "date", "Date the session was held"),
        Column("delivered", "boolean", "Whether the session was delivered"),
        Column("version", "integer", _VERSION),
    ]
    fields: list[tuple[str, str]] = []
    for plan in protocol.sessions:
        for f in plan.records:
            if f.unblinded_only and blinded:
                continue  # e.g. twitch responses reveal real needling
            allowed = ", ".join(f.choices) or _range(f.minimum, f.maximum)
            kind = _FIELD_TYPES.get(f.type, "text")
            meaning = f"{plan.name}: {f.label}"
            columns.append(Column(f"{plan.code}_{f.id}", kind, meaning, allowed, f.unit or ""))
            fields.append((plan.code, f.id))
    s = schema.sessions
    rows = []
    for r in _rows(connection, s, people, s.c.plan, s.c.number):
        row = {k: r[k] for k in ("study_code", "plan", "number", "held_on", "delivered", "version")}
        rows.append(row | {f"{p}_{f}": r["details"].get(f) for p, f in fields if p == r["plan"]})
    return Table("sessions", tuple(columns), rows)


_RESPONSE = (
    ("visit", "text", "Visit code of the protocol"),
    ("visit_date", "date", "Date the visit was done (its first measure's day)"),
    ("done_on", "date", "Date this measure was done"),
    ("measure", "text", "Measure key of the protocol (an instrument as captured)"),
    ("instrument", "text", "Instrument name in the physiotrial catalogue"),
)
_COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "scores": (
        *_RESPONSE,
        ("instrument_version", "text", "Instrument version and scoring rules applied"),
        ("rater", "text", "Who gave the answers", "participant, assessor, therapist"),
        ("score", "text", "Score key of the instrument (ranges: rows with applies_to)"),
        ("value", "number", "Score (flags: 1 = yes, 0 = no); blank when unscorable"),
        ("label", "text", "Score category, for category scores only"),
        ("unscorable", "text", "Why the score is blank (e.g. too many items missing)"),
        ("version", "integer", _VERSION),
    ),
    "item_answers": (
        *_RESPONSE,
        ("item", "text", "Item id of the instrument (answers: rows with applies_to)"),
        ("answer", "number", "Answer code or value; blank when not answered"),
        ("version", "integer", _VERSION),
    ),
    "adverse_events": (
        ("term", "text", "Adverse event, as described"),
        ("onset", "date", "Date of onset"),
        ("duration_hours", "number", "Duration (blank: not known)", "0 or more", "hours"),
        ("severity", "text", "Severity (White et al.)", ", ".join(safety.SEVERITIES)),
        ("relatedness", "text", "Relation to the intervention", ", ".join(safety.RELATEDNESS)),
        ("action", "text", "Action taken"),
        ("outcome", "text", "Outcome", ", ".join(safety.AE_OUTCOMES)),
        ("session_plan", "text", "Plan of the session the event followed (blank: none)"),
        ("session_number", "integer", "Number of the session the event followed"),
        ("version", "integer", _VERSION),
    ),
    "visits": (
        ("visit", "text", "Visit code of the protocol (see the protocol's visit plan)"),
        ("planned", "date", "Planned date (days counted from randomisation)"),
        ("opens", "date", "First day of the visit window"),
        ("closes", "date", "Last day of the visit window"),
        ("done_on", "date", "Date the visit was done (blank: not done)"),
    ),
    "dispositions": (
        ("kind", "text", "How the participant left the study", ", ".join(safety.DEPARTURES)),
        ("occurred_on", "date", "Date they left"),
        ("reason", "text", "Reason given"),
    ),
    "deviations": (
        ("occurred_on", "date", "Date of the deviation"),
        ("category", "text", "Kind of protocol deviation", ", ".join(safety.DEVIATION_CATEGORIES)),
        ("description", "text", "What happened"),
    ),
}
"""Fixed columns after study_code: name, type, meaning[, allowed[, unit]]."""


def _columns(name: str) -> tuple[Column, ...]:
    return (_CODE, *(Column(*spec) for spec in _COLUMNS[name]))


def _simple(connection: Connection, people: Mapping[int, Any], name: str) -> Table:
    """Tables exported as stored, one row per stored row (current versions only)."""
    table = schema.metadata.tables[name]
    order = {"visits": ["planned", "code"], "adverse_events": ["onset", "id"]}.get(name, ["id"])
    rows = _rows(connection, table, people, *(table.c[o] for o in order))
    if name == "visits":
        rows = [r | {"visit": r["code"]} for r in rows]
    if name == "adverse_events":
        s = schema.sessions
        linked = {i: (p, n) for i, p, n in connection.execute(select(s.c.id, s.c.plan, s.c.number))}
        keys = ("session_plan", "session_number")
        rows = [
            r | dict(zip(keys, linked.get(r["session_id"], (None, None)), strict=True))
            for r in rows
        ]
    return Table(name, _columns(name), rows)
