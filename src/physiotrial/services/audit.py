"""Audit review: is the record intact, and who did what, when and why.

:func:`verify_audit` is ``physiotrial audit verify``: it checks, in this order, (1) the hash chain
of the audit trail (``store.audit.verify_chain``), (2) that every row of every audited table is in
the state the trail says (``store.audit.verify_data``), and (3) the randomisation seal: the
SHA-256 of the stored ``sequence_slots`` (``core.randomisation.sequence_hash``) must equal
``study.sequence_hash``, recorded (and so audited) at study start. The sequence is not in the
audit trail, so when the seal is broken the sequence is re-derived from the secret seed to name
the slot that changed (by stratum and position, never by arm: a statistician may run this while
blinded). Together these are the tamper evidence DESIGN.md asks for: a secure, computer-generated,
time-stamped audit trail of every entry and change (FDA 21 CFR 11.10(e)) that cannot be edited
unnoticed.

:func:`audit_log` lets a data manager read the trail: who, role, when, action, participant,
reason and which rows changed (table and key, and for updates the field names), never the raw
old → new values, which can carry allocations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from physiotrial.core.randomisation import Slot, generate_sequence, sequence_hash
from physiotrial.errors import ConflictError, ProtocolError, RandomisationError
from physiotrial.services.access import credential_problems
from physiotrial.services.context import acting, require
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.store import Store, snapshot


@dataclass(frozen=True)
class AuditReport:
    """The outcome of ``audit verify``: every problem found, the first one first."""

    audit_rows: int
    data_rows: int
    sequence_slots: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> str | None:
        return self.problems[0] if self.problems else None


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as a data manager reads it: no raw snapshots, only what changed where."""

    id: int
    at: str
    actor: str
    role: str
    action: str
    participant: str | None
    reason: str | None
    changes: tuple[str, ...]

    @property
    def summary(self) -> str:
        return "; ".join(self.changes) if self.changes else "no rows changed"


def verify_audit(store: Store, actor: str) -> AuditReport:
    """Check the chain, the data against the trail and the randomisation seal."""
    with store.read() as connection:
        require(acting(connection, actor), "verify")
        problems = verify_chain(connection)
        problems += verify_data(connection, snapshot)
        slots = _stored_slots(connection)
        problems += _seal_problems(connection, slots)
        problems += credential_problems(connection)
        audit_rows = connection.execute(select(func.count()).select_from(schema.audit))
        data_rows = sum(
            int(connection.execute(select(func.count()).select_from(t)).scalar_one())
            for t in schema.AUDITED
        )
        return AuditReport(
            audit_rows=int(audit_rows.scalar_one()),
            data_rows=data_rows,
            sequence_slots=len(slots),
            problems=tuple(problems),
        )


def _stored_slots(connection: Connection) -> list[tuple[int, Slot]]:
    table = schema.sequence_slots
    rows = connection.execute(select(table).order_by(table.c.id)).mappings()
    return [
        (
            int(r["id"]),
            Slot(r["stratum"], int(r["position"]), r["arm"], int(r["block"]), int(r["block_size"])),
        )
        for r in rows
    ]


def _seal_problems(connection: Connection, slots: list[tuple[int, Slot]]) -> list[str]:
    study = connection.execute(select(schema.study)).mappings().one_or_none()
    if study is None:
        return []
    seal = study["sequence_hash"]
    if seal is None:
        if slots:
            return [f"sequence_slots: {len(slots)} slots are stored but the study has no seal"]
        return []
    if sequence_hash([s for _, s in slots]) == seal:
        return []
    named = _changed_slots(connection, study, slots)
    head = "sequence_slots: the stored sequence does not match its seal (study.sequence_hash)"
    return [head, *named]


def _changed_slots(connection: Connection, study: Any, slots: list[tuple[int, Slot]]) -> list[str]:
    """Name the slots that differ from the sequence re-derived from the secret seed."""
    seed = connection.execute(
        select(schema.secrets.c.value).where(schema.secrets.c.name == "seed")
    ).scalar_one_or_none()
    if seed is None or study["per_stratum"] is None:
        return []
    try:
        # Amendments may not change arms or randomisation (services.study.amend_protocol), so
        # the current protocol re-derives the sequence sealed at study start.
        sealed = generate_sequence(study_protocol(connection), seed, int(study["per_stratum"]))
    except (ProtocolError, RandomisationError):
        return []
    if sequence_hash(sealed) != study["sequence_hash"]:
        return []  # the seed or protocol cannot reproduce the seal: nothing to compare against
    expected = {(s.stratum, s.position): s for s in sealed}
    problems: list[str] = []
    seen: set[tuple[str, int]] = set()
    for slot_id, slot in slots:
        key = (slot.stratum, slot.position)
        seen.add(key)
        where = f"sequence_slots row {slot_id} (stratum {slot.stratum} #{slot.position})"
        original = expected.get(key)
        if original is None:
            problems.append(f"{where} is not in the sealed sequence: added")
            continue
        changed = [
            n for n in ("arm", "block", "block_size") if getattr(slot, n) != getattr(original, n)
        ]
        if changed:
            problems.append(f"{where}: {', '.join(changed)} differ from the sealed sequence")
    for key in expected:
        if key not in seen:
            problems.append(f"sequence_slots: stratum {key[0]} #{key[1]} was deleted")
    if not problems:
        problems.append("sequence_slots: the slots are stored in another order than sealed")
    return problems


def audit_log(
    store: Store,
    actor: str,
    participant: str | None = None,
    user: str | None = None,
    since: date | None = None,
    until: date | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """The audit trail, oldest first, filtered by participant, user, dates (inclusive, UTC) and
    action (data managers only)."""
    where = _conditions(participant, user, since, until, action)
    query = select(schema.audit).where(*where).order_by(schema.audit.c.id)
    with store.read() as connection:
        require(acting(connection, actor), "audit")
        rows = connection.execute(query).mappings().all()
    return [_entry(r) for r in rows]


PAGE_SIZE = 100
"""Audit rows per page of :func:`audit_page`."""


@dataclass(frozen=True)
class AuditPage:
    """One page of the filtered audit trail, newest first (a data manager reviewing the trail
    starts from what happened last).

    Pages are keyset pages: ``before`` (an audit id) starts a page below that id, so a page
    stays the same while new rows are written, unlike an offset that shifts with every write.
    ``older`` is the ``before`` of the next, older page (None: this is the last); ``newer`` that
    of the previous page, when there is one (``newer_is_first``: it is the newest page, asked
    for without ``before``). ``start`` is the 1-based position of the first entry among the
    ``total`` matching rows."""

    entries: tuple[AuditEntry, ...]
    total: int
    start: int
    older: int | None
    newer: int | None
    newer_is_first: bool
    actions: tuple[str, ...]


def audit_page(
    store: Store,
    actor: str,
    participant: str | None = None,
    user: str | None = None,
    since: date | None = None,
    until: date | None = None,
    action: str | None = None,
    *,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> AuditPage:
    """One page of :func:`audit_log`'s rows, newest first, below audit id ``before`` (data
    managers only); ``actions`` lists every action in the trail, for a filter."""
    if size < 1:
        raise ConflictError(f"size: {size} rows per page is not allowed; allowed: 1 or more")
    audit = schema.audit
    where = _conditions(participant, user, since, until, action)
    below = [audit.c.id < before] if before is not None else []
    query = select(audit).where(*where, *below).order_by(audit.c.id.desc()).limit(size + 1)
    with store.read() as connection:
        require(acting(connection, actor), "audit")
        rows = connection.execute(query).mappings().all()
        total = connection.execute(select(func.count()).select_from(audit).where(*where))
        newer_ids: list[int] = []
        ahead = 0
        if before is not None:
            ahead = int(
                connection.execute(
                    select(func.count()).select_from(audit).where(*where, audit.c.id >= before)
                ).scalar_one()
            )
            newer_query = (
                select(audit.c.id)
                .where(*where, audit.c.id >= before)
                .order_by(audit.c.id)
                .limit(size + 1)
            )
            newer_ids = [int(i) for i in connection.execute(newer_query).scalars()]
        actions = connection.execute(select(audit.c.action).distinct().order_by(audit.c.action))
        action_names = tuple(str(a) for a in actions.scalars())
        matching = int(total.scalar_one())
    entries = tuple(_entry(r) for r in rows[:size])
    older = entries[-1].id if len(rows) > size else None
    newer = max(newer_ids[:size]) + 1 if newer_ids else None
    return AuditPage(
        entries=entries,
        total=matching,
        start=ahead + 1,
        older=older,
        newer=newer,
        newer_is_first=bool(newer_ids) and len(newer_ids) <= size,
        actions=action_names,
    )


def check_dates(since: date | None, until: date | None) -> None:
    """Refuse ``since`` after ``until`` (the dates of an audit filter)."""
    if since is not None and until is not None and since > until:
        raise ConflictError(
            f"since {since.isoformat()} is after until {until.isoformat()}; allowed: since on "
            "or before until"
        )


def _conditions(
    participant: str | None,
    user: str | None,
    since: date | None,
    until: date | None,
    action: str | None,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of an audit filter; dates are inclusive UTC days (``at`` is ISO text,
    so comparing it with a date's ISO text compares days)."""
    check_dates(since, until)
    audit = schema.audit
    where: list[ColumnElement[bool]] = []
    if participant is not None:
        where.append(audit.c.participant == participant)
    if user is not None:
        where.append(audit.c.actor == user)
    if action is not None:
        where.append(audit.c.action == action)
    if since is not None:
        where.append(audit.c.at >= since.isoformat())
    if until is not None:
        where.append(audit.c.at < (until + timedelta(days=1)).isoformat())
    return where


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        id=int(r["id"]),
        at=r["at"],
        actor=r["actor"],
        role=r["role"],
        action=r["action"],
        participant=r["participant"],
        reason=r["reason"],
        changes=tuple(_describe(c) for c in json.loads(r["changes"])),
    )


def _describe(change: dict[str, Any]) -> str:
    """'added sites 2', 'changed study 1: locked', 'removed …': table, key, field names only."""
    where = f"{change['table']} {change['key']}"
    old, new = change.get("old"), change.get("new")
    if old is None:
        return f"added {where}"
    if new is None:
        return f"removed {where}"
    fields = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return f"changed {where}: {', '.join(fields)}" if fields else f"rewrote {where} unchanged"
