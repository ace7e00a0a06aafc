"""Visit dates and statuses at every boundary of the window.

The reference trial's M6 follow-up is day 180 with a ±14-day window (popliteus-dn-koa.toml), so
with day 0 on 2025-01-01 it is planned for 2025-06-30 and open 2025-06-16 to 2025-07-14.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from physiotrial.core.protocol import VisitKind
from physiotrial.core.schedule import (
    PlannedVisit,
    VisitStatus,
    due_visits,
    plan_visits,
    visit_status,
    visit_statuses,
)
from physiotrial.errors import ScheduleError
from physiotrial.services.protocols import load_protocol

REFERENCE = load_protocol("popliteus-dn-koa")
DAY0 = date(2025, 1, 1)
PLAN = plan_visits(REFERENCE, DAY0)
M6 = next(v for v in PLAN if v.code == "M6")


def test_reference_m6_is_day0_plus_180_with_a_14_day_window() -> None:
    assert M6.planned == DAY0 + timedelta(days=180) == date(2025, 6, 30)
    assert M6.opens == M6.planned - timedelta(days=14)
    assert M6.closes == M6.planned + timedelta(days=14)
    assert M6.kind is VisitKind.FOLLOW_UP
    assert M6.name == "Follow-up at 6 months"


def test_plan_leaves_out_screening_and_keeps_protocol_order() -> None:
    assert [v.code for v in PLAN] == ["BL", "T1", "T2", "T3", "W3", "M3", "M6"]
    baseline = PLAN[0]
    assert baseline.planned == baseline.opens == baseline.closes == DAY0


def _day(offset: int) -> date:
    return M6.planned + timedelta(days=offset)


@pytest.mark.parametrize(
    ("case", "today", "done_on", "status"),
    [
        ("opens - 1", _day(-15), None, VisitStatus.UPCOMING),
        ("opens", _day(-14), None, VisitStatus.OPEN),
        ("planned", _day(0), None, VisitStatus.OPEN),
        ("planned + 1", _day(1), None, VisitStatus.LATE),
        ("closes", _day(14), None, VisitStatus.LATE),
        ("closes + 1", _day(15), None, VisitStatus.MISSED),
        ("done on the opening day", _day(20), _day(-14), VisitStatus.DONE),
        ("done on the planned day", _day(0), _day(0), VisitStatus.DONE),
        ("done on the closing day", _day(14), _day(14), VisitStatus.DONE),
        ("done a day early", _day(20), _day(-15), VisitStatus.OUT_OF_WINDOW),
        ("done a day late", _day(15), _day(15), VisitStatus.OUT_OF_WINDOW),
        ("done long after, seen much later", _day(400), _day(60), VisitStatus.OUT_OF_WINDOW),
    ],
)
def test_status_at_each_boundary(
    case: str, today: date, done_on: date | None, status: VisitStatus
) -> None:
    assert visit_status(M6, today, done_on) is status, case


def test_done_in_the_future_is_refused() -> None:
    with pytest.raises(ScheduleError) as excinfo:
        visit_status(M6, date(2025, 6, 20), date(2025, 6, 21))
    assert str(excinfo.value) == (
        "visit M6: done on 2025-06-21, after today (2025-06-20); allowed: 2025-06-20 or earlier"
    )


def test_due_visits_lists_open_and_late_soonest_closing_first() -> None:
    today = DAY0 + timedelta(days=9)  # T2 (day 8, window 6..10) late; nothing else open
    done = {"BL": DAY0, "T1": DAY0 + timedelta(days=1)}
    assert [(v.code, s) for v, s in due_visits(PLAN, today, done)] == [("T2", VisitStatus.LATE)]
    missed = due_visits(PLAN, DAY0 + timedelta(days=30), done, {VisitStatus.MISSED})
    assert [v.code for v, _ in missed] == ["T2", "T3", "W3"]


def test_unknown_visit_code_in_done_is_refused() -> None:
    with pytest.raises(ScheduleError, match="unknown visit M12 recorded as done; allowed: BL"):
        visit_statuses(PLAN, DAY0, {"M12": DAY0})


@given(
    offset=st.integers(-400, 400),
    before=st.integers(0, 30),
    after=st.integers(0, 30),
)
def test_exactly_one_pending_status_and_it_moves_forward(
    offset: int, before: int, after: int
) -> None:
    planned = date(2025, 3, 1)
    visit = PlannedVisit(
        "V",
        "visit",
        VisitKind.ASSESSMENT,
        planned,
        planned - timedelta(days=before),
        planned + timedelta(days=after),
    )
    order = [VisitStatus.UPCOMING, VisitStatus.OPEN, VisitStatus.LATE, VisitStatus.MISSED]
    today = planned + timedelta(days=offset)
    now = visit_status(visit, today, None)
    tomorrow = visit_status(visit, today + timedelta(days=1), None)
    assert order.index(tomorrow) >= order.index(now)
    assert (now in {VisitStatus.OPEN, VisitStatus.LATE}) is visit.in_window(today)
    expected = VisitStatus.DONE if visit.in_window(today) else VisitStatus.OUT_OF_WINDOW
    assert visit_status(visit, today, today) is expected
