"""Clinic mode: one patient's progress, the clinic's caseload, and its own evidence.

A clinic study (a care plan compiled into a one-arm protocol, :mod:`physiotrial.core.care_plan`)
is run by the same services as a trial; this module reads it back the way a clinic asks:

- :func:`patient_progress`: each outcome against baseline with its MCID, OMERACT-OARSI status,
  sessions delivered, home-exercise adherence, adverse events and the therapist's flags;
- :func:`caseload`: patients in care, finished and stopped, with their flags;
- :func:`response_data`: sessions to meaningful improvement per patient (for Kaplan–Meier);
- :func:`home_log`, :func:`adverse_events`: the rows the pages and the safety table read.

Who may see what: staff of the patient's site (coordinator, assessor, therapist) and the data
manager follow patients (``follow progress``); the clinic's pooled figures are also open to the
statistician (``clinic outcomes``). Site-bound roles see their own site's patients only. There is
no allocation to hide: a clinic has one arm and the pages never name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Connection, select

from physiotrial.analysis.clinic_progress import (
    Course as Course,
)
from physiotrial.analysis.clinic_progress import (
    Flag,
    PatientProgress,
    Rule,
    care_of,
    response_times,
)
from physiotrial.analysis.clinic_progress import (
    Point as Point,
)
from physiotrial.analysis.clinic_progress import (
    WeekOfExercise as WeekOfExercise,
)
from physiotrial.analysis.clinic_progress import (
    patient_progress as progress_of,
)
from physiotrial.analysis.dataset import TrialFrames
from physiotrial.core.care import HOME_EXERCISE
from physiotrial.core.protocol import Protocol
from physiotrial.errors import ConflictError
from physiotrial.services.analysis import study_frames
from physiotrial.services.context import Actor, acting, require
from physiotrial.services.randomisation import RANDOMISED
from physiotrial.services.recruitment import site_scope
from physiotrial.services.schedule import DEPARTURES, person_for
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store


@dataclass(frozen=True)
class AdverseEventLine:
    term: str
    onset: date
    severity: str
    duration_hours: float | None
    session: str | None
    outcome: str


@dataclass(frozen=True)
class PatientView:
    """What the progress page and the printable summary show of one patient."""

    study_code: str
    title: str
    condition: str
    joint: str
    status: str
    progress: PatientProgress
    adverse_events: tuple[AdverseEventLine, ...]
    components: dict[str, str]
    """Component code → its name, in care-plan order."""


@dataclass(frozen=True)
class CaseloadLine:
    study_code: str
    site: str
    status: str
    started_on: date | None
    sessions: int
    planned: int
    flags: tuple[Flag, ...]


def status_word(status: str) -> str:
    """A stored participant status as a clinic says it: the trial's "randomised" is "in care"
    (care started through ``randomise`` with method none); others with spaces for underscores."""
    return "in care" if status == RANDOMISED else status.replace("_", " ")


def _clinic(connection: Connection) -> Protocol:
    protocol = study_protocol(connection)
    if not protocol.is_clinic:
        raise ConflictError(
            f"{protocol.study.id} is a trial; clinic pages need a study started from a care plan"
        )
    return protocol


def _frames(connection: Connection, who: Actor, protocol: Protocol) -> TrialFrames:
    """The study frames, cut to the actor's site for site-bound roles."""
    frames = study_frames(connection, who, protocol)
    _, site = site_scope(connection, who)
    if site is None:
        return frames
    keep = set(frames.participants.loc[frames.participants["site"] == site, "study_code"])

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["study_code"].isin(keep)].reset_index(drop=True)

    return TrialFrames(
        participants=cut(frames.participants),
        scores=cut(frames.scores),
        guesses=cut(frames.guesses),
        adverse_events=cut(frames.adverse_events),
        sessions=cut(frames.sessions),
        visits=cut(frames.visits),
        deviations=cut(frames.deviations),
        screening=cut(frames.screening),
    )


def _home_log(connection: Connection, participant_id: int | None = None) -> pd.DataFrame:
    """Home exercise days: study_code, held_on, exercises_done, pain_during (current rows)."""
    s, p = schema.sessions, schema.participants
    query = (
        select(p.c.study_code, s.c.held_on, s.c.details)
        .join(p, p.c.id == s.c.participant_id)
        .where(s.c.plan == HOME_EXERCISE, s.c.current.is_(True), s.c.delivered.is_(True))
        .order_by(s.c.held_on)
    )
    if participant_id is not None:
        query = query.where(s.c.participant_id == participant_id)
    rows = [
        (
            r.study_code,
            r.held_on,
            (r.details or {}).get("exercises_done"),
            (r.details or {}).get("pain_during"),
        )
        for r in connection.execute(query)
    ]
    return pd.DataFrame(rows, columns=["study_code", "held_on", "exercises_done", "pain_during"])


def patient_progress(store: Store, actor: str, study_code: str) -> PatientView:
    """One patient's progress as their therapist reads it (and the take-home summary)."""
    with store.read() as connection:
        who = acting(connection, actor)
        person = person_for(connection, who, study_code, "follow progress")
        protocol = _clinic(connection)
        if not connection.execute(
            select(schema.allocations.c.id).where(
                schema.allocations.c.participant_id == person["id"]
            )
        ).first():
            raise ConflictError(f"{study_code} has not started care yet; progress starts then")
        frames = study_frames(connection, who, protocol)
        log = _home_log(connection, person["id"])
        events = _events(connection, person["id"])
    care = care_of(protocol)
    return PatientView(
        study_code=study_code,
        title=protocol.study.title,
        condition=protocol.study.condition,
        joint=care.joint,
        status=str(person["status"]),
        progress=progress_of(frames, protocol, study_code, log),
        adverse_events=events,
        components={c.code: c.name for c in care.components},
    )


def _events(connection: Connection, participant_id: int) -> tuple[AdverseEventLine, ...]:
    e, s = schema.adverse_events, schema.sessions
    rows = connection.execute(
        select(e, s.c.plan, s.c.number)
        .outerjoin(s, s.c.id == e.c.session_id)
        .where(e.c.participant_id == participant_id, e.c.current.is_(True))
        .order_by(e.c.onset, e.c.id)
    ).mappings()
    return tuple(
        AdverseEventLine(
            term=str(r["term"]),
            onset=r["onset"],
            severity=str(r["severity"]),
            duration_hours=r["duration_hours"],
            session=None if r["plan"] is None else f"{r['plan']} {r['number']}",
            outcome=str(r["outcome"]),
        )
        for r in rows
    )


def caseload(store: Store, actor: str) -> tuple[CaseloadLine, ...]:
    """Every patient who started care, flagged ones first, with sessions against the plan."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "follow progress")
        protocol = _clinic(connection)
        frames = _frames(connection, who, protocol)
        log = _home_log(connection)
    return _caseload(frames, protocol, log)


def _caseload(
    frames: TrialFrames, protocol: Protocol, log: pd.DataFrame
) -> tuple[CaseloadLine, ...]:
    care = care_of(protocol)
    lines = []
    for row in frames.participants.itertuples():
        code = str(row.study_code)
        progress = progress_of(frames, protocol, code, log[log["study_code"] == code])
        delivered, planned = progress.sessions[care.counted]
        lines.append(
            CaseloadLine(
                code,
                str(row.site),
                str(row.status),
                progress.started_on,
                delivered,
                planned,
                progress.flags,
            )
        )
    return tuple(sorted(lines, key=lambda line: (not line.flags, line.study_code)))


def response_data(store: Store, actor: str, rule: Rule = "mcid") -> pd.DataFrame:
    """study_code, sessions, responded — plus the care plan's condition and joint for grouping."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "clinic outcomes")
        protocol = _clinic(connection)
        frames = _frames(connection, who, protocol)
    data = response_times(frames, protocol, rule)
    data["condition"] = protocol.study.condition
    data["joint"] = care_of(protocol).joint
    return data


def adverse_event_data(store: Store, actor: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sessions, adverse events) of the clinic for the per-session safety table."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "clinic outcomes")
        protocol = _clinic(connection)
        frames = _frames(connection, who, protocol)
    sessions = frames.sessions.rename(columns={"study_code": "patient"})
    events = frames.adverse_events.rename(columns={"study_code": "patient"})
    return sessions, events


def scores_data(store: Store, actor: str) -> pd.DataFrame:
    """patient, visit, outcome, value: the anonymised scores a trial's power calculation reads."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "clinic outcomes")
        protocol = _clinic(connection)
        frames = _frames(connection, who, protocol)
    return frames.scores.rename(columns={"study_code": "patient"})


# --- What the clinic pages read (web/routes/clinic.py) ---------------------------------------

IN_CARE, FINISHED, STOPPED = "in care", "finished", "stopped"
"""Where a patient stands on the clinic dashboard: in care (visits still to come), finished
(every planned visit done or its window closed) or stopped (withdrew or was lost to follow-up)."""


@dataclass(frozen=True)
class ClinicPlan:
    """The care plan as the pages speak of it (no arm: a clinic has one)."""

    title: str
    condition: str
    joint: str
    counted: str
    counted_name: str
    planned: int
    """Sessions of the counted component the plan gives everyone."""
    most: int
    """Sessions the therapist may extend to."""
    reassess_every: int
    response_outcome: str
    response_outcome_name: str
    response_mcid: float | None
    response_mcid_source: str
    instruments: dict[str, tuple[str, str]]
    """Outcome id → (instrument, score): what the plain-language names are chosen by."""
    home_per_week: int | None


@dataclass(frozen=True)
class ClinicOverview:
    """The clinic dashboard's caseload: every patient with where they stand."""

    lines: tuple[CaseloadLine, ...]
    standing: dict[str, str]
    """Study code → :data:`IN_CARE`, :data:`FINISHED` or :data:`STOPPED`."""

    def count(self, standing: str) -> int:
        return sum(1 for s in self.standing.values() if s == standing)


def study_is_clinic(store: Store) -> bool:
    """Whether the study was started from a care plan (the pages' navigation asks)."""
    with store.read() as connection:
        return study_protocol(connection).is_clinic


def clinic_plan(store: Store, actor: str) -> ClinicPlan:
    """The care plan's words for the pages; a :class:`ConflictError` on a trial study."""
    with store.read() as connection:
        acting(connection, actor)
        protocol = _clinic(connection)
    care = care_of(protocol)
    counted = care.component(care.counted)
    measures = {m.key: m.instrument for m in protocol.measures}
    main = next(o for o in protocol.outcomes if o.id == care.response.mcid_outcome)
    return ClinicPlan(
        title=protocol.study.title,
        condition=protocol.study.condition,
        joint=care.joint,
        counted=counted.code,
        counted_name=counted.name,
        planned=counted.planned_sessions,
        most=counted.most_sessions,
        reassess_every=care.reassess_every,
        response_outcome=main.id,
        response_outcome_name=main.name,
        response_mcid=main.mcid.value if main.mcid else None,
        response_mcid_source=main.mcid.source if main.mcid else "",
        instruments={
            o.id: (measures.get(o.measure, o.measure), o.score) for o in protocol.outcomes
        },
        home_per_week=care.home.per_week if care.home else None,
    )


def clinic_overview(store: Store, actor: str, today: date) -> ClinicOverview:
    """:func:`caseload` with each patient's standing on ``today`` (see :data:`IN_CARE`), from
    one read of the study."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "follow progress")
        protocol = _clinic(connection)
        frames = _frames(connection, who, protocol)
        log = _home_log(connection)
    lines, visits = _caseload(frames, protocol, log), frames.visits
    standing = {}
    for line in lines:
        if line.status in DEPARTURES:
            standing[line.study_code] = STOPPED
            continue
        own = visits[visits["study_code"] == line.study_code]
        closes = pd.to_datetime(own["closes"]).dt.date
        left = own[own["done_on"].isna() & (closes >= today)]
        standing[line.study_code] = FINISHED if not own.empty and left.empty else IN_CARE
    return ClinicOverview(lines, standing)


def clinic_protocol(store: Store) -> Protocol:
    """The clinic's protocol (a :class:`ConflictError` on a trial study)."""
    with store.read() as connection:
        return _clinic(connection)
