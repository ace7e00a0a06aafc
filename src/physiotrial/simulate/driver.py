"""Run a simulated reference trial through the same services a real site uses.

Every row this writes goes through a service use case — screening, consent, randomisation,
capture, sessions, adverse events, withdrawals — so each is checked, scored by the real
instrument code, and audited exactly as at a site; only the dates are simulated (each call gets
its event's date as ``today``). Events of all participants are run in date order, so the audit
trail reads like a real recruitment period.

The arm is never chosen here: the site therapist randomises (the one role, with the data
manager, that sees allocations, DESIGN.md) and the simulator then takes the participant's
pre-drawn trajectory for that arm (:class:`trajectories.Cohort`, potential outcomes). With the
same study seed (``init_study(seed=...)``) and the same ``seed`` here, two runs write the same
content apart from audit timestamps.

Rates, with sources: screen failures about 30 % with the protocol's criteria as reasons (the
commonest being no active popliteus trigger point); adverse events per needling session after
Brady 2014 (instruments.md §12: bruising 7.55 %, bleeding 4.65 %, pain during 3.01 %, pain after
2.19 %, all mild, no significant event) and far fewer after sham, which does not penetrate;
exercise adherence around 85 %; about 7 % of follow-up visits out of window.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import text

from physiotrial.core.protocol import Protocol, Role, VisitKind
from physiotrial.services import capture, enrolment, randomisation, safety, schedule, study
from physiotrial.services.session import Store
from physiotrial.simulate.answers import answers_for, eligibility_answers, session_record
from physiotrial.simulate.trajectories import Cohort, simulate_cohort

Progress = Callable[[int, int], None]
SITES = (("SEV", "Seville health centre", 0.6), ("UNI", "University of Seville physiotherapy", 0.4))
ROLES = (("coord", Role.COORDINATOR), ("assessor", Role.ASSESSOR), ("therapist", Role.THERAPIST))
SCREEN_FAIL = 0.28
DECLINE = 0.04
LATE = 0.07
REASONS = {
    "lost_to_follow_up": "did not attend and could not be contacted",
    "withdrawn": "no longer wishes to attend visits",
}
AE_TERMS = (
    # term, rate after real needling, after sham, onset day, hours (low, high), relatedness
    ("bruising", 0.0755, 0.005, 0, (48, 168), "definite"),
    ("bleeding at the needling site", 0.0465, 0.0, 0, (0.05, 0.3), "definite"),
    ("pain during needling", 0.0301, 0.01, 0, (0.05, 0.5), "probable"),
    ("post-needling soreness", 0.0219, 0.01, 1, (24, 48), "probable"),
)
"""Brady 2014 per-treatment rates of mild AEs after trigger-point dry needling (instruments.md
§12); sham rates are ours: a non-penetrating needle cannot bleed and rarely bruises."""


@dataclass(frozen=True)
class SimulationSummary:
    """What the simulation wrote (counts), its simulated period, and how long it took."""

    screened: int
    screen_failed: int
    declined: int
    randomised: int
    responses_by_visit: dict[str, int]
    sessions: int
    sessions_delivered: int
    adverse_events: int
    withdrawals: int
    missed_visits: int
    out_of_window_visits: int
    first_day: date
    last_day: date
    service_calls: int
    seconds: float
    participants: dict[str, int]
    """Study code → index in the simulated cohort, for every randomised participant."""


@dataclass
class _Person:
    """One screened person and what the simulation knows about them as events run."""

    number: int
    site: str
    sex: str
    screened_on: date
    answers: dict[str, object]
    index: int | None = None
    consents: bool = True
    code: str = ""
    arm: str | None = None
    targets: dict[str, float] = field(default_factory=dict)

    def event(self, day: date, step: int, what: str, **data: Any) -> _Event:
        """One thing that happens to this person on ``day`` (``step`` orders a day's events)."""
        return _Event(day, self.number, step, what, self, data)


@dataclass(order=True)
class _Event:
    day: date
    number: int
    step: int
    kind: str = field(compare=False)
    person: _Person = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


def simulate_study(
    store: Store,
    protocol: Protocol,
    n_randomised: int = 38,
    seed: int = 2025,
    start: date = date(2025, 1, 13),
    progress: Progress | None = None,
    admin: str | None = None,
) -> SimulationSummary:
    """Simulate ``n_randomised`` participants (and everyone screened on the way) in ``store``,
    an initialised study of ``protocol``; ``admin`` (default: the study's first data manager)
    adds the sites and their users."""
    began = time.perf_counter()
    admin = admin or first_data_manager(store)
    for code, name, _ in SITES:
        study.add_site(store, admin, code, name)
        for prefix, role in ROLES:
            user = f"{prefix}_{code.lower()}"
            study.add_user(store, admin, user, f"Simulated {role.value} {code}", role, code)
    cohort = simulate_cohort(protocol, n_randomised, seed)
    rng = np.random.default_rng([seed, 2])
    people = _screened(protocol, cohort, n_randomised, start, rng)
    events = [e for p in people for e in _enrolment_events(p, rng)]
    heapq.heapify(events)
    runner = _Runner(store, protocol, cohort, seed)
    total, done = len(events), 0
    while events:
        follow = runner.run(heapq.heappop(events))
        for event in follow:
            heapq.heappush(events, event)
        total += len(follow)
        done += 1
        if progress is not None:
            progress(done, total)
    return SimulationSummary(
        screened=len(people),
        screen_failed=sum(1 for p in people if p.index is None and p.consents),
        declined=sum(1 for p in people if not p.consents),
        randomised=sum(1 for p in people if p.arm is not None),
        **runner.counts(),
        first_day=start,
        last_day=runner.last_day,
        service_calls=runner.calls + len(SITES) * (1 + len(ROLES)),
        seconds=round(time.perf_counter() - began, 2),
        participants={p.code: p.index for p in people if p.index is not None},
    )


def first_data_manager(store: Store) -> str:
    """The data manager created with the study (no service lists users; a read-only query)."""
    query = "SELECT username FROM users WHERE role = 'data_manager' AND active ORDER BY id"
    with store.read() as connection:
        return str(connection.execute(text(query)).scalars().first())


def _screened(
    protocol: Protocol, cohort: Cohort, n: int, start: date, rng: np.random.Generator
) -> list[_Person]:
    """Everyone screened until ``n`` eligible people consented: failures fail one criterion
    (two, now and then), some eligible people decline; about three screenings a week in all."""
    people: list[_Person] = []
    day, index = start, 0
    while index < n:
        day += timedelta(days=int(rng.integers(1, 5)))
        if day.weekday() >= 5:
            day += timedelta(days=7 - day.weekday())
        site = SITES[0][0] if rng.random() < SITES[0][2] else SITES[1][0]
        fails = rng.random() < SCREEN_FAIL
        declines = not fails and rng.random() < DECLINE
        if fails or declines:
            sex = "female" if rng.random() < 0.65 else "male"
            age, months = float(rng.integers(52, 85)), float(rng.integers(4, 120))
        else:
            index += 1
            row = cohort.person(index)
            sex, age, months = str(row["sex"]), float(row["age"]), float(row["symptom_months"])
        answers = eligibility_answers(protocol, age, months, rng, fails)
        person = _Person(len(people) + 1, site, sex, day, answers)
        person.index = None if fails or declines else index
        person.consents = not declines
        people.append(person)
    return people


def _enrolment_events(person: _Person, rng: np.random.Generator) -> list[_Event]:
    events = [person.event(person.screened_on, 0, "screen")]
    if person.index is not None:
        consented = person.screened_on + timedelta(days=int(rng.integers(0, 6)))
        randomised = consented + timedelta(days=int(rng.integers(1, 9)))
        events += [person.event(consented, 1, "consent"), person.event(randomised, 2, "randomise")]
    return events


class _Runner:
    """Runs one event through its service and plans the events that follow randomisation."""

    def __init__(self, store: Store, protocol: Protocol, cohort: Cohort, seed: int) -> None:
        self.store, self.protocol, self.cohort, self.seed = store, protocol, cohort, seed
        self.calls = 0
        self.last_day = date.min
        self.responses: dict[str, int] = {}
        self.sessions = self.delivered = self.events_ae = self.withdrawals = 0
        self.missed = self.out_of_window = 0

    def counts(self) -> dict[str, Any]:
        return {
            "responses_by_visit": dict(self.responses),
            "sessions": self.sessions,
            "sessions_delivered": self.delivered,
            "adverse_events": self.events_ae,
            "withdrawals": self.withdrawals,
            "missed_visits": self.missed,
            "out_of_window_visits": self.out_of_window,
        }

    def run(self, event: _Event) -> list[_Event]:
        self.calls += event.kind != "record" and (event.kind != "consent" or event.person.consents)
        self.last_day = max(self.last_day, event.day)
        person, day = event.person, event.day
        users = {prefix: f"{prefix}_{person.site.lower()}" for prefix, _ in ROLES}
        if event.kind == "screen":
            name = f"Simulated participant {person.number:03d}"
            result = enrolment.screen(
                self.store,
                users["coord"],
                person.site,
                day,
                person.answers,
                {"sex": person.sex},
                name,
                f"participant{person.number:03d}@example.org",
            )
            person.code = result.study_code
        elif event.kind == "consent":
            if person.consents:
                enrolment.consent(self.store, users["coord"], person.code, "1.0", day)
        elif event.kind == "randomise":
            allocated = randomisation.randomise(self.store, users["therapist"], person.code, day)
            assert allocated.arm is not None, "the therapist sees the allocation"
            person.arm = allocated.arm
            assert person.index is not None
            person.targets = self.cohort.row(person.index, allocated.arm)
            return self._plan(person, allocated.visits)
        elif event.kind == "record":
            self._record(event, users)
        elif event.kind == "session":
            self._session(event, users["therapist"])
        elif event.kind == "ae":
            safety.record_adverse_event(
                self.store, users["therapist"], person.code, today=day, **event.data
            )
            self.events_ae += 1
        elif event.kind == "withdraw":
            schedule.withdraw(
                self.store, users["coord"], person.code, occurred_on=day, today=day, **event.data
            )
            self.withdrawals += 1
        return []

    def _rng(self, person: _Person, *stream: int) -> np.random.Generator:
        """A stream of its own for each use, so draws do not depend on the order of events."""
        return np.random.default_rng([self.seed, 3, person.number, *stream])

    def _plan(
        self, person: _Person, visits: tuple[randomisation.ScheduledVisit, ...]
    ) -> list[_Event]:
        """Sessions, visits, adverse events and leaving, dated from the visit plan."""
        rng = self._rng(person, 0)
        row = self.cohort.person(person.index)
        planned = {v.code: v for v in visits}
        events: list[_Event] = []
        sessions = {p.code: p for p in self.protocol.sessions}
        treatment = [v for v in self.protocol.visits if v.kind is VisitKind.TREATMENT]
        adherence = float(rng.beta(9, 1.5))
        for week, visit in enumerate(treatment):
            needle_day = planned[visit.code].planned + timedelta(days=int(rng.random() < 0.2))
            for plan in sessions.values():
                per_week = plan.per_week
                for k in range(per_week):
                    number = week * per_week + k + 1
                    if number > plan.count:
                        continue
                    attend = rng.random() < (0.97 if plan.per_week == 1 else adherence)
                    held = needle_day + timedelta(days=k)
                    data = {"plan": plan.code, "number": number, "delivered": bool(attend)}
                    events.append(person.event(held, 10 + (plan.per_week > 1), "session", **data))
                    if attend and plan.per_week == 1:
                        events += self._adverse_events(person, plan.code, number, held, rng)
            if visit.measures:
                events.append(person.event(needle_day, 20, "record", visit=visit.code))
        lost_after, kind = str(row["lost_after"]), str(row["departure"])
        missed = set(filter(None, str(row["missed"]).split(",")))
        follow = [
            v for v in self.protocol.visits if v.kind in (VisitKind.ASSESSMENT, VisitKind.FOLLOW_UP)
        ]
        gone = False
        for j, visit in enumerate([self.protocol.baseline, *follow]):
            when = planned[visit.code]
            if gone or visit.code in missed:
                self.missed += visit.code in missed
                continue
            late = visit.kind is not VisitKind.BASELINE and rng.random() < LATE
            offset = 0 if visit.kind is VisitKind.BASELINE else int(rng.integers(-1, 4))
            day = min(max(when.planned + timedelta(days=offset), when.opens), when.closes)
            if late:
                day = when.closes + timedelta(days=int(rng.integers(2, 6)))
            self.out_of_window += late
            events.append(person.event(day, 5, "record", visit=visit.code))
            if visit.code == lost_after and j < len(follow):
                nxt = planned[follow[j].code]
                lost = kind == "lost_to_follow_up"
                left = nxt.closes if lost else day + timedelta(days=int(rng.integers(10, 40)))
                events.append(person.event(left, 30, "withdraw", kind=kind, reason=REASONS[kind]))
                gone = True
        return events

    def _adverse_events(
        self, person: _Person, plan: str, number: int, held: date, rng: np.random.Generator
    ) -> list[_Event]:
        sham = self.protocol.arm(person.arm or "").sham
        found = []
        for term, real, fake, onset, (low, high), related in AE_TERMS:
            if rng.random() < (fake if sham else real):
                day = held + timedelta(days=onset)
                hours = round(float(rng.uniform(low, high)), 1)
                found.append(
                    person.event(
                        day,
                        15,
                        "ae",
                        term=term,
                        onset=day,
                        severity="mild",
                        relatedness=related,
                        action="none; reassurance and advice",
                        outcome="resolved",
                        duration_hours=hours,
                        session=(plan, number),
                    )
                )
        return found

    def _record(self, event: _Event, users: dict[str, str]) -> None:
        person, visit = event.person, event.data["visit"]
        rng = self._rng(person, 1, [v.code for v in self.protocol.visits].index(visit))
        row = self.cohort.person(person.index)
        context = {k: row[k] for k in ("sex", "age", "height_cm", "weight_kg", "side")}
        for key in self.protocol.visit(visit).measures:
            measure = self.protocol.measure(key)
            prefix = f"{key}."
            suffix = f"@{visit}"
            targets = {
                c[len(prefix) : -len(suffix)]: v
                for c, v in person.targets.items()
                if c.startswith(prefix) and c.endswith(suffix)
            }
            answers = answers_for(measure.instrument, targets, rng, context)
            user = users["assessor"] if measure.rater.value == "assessor" else users["coord"]
            self.calls += 1
            capture.record(
                self.store, user, person.code, visit, key, answers, event.day, today=event.day
            )
            self.responses[visit] = self.responses.get(visit, 0) + 1

    def _session(self, event: _Event, therapist: str) -> None:
        person, data = event.person, event.data
        plans = [p.code for p in self.protocol.sessions]
        rng = self._rng(person, 2, plans.index(data["plan"]), int(data["number"]))
        row = self.cohort.person(person.index)
        delivered = bool(data["delivered"])
        real = not self.protocol.arm(person.arm or "").sham
        plan = next(p for p in self.protocol.sessions if p.code == data["plan"])
        details = session_record(plan, delivered, real, str(row["side"]), rng)
        safety.record_session(
            self.store,
            therapist,
            person.code,
            data["plan"],
            data["number"],
            event.day,
            delivered,
            details,
            today=event.day,
        )
        self.sessions += 1
        self.delivered += delivered
