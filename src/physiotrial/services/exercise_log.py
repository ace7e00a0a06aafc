"""The patient's home exercise log, kept through a link (clinic mode, issue 7).

A clinic's care plan may prescribe a home exercise programme (``Protocol.care.home``: exercises
with sets, repetitions and load, and how many days a week). The patient logs each day they did it
through a link given by a coordinator or their therapist (:func:`create_exercise_log_link`),
without an account, as the self-report links of :mod:`physiotrial.services.links` work: the token
is 256 random bits shown once, only its SHA-256 is stored, and the patient comes only from the
stored link. Unlike a visit link, an exercise-log link stays usable until it expires or the
patient says they are done, because a patient logs several days; each day is logged once.

A logged day is a session of the participant-delivered plan ``home_exercise``, recorded by
``safety.record_session`` inside the link's write (one transaction, one audit row) as the built-in
participant user :data:`access.LINK_USER`: a participant-delivered plan is the action ``log home
exercise``, which the participant role holds, while every other plan stays the therapist's
``session``. Its details are the number of exercises done and the pain during them on the 0-10
numeric rating scale (NPRS; Farrar et al., Pain 2001;94:149-158, reference/instruments.md section
1). The plan's details hold only those two fields (``capture.session_details`` refuses any other),
so which exercises were done is kept in the audit row's reason. Adherence is then the number of
days logged per week of care against the prescribed days (analysis.clinic_progress), the self-
reported measure most used for home exercise programmes (Bollen et al., BMJ Open 2014;4:e005044).

Every refusal (a day in the future, before care started or after it ended, a day already
logged, more days than the programme holds, an unknown exercise, pain outside 0-10) names the
field, the value and what is allowed, and writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.core.care import HOME_EXERCISE, Exercise, HomeProgramme
from physiotrial.core.protocol import Protocol, Role
from physiotrial.errors import ConflictError
from physiotrial.services.access import LINK_USER, digest, utc_text
from physiotrial.services.context import writing
from physiotrial.services.links import EXERCISE_LOG, Within, check_minutes, link_row, link_user
from physiotrial.services.safety import LOG_HOME_EXERCISE, record_session, session_plan
from physiotrial.services.schedule import departure, person_for, reject
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

GIVE_LOG = "give exercise log links"
PAIN = (0, 10)
"""Pain during the exercises on the 0-10 numeric rating scale (the plan's ``pain_during``)."""


@dataclass(frozen=True)
class LoggedDay:
    """One day the patient logged: how many of the exercises they did and the pain."""

    day: date
    exercises_done: int
    pain_during: int | None


@dataclass(frozen=True)
class ExerciseLog:
    """What an exercise-log link shows: the programme, the days logged, this week's count.

    Weeks are weeks of care (week 1 = the first seven days from the start of care), as the
    therapist's adherence per week counts them (analysis.clinic_progress)."""

    exercises: tuple[Exercise, ...]
    per_week: int
    started: date
    today: date
    week: int
    this_week: int
    logged: tuple[LoggedDay, ...]
    """Days logged since this link was given, the latest day first."""
    total: int
    """Days logged altogether (through any link, or entered by the therapist)."""
    most: int
    """Days the programme holds (days a week × weeks)."""
    ended: date | None
    """The day the patient left care, if they have."""
    today_logged: bool
    expires_at: str

    @property
    def full(self) -> bool:
        return self.total >= self.most


def home_programme(protocol: Protocol) -> HomeProgramme:
    """The care plan's home exercise programme; refused for a trial or a plan without one."""
    if protocol.care is None or protocol.care.home is None:
        why = "not a clinic study" if protocol.care is None else "its care plan has none"
        raise ConflictError(
            f"exercise log: this study has no home exercise programme ({why}); exercise log "
            "links are for clinic studies whose care plan has a [home_exercise] table"
        )
    return protocol.care.home


def _care_dates(connection: Connection, person: Mapping[str, Any]) -> tuple[date, date | None]:
    """When the patient's care started and the day they left (None while in care)."""
    a = schema.allocations
    query = select(a.c.randomised_on).where(a.c.participant_id == person["id"])
    started = connection.execute(query).scalar_one_or_none()
    if started is None:
        raise ConflictError(
            f"{person['study_code']} has not started care (not randomised yet); an exercise log "
            "link is given once care has started"
        )
    left = departure(connection, person["id"])
    return started, None if left is None else left.occurred_on


def create_exercise_log_link(
    store: Store, actor: str, study_code: str, now: datetime, minutes: int = 7 * 24 * 60
) -> str:
    """A link through which ``study_code`` logs their home exercise days until it expires or
    they say they are done (coordinators and therapists of the patient's site)."""
    check_minutes(minutes)
    token = secrets.token_urlsafe(32)
    with writing(store, actor, GIVE_LOG, participant=study_code) as (tx, who):
        person = person_for(tx.connection, who, study_code, GIVE_LOG)
        home_programme(study_protocol(tx.connection))
        _, left = _care_dates(tx.connection, person)
        if left is not None:
            raise ConflictError(
                f"{study_code} left care on {left.isoformat()}; no exercise log link is given "
                "after that"
            )
        link_user(tx)
        values = {"token_hash": digest(token), "participant_id": person["id"], "visit_id": None}
        values |= {"purpose": EXERCISE_LOG, "created_by": who.username, "created_at": tx.at}
        tx.insert(
            schema.participant_links,
            values | {"expires_at": utc_text(now + timedelta(minutes=minutes))},
        )
    return token


def _home_sessions(connection: Connection, participant_id: int) -> list[dict[str, Any]]:
    s = schema.sessions
    query = select(s.c.number, s.c.held_on, s.c.details, s.c.entered_at).where(
        s.c.participant_id == participant_id, s.c.plan == HOME_EXERCISE, s.c.current.is_(True)
    )
    return [dict(r) for r in connection.execute(query.order_by(s.c.held_on)).mappings()]


def _log(connection: Connection, link: Mapping[str, Any], now: datetime) -> ExerciseLog:
    protocol = study_protocol(connection)
    home = home_programme(protocol)
    person = {"id": link["participant_id"], "study_code": link["study_code"]}
    started, ended = _care_dates(connection, person)
    rows = _home_sessions(connection, link["participant_id"])
    today = now.date()
    week = max(0, (today - started).days) // 7 + 1
    first = started + timedelta(days=7 * (week - 1))
    mine = [r for r in rows if r["entered_at"] >= link["created_at"]]
    return ExerciseLog(
        exercises=home.exercises,
        per_week=home.per_week,
        started=started,
        today=today,
        week=week,
        this_week=sum(first <= r["held_on"] < first + timedelta(days=7) for r in rows),
        logged=tuple(
            LoggedDay(
                r["held_on"], r["details"].get("exercises_done", 0), r["details"].get("pain_during")
            )
            for r in reversed(mine)
        ),
        total=len(rows),
        most=session_plan(protocol, HOME_EXERCISE).count,
        ended=ended,
        today_logged=any(r["held_on"] == today for r in rows),
        expires_at=link["expires_at"],
    )


def open_exercise_log(store: Store, token: str, now: datetime) -> ExerciseLog:
    """What a valid exercise-log link shows (read only)."""
    with store.read() as connection:
        return _log(connection, link_row(connection, token, now, (EXERCISE_LOG,)), now)


def _chosen(home: HomeProgramme, done: Sequence[str], pain: object) -> tuple[str, ...]:
    """The exercises ticked, in programme order, once each is one of the programme's and the
    pain is a whole number 0 to 10."""
    known = [e.code for e in home.exercises]
    if not done:
        raise reject("exercises_done", list(done), f"one or more of {', '.join(known)}")
    for code in done:
        if code not in known:
            raise reject("exercises_done", code, f"the programme's exercises: {', '.join(known)}")
        if list(done).count(code) > 1:
            raise reject("exercises_done", code, "each exercise once")
    if isinstance(pain, bool) or not isinstance(pain, int) or not PAIN[0] <= pain <= PAIN[1]:
        raise reject("pain_during", pain, f"whole numbers {PAIN[0]} (no pain) to {PAIN[1]}")
    return tuple(code for code in known if code in done)


def _check_day(log: ExerciseLog, day: object) -> date:
    if not isinstance(day, date):
        raise reject("day", day, "a date (YYYY-MM-DD)")
    if day > log.today:
        raise reject("day", day.isoformat(), f"{log.today.isoformat()} (today) or earlier")
    if day < log.started:
        raise reject("day", day.isoformat(), f"{log.started.isoformat()} (care started) or later")
    if log.ended is not None and day > log.ended:
        raise reject("day", day.isoformat(), f"{log.ended.isoformat()} (care ended) or earlier")
    if log.full:
        raise ConflictError(
            f"day: {day.isoformat()} cannot be logged: the programme holds {log.most} days and "
            "all of them are logged; allowed: no more days"
        )
    return day


def log_exercise(
    store: Store,
    token: str,
    now: datetime,
    day: date,
    exercises_done: Sequence[str],
    pain_during: int,
) -> ExerciseLog:
    """Log one day of the home programme through the link: the next ``home_exercise`` session,
    written in the link's write (one transaction, one audit row) as the built-in link user."""
    with store.read() as connection:
        found = link_row(connection, token, now, (EXERCISE_LOG,))
        chosen = _chosen(home_programme(study_protocol(connection)), exercises_done, pain_during)
    reason = f"entered by the patient through exercise-log link {found['id']}"
    with store.write(
        actor=LINK_USER,
        role=Role.PARTICIPANT.value,
        action=LOG_HOME_EXERCISE,
        participant=found["study_code"],
        reason=f"{reason}; exercises done: {', '.join(chosen)}",  # session details hold a count
    ) as tx:
        link = link_row(tx.connection, token, now, (EXERCISE_LOG,))  # serialised with every write
        log = _log(tx.connection, link, now)
        day = _check_day(log, day)
        rows = _home_sessions(tx.connection, link["participant_id"])
        if any(r["held_on"] == day for r in rows):
            raise reject("day", day.isoformat(), "a day not logged yet; each day is logged once")
        taken = {r["number"] for r in rows}
        number = min(n for n in range(1, log.most + 1) if n not in taken)
        details = {"exercises_done": len(chosen), "pain_during": pain_during}
        args = (link["study_code"], HOME_EXERCISE, number, day, True, details)
        record_session(Within(tx), LINK_USER, *args, today=now.date())
        return _log(tx.connection, link, now)
