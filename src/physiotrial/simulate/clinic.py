"""Run a simulated clinic (a care plan, no arms) through the same services a real clinic uses.

As in :mod:`simulate.driver`: every row goes through a service (screening, consent, the start of
care through ``randomise`` with method "none", capture, sessions, adverse events, withdrawals),
events run in date order with each call's ``today`` the event's date, and each patient draws
from random streams of their own, so the same ``seed`` writes the same content.

The latent response. A responder (1 − NEVER = 75 %) needs a geometric number S of counted
sessions to reach the MCID of ``care.response.mcid_outcome``, p set so that FIRST_SHARE (55 %) of
all patients have S within the first reassessment; the gain, in MCIDs, is ``plateau × (1 −
exp(−sessions / tau))`` with ``tau`` giving 1.25 at S, fading after care (time constant 540 days).
Non-responders plateau between −0.3 and 0.6 MCID. Other scores follow the same gain scaled by
their SD and a loading (about 0.7), with noise of a quarter SD. Baselines (PROFILES) are those of
knee/hip OA clinic patients (VAS max pain 65 ± 15 mm as in the reference trial, WOMAC 0-100 45 ±
15, TSK-11 28 ± 6, TUG 11 ± 3 s, NPRS 6 ± 1.5, 30-s chair stand 9 ± 3); DN4 is below its cutoff
in 85 % and now and then turns positive; PGIC follows the measured change (codes 1-2 from 0.9
MCID: "much improved" matches the MCID, Farrar et al., Pain 2001;94:149-158).

Tailoring (TIDieR item 9): at the reassessment after the planned counted sessions, a patient
whose measured change is below the MCID goes on to ``up_to_weeks`` (so do components that allow
it), a responder stops. STOP (17 %) stop early (:func:`schedule.withdraw`): the censored ones.
Adverse events follow delivered dry needling at the Brady 2014 rates (driver.AE_TERMS); 1 in 300
sessions a significant "prolonged aggravation of symptoms", more than Boyce 2020's 1 in 1,024
major events (instruments.md §12) so that a small clinic's safety page has one. Home exercise
adherence ~ Beta(6, 2) of the prescribed days, 3 % less each week; the clinic keys the diary in.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from physiotrial.core.care import HOME_EXERCISE, Care
from physiotrial.core.instruments.catalogue import get_instrument
from physiotrial.core.protocol import Protocol, VisitKind
from physiotrial.errors import Problem, ProtocolError
from physiotrial.services import capture, enrolment, randomisation, safety, schedule, study
from physiotrial.services.session import Store
from physiotrial.simulate import answers as simulated
from physiotrial.simulate.clinic_patients import PGIC_BANDS, PROFILES, Patient, profile
from physiotrial.simulate.driver import (
    AE_TERMS,
    REASONS,
    ROLES,
    Progress,
    first_data_manager,
)

Rng = np.random.Generator
SITE = ("CLN", "Simulated clinic")
UNSUITABLE, STOP, MISSED, FIRST_SHARE, NEVER = 0.10, 0.17, 0.12, 0.55, 0.25
SIGNIFICANT = ("prolonged aggravation of symptoms", 1 / 300, 1, (72.0, 240.0), "probable")
ACTIONS = {"mild": "none; reassurance and advice", "significant": "needling paused; GP informed"}
AE_KEYS = ("term", "onset", "severity", "relatedness", "action", "duration_hours", "session")


@dataclass(frozen=True)
class ClinicSimulationSummary:
    """What the simulated clinic wrote (counts), its period, and how long it took."""

    patients: int
    unsuitable: int
    started: int
    sessions_by_plan: dict[str, int]
    assessments_by_visit: dict[str, int]
    adverse_events_by_severity: dict[str, int]
    stopped_early: int
    extended: int
    first_day: date
    last_day: date
    service_calls: int
    seconds: float


@dataclass(order=True)
class _Event:
    day: date
    step: int
    number: int
    seq: int
    kind: str = field(compare=False)
    patient: Patient = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


def simulate_clinic(
    store: Store,
    protocol: Protocol,
    n_patients: int = 60,
    seed: int = 7,
    start: date = date(2025, 1, 6),
    progress: Progress | None = None,
    admin: str | None = None,
) -> ClinicSimulationSummary:
    """Simulate ``n_patients`` arriving (2-4 a week) at a clinic running ``protocol``, a care
    plan, in ``store``, its initialised study; ``admin`` (default: the study's first data
    manager) adds the site and its coordinator, assessor and therapist."""
    began = time.perf_counter()
    if protocol.care is None:
        raise ProtocolError(protocol.study.id, [Problem("care_plan", "a trial has no care plan")])
    admin = admin or first_data_manager(store)
    study.add_site(store, admin, *SITE)
    for prefix, role in ROLES:
        study.add_user(store, admin, f"{prefix}_cln", f"Simulated {role.value}", role, SITE[0])
    clinic, rng = _Clinic(store, protocol, protocol.care, seed), np.random.default_rng([seed, 1])
    people: list[Patient] = []
    events: list[_Event] = []
    week = start
    while len(people) < n_patients:
        for weekday in sorted(rng.choice(5, size=int(rng.integers(2, 5)), replace=False)):
            p = Patient(len(people) + 1, bool(rng.random() >= UNSUITABLE))
            if len(people) < n_patients:
                people.append(p)
                events.append(clinic.event(p, week + timedelta(days=int(weekday)), 0, "screen"))
        week += timedelta(days=7)
    total, done = len(events), 0
    while events:
        follow = clinic.run(heapq.heappop(events))
        for event in follow:
            heapq.heappush(events, event)
        total, done = total + len(follow), done + 1
        if progress is not None:
            progress(done, total)
    return ClinicSimulationSummary(
        patients=len(people),
        unsuitable=sum(not p.suitable for p in people),
        started=sum(p.start != date.min for p in people),
        sessions_by_plan=dict(sorted(clinic.sessions.items())),
        assessments_by_visit={v.code: clinic.assessed.get(v.code, 0) for v in protocol.visits},
        adverse_events_by_severity=dict(sorted(clinic.events_ae.items())),
        stopped_early=clinic.stopped,
        extended=sum(p.extended for p in people),
        first_day=start,
        last_day=clinic.last_day,
        service_calls=clinic.calls + 1 + len(ROLES),
        seconds=round(time.perf_counter() - began, 2),
    )


class _Clinic:
    """Runs one event through its service and plans the events that follow from it."""

    def __init__(self, store: Store, protocol: Protocol, care: Care, seed: int) -> None:
        self.store, self.protocol, self.care, self.seed = store, protocol, care, seed
        self.calls, self.seq, self.stopped, self.last_day = 0, 0, 0, date.min
        self.sessions: dict[str, int] = {}
        self.events_ae: dict[str, int] = {}
        self.assessed: dict[str, int] = {}
        self.users = {prefix: f"{prefix}_cln" for prefix, _ in ROLES}
        self.counted = care.component(care.counted)
        self.main = protocol.outcome(care.response.mcid_outcome)
        self.key = (self.main.measure, self.main.score)
        self.mcid = self.main.mcid.value if self.main.mcid else 1.0
        self.tracked = [
            (m.key, score, m.instrument)
            for m in protocol.measures
            for score in dict.fromkeys(
                [s for i, s in PROFILES if i == m.instrument]
                + [o.score for o in protocol.outcomes if o.measure == m.key]
            )
        ]
        self.assessments = [v.code for v in protocol.visits if v.measures]
        self.main_sd = profile(protocol.measure(self.main.measure).instrument, self.main.score)[1]
        planned = self.counted.planned_sessions
        self.decisive = planned // care.reassess_every * care.reassess_every or None
        """The counted session whose reassessment decides: go on to up_to_weeks, or stop."""

    def event(self, p: Patient, day: date, step: int, what: str, **data: Any) -> _Event:
        self.seq += 1
        return _Event(day, step, p.number, self.seq, what, p, data)

    def rng(self, p: Patient, *stream: int) -> Rng:
        """A stream of its own for each use, so draws do not depend on the order of events."""
        return np.random.default_rng([self.seed, 5, p.number, *stream])

    def run(self, e: _Event) -> list[_Event]:
        self.calls += e.kind != "record"  # a record event calls capture once per measure
        self.last_day = max(self.last_day, e.day)
        p, day, users = e.patient, e.day, self.users
        if e.kind == "screen":
            rng = self.rng(p, 0)
            answers = simulated.eligibility_answers(self.protocol, 65, 24, rng, not p.suitable)
            name, contact = f"Simulated patient {p.number:03d}", f"p{p.number:03d}@example.org"
            who = (self.store, users["coord"], SITE[0], day)
            p.code = enrolment.screen(*who, answers, {}, name, contact).study_code
            if not p.suitable:
                return []
            consent = day + timedelta(days=int(rng.integers(0, 3)))
            begin = consent + timedelta(days=int(rng.integers(1, 8)))
            begin += timedelta(days=max(0, 7 - begin.weekday()) if begin.weekday() >= 5 else 0)
            return [self.event(p, consent, 1, "consent"), self.event(p, begin, 2, "start")]
        if e.kind == "consent":
            enrolment.consent(self.store, users["coord"], p.code, "1.0", day)
        elif e.kind == "start":
            started = randomisation.randomise(self.store, users["therapist"], p.code, day)
            p.start, p.visits = day, {v.code: v for v in started.visits}
            return self._plan(p)
        elif e.kind == "session":
            return self._session(e)
        elif e.kind == "record":
            return self._record(e)
        elif e.kind == "ae":
            safety.record_adverse_event(self.store, users["therapist"], p.code, today=day, **e.data)
            self.events_ae[e.data["severity"]] = self.events_ae.get(e.data["severity"], 0) + 1
        elif e.kind == "withdraw":
            data = e.data | {"occurred_on": day, "today": day}
            schedule.withdraw(self.store, users["coord"], p.code, **data)
            self.stopped += 1
        return []

    def _plan(self, p: Patient) -> list[_Event]:
        """The patient's latent response, then sessions, home log and visits of planned care."""
        rng = self.rng(p, 1)
        sex, height = ("female", "male")[int(rng.random() > 0.65)], float(rng.normal(167, 8))
        weight, side = float(rng.normal(28, 4)) * (height / 100) ** 2, rng.choice(["left", "right"])
        p.context = {"sex": sex, "age": float(rng.integers(50, 86)), "height_cm": round(height)}
        p.context |= {"weight_kg": round(weight, 1), "side": str(side)}
        for key, score, instrument in self.tracked:
            mean, sd, low, high = profile(instrument, score)
            sign = -1.0 if self._direction(key, score, instrument) == "higher_better" else 1.0
            base = float(np.clip(rng.normal(mean, sd), low, high))
            loading = float(np.clip(rng.normal(0.7, 0.25), 0, 1.3))
            per_gain, noise = self.mcid / self.main_sd * sd * loading, 0.25 * sd
            if (key, score) == self.key:  # room to improve by 1.5 MCID at least
                per_gain, noise, room = self.mcid, 0.25 * self.mcid, 1.5 * self.mcid
                base = max(base, low + room) if sign > 0 else min(base, high - room)
            p.traits[(key, score)] = (base, per_gain, noise, low, high, sign)
        turns = int(rng.integers(1, len(self.assessments))) if rng.random() < 0.06 else 0
        negative = int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))
        p.screen = (int(rng.integers(4, 7)) if rng.random() < 0.15 else negative, turns)
        p_geom = 1 - (1 - FIRST_SHARE / (1 - NEVER)) ** (1 / self.care.reassess_every)
        if rng.random() < NEVER:
            p.plateau, p.tau = float(rng.uniform(-0.3, 0.6)), 2.0
        else:
            needed, p.plateau = int(rng.geometric(p_geom)), 1.35 + float(rng.gamma(2.0, 0.4))
            p.tau = -needed / math.log(1 - 1.25 / p.plateau)
        planned, most = self.counted.planned_sessions, self.counted.most_sessions
        before = self.decisive or planned  # stop before the decision, or during the extension
        if rng.random() < STOP:
            if before > 1 and (rng.random() < 0.7 or most - planned < 2 or not self.decisive):
                p.stop_after = int(rng.integers(1, before))
            elif most - planned >= 2 and self.decisive:
                p.stop_after = int(rng.integers(planned + 1, most))
        for c in self.care.components:
            jitter = rng.random(c.most_sessions) < 0.15
            gaps = [1 + round(n * 7 / c.per_week) + int(jitter[n]) for n in range(c.most_sessions)]
            p.days[c.code] = [p.start + timedelta(days=gap) for gap in gaps]
        events = [self.event(p, p.start, 3, "record", visit=self.protocol.baseline.code)]
        events += self._care(p, 0, planned, extension=False) + self._home(p)
        if p.stop_after is not None and p.stop_after < before:
            return [*events, self._leave(p, rng)]
        return events if self.decisive else events + self._follow_ups(p)  # else: at decision

    def _follow_ups(self, p: Patient) -> list[_Event]:
        """Follow-up visits from 5 days before to 10 after the planned day; some missed."""
        rng, events = self.rng(p, 7), list[_Event]()
        for visit in (v for v in self.protocol.visits if v.kind is VisitKind.FOLLOW_UP):
            when = p.visits[visit.code]
            day = when.planned + timedelta(days=int(rng.integers(-5, 11)))
            if rng.random() >= MISSED:
                day = min(max(day, when.opens), when.closes)
                events.append(self.event(p, day, 20, "record", visit=visit.code))
        return events

    def _care(self, p: Patient, low: int, high: int, extension: bool) -> list[_Event]:
        """Counted sessions ``low+1..high`` with the reassessments after them, and the other
        components' planned sessions, or (``extension``) those up to their ``up_to_weeks``;
        none after the session a patient stops at."""
        cutoff, counted, events = self._cutoff(p), p.days[self.counted.code], list[_Event]()
        for c in self.care.components:
            first, last = (0, c.planned_sessions) if not extension else (c.planned_sessions, None)
            first, last = (low, high) if c == self.counted else (first, last)
            for n, day in enumerate(p.days[c.code][first:last], first + 1):
                if cutoff is None or day <= cutoff:
                    events.append(self.event(p, day, 10, "session", plan=c.code, number=n))
        every = self.care.reassess_every
        for k, session in enumerate(range(every, len(counted) + 1, every), 1):
            if low < session <= high and session <= (p.stop_after or session):
                later = int(self.rng(p, 2, session).choice(3, p=[0.6, 0.25, 0.15]))
                day = counted[session - 1] + timedelta(days=later)
                if session < len(counted):  # before the next session, inside the window
                    day = min(day, counted[session] - timedelta(days=1))
                when = p.visits[f"R{k}"]
                day = min(max(day, when.opens), when.closes)
                events.append(self.event(p, day, 20, "record", visit=f"R{k}", session=session))
        return events

    def _cutoff(self, p: Patient) -> date | None:
        return None if p.stop_after is None else p.days[self.counted.code][p.stop_after - 1]

    def _leave(self, p: Patient, rng: Rng) -> _Event:
        """Stopping after the last session: a call a week or more later, or no answer at all."""
        cutoff, kind = self._cutoff(p), ("withdrawn", "lost_to_follow_up")[int(rng.random() < 0.4)]
        assert cutoff is not None
        day = cutoff + timedelta(days=int(rng.integers(7, 22)) + 7 * (kind != "withdrawn"))
        return self.event(p, day, 30, "withdraw", kind=kind, reason=REASONS[kind])

    def _home(self, p: Patient) -> list[_Event]:
        """Days the patient did the home programme, up to the plan's count (per_week × weeks);
        exercise pain falls with the patient's response."""
        home, rng, cutoff = self.care.home, self.rng(p, 3), self._cutoff(p)
        if home is None:
            return []
        adherence, number, events = float(rng.beta(6, 2)), 0, list[_Event]()
        level, n = float(np.clip(rng.normal(4, 1.5), 1, 8)), len(home.exercises)
        for week in range(home.weeks):
            k = min(7, int(rng.binomial(home.per_week, adherence * (1 - 0.03 * week))))
            for offset in sorted(rng.choice(7, size=k, replace=False)):
                day = p.start + timedelta(days=1 + 7 * week + int(offset))
                if cutoff is not None and day > cutoff:
                    return events
                relief = 0.35 * min(1.0, max(p.plateau, 0) / 2) * min(1.0, week / 4)
                pain = int(np.clip(round(level * (1 - relief) + rng.normal(0, 0.8)), 0, 10))
                done, number = n - int(rng.binomial(n - 1, 0.15)), number + 1
                details = {"exercises_done": done, "pain_during": pain}
                data = {"plan": HOME_EXERCISE, "number": number, "details": details}
                events.append(self.event(p, day, 11, "session", **data))
        return events

    def _session(self, e: _Event) -> list[_Event]:
        """Record the session; adverse events follow delivered dry needling."""
        p, plan_code, number = e.patient, e.data["plan"], e.data["number"]
        j = [s.code for s in self.protocol.sessions].index(plan_code)
        plan, rng, side = self.protocol.sessions[j], self.rng(p, 4, j, number), p.context["side"]
        component = None if plan_code == HOME_EXERCISE else self.care.component(plan_code)
        delivered = component in (None, self.counted) or bool(rng.random() < 0.96)
        muscles = () if component is None else component.target_muscles
        details = e.data.get("details") or simulated.session_record(
            plan, delivered, True, side, rng, muscles or ("popliteus",)
        )
        args = (p.code, plan_code, number, e.day, delivered, details)
        safety.record_session(self.store, self.users["therapist"], *args, today=e.day)
        self.sessions[plan_code] = self.sessions.get(plan_code, 0) + 1
        if component == self.counted:
            p.counted, p.last_counted = p.counted + 1, e.day
        if component is None or component.kind != "dry_needling" or not delivered:
            return []
        found = [(t[0], *t[3:], "mild") for t in AE_TERMS if rng.random() < t[1]]
        if rng.random() < SIGNIFICANT[1]:
            found.append((SIGNIFICANT[0], *SIGNIFICANT[2:], "significant"))
        events = []
        for term, onset, (low, high), related, severity in found:
            day, hours = e.day + timedelta(days=onset), round(float(rng.uniform(low, high)), 1)
            values = (term, day, severity, related, ACTIONS[severity], hours, (plan_code, number))
            data = dict(zip(AE_KEYS, values, strict=True)) | {"outcome": "resolved"}
            events.append(self.event(p, day, 15, "ae", **data))
        return events

    def _record(self, e: _Event) -> list[_Event]:
        """Every measure of the visit from the patient's gain so far; the reassessment after the
        planned sessions decides whether the counted component goes on."""
        p, visit = e.patient, self.protocol.visit(e.data["visit"])
        index, scores = self.assessments.index(visit.code), dict[str, Any]()
        rng = self.rng(p, 6, index)
        since = 0 if p.last_counted is None else max(0, (e.day - p.last_counted).days - 14)
        gain = p.plateau * (1 - math.exp(-p.counted / p.tau)) * math.exp(-since / 540)
        values: dict[tuple[str, str], float] = {}
        for pair, (base, per_gain, noise, low, high, sign) in p.traits.items():
            moved = 0.0 if index == 0 else -sign * gain * per_gain + float(rng.normal(0, noise))
            values[pair] = float(np.clip(base + moved, low, high))
        base, sign = p.traits[self.key][0], p.traits[self.key][5]
        change = sign * (base - values[self.key]) / self.mcid
        for key in visit.measures:
            measure = self.protocol.measure(key)
            targets = {s: v for (k, s), v in values.items() if k == key}
            if measure.instrument == "dn4":
                drift = 0 if index == 0 else int(rng.choice([-1, 0, 0, 0, 1]))
                cutoff = int(self.care.response.neuropathic_cutoff or 4)
                turned = p.screen[1] and index >= p.screen[1]
                targets["total"] = max(p.screen[0] + drift, cutoff if turned else 0)
            elif measure.instrument == "pgic":
                code = 1 + sum(change < b for b in PGIC_BANDS) + int(rng.choice([-1, 0, 0, 0, 1]))
                targets["code"] = min(max(code, 1), 7)
            answers = simulated.answers_for(measure.instrument, targets, rng, p.context)
            user = self.users["assessor" if measure.rater.value == "assessor" else "coord"]
            args = (p.code, visit.code, key, answers, e.day)
            recorded = capture.record(self.store, user, *args, today=e.day)
            scores |= recorded.scores if key == self.main.measure else {}
            self.calls += 1
        self.assessed[visit.code] = self.assessed.get(visit.code, 0) + 1
        main = float(scores[self.main.score])
        p.baseline_main = main if index == 0 else p.baseline_main
        if e.data.get("session") != self.decisive:
            return []
        reached = sign * (p.baseline_main - main) >= self.mcid - 1e-9
        if reached or self.counted.most_sessions == self.counted.planned_sessions:
            p.stop_after = None  # care ends as planned: nothing left to stop early
            return self._follow_ups(p)
        p.extended = True
        events = self._care(p, self.counted.planned_sessions, self.counted.most_sessions, True)
        return events + ([self._leave(p, rng)] if p.stop_after else self._follow_ups(p))

    def _direction(self, key: str, score: str, instrument: str) -> str:
        for o in self.protocol.outcomes:
            if (o.measure, o.score) == (key, score) and o.direction is not None:
                return o.direction.value
        return get_instrument(instrument).score_spec(score).direction.value
