"""Treatment sessions, adverse events, protocol deviations and withdrawals.

Sessions are recorded by the therapist, the one role that must know the arm (to needle or sham,
DESIGN.md). Their details are checked against the protocol's session plan; a field marked
``unblinded_only`` (local twitch responses reveal real needling) is kept from every result a
blinded role receives, and the arm and what it received pass through :func:`arm_for` only.

Adverse events use the classification White et al. proposed for acupuncture and that is carried
over to dry needling (reference/instruments.md §12): mild (short-lived, reversible), significant
(needs medical care or interferes with activities) and serious (hospital admission, persistent
disability or death); relatedness on the five-point attribution scale of the NCI CTEP guidelines
(not related … definite). Corrections add a version with a reason, as for responses.

A withdrawal or loss to follow-up (:func:`withdraw`, defined beside the schedule it stops) is
recorded once per participant; no session held after it can be recorded (CONSORT 2010 item 13b).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.core.protocol import Protocol, SessionPlan
from physiotrial.errors import AnswerError, ConflictError, NotFoundError
from physiotrial.services.blinding import arm_for
from physiotrial.services.capture import session_details
from physiotrial.services.context import Actor, acting, writing
from physiotrial.services.schedule import DEPARTURES as DEPARTURES
from physiotrial.services.schedule import Withdrawal as Withdrawal
from physiotrial.services.schedule import (
    departure,
    mark_treatment_visit,
    needs_reason,
    non_blank,
    not_after,
    not_before_randomisation,
    one_of,
    person_for,
    reject,
    the_day,
)
from physiotrial.services.schedule import withdraw as withdraw
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

SEVERITIES = ("mild", "significant", "serious")
LOG_HOME_EXERCISE = "log home exercise"
"""The action of recording a session of a plan the participant delivers (see record_session)."""
RELATEDNESS = ("not related", "unlikely", "possible", "probable", "definite")
AE_OUTCOMES = ("resolved", "ongoing", "resolved with sequelae", "fatal")
DEVIATION_CATEGORIES = (
    "eligibility",
    "consent",
    "randomisation",
    "intervention",
    "visit_window",
    "assessment",
    "blinding",
    "safety_reporting",
    "other",
)
"""Kinds of protocol deviation, after the ICH E3 §10.2 groups (entry criteria, treatment,
assessments) with consent, randomisation and blinding kept apart for the CONSORT diagram."""
AE_FIELDS = ("term", "onset", "severity", "relatedness", "action", "outcome", "duration_hours")
"""The fields of an adverse event a correction may change, besides ``session``."""


@dataclass(frozen=True)
class SessionRecord:
    """A session as the asking role may see it: blinded roles get no arm and no revealing field."""

    id: int
    study_code: str
    plan: str
    plan_name: str
    number: int
    of: int
    held_on: date
    delivered: bool
    details: dict[str, Any]
    arm: str | None
    received: str | None
    entered_by: str
    entered_at: str


@dataclass(frozen=True)
class AdverseEventRecord:
    id: int
    study_code: str
    term: str
    onset: date
    severity: str
    relatedness: str
    action: str
    outcome: str
    duration_hours: float | None
    session: tuple[str, int] | None
    version: int
    current: bool
    supersedes_id: int | None
    reason: str | None
    entered_by: str
    entered_at: str


@dataclass(frozen=True)
class DeviationRecord:
    id: int
    study_code: str
    occurred_on: date
    category: str
    description: str
    entered_by: str
    entered_at: str


# --- sessions -------------------------------------------------------------------------------


def record_session(
    store: Store,
    actor: str,
    study_code: str,
    plan_code: str,
    number: int,
    held_on: date,
    delivered: bool,
    details: Mapping[str, object],
    today: date | None = None,
) -> SessionRecord:
    """Record session ``number`` of a plan (therapists, after randomisation); a delivered session
    marks the treatment visit open that day done (:func:`schedule.mark_treatment_visit`).

    A plan the participant delivers (a clinic's home exercise) is the action ``log home
    exercise``, which the participant (through their exercise-log link) may do as well as the
    therapist (keying in a paper diary); every other plan is the therapist's ``session``.
    """
    day = the_day(today)
    with store.read() as connection:
        plan = session_plan(study_protocol(connection), plan_code)
    action = LOG_HOME_EXERCISE if plan.delivered_by == "participant" else "session"
    with writing(store, actor, action, participant=study_code) as (tx, who):
        connection = tx.connection
        person = person_for(connection, who, study_code, action)
        protocol = study_protocol(connection)
        plan = session_plan(protocol, plan_code)
        where = f"{study_code} {plan.code} session {number}"
        if not 1 <= number <= plan.count:
            raise reject(f"{where}: number", number, f"1 to {plan.count}")
        not_after(held_on, day, f"{where}: held on")
        not_before_randomisation(connection, person["id"], held_on, f"{where}: held on")
        arm = allocated_arm(connection, person["id"])
        if arm is None:
            raise ConflictError(f"{study_code} is not randomised; sessions start after it")
        left = departure(connection, person["id"])
        if left is not None and held_on > left.occurred_on:
            raise ConflictError(
                f"{study_code} left the study ({left.kind}) on {left.occurred_on.isoformat()}; "
                f"a session held on {held_on.isoformat()} cannot be recorded"
            )
        values = {"participant_id": person["id"], "plan": plan.code, "number": number}
        values |= {"held_on": held_on, "delivered": delivered, "version": 1, "current": True}
        values |= {"entered_by": who.username, "entered_at": tx.at}
        values["details"] = session_details(plan, details, where)
        if _session_id(connection, person["id"], plan.code, number) is not None:
            raise ConflictError(f"{where} is already recorded")
        session_id = tx.insert(schema.sessions, values)
        if delivered:
            mark_treatment_visit(tx, protocol, person["id"], held_on)
        return _session(connection, who, plan, {**values, "id": session_id}, study_code, arm)


def participant_sessions(store: Store, actor: str, study_code: str) -> list[SessionRecord]:
    """Every current session of one participant, as the asking role may see it."""
    with store.read() as connection:
        who = acting(connection, actor)
        person = person_for(connection, who, study_code, "visits")
        protocol = study_protocol(connection)
        arm = allocated_arm(connection, person["id"])
        s = schema.sessions
        mine = (s.c.participant_id == person["id"]) & s.c.current.is_(True)
        query = select(s).where(mine).order_by(s.c.held_on, s.c.plan, s.c.number)
        rows = connection.execute(query).mappings()
        return [
            _session(connection, who, session_plan(protocol, r["plan"]), r, study_code, arm)
            for r in rows
        ]


def allocated_arm(connection: Connection, participant_id: int) -> str | None:
    """The allocated arm, for :func:`arm_for` only; None before randomisation."""
    a = schema.allocations
    return connection.execute(select(a.c.arm).where(a.c.participant_id == participant_id)).scalar()


def session_plan(protocol: Protocol, plan_code: str) -> SessionPlan:
    plans: dict[str, SessionPlan] = {p.code: p for p in protocol.sessions}
    if plan_code not in plans:
        raise NotFoundError(
            f"plan: no session plan {plan_code!r}; plans: "
            f"{', '.join(plans) or 'none in the protocol'}"
        )
    return plans[plan_code]


def _session_id(connection: Connection, participant_id: int, plan: str, number: int) -> int | None:
    s = schema.sessions
    mine = (s.c.participant_id == participant_id) & s.c.current.is_(True)
    query = select(s.c.id).where(mine, s.c.plan == plan, s.c.number == number)
    return connection.execute(query).scalar_one_or_none()


def _session(
    connection: Connection,
    who: Actor,
    plan: SessionPlan,
    row: Mapping[Any, Any],
    study_code: str,
    arm: str | None,
) -> SessionRecord:
    shown = arm_for(connection, who, arm)
    # Only fields the protocol lists are shown (a field dropped by an amendment could be one
    # that reveals the arm), and blinded roles never see the unblinded_only ones.
    visible = {f.id for f in plan.records if shown is not None or not f.unblinded_only}
    return SessionRecord(
        **{k: row[k] for k in ("id", "number", "held_on", "entered_by", "entered_at")},
        study_code=study_code,
        plan=plan.code,
        plan_name=plan.name,
        of=plan.count,
        delivered=bool(row["delivered"]),
        details={k: v for k, v in row["details"].items() if k in visible},
        arm=shown,
        received=None if shown is None else plan.arms.get(shown),
    )


# --- adverse events -------------------------------------------------------------------------


def record_adverse_event(
    store: Store,
    actor: str,
    study_code: str,
    term: str,
    onset: date,
    severity: str,
    relatedness: str,
    action: str,
    outcome: str,
    duration_hours: float | None = None,
    session: tuple[str, int] | None = None,
    today: date | None = None,
) -> AdverseEventRecord:
    """Record an adverse event, optionally linked to the session it followed."""
    day = the_day(today)
    given = {
        "term": term,
        "onset": onset,
        "severity": severity,
        "relatedness": relatedness,
        "action": action,
        "outcome": outcome,
        "duration_hours": duration_hours,
        "session": session,
    }
    with writing(store, actor, "ae", participant=study_code) as (tx, who):
        person = person_for(tx.connection, who, study_code, "ae")
        values = _ae_values(tx.connection, person, given, day)
        values |= {"entered_by": who.username, "entered_at": tx.at, "version": 1, "current": True}
        event_id = tx.insert(schema.adverse_events, values)
    return event_record({**values, "id": event_id}, study_code, session)


def correct_adverse_event(
    store: Store,
    actor: str,
    event_id: int,
    changes: Mapping[str, object],
    reason: str | None,
    today: date | None = None,
) -> AdverseEventRecord:
    """A new version of an adverse event with ``changes`` applied (fields not named are kept)."""
    why = needs_reason(reason, "a correction")
    unknown = sorted(set(changes) - {*AE_FIELDS, "session"})
    if unknown or not changes:
        raise AnswerError(
            f"adverse event {event_id}: no field {', '.join(unknown) or 'given'} to change; "
            f"fields: {', '.join(AE_FIELDS)}, session"
        )
    with store.read() as connection:
        study_code = event_row(connection, event_id)[1]
    with writing(store, actor, "correct", participant=study_code, reason=why) as (tx, who):
        old, study_code, session = event_row(tx.connection, event_id)
        person = person_for(tx.connection, who, study_code, "correct")
        if not old["current"]:
            raise ConflictError(
                f"adverse event {event_id} (version {old['version']}) has been superseded; "
                "correct the current version"
            )
        given = {k: old[k] for k in AE_FIELDS} | {"session": session}
        given |= changes
        values = _ae_values(tx.connection, person, given, the_day(today))
        if all(values[k] == old[k] for k in values):
            raise ConflictError(f"adverse event {event_id}: the correction changes nothing")
        values |= {"entered_by": who.username, "entered_at": tx.at, "reason": why}
        values |= {"version": old["version"] + 1, "current": True, "supersedes_id": event_id}
        tx.update(schema.adverse_events, event_id, {"current": False})
        new_id = tx.insert(schema.adverse_events, values)
    return event_record({**values, "id": new_id}, study_code, given["session"])


def _ae_values(
    connection: Connection, person: Mapping[str, Any], given: Mapping[str, Any], today: date
) -> dict[str, Any]:
    where = f"{person['study_code']} adverse event"
    onset = given["onset"]
    if not isinstance(onset, date):
        raise reject(f"{where}: onset", onset, "a date (YYYY-MM-DD)")
    not_after(onset, today, f"{where}: onset")
    severity = one_of(f"{where}: severity", given["severity"], SEVERITIES)
    outcome = one_of(f"{where}: outcome", given["outcome"], AE_OUTCOMES)
    if outcome == "fatal" and severity != "serious":
        raise reject(f"{where}: severity", severity, "serious when the outcome is fatal (White)")
    hours = given["duration_hours"]
    known = hours if isinstance(hours, int | float) and not isinstance(hours, bool) else -1
    if hours is not None and not 0 <= known < math.inf:
        raise reject(f"{where}: duration_hours", hours, "0 or more hours, or blank")
    session_id = None
    if given["session"] is not None:
        plan, number = given["session"]
        session_id = _session_id(connection, person["id"], plan, number)
        if session_id is None:
            raise NotFoundError(
                f"{where}: {person['study_code']} has no recorded {plan} session "
                f"{number}; link a recorded session or none"
            )
    return {
        "participant_id": person["id"],
        "term": non_blank(f"{where}: term", given["term"]),
        "onset": onset,
        "duration_hours": None if hours is None else float(hours),
        "severity": severity,
        "relatedness": one_of(f"{where}: relatedness", given["relatedness"], RELATEDNESS),
        "action": non_blank(f"{where}: action", given["action"]),
        "outcome": outcome,
        "session_id": session_id,
    }


def event_row(connection: Connection, event_id: int) -> tuple[dict[str, Any], str, Any]:
    a, p, s = schema.adverse_events, schema.participants, schema.sessions
    query = (
        select(a, p.c.study_code, s.c.plan.label("s_plan"), s.c.number.label("s_number"))
        .join(p, p.c.id == a.c.participant_id)
        .outerjoin(s, s.c.id == a.c.session_id)
        .where(a.c.id == event_id)
    )
    row = connection.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"no adverse event {event_id}")
    session = None if row["s_plan"] is None else (row["s_plan"], row["s_number"])
    return dict(row), row["study_code"], session


def event_record(
    values: Mapping[str, Any], study_code: str, session: tuple[str, int] | None
) -> AdverseEventRecord:
    return AdverseEventRecord(
        id=values["id"],
        study_code=study_code,
        **{k: values[k] for k in AE_FIELDS},
        session=None if session is None else (session[0], int(session[1])),
        **{k: values[k] for k in ("version", "current", "entered_by", "entered_at")},
        supersedes_id=values.get("supersedes_id"),
        reason=values.get("reason"),
    )


# --- deviations -----------------------------------------------------------------------------------


def record_deviation(
    store: Store,
    actor: str,
    study_code: str,
    occurred_on: date,
    category: str,
    description: str,
    today: date | None = None,
) -> DeviationRecord:
    """Record a protocol deviation (coordinators and data managers)."""
    with writing(store, actor, "deviation", participant=study_code) as (tx, who):
        person = person_for(tx.connection, who, study_code, "deviation")
        where = f"{study_code} deviation"
        not_after(occurred_on, the_day(today), f"{where}: occurred on")
        values = {
            "participant_id": person["id"],
            "occurred_on": occurred_on,
            "category": one_of(f"{where}: category", category, DEVIATION_CATEGORIES),
            "description": non_blank(f"{where}: description", description),
            "entered_by": who.username,
            "entered_at": tx.at,
        }
        deviation_id = tx.insert(schema.deviations, values)
    shown = {k: values[k] for k in ("occurred_on", "category", "description", "entered_at")}
    return DeviationRecord(id=deviation_id, study_code=study_code, entered_by=who.username, **shown)
