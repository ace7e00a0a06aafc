"""The dashboard's and the participant list's services, on a small two-site study checked by hand.

:func:`populate` builds it on top of SEV-001 (randomised 2025-03-03, the helpers' default):

========  =====  ==========  ==========  ===========================================
code      site   screened    randomised  what else
========  =====  ==========  ==========  ===========================================
SEV-001   SEV    2025-02-24  2025-03-03  every BL measure; AEs: one ongoing (mild),
                                         one corrected from ongoing to resolved
SEV-002   SEV    2025-03-03  2025-03-10  BL vas_max and womac; an AE resolved
SEV-003   SEV    2025-03-20  —           consented only
UNI-001   UNI    2025-02-26  2025-03-05  nothing recorded; an AE ongoing (serious)
UNI-002   UNI    2025-02-24  2025-03-03  BL vas_max; withdrawn 2025-03-12
UNI-003   UNI    2025-03-21  —           screen failed
========  =====  ==========  ==========  ===========================================

Seen on TODAY = 2025-03-25 (SEV-001's day 22, SEV-002's day 15, UNI-001's day 20).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pytest

from physiotrial.errors import AnswerError, PermissionDeniedError
from physiotrial.services.capture import record
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.progress import (
    NextVisit,
    OpenAdverseEvent,
    ParticipantRow,
    VisitCompleteness,
    completeness,
    open_adverse_events,
    participant_list,
    visits_to_act_on,
)
from physiotrial.services.recruitment import RecruitmentPoint, recruitment_over_time
from physiotrial.services.safety import correct_adverse_event, record_adverse_event, withdraw
from physiotrial.store.store import Store
from tests.services.helpers_capture import BASELINE, ELIGIBLE, RATER_OF, enrol, make_study

TODAY = date(2025, 3, 25)


@dataclass(frozen=True)
class Study:
    store: Store
    codes: dict[str, str]
    """Letter (A…G, as in the tests below) → study code."""


def populate(store: Store, first: str) -> dict[str, str]:
    """The study of the module docstring, given SEV-001 (``first``) already randomised on
    2025-03-03. Returns the study codes by letter: A SEV-001, B SEV-002, F SEV-003 (consented),
    C UNI-001, E UNI-002 (withdrawn), G UNI-003 (screen failed)."""
    day = date(2025, 3, 3)
    b = enrol(store, date(2025, 3, 10), "SEV")
    f = screen(store, "coord", "SEV", date(2025, 3, 20), ELIGIBLE, {"sex": "male"}, "F Person")
    consent(store, "coord", f.study_code, "1.0", date(2025, 3, 21))
    c = enrol(store, date(2025, 3, 5), "UNI")
    e = enrol(store, day, "UNI")
    refused = ELIGIBLE | {"needle_phobia": True}
    g = screen(store, "coord_uni", "UNI", date(2025, 3, 21), refused, {"sex": "male"}, "G P")
    for measure, answers in BASELINE.items():
        record(store, RATER_OF[measure], first, "BL", measure, answers, day, today=TODAY)
    for measure in ("vas_max", "womac"):
        rater = RATER_OF[measure]
        record(store, rater, b, "BL", measure, BASELINE[measure], day + timedelta(7), today=TODAY)
    record(store, "patient", e, "BL", "vas_max", BASELINE["vas_max"], day, today=TODAY)
    withdraw(store, "coord_uni", e, "withdrawn", date(2025, 3, 12), "moved away", today=TODAY)
    ae = {"relatedness": "possible", "action": "none", "today": TODAY}
    record_adverse_event(
        store, "coord", first, "knee pain", date(2025, 3, 19), "mild", outcome="ongoing", **ae
    )
    bruise = record_adverse_event(
        store, "coord", first, "bruising", date(2025, 3, 5), "mild", outcome="ongoing", **ae
    )
    correct_adverse_event(store, "coord", bruise.id, {"outcome": "resolved"}, "it healed")
    record_adverse_event(
        store, "coord", b, "headache", date(2025, 3, 11), "mild", outcome="resolved", **ae
    )
    record_adverse_event(
        store, "coord_uni", c, "fainting", date(2025, 3, 20), "serious", outcome="ongoing", **ae
    )
    return {"A": first, "B": b, "F": f.study_code, "C": c, "E": e, "G": g.study_code}


@pytest.fixture
def study(database_url: str) -> Iterator[Study]:
    store = make_study(database_url)
    codes = populate(store, enrol(store))
    yield Study(store, codes)
    store.close()


def test_the_study_has_the_codes_the_docstring_names(study: Study) -> None:
    assert study.codes == {
        "A": "SEV-001",
        "B": "SEV-002",
        "F": "SEV-003",
        "C": "UNI-001",
        "E": "UNI-002",
        "G": "UNI-003",
    }


def _points(*rows: tuple[str, int, int]) -> tuple[RecruitmentPoint, ...]:
    return tuple(RecruitmentPoint(date.fromisoformat(d), s, r) for d, s, r in rows)


@pytest.mark.parametrize(
    ("actor", "site", "points"),
    [
        (
            "dm",
            None,
            # weeks from Monday 2025-02-24: A and E screened 02-24, C 02-26; B 03-03; F, G late
            _points(
                ("2025-03-02", 3, 0),
                ("2025-03-09", 4, 3),
                ("2025-03-16", 4, 4),
                ("2025-03-23", 6, 4),
                ("2025-03-25", 6, 4),
            ),
        ),
        (
            "coord",
            "SEV",
            _points(
                ("2025-03-02", 1, 0),
                ("2025-03-09", 2, 1),
                ("2025-03-16", 2, 2),
                ("2025-03-23", 3, 2),
                ("2025-03-25", 3, 2),
            ),
        ),
        (
            "stats",
            None,
            _points(
                ("2025-03-02", 3, 0),
                ("2025-03-09", 4, 3),
                ("2025-03-16", 4, 4),
                ("2025-03-23", 6, 4),
                ("2025-03-25", 6, 4),
            ),
        ),
        (
            "coord_uni",
            "UNI",
            _points(
                ("2025-03-02", 2, 0),
                ("2025-03-09", 2, 2),
                ("2025-03-16", 2, 2),
                ("2025-03-23", 3, 2),
                ("2025-03-25", 3, 2),
            ),
        ),
    ],
)
def test_recruitment_over_time_per_week_by_site(
    study: Study, actor: str, site: str | None, points: tuple[RecruitmentPoint, ...]
) -> None:
    timeline = recruitment_over_time(study.store, actor, TODAY)
    assert (timeline.site, timeline.period, timeline.target) == (site, "week", 38)
    assert timeline.points == points


def test_a_long_study_counts_per_month_and_the_past_shows_the_past(study: Study) -> None:
    later = recruitment_over_time(study.store, "dm", date(2025, 12, 1))
    assert later.period == "month"
    assert [p.ends.isoformat() for p in later.points[:3]] == [
        "2025-02-28",
        "2025-03-31",
        "2025-04-30",
    ]
    assert later.points[-1] == RecruitmentPoint(date(2025, 12, 1), 6, 4)
    assert len(later.points) == 11  # February to November, then 1 December
    assert (later.points[0].screened, later.points[0].randomised) == (3, 0)
    before = recruitment_over_time(study.store, "dm", date(2025, 2, 23))
    assert before.points == ()
    early = recruitment_over_time(study.store, "dm", date(2025, 3, 4))
    assert early.points == _points(("2025-03-02", 3, 0), ("2025-03-04", 4, 2))


@pytest.mark.parametrize(
    ("actor", "counts"),
    [
        # SEV: A's T1-T3 missed, W3 (planned 03-24) late; B's T1, T2 missed, T3 planned today
        ("coord", (1, 1, 1, 5)),
        ("therapist", (1, 1, 1, 5)),
        # UNI: C's BL, T1-T3 missed, W3 (planned 03-26) open; E withdrew: nothing due
        ("coord_uni", (0, 1, 0, 4)),
        ("dm", (1, 2, 1, 9)),
    ],
)
def test_visits_to_act_on(study: Study, actor: str, counts: tuple[int, int, int, int]) -> None:
    found = visits_to_act_on(study.store, actor, TODAY)
    assert found is not None
    assert (found.due_today, found.open, found.late, found.missed) == counts
    assert len(found.visits) == sum(counts[1:])
    assert found.visits[0].status == ("late" if counts[2] else "open")


def test_the_statistician_has_no_visit_list(study: Study) -> None:
    assert visits_to_act_on(study.store, "stats", TODAY) is None


def test_open_adverse_events_serious_first_by_site(study: Study) -> None:
    knee = OpenAdverseEvent(0, "SEV-001", "SEV", "knee pain", date(2025, 3, 19), "mild")
    faint = OpenAdverseEvent(0, "UNI-001", "UNI", "fainting", date(2025, 3, 20), "serious")

    def shown(actor: str) -> list[OpenAdverseEvent] | None:
        found = open_adverse_events(study.store, actor)
        return None if found is None else [replace(e, id=0) for e in found]

    assert shown("dm") == [faint, knee]
    assert shown("coord") == [knee]
    assert shown("assessor") == [knee]
    assert shown("coord_uni") == [faint]
    assert shown("stats") is None


def _visit(code: str, name: str, m: int, n: int, done: int, got: int) -> VisitCompleteness:
    return VisitCompleteness(code, name, m, n, done, n * m, got)


BL, T3, W3 = "Baseline assessment", "Treatment session 3", "Post-treatment assessment (week 3)"
M3, M6 = "Follow-up at 3 months", "Follow-up at 6 months"


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        # BL: A (11 of 11), B (2), C (missed, 0), E (1); T3: A, B, C (E's was stopped);
        # W3: A (opened 03-22), C (opened 03-24); B's opens 03-29, E's was stopped.
        (
            "dm",
            [
                _visit("BL", BL, 11, 4, 3, 14),
                _visit("T3", T3, 1, 3, 0, 0),
                _visit("W3", W3, 13, 2, 0, 0),
                _visit("M3", M3, 12, 0, 0, 0),
                _visit("M6", M6, 12, 0, 0, 0),
            ],
        ),
        (
            "coord",
            [
                _visit("BL", BL, 11, 2, 2, 13),
                _visit("T3", T3, 1, 2, 0, 0),
                _visit("W3", W3, 13, 1, 0, 0),
                _visit("M3", M3, 12, 0, 0, 0),
                _visit("M6", M6, 12, 0, 0, 0),
            ],
        ),
        (
            "coord_uni",
            [
                _visit("BL", BL, 11, 2, 1, 1),
                _visit("T3", T3, 1, 1, 0, 0),
                _visit("W3", W3, 13, 1, 0, 0),
                _visit("M3", M3, 12, 0, 0, 0),
                _visit("M6", M6, 12, 0, 0, 0),
            ],
        ),
    ],
)
def test_completeness_per_visit(
    study: Study, actor: str, expected: list[VisitCompleteness]
) -> None:
    found = completeness(study.store, actor, TODAY)
    assert list(found) == expected


def test_completeness_percent(study: Study) -> None:
    baseline = completeness(study.store, "dm", TODAY)[0]
    assert baseline.percent == pytest.approx(100 * 14 / 44)
    assert completeness(study.store, "dm", TODAY)[-1].percent is None


def _row(
    code: str, site: str, status: str, randomised: str | None, nxt: NextVisit | None, left: int
) -> ParticipantRow:
    day = None if randomised is None else date.fromisoformat(randomised)
    return ParticipantRow(code, site, status, day, nxt, left)


A_ROW = _row(
    "SEV-001", "SEV", "randomised", "2025-03-03", NextVisit("W3", W3, date(2025, 3, 24), "late"), 14
)
B_ROW = _row(
    "SEV-002", "SEV", "randomised", "2025-03-10", NextVisit("T3", T3, date(2025, 3, 25), "open"), 10
)
F_ROW = _row("SEV-003", "SEV", "consented", None, None, 0)
C_ROW = _row(
    "UNI-001", "UNI", "randomised", "2025-03-05", NextVisit("W3", W3, date(2025, 3, 26), "open"), 25
)
E_ROW = _row("UNI-002", "UNI", "withdrawn", "2025-03-03", None, 10)
G_ROW = _row("UNI-003", "UNI", "screen_failed", None, None, 0)


def test_participant_list_by_site_with_next_visit_and_outstanding(study: Study) -> None:
    # A: T3 (1) and W3 (13) outstanding; B: BL 9 and T3 1; C: BL 11, T3 1, W3 13; E: BL 10
    assert participant_list(study.store, "dm", TODAY) == [A_ROW, B_ROW, F_ROW, C_ROW, E_ROW, G_ROW]
    assert participant_list(study.store, "coord", TODAY) == [A_ROW, B_ROW, F_ROW]
    assert participant_list(study.store, "therapist_uni", TODAY) == [C_ROW, E_ROW, G_ROW]


def test_participant_list_filters(study: Study) -> None:
    assert participant_list(study.store, "dm", TODAY, code_contains=" uni-00 ") == [
        C_ROW,
        E_ROW,
        G_ROW,
    ]
    assert participant_list(study.store, "dm", TODAY, code_contains="%") == []
    assert participant_list(study.store, "dm", TODAY, status="randomised") == [A_ROW, B_ROW, C_ROW]
    assert participant_list(study.store, "coord", TODAY, "00", "withdrawn") == []
    assert participant_list(study.store, "coord_uni", TODAY, "2", "withdrawn") == [E_ROW]
    with pytest.raises(AnswerError, match="status: 'gone' is not allowed; allowed: eligible"):
        participant_list(study.store, "dm", TODAY, status="gone")


def test_participant_list_needs_the_visits_permission(study: Study) -> None:
    with pytest.raises(PermissionDeniedError, match="may not visits"):
        participant_list(study.store, "stats", TODAY)
