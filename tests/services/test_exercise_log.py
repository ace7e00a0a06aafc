"""The home exercise log through a patient's link (services/exercise_log.py), on SQLite and
PostgreSQL: who may give the link and for whom, what it opens, each refusal (table-driven, and
each writes nothing), replay after "I am done", one patient's link never touching another's,
visit links unaffected, and revision 0005 (the schema equals the migrated database; old links
still verify against the audit trail)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, func, select, text

from physiotrial.core.protocol import Role
from physiotrial.errors import (
    AnswerError,
    ConflictError,
    PermissionDeniedError,
    StudyLockedError,
)
from physiotrial.services import enrolment, randomisation
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.exercise_log import (
    create_exercise_log_link,
    log_exercise,
    open_exercise_log,
)
from physiotrial.services.links import (
    UNKNOWN_LINK,
    USED_LINK,
    create_participant_link,
    finish_participant_link,
    open_participant_link,
    submit_participant_link,
)
from physiotrial.services.locking import lock
from physiotrial.services.safety import participant_sessions
from physiotrial.services.schedule import withdraw
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store import schema
from physiotrial.store.migrate import downgrade, upgrade
from physiotrial.store.store import Store
from tests.services.helpers_capture import enrol, make_study

DAY0 = date(2025, 3, 3)
"""The day care starts (randomisation, method none), a Monday."""
NOW = datetime(2025, 3, 13, 9, 0, tzinfo=UTC)
"""Ten days into care: week 2 of care runs 10 to 16 March."""
TODAY = NOW.date()
SUITABLE = {"needle_phobia": False, "anticoagulants": False, "popliteus_trigger_point": True}
USERS = {
    "coord": (Role.COORDINATOR, "CLN"),
    "therapist": (Role.THERAPIST, "CLN"),
    "assessor": (Role.ASSESSOR, "CLN"),
    "therapist_oth": (Role.THERAPIST, "OTH"),
}


@dataclass
class Clinic:
    store: Store
    a: str
    b: str
    waiting: str
    """Screened and consented, not started care."""


def _patient(store: Store, name: str, start: bool = True) -> str:
    code = enrolment.screen(store, "coord", "CLN", DAY0, SUITABLE, {}, name, "contact").study_code
    enrolment.consent(store, "coord", code, "1.0", DAY0)
    if start:
        randomisation.randomise(store, "therapist", code, DAY0)
    return code


@pytest.fixture
def clinic(database_url: str) -> Iterator[Clinic]:
    """The knee-OA clinic (home programme: 3 exercises, 4 days a week for 6 weeks)."""
    init_study(database_url, "knee-oa-clinic", admin="dm", admin_name="Data Manager")
    store = Store(database_url)
    add_site(store, "dm", "CLN", "Knee clinic")
    add_site(store, "dm", "OTH", "Other clinic")
    for username, (role, site) in USERS.items():
        add_user(store, "dm", username, username.title(), role, site)
    patients = [_patient(store, "Ana"), _patient(store, "Ben"), _patient(store, "Cy", False)]
    yield Clinic(store, *patients)
    store.close()


def _count(store: Store, table: Table) -> int:
    with store.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _home(store: Store, code: str) -> list[tuple[int, date, dict[str, object]]]:
    sessions = participant_sessions(store, "dm", code)
    return [(s.number, s.held_on, s.details) for s in sessions if s.plan == "home_exercise"]


# --- giving the link ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "who", "error", "message"),
    [
        ("coord", "a", None, ""),
        ("therapist", "a", None, ""),
        ("assessor", "a", PermissionDeniedError, r"assessor \(assessor\) may not give exercise"),
        ("dm", "a", PermissionDeniedError, "allowed roles: coordinator, therapist"),
        ("therapist_oth", "a", PermissionDeniedError, "works at another site"),
        ("therapist", "waiting", ConflictError, "CLN-003 has not started care"),
        ("therapist", "nobody", Exception, "no participant 'CLN-999'"),
    ],
)
def test_who_may_give_an_exercise_log_link_and_for_whom(
    clinic: Clinic, actor: str, who: str, error: type[Exception] | None, message: str
) -> None:
    code = {"a": clinic.a, "waiting": clinic.waiting, "nobody": "CLN-999"}[who]
    links = _count(clinic.store, schema.participant_links)
    if error is None:
        token = create_exercise_log_link(clinic.store, actor, code, NOW)
        assert len(token) >= 43
        assert (
            open_exercise_log(clinic.store, token, NOW).expires_at == "2025-03-20T09:00:00.000000Z"
        )
        assert _count(clinic.store, schema.participant_links) == links + 1
        return
    with pytest.raises(error, match=message):
        create_exercise_log_link(clinic.store, actor, code, NOW)
    assert _count(clinic.store, schema.participant_links) == links


def test_no_link_for_a_patient_who_left_nor_for_a_lifetime_out_of_range(clinic: Clinic) -> None:
    withdraw(clinic.store, "coord", clinic.b, "withdrawn", DAY0 + timedelta(days=5), "moved", TODAY)
    with pytest.raises(ConflictError, match="CLN-002 left care on 2025-03-08"):
        create_exercise_log_link(clinic.store, "therapist", clinic.b, NOW)
    for minutes in (4, 60 * 24 * 14 + 1):
        with pytest.raises(ConflictError, match=f"minutes: {minutes} is not allowed; allowed: 5"):
            create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW, minutes)


def test_a_trial_without_a_home_programme_gives_no_exercise_log_link(database_url: str) -> None:
    store = make_study(database_url)
    try:
        code = enrol(store)
        with pytest.raises(ConflictError, match=r"no home exercise programme \(not a clinic"):
            create_exercise_log_link(store, "coord", code, NOW)
    finally:
        store.close()


# --- logging ------------------------------------------------------------------------------------


def test_the_link_opens_the_programme_and_logs_days_into_the_week(clinic: Clinic) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    opened = open_exercise_log(clinic.store, token, NOW)
    assert [(e.code, e.sets, e.repetitions, e.load) for e in opened.exercises] == [
        ("sit_to_stand", 3, 10, "body weight"),
        ("straight_leg_raise", 3, 12, "1 kg ankle weight"),
        ("step_up", 2, 10, "body weight"),
    ]
    assert (opened.per_week, opened.week, opened.this_week, opened.total, opened.most) == (
        4, 2, 0, 0, 24
    )  # fmt: skip
    after = log_exercise(clinic.store, token, NOW, TODAY, ["step_up", "sit_to_stand"], 3)
    assert (after.this_week, after.total, after.today_logged) == (1, 1, True)
    earlier = log_exercise(clinic.store, token, NOW, date(2025, 3, 7), ["step_up"], 0)  # week 1
    assert (earlier.this_week, earlier.total) == (1, 2)
    assert [(d.day, d.exercises_done, d.pain_during) for d in earlier.logged] == [
        (TODAY, 2, 3),  # the latest day first
        (date(2025, 3, 7), 1, 0),
    ]
    assert _home(clinic.store, clinic.a) == [
        (2, date(2025, 3, 7), {"exercises_done": 1, "pain_during": 0}),
        (1, TODAY, {"exercises_done": 2, "pain_during": 3}),
    ]
    entries = audit_log(clinic.store, "dm", participant=clinic.a, action="log home exercise")
    assert [(e.actor, e.role) for e in entries] == [("participant-link", "participant")] * 2
    assert entries[0].reason is not None
    assert entries[0].reason.endswith("exercises done: sit_to_stand, step_up")  # programme order
    assert entries[0].changes == ("added sessions 1",)
    assert verify_audit(clinic.store, "dm").problems == ()


REFUSALS = [
    (TODAY + timedelta(days=1), ["step_up"], 3, AnswerError,
     "day: '2025-03-14' is not allowed; allowed: 2025-03-13 (today) or earlier"),
    (DAY0 - timedelta(days=1), ["step_up"], 3, AnswerError,
     "day: '2025-03-02' is not allowed; allowed: 2025-03-03 (care started) or later"),
    (date(2025, 3, 10), ["step_up"], 3, AnswerError,
     "day: '2025-03-10' is not allowed; allowed: a day not logged yet; each day is logged once"),
    ("2025-03-11", ["step_up"], 3, AnswerError,
     "day: '2025-03-11' is not allowed; allowed: a date (YYYY-MM-DD)"),
    (TODAY, ["jumping"], 3, AnswerError,
     "exercises_done: 'jumping' is not allowed; allowed: the programme's exercises: "
     "sit_to_stand, straight_leg_raise, step_up"),
    (TODAY, ["step_up", "step_up"], 3, AnswerError,
     "exercises_done: 'step_up' is not allowed; allowed: each exercise once"),
    (TODAY, [], 3, AnswerError,
     "exercises_done: [] is not allowed; allowed: one or more of sit_to_stand, "
     "straight_leg_raise, step_up"),
    (TODAY, ["step_up"], 11, AnswerError,
     "pain_during: 11 is not allowed; allowed: whole numbers 0 (no pain) to 10"),
    (TODAY, ["step_up"], -1, AnswerError, "pain_during: -1 is not allowed"),
    (TODAY, ["step_up"], True, AnswerError, "pain_during: True is not allowed"),
    (TODAY, ["step_up"], "3", AnswerError, "pain_during: '3' is not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("day", "done", "pain", "error", "message"), REFUSALS)
def test_each_refusal_names_field_value_and_allowed_and_writes_nothing(
    clinic: Clinic, day: object, done: list[str], pain: object, error: type, message: str
) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    log_exercise(clinic.store, token, NOW, date(2025, 3, 10), ["step_up"], 2)
    rows = (_count(clinic.store, schema.sessions), _count(clinic.store, schema.audit))
    with pytest.raises(error) as raised:
        log_exercise(clinic.store, token, NOW, day, done, pain)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message), str(raised.value)
    assert (_count(clinic.store, schema.sessions), _count(clinic.store, schema.audit)) == rows


def test_no_more_days_than_the_programme_holds(clinic: Clinic) -> None:
    late = datetime(2025, 4, 30, 9, 0, tzinfo=UTC)
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, late)
    for offset in range(24):
        log = log_exercise(clinic.store, token, late, DAY0 + timedelta(days=offset), ["step_up"], 1)
    assert (log.total, log.most, log.full) == (24, 24, True)
    with pytest.raises(ConflictError, match="the programme holds 24 days and all of them are"):
        log_exercise(clinic.store, token, late, DAY0 + timedelta(days=30), ["step_up"], 1)
    assert len(_home(clinic.store, clinic.a)) == 24


def test_no_day_after_the_patient_left_care(clinic: Clinic) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    withdraw(clinic.store, "coord", clinic.a, "withdrawn", date(2025, 3, 11), "moved", TODAY)
    with pytest.raises(AnswerError, match="'2025-03-12' is not allowed; allowed: 2025-03-11 \\("):
        log_exercise(clinic.store, token, NOW, date(2025, 3, 12), ["step_up"], 1)
    assert log_exercise(clinic.store, token, NOW, date(2025, 3, 11), ["step_up"], 1).total == 1


def test_done_closes_the_link_and_every_replay_is_refused_writing_nothing(clinic: Clinic) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    log_exercise(clinic.store, token, NOW, TODAY, ["step_up"], 4)
    finish_participant_link(clinic.store, token, NOW)
    rows = (_count(clinic.store, schema.sessions), _count(clinic.store, schema.audit))
    later = NOW + timedelta(hours=1)
    replays: list[Callable[[], object]] = [
        lambda: open_exercise_log(clinic.store, token, later),
        lambda: log_exercise(clinic.store, token, later, TODAY - timedelta(days=1), ["step_up"], 1),
        lambda: finish_participant_link(clinic.store, token, later),
    ]
    for replay in replays:
        with pytest.raises(PermissionDeniedError, match=f"^{USED_LINK}$"):
            replay()
    assert (_count(clinic.store, schema.sessions), _count(clinic.store, schema.audit)) == rows


def test_an_expired_or_unknown_link_is_refused(clinic: Clinic) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW, minutes=60)
    with pytest.raises(PermissionDeniedError, match="this link expired at 2025-03-13 10:00:00"):
        log_exercise(clinic.store, token, NOW + timedelta(hours=1), TODAY, ["step_up"], 1)
    with pytest.raises(PermissionDeniedError, match=f"^{UNKNOWN_LINK}$"):
        open_exercise_log(clinic.store, token + "x", NOW)
    assert _home(clinic.store, clinic.a) == []


def test_a_link_of_patient_a_logs_for_a_only(clinic: Clinic) -> None:
    token_a = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    token_b = create_exercise_log_link(clinic.store, "coord", clinic.b, NOW)
    log_exercise(clinic.store, token_b, NOW, TODAY, ["sit_to_stand"], 6)
    seen_by_a = log_exercise(clinic.store, token_a, NOW, TODAY, ["step_up"], 2)  # same day: fine
    assert [(d.day, d.pain_during) for d in seen_by_a.logged] == [(TODAY, 2)]
    assert (seen_by_a.total, seen_by_a.this_week) == (1, 1)
    assert _home(clinic.store, clinic.a) == [(1, TODAY, {"exercises_done": 1, "pain_during": 2})]
    assert _home(clinic.store, clinic.b) == [(1, TODAY, {"exercises_done": 1, "pain_during": 6})]
    assert [e.participant for e in audit_log(clinic.store, "dm", action="log home exercise")] == [
        clinic.b,
        clinic.a,
    ]


def test_visit_links_and_exercise_log_links_never_open_each_other(clinic: Clinic) -> None:
    visit = create_participant_link(clinic.store, "coord", clinic.a, "BL", NOW)
    log = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    with clinic.store.read() as connection:
        k = schema.participant_links
        kinds = connection.execute(select(k.c.purpose, k.c.visit_id).order_by(k.c.id)).all()
    assert [(p, v is None) for p, v in kinds] == [(None, False), ("exercise_log", True)]
    assert open_participant_link(clinic.store, visit, NOW).measures == ("vas_max", "womac", "tsk11")
    for refused in (
        lambda: open_exercise_log(clinic.store, visit, NOW),
        lambda: log_exercise(clinic.store, visit, NOW, TODAY, ["step_up"], 1),
        lambda: open_participant_link(clinic.store, log, NOW),
        lambda: submit_participant_link(clinic.store, log, "vas_max", {"mm": 40}, NOW),
    ):
        with pytest.raises(PermissionDeniedError, match=f"^{UNKNOWN_LINK}$"):
            refused()
    submit_participant_link(clinic.store, visit, "vas_max", {"mm": 40}, NOW)
    assert open_participant_link(clinic.store, visit, NOW).recorded == ("vas_max",)
    assert open_exercise_log(clinic.store, log, NOW).total == 0


def test_while_locked_no_link_is_given_and_no_day_logged(clinic: Clinic) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.a, NOW)
    lock(clinic.store, "dm", "interim look")
    with pytest.raises(StudyLockedError, match="give exercise log links is not allowed"):
        create_exercise_log_link(clinic.store, "therapist", clinic.b, NOW)
    with pytest.raises(StudyLockedError, match="log home exercise is not allowed"):
        log_exercise(clinic.store, token, NOW, TODAY, ["step_up"], 1)


# --- revision 0005 ------------------------------------------------------------------------------


def test_the_schema_equals_the_migrated_database(clinic: Clinic) -> None:
    with clinic.store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), schema.metadata) == []


def test_links_written_before_0005_still_verify_and_0004_holds_no_exercise_log(
    clinic: Clinic,
) -> None:
    store = clinic.store
    visit = create_participant_link(store, "coord", clinic.a, "BL", NOW)
    log = create_exercise_log_link(store, "therapist", clinic.a, NOW)
    with pytest.raises(RuntimeError, match="1 exercise-log link"):
        downgrade(store.engine, "0004")
    finish_participant_link(store, log, NOW)  # the row stays; remove it behind the trail's back
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM participant_links WHERE purpose IS NOT NULL"))
    downgrade(store.engine, "0004")
    with store.engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM participant_links")).keys()
    assert "purpose" not in columns
    upgrade(store.engine)
    problems = [p for p in verify_audit(store, "dm").problems if "participant_links" in p]
    assert len(problems) == 1, problems  # the visit link (row 1) verifies after the round trip
    assert re.fullmatch(r"participant_links row 2 \(audit row \d+\) was deleted", problems[0])
    assert open_participant_link(store, visit, NOW).visit == "BL"
