"""The participant timeline: planned visit dates, their windows, and where each visit stands.

Visits are planned from day 0, the baseline visit, which is also the day of randomisation: the
protocol's visit days count from it (SPIRIT 2013 item 13 and figure, the schedule of enrolment,
interventions and assessments; Chan et al., BMJ 2013;346:e7586). Screening happens before day 0
and is not scheduled from it, so it is left out.

A visit's window is ``[planned − window_before, planned + window_after]``, both ends included.
Statuses are computed, never stored, from today's date and the date the visit was done — both
arguments, because core has no clock. A visit done outside its window still counts as done, but
as a protocol deviation (``out_of_window``), which the analysis may treat differently.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from physiotrial.core.protocol import Protocol, VisitKind
from physiotrial.errors import ScheduleError


class VisitStatus(StrEnum):
    """Where a visit stands on a given day."""

    UPCOMING = "upcoming"
    """Not done; the window has not opened yet."""
    OPEN = "open"
    """Not done; the window is open and the planned day has not passed."""
    LATE = "late"
    """Not done; past the planned day but the window is still open."""
    MISSED = "missed"
    """Not done; the window has closed."""
    DONE = "done"
    """Done inside the window."""
    OUT_OF_WINDOW = "out_of_window"
    """Done, but outside the window: a protocol deviation."""


@dataclass(frozen=True)
class PlannedVisit:
    """One visit of one participant, with real dates."""

    code: str
    name: str
    kind: VisitKind
    planned: date
    opens: date
    closes: date

    def in_window(self, day: date) -> bool:
        return self.opens <= day <= self.closes


def plan_visits(protocol: Protocol, day0: date) -> list[PlannedVisit]:
    """Every post-screening visit of ``protocol`` dated from ``day0`` (baseline = randomisation)."""
    return [
        PlannedVisit(
            code=v.code,
            name=v.name,
            kind=v.kind,
            planned=day0 + timedelta(days=v.day),
            opens=day0 + timedelta(days=v.opens),
            closes=day0 + timedelta(days=v.closes),
        )
        for v in protocol.visits
        if v.kind is not VisitKind.SCREENING
    ]


def visit_status(visit: PlannedVisit, today: date, done_on: date | None) -> VisitStatus:
    """The status of ``visit`` on ``today``, given the date it was done (None if not yet).

    A ``done_on`` after ``today`` raises :class:`ScheduleError`: a visit cannot have happened in
    the future, and accepting it would hide a date typed wrongly.
    """
    if done_on is not None:
        if done_on > today:
            raise ScheduleError(
                f"visit {visit.code}: done on {done_on.isoformat()}, after today "
                f"({today.isoformat()}); allowed: {today.isoformat()} or earlier"
            )
        return VisitStatus.DONE if visit.in_window(done_on) else VisitStatus.OUT_OF_WINDOW
    if today < visit.opens:
        return VisitStatus.UPCOMING
    if today <= visit.planned:
        return VisitStatus.OPEN
    if today <= visit.closes:
        return VisitStatus.LATE
    return VisitStatus.MISSED


def visit_statuses(
    visits: Sequence[PlannedVisit], today: date, done: Mapping[str, date]
) -> list[tuple[PlannedVisit, VisitStatus]]:
    """Each visit with its status; ``done`` maps visit code → the date it was done.

    A code in ``done`` that is not among ``visits`` raises :class:`ScheduleError` rather than
    being silently ignored.
    """
    codes = [v.code for v in visits]
    unknown = sorted(set(done) - set(codes))
    if unknown:
        raise ScheduleError(
            f"unknown visit {', '.join(unknown)} recorded as done; allowed: {', '.join(codes)}"
        )
    return [(v, visit_status(v, today, done.get(v.code))) for v in visits]


def awaits_session(after_session: int | None, held: int, done: bool) -> bool:
    """Whether a clinic reassessment still waits for its session: it follows session
    ``after_session`` of the counted component (``Visit.after_session``) and only ``held`` have
    been delivered. It is not due until then, and never if care ends before it (a patient who
    responded stops needling at the planned sessions; TIDieR item 9, tailoring)."""
    return not done and after_session is not None and held < after_session


DUE = frozenset({VisitStatus.OPEN, VisitStatus.LATE})
"""The statuses a coordinator must act on now: the window is open and the visit not yet done."""


def due_visits(
    visits: Sequence[PlannedVisit],
    today: date,
    done: Mapping[str, date],
    statuses: Collection[VisitStatus] = DUE,
) -> list[tuple[PlannedVisit, VisitStatus]]:
    """The visits whose status is in ``statuses`` (by default open or late), soonest closing first.

    Sorting by the closing date puts first the visit that will be missed soonest.
    """
    chosen = [(v, s) for v, s in visit_statuses(visits, today, done) if s in statuses]
    return sorted(chosen, key=lambda pair: (pair[0].closes, pair[0].planned))
