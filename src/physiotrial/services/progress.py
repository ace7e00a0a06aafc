"""How the study is going, for the dashboard and the participant list (issue 6).

Every function here applies the role, site and blinding rules itself, so a page that shows its
results cannot show more than they hold:

- the site: site-bound roles (coordinator, assessor, therapist) see their own site's
  participants only; the data manager and the statistician every site;
- blinding: nothing here reads ``allocations.arm``. Only ``randomised_on`` is read from an
  allocation, so no result carries an arm for any role and nothing can leak through them;
- permissions: the visit list (:func:`visits_to_act_on`) and the participant list need the
  ``visits`` permission; open adverse events need ``ae`` or ``audit`` (the roles that record
  them, and the data manager who reviews them); completeness is aggregate counts of records per
  visit, and any active user may ask, as for recruitment. A role without the permission gets
  None from the dashboard parts and a :class:`PermissionDeniedError` from the list.

Visit standing follows :mod:`services.schedule`: a visit is "due for data" once its window has
opened on or before ``today``, or it was done on or before ``today``; a visit the participant's
withdrawal or loss to follow-up stopped is not (it will never happen), while a visit missed
before leaving still is; nor is a clinic reassessment still waiting for its session
(:func:`core.schedule.awaits_session`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from physiotrial.core.protocol import Protocol
from physiotrial.core.schedule import PlannedVisit, VisitStatus, awaits_session, visit_status
from physiotrial.services.context import PERMISSIONS, acting, require
from physiotrial.services.enrolment import CONSENTED, ELIGIBLE, SCREEN_FAILED
from physiotrial.services.randomisation import RANDOMISED
from physiotrial.services.recruitment import site_scope
from physiotrial.services.safety import SEVERITIES
from physiotrial.services.schedule import (
    DEPARTURES,
    DueVisit,
    due_visits,
    one_of,
    sessions_held,
)
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

OPEN_OUTCOME = "ongoing"
"""The one adverse-event outcome (safety.AE_OUTCOMES) that leaves an event open: "resolved",
"resolved with sequelae" and "fatal" all close it."""
STATUSES = (ELIGIBLE, SCREEN_FAILED, CONSENTED, RANDOMISED, *DEPARTURES)
"""Participant statuses, in the order a participant passes through them."""
DUE_STATUSES = (VisitStatus.OPEN, VisitStatus.LATE, VisitStatus.MISSED)


@dataclass(frozen=True)
class VisitsToActOn:
    """The due list (:func:`schedule.due_visits`: late first, then open, then missed) and its
    counts. ``due_today``: visits planned for today and not done (they are also ``open``)."""

    due_today: int
    open: int
    late: int
    missed: int
    visits: tuple[DueVisit, ...]


@dataclass(frozen=True)
class OpenAdverseEvent:
    """The current version of an adverse event whose outcome is still ``ongoing``."""

    id: int
    study_code: str
    site: str
    term: str
    onset: date
    severity: str


@dataclass(frozen=True)
class VisitCompleteness:
    """Data entry at one visit of the protocol (see :func:`completeness`)."""

    code: str
    name: str
    measures: int
    visits: int
    done: int
    expected: int
    recorded: int

    @property
    def percent(self) -> float | None:
        """Recorded as a percentage of expected, or None when nothing is expected yet."""
        return None if self.expected == 0 else 100 * self.recorded / self.expected


@dataclass(frozen=True)
class NextVisit:
    code: str
    name: str
    planned: date
    status: str


@dataclass(frozen=True)
class ParticipantRow:
    """One line of the participant list; never an arm (see the module docstring)."""

    study_code: str
    site: str
    status: str
    randomised_on: date | None
    next_visit: NextVisit | None
    outstanding: int


def visits_to_act_on(store: Store, actor: str, today: date) -> VisitsToActOn | None:
    """Counts of visits due today, open, late and missed, with the due list; None for a role
    without the ``visits`` permission (the services give it no visit list)."""
    with store.read() as connection:
        if acting(connection, actor).role not in PERMISSIONS["visits"]:
            return None
    due = due_visits(store, actor, today)
    by_status = {status: sum(1 for d in due if d.status == status) for status in DUE_STATUSES}
    return VisitsToActOn(
        due_today=sum(1 for d in due if d.planned == today),
        open=by_status[VisitStatus.OPEN],
        late=by_status[VisitStatus.LATE],
        missed=by_status[VisitStatus.MISSED],
        visits=tuple(due),
    )


def open_adverse_events(store: Store, actor: str) -> tuple[OpenAdverseEvent, ...] | None:
    """Current adverse events still ``ongoing``, serious first, then by onset (oldest first);
    None for a role with neither ``ae`` nor ``audit`` permission."""
    with store.read() as connection:
        who = acting(connection, actor)
        if who.role not in PERMISSIONS["ae"] | PERMISSIONS["audit"]:
            return None
        site_id, _ = site_scope(connection, who)
        e, p, s = schema.adverse_events, schema.participants, schema.sites
        query = (
            select(e.c.id, p.c.study_code, s.c.code, e.c.term, e.c.onset, e.c.severity)
            .join(p, p.c.id == e.c.participant_id)
            .join(s, s.c.id == p.c.site_id)
            .where(e.c.current.is_(True), e.c.outcome == OPEN_OUTCOME)
        )
        if site_id is not None:
            query = query.where(p.c.site_id == site_id)
        rows = connection.execute(query).all()
    rank = {severity: -i for i, severity in enumerate(SEVERITIES)}
    events = [OpenAdverseEvent(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
    return tuple(sorted(events, key=lambda e: (rank.get(e.severity, 1), e.onset, e.id)))


def completeness(store: Store, actor: str, today: date) -> tuple[VisitCompleteness, ...]:
    """Data entry per protocol visit that captures measures, in protocol order.

    For visit code V with m measures, among the in-scope participants' V visits that are due
    for data on ``today`` (window opened by ``today`` or done by ``today``, and not stopped by
    leaving the study; see the module docstring): ``visits`` counts them, ``done`` those done,
    ``expected`` = ``visits`` × m, and ``recorded`` the measures of V with a current response at
    those visits. Missed visits count as expected and unrecorded: their data are missing.
    Any active user may ask; site-bound roles count their own site.
    """
    with store.read() as connection:
        who = acting(connection, actor)
        protocol = study_protocol(connection)
        site_id, _ = site_scope(connection, who)
        rows, recorded = _visits_in_scope(connection, site_id, None, None)
        held = sessions_held(connection, protocol, today)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        measures = protocol.visit(row.code).measures
        done = row.done_on is not None and row.done_on <= today
        if measures and _due_for_data(protocol, row, today, done, held):
            counts = tally[row.code]
            counts[0] += 1
            counts[1] += done
            counts[2] += sum(1 for m in measures if (row.id, m) in recorded)
    result = []
    for visit in protocol.visits:
        if not visit.measures:
            continue
        n, done, got = tally.get(visit.code, [0, 0, 0])
        m = len(visit.measures)
        result.append(VisitCompleteness(visit.code, visit.name, m, n, done, n * m, got))
    return tuple(result)


def participant_list(
    store: Store,
    actor: str,
    today: date,
    code_contains: str | None = None,
    status: str | None = None,
) -> list[ParticipantRow]:
    """Participants by study code, with their next visit and outstanding measures.

    ``code_contains`` keeps study codes containing it (any case); ``status`` keeps one status of
    :data:`STATUSES` (another is refused, naming the allowed ones). ``next_visit`` is the
    soonest visit not done by ``today`` whose window has not closed (upcoming, open or late),
    None once none is left or the participant has left the study; ``outstanding`` counts the
    measures not recorded at visits due for data (as in :func:`completeness`).
    """
    wanted = None if not status else one_of("participant list: status", status, STATUSES)
    text = (code_contains or "").strip().lower() or None
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "visits")
        protocol = study_protocol(connection)
        site_id, _ = site_scope(connection, who)
        rows, recorded = _visits_in_scope(connection, site_id, text, wanted)
        people = _people(connection, site_id, text, wanted)
        held = sessions_held(connection, protocol, today)
    visits: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        visits[row.participant_id].append(row)
    return [
        ParticipantRow(
            study_code=person.study_code,
            site=person.site,
            status=person.status,
            randomised_on=person.randomised_on,
            next_visit=_next_visit(protocol, visits[person.id], today, held),
            outstanding=sum(
                _outstanding(protocol, row, today, recorded, held) for row in visits[person.id]
            ),
        )
        for person in people
    ]


def _people(
    connection: Connection, site_id: int | None, text: str | None, status: str | None
) -> list[Any]:
    p, s, a = schema.participants, schema.sites, schema.allocations
    query = (
        select(p.c.id, p.c.study_code, p.c.status, s.c.code.label("site"), a.c.randomised_on)
        .join(s, s.c.id == p.c.site_id)
        .outerjoin(a, a.c.participant_id == p.c.id)
        .order_by(p.c.study_code)
    )
    return list(connection.execute(_filtered(query, site_id, text, status)).all())


def _visits_in_scope(
    connection: Connection, site_id: int | None, text: str | None, status: str | None
) -> tuple[list[Any], set[tuple[int, str]]]:
    """The in-scope visits (with the participant's departure, if any) and the (visit id,
    measure) pairs with a current response."""
    v, p, d, r = schema.visits, schema.participants, schema.dispositions, schema.responses
    query = (
        select(v, d.c.occurred_on.label("left_on"))
        .join(p, p.c.id == v.c.participant_id)
        .outerjoin(d, d.c.participant_id == p.c.id)
        .order_by(v.c.participant_id, v.c.planned, v.c.id)
    )
    rows = list(connection.execute(_filtered(query, site_id, text, status)).all())
    answered = select(r.c.visit_id, r.c.measure).join(p, p.c.id == r.c.participant_id)
    answered = _filtered(answered.where(r.c.current.is_(True)), site_id, text, status)
    recorded = {(int(i), str(m)) for i, m in connection.execute(answered).all()}
    return rows, recorded


def _filtered(query: Any, site_id: int | None, text: str | None, status: str | None) -> Any:
    """``query`` (which joins participants) kept to one site (None: every site) and the list's
    filters."""
    p = schema.participants
    if site_id is not None:
        query = query.where(p.c.site_id == site_id)
    if text is not None:
        query = query.where(func.lower(p.c.study_code).contains(text, autoescape=True))
    if status is not None:
        query = query.where(p.c.status == status)
    return query


def _due_for_data(
    protocol: Protocol, row: Any, today: date, done: bool, held: dict[int, int]
) -> bool:
    """Whether a visit is due for data on ``today`` (module docstring): opened or done, not
    stopped by the participant leaving the study before it was done, and not a clinic
    reassessment still waiting for its session (``held``: :func:`schedule.sessions_held`)."""
    stopped = (
        not done and row.left_on is not None and row.left_on <= today and row.closes >= row.left_on
    )
    after = protocol.visit(row.code).after_session
    waiting = awaits_session(after, held.get(row.participant_id, 0), done)
    return (done or row.opens <= today) and not stopped and not waiting


def _outstanding(
    protocol: Protocol, row: Any, today: date, recorded: set[tuple[int, str]], held: dict[int, int]
) -> int:
    measures = protocol.visit(row.code).measures
    done = row.done_on is not None and row.done_on <= today
    if not measures or not _due_for_data(protocol, row, today, done, held):
        return 0
    return sum(1 for m in measures if (row.id, m) not in recorded)


def _next_visit(
    protocol: Protocol, rows: list[Any], today: date, held: dict[int, int]
) -> NextVisit | None:
    for row in rows:
        if row.left_on is not None and row.left_on <= today:
            return None
        spec = protocol.visit(row.code)
        visit = PlannedVisit(row.code, spec.name, spec.kind, row.planned, row.opens, row.closes)
        done = row.done_on if row.done_on is not None and row.done_on <= today else None
        status = visit_status(visit, today, done)
        if awaits_session(spec.after_session, held.get(row.participant_id, 0), done is not None):
            if today > visit.closes:
                continue  # its session never came: not needed
            status = VisitStatus.UPCOMING
        if status in (VisitStatus.UPCOMING, VisitStatus.OPEN, VisitStatus.LATE):
            return NextVisit(row.code, spec.name, row.planned, status.value)
    return None
