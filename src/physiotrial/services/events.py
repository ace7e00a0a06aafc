"""Reading back a participant's adverse events, deviations and withdrawal, for the pages that
show them and the forms that correct them.

Recording is ``services.safety``'s (and ``services.schedule.withdraw``'s); this module only
reads, with the same rules: a role that may list the participant's visits (``visits``), at the
participant's own site for site-bound roles (:func:`schedule.person_for`), sees their events.
Nothing here carries an allocation except :func:`treatment_for`, which passes the arm through
:func:`blinding.arm_for` like every other result, so a blinded role gets None.

Every version of an adverse event is kept (a correction adds one with its reason), so the history
of an event is the chain of versions that supersede each other, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.errors import NotFoundError
from physiotrial.services.blinding import arm_for
from physiotrial.services.context import acting
from physiotrial.services.safety import (
    AdverseEventRecord,
    DeviationRecord,
    allocated_arm,
    event_record,
    event_row,
    session_plan,
)
from physiotrial.services.schedule import person_for
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store


@dataclass(frozen=True)
class AdverseEventHistory:
    """One adverse event: its current version and every version, oldest first."""

    current: AdverseEventRecord
    versions: tuple[AdverseEventRecord, ...]


@dataclass(frozen=True)
class DepartureRecord:
    """A recorded withdrawal or loss to follow-up (``kind`` is one of schedule.DEPARTURES)."""

    study_code: str
    kind: str
    occurred_on: date
    reason: str
    entered_by: str
    entered_at: str


def _event_rows(connection: Connection, participant_id: int) -> list[dict[str, Any]]:
    a, s = schema.adverse_events, schema.sessions
    query = (
        select(a, s.c.plan.label("s_plan"), s.c.number.label("s_number"))
        .outerjoin(s, s.c.id == a.c.session_id)
        .where(a.c.participant_id == participant_id)
        .order_by(a.c.id)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def participant_adverse_events(
    store: Store, actor: str, study_code: str
) -> list[AdverseEventHistory]:
    """Every adverse event of one participant with all its versions, by onset, then as entered."""
    with store.read() as connection:
        person = person_for(connection, acting(connection, actor), study_code, "visits")
        rows = _event_rows(connection, person["id"])
    records = {}
    for row in rows:
        session = None if row["s_plan"] is None else (row["s_plan"], row["s_number"])
        records[row["id"]] = event_record(row, study_code, session)
    superseded_by = {r.supersedes_id: r.id for r in records.values() if r.supersedes_id}
    histories = []
    for record in records.values():
        if record.supersedes_id is not None:
            continue  # a later version; reached from the first one
        chain = [record]
        while chain[-1].id in superseded_by:
            chain.append(records[superseded_by[chain[-1].id]])
        current = next((r for r in chain if r.current), chain[-1])
        histories.append(AdverseEventHistory(current=current, versions=tuple(chain)))
    return sorted(histories, key=lambda h: (h.current.onset, h.versions[0].id))


def adverse_event(store: Store, actor: str, study_code: str, event_id: int) -> AdverseEventRecord:
    """One version of an adverse event of ``study_code``, for a role that may correct it."""
    with store.read() as connection:
        who = acting(connection, actor)
        person = person_for(connection, who, study_code, "correct")
        try:
            row, found_code, session = event_row(connection, event_id)
        except NotFoundError:
            row, found_code, session = {}, None, None
        if found_code != person["study_code"]:
            raise NotFoundError(f"adverse event: {study_code} has no adverse event {event_id}")
    return event_record(row, study_code, session)


def participant_deviations(store: Store, actor: str, study_code: str) -> list[DeviationRecord]:
    """Every protocol deviation recorded for one participant, by date."""
    with store.read() as connection:
        person = person_for(connection, acting(connection, actor), study_code, "visits")
        d = schema.deviations
        query = (
            select(d).where(d.c.participant_id == person["id"]).order_by(d.c.occurred_on, d.c.id)
        )
        rows = connection.execute(query).mappings().all()
    fields = ("id", "occurred_on", "category", "description", "entered_by", "entered_at")
    return [DeviationRecord(study_code=study_code, **{k: r[k] for k in fields}) for r in rows]


def participant_departure(store: Store, actor: str, study_code: str) -> DepartureRecord | None:
    """The participant's withdrawal or loss to follow-up, if recorded."""
    with store.read() as connection:
        person = person_for(connection, acting(connection, actor), study_code, "visits")
        d = schema.dispositions
        row = (
            connection.execute(select(d).where(d.c.participant_id == person["id"]))
            .mappings()
            .one_or_none()
        )
    if row is None:
        return None
    fields = ("kind", "occurred_on", "reason", "entered_by", "entered_at")
    return DepartureRecord(study_code=study_code, **{k: row[k] for k in fields})


def treatment_for(store: Store, actor: str, study_code: str, plan_code: str) -> str | None:
    """What the participant's arm receives in session plan ``plan_code`` (the protocol's words),
    for a role that records sessions and may see the allocation; None before randomisation."""
    with store.read() as connection:
        who = acting(connection, actor)
        person = person_for(connection, who, study_code, "session")
        plan = session_plan(study_protocol(connection), plan_code)
        shown = arm_for(connection, who, allocated_arm(connection, person["id"]))
    return None if shown is None else plan.arms.get(shown)
