"""One clinic patient's progress, the therapist's flags, and each patient's sessions to response.

A clinic asks of each patient "is it working?". Each outcome is followed against its baseline with
the improvement (positive = better, whatever the scale's direction) and whether it reached the
outcome's MCID (the protocol's, else the instrument's; reference/instruments.md). Response at an
assessment is either the MCID of the care plan's ``response.mcid_outcome`` or the OMERACT-OARSI
responder criteria (Pham et al., Osteoarthritis Cartilage 2004;12:389-399) on its pain, function
and patient-global outcomes.

Sessions are counted on the care plan's counted component (the dry needling, say): the number
delivered on or before the day of the assessment. "Sessions to response" is that count at the
first assessment that shows a response; a patient not (yet) responding is right-censored at the
sessions they have had. Response is only seen at assessments, so the event time is the count at
the assessment that first showed it: an upper bound on when it happened (interval censoring is
ignored, as clinics read it; Lindsey & Ryan, Stat Med 1998;17:219-238 discuss the bias).

Flags for the therapist (why each matters):
- ``no_change``: the planned sessions are delivered and the latest assessment after them shows no
  meaningful change: time to review the plan rather than continue by default;
- ``worsening``: an outcome is worse than at baseline by at least its MCID;
- ``neuropathic``: the neuropathic screen turned positive (e.g. DN4 ≥ 4, Bouhassira et al., Pain
  2005;114:29-36), which changes what needling can be expected to do;
- ``adverse_event``: a significant or serious adverse event (White et al. classification,
  reference/instruments.md §12).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from physiotrial.analysis.dataset import TrialFrames
from physiotrial.analysis.plan import higher_worse
from physiotrial.core.care import Care
from physiotrial.core.instruments.library.omeract_oarsi import omeract_oarsi_responder
from physiotrial.core.protocol import Outcome, Protocol
from physiotrial.errors import Problem, ProtocolError

Rule = Literal["mcid", "omeract_oarsi"]
SERIOUS = ("significant", "serious")


@dataclass(frozen=True)
class Point:
    """One outcome at one assessment."""

    visit: str
    day: date | None
    sessions: int
    value: float
    improvement: float
    reached: bool | None
    """Improvement ≥ MCID; None when the outcome has no MCID."""


@dataclass(frozen=True)
class Course:
    """One outcome over time against its baseline."""

    outcome: str
    name: str
    higher_worse: bool
    mcid: float | None
    mcid_source: str
    baseline: float | None
    points: tuple[Point, ...]

    @property
    def latest(self) -> Point | None:
        later = [p for p in self.points if p.visit != "BL"]
        return later[-1] if later else None

    @property
    def worse_beyond_mcid(self) -> bool:
        latest = self.latest
        return bool(latest and self.mcid is not None and latest.improvement <= -self.mcid)


@dataclass(frozen=True)
class Flag:
    kind: Literal["no_change", "worsening", "neuropathic", "adverse_event"]
    message: str


@dataclass(frozen=True)
class WeekOfExercise:
    week: int
    days: int
    target: int
    mean_pain: float | None


@dataclass(frozen=True)
class PatientProgress:
    study_code: str
    started_on: date | None
    courses: tuple[Course, ...]
    responder: dict[str, bool | None]
    """Assessment visit → OMERACT-OARSI responder (None when an outcome is missing)."""
    sessions: dict[str, tuple[int, int]]
    """Component code → (delivered, planned)."""
    exercise: tuple[WeekOfExercise, ...]
    flags: tuple[Flag, ...]


def care_of(protocol: Protocol) -> Care:
    if protocol.care is None:
        raise ProtocolError(protocol.study.id, [Problem("care_plan", "this study is a trial")])
    return protocol.care


def delivered_days(sessions: pd.DataFrame) -> dict[str, list[date]]:
    """Plan → the sorted days its delivered sessions were held (one patient's sessions)."""
    chosen = sessions[sessions["delivered"].astype(bool)]
    days = pd.to_datetime(chosen["held_on"]).dt.date
    found: dict[str, list[date]] = {}
    for plan, day in zip(chosen["plan"], days, strict=True):
        found.setdefault(str(plan), []).append(day)
    return {plan: sorted(held) for plan, held in found.items()}


def counted(days: dict[str, list[date]], plan: str, on_or_before: date | None) -> int:
    """Delivered sessions of ``plan`` held on or before the day (all of them when None)."""
    held = days.get(plan, [])
    return len(held) if on_or_before is None else bisect_right(held, on_or_before)


def _assessments(frames: TrialFrames, code: str) -> list[tuple[str, date | None]]:
    """(visit, day done) of the patient's assessments, baseline first, done ones only."""
    visits = frames.visits[frames.visits["study_code"] == code]
    done = visits[visits["done_on"].notna()].copy()
    done["day"] = pd.to_datetime(done["done_on"]).dt.date
    ordered = done.sort_values("day")
    return [(str(v), d) for v, d in zip(ordered["visit"], ordered["day"], strict=True)]


def _course(
    protocol: Protocol,
    outcome: Outcome,
    when: list[tuple[str, date | None]],
    value_at: dict[str, float],
    days: dict[str, list[date]],
) -> Course:
    """One outcome over ``when`` from the patient's values by visit and session days."""
    care = care_of(protocol)
    worse = higher_worse(protocol, outcome)
    mcid = outcome.mcid.value if outcome.mcid else None
    baseline = value_at.get("BL")
    points = []
    for visit, day in when:
        if visit not in value_at:
            continue
        value = value_at[visit]
        gain = (
            float("nan") if baseline is None else (baseline - value if worse else value - baseline)
        )
        reached = None if mcid is None or np.isnan(gain) else bool(gain >= mcid - 1e-9)
        points.append(Point(visit, day, counted(days, care.counted, day), value, gain, reached))
    return Course(
        outcome.id,
        outcome.name,
        worse,
        mcid,
        outcome.mcid.source if outcome.mcid else "",
        baseline,
        tuple(points),
    )


def _omeract(
    courses: dict[str, Course], care: Care, visits: Iterable[str]
) -> dict[str, bool | None]:
    r = care.response

    def pair(outcome: str | None, visit: str) -> tuple[float, float]:
        course = courses.get(outcome or "")
        if course is None or course.baseline is None:
            return float("nan"), float("nan")
        after = next((p.value for p in course.points if p.visit == visit), float("nan"))
        if not course.higher_worse:  # the rule reads 0-100 scales where higher is worse
            return 100 - course.baseline, 100 - after
        return course.baseline, after

    result: dict[str, bool | None] = {}
    for visit in visits:
        pain, function, overall = (
            pair(r.pain, visit),
            pair(r.function, visit),
            pair(r.patient_global, visit),
        )
        flag = omeract_oarsi_responder(
            [pain[0]], [pain[1]], [function[0]], [function[1]], [overall[0]], [overall[1]]
        )
        value = float(flag.responder[0])
        result[visit] = None if np.isnan(value) else bool(value)
    return result


def responded(progress: PatientProgress, care: Care, rule: Rule, visit: str) -> bool | None:
    """Whether the patient had responded at ``visit`` by ``rule``."""
    if rule == "omeract_oarsi":
        return progress.responder.get(visit)
    course = next(c for c in progress.courses if c.outcome == care.response.mcid_outcome)
    point = next((p for p in course.points if p.visit == visit), None)
    return None if point is None else point.reached


def patient_progress(
    frames: TrialFrames, protocol: Protocol, code: str, home_log: pd.DataFrame | None = None
) -> PatientProgress:
    """``code``'s courses, responder status, sessions, exercise adherence and flags.

    ``home_log`` (held_on, exercises_done, pain_during) carries the home exercise details the
    sessions frame leaves out.
    """
    care = care_of(protocol)
    when = _assessments(frames, code)
    sessions = frames.sessions[frames.sessions["study_code"] == code]
    days = delivered_days(sessions)
    scores = frames.scores[frames.scores["study_code"] == code]
    values: dict[str, dict[str, float]] = {}
    for outcome, visit, value in zip(
        scores["outcome"], scores["visit"], scores["value"].astype(float), strict=True
    ):
        values.setdefault(str(outcome), {})[str(visit)] = float(value)
    courses = {
        o.id: _course(protocol, o, when, values.get(o.id, {}), days) for o in protocol.outcomes
    }
    later = [visit for visit, _ in when if visit != protocol.baseline.code]
    responder = _omeract(courses, care, later)
    people = frames.participants[frames.participants["study_code"] == code]
    started = None if people.empty else pd.to_datetime(people["randomised_on"].iloc[0]).date()
    delivered = {c.code: (counted(days, c.code, None), c.planned_sessions) for c in care.components}
    exercise = _exercise_weeks(care, started, home_log)
    progress = PatientProgress(
        code, started, tuple(courses.values()), responder, delivered, exercise, ()
    )
    flags = _flags(frames, protocol, code, progress, when)
    return PatientProgress(code, started, progress.courses, responder, delivered, exercise, flags)


def _exercise_weeks(
    care: Care, started: date | None, home_log: pd.DataFrame | None
) -> tuple[WeekOfExercise, ...]:
    """Days exercised per week of care against the prescribed days (adherence), with mean pain."""
    if care.home is None or started is None or home_log is None or home_log.empty:
        return ()
    log = home_log.copy()
    log["week"] = [(pd.Timestamp(d).date() - started).days // 7 + 1 for d in log["held_on"]]
    weeks = []
    for week in range(1, int(log["week"].max()) + 1):
        rows = log[log["week"] == week]
        pain = pd.to_numeric(rows["pain_during"], errors="coerce").dropna()
        weeks.append(
            WeekOfExercise(
                week, len(rows), care.home.per_week, float(pain.mean()) if len(pain) else None
            )
        )
    return tuple(weeks)


def _flags(
    frames: TrialFrames,
    protocol: Protocol,
    code: str,
    progress: PatientProgress,
    when: list[tuple[str, date | None]],
) -> tuple[Flag, ...]:
    care = care_of(protocol)
    flags: list[Flag] = []
    counted = care.component(care.counted)
    delivered, planned = progress.sessions[care.counted]
    main = next(c for c in progress.courses if c.outcome == care.response.mcid_outcome)
    after = [p for p in main.points if p.visit != "BL" and p.sessions >= planned]
    if delivered >= planned and after:
        last = after[-1]
        if not last.reached and not progress.responder.get(last.visit):
            flags.append(
                Flag(
                    "no_change",
                    (
                        f"No meaningful change in {main.name} after {last.sessions} sessions "
                        f"of {counted.name.lower()} (change {last.improvement:+.1f}, "
                        f"MCID {main.mcid:g}); review the plan"
                    ),
                )
            )
    for course in progress.courses:
        if course.worse_beyond_mcid and course.latest is not None:
            flags.append(
                Flag(
                    "worsening",
                    (
                        f"{course.name} is worse than at the start by "
                        f"{-course.latest.improvement:.1f} (more than the MCID of "
                        f"{course.mcid:g}) at {course.latest.visit}"
                    ),
                )
            )
    r = care.response
    if r.neuropathic is not None and r.neuropathic_cutoff is not None:
        screen = next(c for c in progress.courses if c.outcome == r.neuropathic)
        if screen.baseline is not None and screen.baseline < r.neuropathic_cutoff:
            turned = [
                p for p in screen.points if p.visit != "BL" and p.value >= r.neuropathic_cutoff
            ]
            if turned:
                flags.append(
                    Flag(
                        "neuropathic",
                        (
                            f"{screen.name} turned positive at {turned[0].visit}: "
                            f"{turned[0].value:g} (was {screen.baseline:g}; positive from "
                            f"{r.neuropathic_cutoff:g})"
                        ),
                    )
                )
    events = frames.adverse_events[frames.adverse_events["study_code"] == code]
    for event in events[events["severity"].isin(SERIOUS)].itertuples():
        flags.append(
            Flag("adverse_event", f"{str(event.severity).capitalize()} adverse event: {event.term}")
        )
    return tuple(flags)


def response_times(frames: TrialFrames, protocol: Protocol, rule: Rule = "mcid") -> pd.DataFrame:
    """One row per patient who started care: study_code, sessions, responded (for Kaplan–Meier)."""
    care = care_of(protocol)
    rows = []
    for code in map(str, frames.participants["study_code"]):
        progress = patient_progress(frames, protocol, code)
        days = delivered_days(frames.sessions[frames.sessions["study_code"] == code])
        first = None
        for visit in progress.responder:
            if responded(progress, care, rule, visit):
                first = visit
                break
        if first is None:
            rows.append((code, counted(days, care.counted, None), False))
        else:
            day = next(p.day for c in progress.courses for p in c.points if p.visit == first)
            rows.append((code, counted(days, care.counted, day), True))
    return pd.DataFrame(rows, columns=["study_code", "sessions", "responded"])
