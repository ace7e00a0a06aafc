"""Where each participant's visits stand, which visits a site must act on, and leaving the study.

The ``visits`` rows are written once, at randomisation, from :func:`core.schedule.plan_visits`;
their status is never stored but computed here from today's date and the date the visit was done
(:func:`core.schedule.visit_status`), so a list printed next week says next week's truth.

Leaving the study (:func:`withdraw`, re-exported by ``services.safety``) is recorded here because
what it changes is the schedule: it is recorded once per participant with its date and a reason,
sets the participant's status, and marks the remaining visits ``stopped`` — they will not happen
and leave the due list — while visits missed *before* leaving stay missed (CONSORT 2010 item 13b
and its flow diagram keep losses after randomisation apart from missed assessments).

The small checks every capture service shares (a date not in the future, a value from a fixed
list, a reason for every change) live here too, at the bottom of the services that import them.
Nothing here reads or returns an allocation: schedules are the same in every arm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from physiotrial.core.protocol import Protocol, VisitKind
from physiotrial.core.schedule import PlannedVisit, VisitStatus, awaits_session, visit_status
from physiotrial.errors import (
    AnswerError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ScheduleError,
)
from physiotrial.services.context import (
    SITE_BOUND,
    Actor,
    acting,
    participant_row,
    require,
    writing,
)
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store, Transaction

DUE_STATUSES = (VisitStatus.LATE, VisitStatus.OPEN, VisitStatus.MISSED)
"""The statuses of the due list, in the order a coordinator works through them."""
DEPARTURES = ("withdrawn", "lost_to_follow_up")


@dataclass(frozen=True)
class VisitView:
    """One visit of one participant as it stands on ``today``; ``recorded`` and ``outstanding``
    split the ``measures`` the protocol captures there; ``stopped``: the participant left before
    it was done, so it will not happen."""

    code: str
    name: str
    kind: str
    planned: date
    opens: date
    closes: date
    done_on: date | None
    status: str
    measures: tuple[str, ...]
    recorded: tuple[str, ...]
    outstanding: tuple[str, ...]
    stopped: bool


@dataclass(frozen=True)
class DueVisit:
    """A visit to act on: open (do it), late (do it now), missed (record why). ``days_left``
    counts to the window's close (0 = closes today, negative once missed)."""

    site: str
    study_code: str
    code: str
    name: str
    kind: str
    planned: date
    opens: date
    closes: date
    status: str
    days_left: int


@dataclass(frozen=True)
class Withdrawal:
    """A recorded withdrawal or loss to follow-up and the visits it stopped."""

    study_code: str
    kind: str
    occurred_on: date
    reason: str
    previous_status: str
    visits_stopped: tuple[str, ...]
    entered_by: str
    entered_at: str


def participant_visits(
    store: Store, actor: str, study_code: str, today: date | None = None
) -> list[VisitView]:
    """Every planned visit of one participant, soonest first, with what has been recorded.

    Empty before randomisation: visits are planned from day 0, the day of randomisation. A visit
    done after ``today`` shows as not yet done, so a past ``today`` shows the past.
    """
    day = the_day(today)
    with store.read() as connection:
        person = person_for(connection, acting(connection, actor), study_code, "visits")
        protocol = study_protocol(connection)
        v, r = schema.visits, schema.responses
        rows = connection.execute(
            select(v).where(v.c.participant_id == person["id"]).order_by(v.c.planned, v.c.id)
        ).all()
        mine = (r.c.participant_id == person["id"]) & r.c.current.is_(True)
        recorded = set(connection.execute(select(r.c.visit_id, r.c.measure).where(mine)).all())
        left = departure(connection, person["id"])
        held = sessions_held(connection, protocol, day).get(person["id"], 0)
    views: list[VisitView] = []
    for row in rows:
        visit, done, status, stopped = _standing(protocol, row, day, left, held)
        measures = protocol.visit(row.code).measures
        got = tuple(m for m in measures if (row.id, m) in recorded)
        views.append(
            VisitView(
                **_dates(visit),
                done_on=done,
                status=status.value,
                measures=measures,
                recorded=got,
                outstanding=tuple(m for m in measures if m not in got),
                stopped=stopped,
            )
        )
    return views


def due_visits(
    store: Store, actor: str, today: date | None = None, site_code: str | None = None
) -> list[DueVisit]:
    """Open, late and missed visits not yet done: late first, then open, then missed, and within
    each the window closing soonest first. A site-bound user sees only their own site; others
    every site, or ``site_code``'s. Participants who have left the study are left out: nothing
    is due from them any more.
    """
    day = the_day(today)
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "visits")
        site_id = _site_scope(connection, who, site_code)
        protocol = study_protocol(connection)
        v, p, s, d = schema.visits, schema.participants, schema.sites, schema.dispositions
        query = (
            select(v, p.c.study_code, s.c.code.label("site"), d.c.kind, d.c.occurred_on)
            .join(p, p.c.id == v.c.participant_id)
            .join(s, s.c.id == p.c.site_id)
            .outerjoin(d, d.c.participant_id == p.c.id)
            .where(v.c.done_on.is_(None) | (v.c.done_on > day), v.c.opens <= day)
        )
        if site_id is not None:
            query = query.where(p.c.site_id == site_id)
        rows = connection.execute(query).all()
        held = sessions_held(connection, protocol, day)
    due: list[DueVisit] = []
    for row in rows:
        gone = row.kind is not None and row.occurred_on <= day
        visit, _, status, _ = _standing(protocol, row, day, None, held.get(row.participant_id, 0))
        if not gone and status in DUE_STATUSES:
            days_left = (visit.closes - day).days
            where = {"site": row.site, "study_code": row.study_code}
            due.append(DueVisit(**where, **_dates(visit), status=status.value, days_left=days_left))
    rank = {status.value: i for i, status in enumerate(DUE_STATUSES)}
    return sorted(due, key=lambda d: (rank[d.status], d.closes, d.planned, d.study_code, d.code))


def withdraw(
    store: Store,
    actor: str,
    study_code: str,
    kind: str,
    occurred_on: date,
    reason: str | None,
    today: date | None = None,
) -> Withdrawal:
    """Record that a participant withdrew or was lost to follow-up (once, with a reason).

    The date may not precede a visit already done: data recorded after leaving would contradict
    it. Visits not done whose window was still open on that date are stopped.
    """
    why = needs_reason(reason, "a withdrawal")
    with writing(store, actor, "withdraw", participant=study_code, reason=why) as (tx, who):
        person = person_for(tx.connection, who, study_code, "withdraw")
        where = f"{study_code} withdrawal"
        one_of(f"{where}: kind", kind, DEPARTURES)
        not_after(occurred_on, the_day(today), f"{where}: occurred on")
        left = departure(tx.connection, person["id"])
        if left is not None:
            raise ConflictError(
                f"{study_code} is already recorded as {left.kind} on "
                f"{left.occurred_on.isoformat()}; a participant leaves once"
            )
        v = schema.visits
        visits = tx.connection.execute(
            select(v).where(v.c.participant_id == person["id"]).order_by(v.c.planned)
        ).all()
        later = [v.code for v in visits if v.done_on is not None and v.done_on > occurred_on]
        if later:
            raise ConflictError(
                f"{where}: {study_code} has visits done after {occurred_on.isoformat()} "
                f"({', '.join(later)}); allowed: a date on or after the last visit done"
            )
        values = {"participant_id": person["id"], "kind": kind, "occurred_on": occurred_on}
        values |= {"reason": why, "entered_by": who.username, "entered_at": tx.at}
        tx.insert(schema.dispositions, values)
        tx.update(schema.participants, person["id"], {"status": kind})
    return Withdrawal(
        study_code=study_code,
        kind=kind,
        occurred_on=occurred_on,
        reason=why,
        previous_status=person["status"],
        visits_stopped=stopped_by(visits, occurred_on),
        entered_by=who.username,
        entered_at=tx.at,
    )


def stopped_by(visits: Iterable[Any], day: date) -> tuple[str, ...]:
    """The codes of the visits a departure on ``day`` stops: not done, and their window not
    closed before ``day`` (rows or :class:`VisitView`: anything with code, done_on, closes)."""
    return tuple(v.code for v in visits if v.done_on is None and v.closes >= day)


def mark_treatment_visit(
    tx: Transaction, protocol: Protocol, participant_id: int, held_on: date
) -> str | None:
    """A delivered session makes the treatment visit whose window holds its date done, if not
    yet: treatment visits capture no measure, so without this they would all show as missed.
    Returns the visit code marked, or None when no treatment visit is open on that day."""
    treatment = {v.code for v in protocol.visits if v.kind is VisitKind.TREATMENT}
    v = schema.visits
    query = select(v.c.id, v.c.code).where(
        v.c.participant_id == participant_id,
        v.c.done_on.is_(None),
        v.c.opens <= held_on,
        v.c.closes >= held_on,
    )
    for row in tx.connection.execute(query.order_by(v.c.planned)).all():
        if row.code in treatment:
            tx.update(v, row.id, {"done_on": held_on})
            return str(row.code)
    return None


def _standing(
    protocol: Protocol, row: Any, today: date, left: Any, held: int = 0
) -> tuple[PlannedVisit, date | None, VisitStatus, bool]:
    """A stored visit as core's PlannedVisit, the date done as of ``today``, its status on
    ``today``, and whether it is stopped: by leaving the study (``left``: kind, occurred_on), or,
    for a clinic reassessment still waiting for its session (``held`` delivered so far,
    :func:`core.schedule.awaits_session`), by its window closing first. A waiting one is
    upcoming until then: it is not due."""
    spec = protocol.visit(row.code)
    visit = PlannedVisit(row.code, spec.name, spec.kind, row.planned, row.opens, row.closes)
    done = row.done_on if row.done_on is not None and row.done_on <= today else None
    stopped = (
        left is not None
        and done is None
        and left.occurred_on <= today
        and visit.closes >= left.occurred_on
    )
    if awaits_session(spec.after_session, held, done is not None):
        return visit, done, VisitStatus.UPCOMING, stopped or today > visit.closes
    return visit, done, visit_status(visit, today, done), stopped


def sessions_held(connection: Connection, protocol: Protocol, today: date) -> dict[int, int]:
    """Participant id → delivered sessions of a clinic's counted component up to ``today``
    (empty for a trial, whose visits wait for no session)."""
    if protocol.care is None:
        return {}
    s = schema.sessions
    query = (
        select(s.c.participant_id, func.count())
        .where(
            s.c.plan == protocol.care.counted,
            s.c.delivered.is_(True),
            s.c.current.is_(True),
            s.c.held_on <= today,
        )
        .group_by(s.c.participant_id)
    )
    return {int(pid): int(n) for pid, n in connection.execute(query).all()}


def _dates(visit: PlannedVisit) -> dict[str, Any]:
    return {
        "code": visit.code,
        "name": visit.name,
        "kind": visit.kind.value,
        "planned": visit.planned,
        "opens": visit.opens,
        "closes": visit.closes,
    }


def _site_scope(connection: Connection, who: Actor, site_code: str | None) -> int | None:
    """The site whose visits ``who`` may list: their own if site-bound, else ``site_code``'s."""
    site_id = None
    if site_code is not None:
        site_id = connection.execute(
            select(schema.sites.c.id).where(schema.sites.c.code == site_code)
        ).scalar_one_or_none()
        if site_id is None:
            known = ", ".join(connection.execute(select(schema.sites.c.code)).scalars())
            raise NotFoundError(f"no site {site_code!r}; sites: {known or 'none yet'}")
    if who.role in SITE_BOUND and who.site_id is not None:
        if site_id is not None and site_id != who.site_id:
            raise PermissionDeniedError(
                f"{who.username} ({who.role.value}) works at another site and may list only "
                f"their own site's visits, not {site_code}'s"
            )
        return who.site_id
    return site_id


# --- checks shared by capture and safety ----------------------------------------------------


def the_day(today: date | None) -> date:
    """``today`` as given, or the calendar date when the caller passes None."""
    return today if today is not None else date.today()


def not_after(day: date, today: date, field: str) -> None:
    """Refuse a date in the future: it is a typing error, never a fact."""
    if day > today:
        raise ScheduleError(
            f"{field} {day.isoformat()} is after today ({today.isoformat()}); "
            f"allowed: {today.isoformat()} or earlier"
        )


def not_before_randomisation(
    connection: Connection, participant_id: int, day: date, field: str
) -> None:
    """Refuse a treatment day before the participant's randomisation: treatment follows
    allocation (a session dated earlier is a typing error or a protocol breach to record as a
    deviation, not a session)."""
    a = schema.allocations
    query = select(a.c.randomised_on).where(a.c.participant_id == participant_id)
    randomised_on = connection.execute(query).scalar()
    if randomised_on is not None and day < randomised_on:
        raise ScheduleError(
            f"{field} {day.isoformat()} is before randomisation ({randomised_on.isoformat()}); "
            f"allowed: {randomised_on.isoformat()} or later"
        )


def person_for(connection: Connection, who: Actor, study_code: str, action: str) -> dict[str, Any]:
    """The participant, once ``who`` may do ``action`` at the participant's site."""
    person = participant_row(connection, study_code)
    require(who, action, person["site_id"])
    return person


def departure(connection: Connection, participant_id: int) -> Any:
    """The participant's withdrawal or loss to follow-up (kind, occurred_on), if recorded."""
    d = schema.dispositions
    query = select(d.c.kind, d.c.occurred_on).where(d.c.participant_id == participant_id)
    return connection.execute(query).one_or_none()


def reject(where: str, value: object, allowed: str) -> AnswerError:
    """The error for a value a field does not allow: field, value and what is allowed."""
    return AnswerError(f"{where}: {value!r} is not allowed; allowed: {allowed}")


def one_of(where: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise reject(where, value, ", ".join(allowed))
    return str(value)


def non_blank(where: str, value: object) -> str:
    text = str(value or "").strip()
    if not text:
        raise reject(where, value, "a non-blank text")
    return text


def needs_reason(reason: str | None, what: str) -> str:
    """The reason, stripped; a blank reason is refused (every change says why)."""
    text = (reason or "").strip()
    if not text:
        raise ConflictError(f"{what} needs a reason; give one (e.g. --reason 'entry error')")
    return text
