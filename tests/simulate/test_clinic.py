"""The simulated clinic through the real services, on SQLite and PostgreSQL: what it writes
matches its summary, every patient who started care has a baseline, the counted component is
tailored at the reassessment after the planned sessions (responders stop, the others go on),
adverse events follow needling at about the Brady 2014 rate, home logs are kept, the audit trail
verifies, and the same seed writes the same content."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from physiotrial.core.protocol import Protocol
from physiotrial.services.audit import verify_audit
from physiotrial.services.protocols import load_protocol
from physiotrial.services.session import Store
from physiotrial.services.study import init_study
from physiotrial.simulate.clinic import ClinicSimulationSummary, simulate_clinic
from physiotrial.store import schema

TIMESTAMPS = {"entered_at", "created_at", "sealed_at"}
BRADY_MILD_RATE = 0.0755 + 0.0465 + 0.0301 + 0.0219
"""Mild AEs per needling session in Brady 2014 (instruments.md §12): 17.4 %."""


def simulated(
    url: str, plan: str, n: int, seed: int = 7
) -> tuple[Store, Protocol, ClinicSimulationSummary]:
    init_study(url, plan, admin="dm", admin_name="Dana Manager", seed=f"clinic-{seed}")
    store, protocol = Store(url), load_protocol(plan)
    ticks: list[tuple[int, int]] = []
    summary = simulate_clinic(store, protocol, n, seed, progress=lambda d, t: ticks.append((d, t)))
    assert ticks[-1][0] == ticks[-1][1] == len(ticks)
    return store, protocol, summary


def rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.read() as connection:
        found = connection.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(r) for r in found.mappings()]


@pytest.mark.slow
def test_a_knee_clinic_of_25_patients_through_the_services(database_url: str) -> None:
    store, protocol, summary = simulated(database_url, "knee-oa-clinic", 25)
    try:
        check_clinic(store, protocol, summary, n=25)
    finally:
        store.close()


def test_a_hip_clinic_of_12_patients(tmp_path: Path) -> None:
    store, protocol, summary = simulated(
        f"sqlite:///{tmp_path / 'hip.sqlite'}", "hip-oa-clinic", 12
    )
    try:
        check_clinic(store, protocol, summary, n=12)
        needling = [s for s in rows(store, schema.sessions) if s["plan"] == "needling"]
        muscles = {s["details"]["muscle"] for s in needling}
        assert muscles <= {"gluteus medius", "tensor fasciae latae"}
        scores = [r["scores"] for r in rows(store, schema.responses)]
        assert all(0 <= s["score"] <= 10 for s in scores if "score" in s)  # NPRS
        assert all(0 <= s["stands"] <= 50 for s in scores if "stands" in s)
    finally:
        store.close()


def check_clinic(
    store: Store, protocol: Protocol, summary: ClinicSimulationSummary, n: int
) -> None:
    """Every check of one simulated clinic (one database per backend is set up only once)."""
    people = {p["id"]: p["study_code"] for p in rows(store, schema.participants)}
    started = {a["participant_id"]: a["randomised_on"] for a in rows(store, schema.allocations)}
    screenings = rows(store, schema.screenings)
    assert summary.patients == n == len(screenings)
    assert summary.unsuitable == sum(not s["eligible"] for s in screenings)
    assert summary.started == len(started) == n - summary.unsuitable >= 0.7 * n
    sessions = rows(store, schema.sessions)
    assert summary.sessions_by_plan == dict(sorted(Counter(s["plan"] for s in sessions).items()))
    visits = {v["id"]: v for v in rows(store, schema.visits)}
    responses = rows(store, schema.responses)
    assessed = Counter(visits[i]["code"] for i in {r["visit_id"] for r in responses})
    assert summary.assessments_by_visit == {v.code: assessed[v.code] for v in protocol.visits}
    assert summary.assessments_by_visit["BL"] == summary.started
    for visit in (v for v in visits.values() if v["done_on"] is not None):
        assert visit["opens"] <= visit["done_on"] <= visit["closes"], visit
        measures = [r["measure"] for r in responses if r["visit_id"] == visit["id"]]
        assert sorted(measures) == sorted(protocol.visit(visit["code"]).measures)
    assert all(r["unscorable"] == {} for r in responses)
    left = {d["participant_id"]: d for d in rows(store, schema.dispositions)}
    assert summary.stopped_early == len(left)
    check_tailoring(protocol, summary, people, visits, responses, sessions, left)
    check_adverse_events(store, sessions)
    check_home_log(protocol, sessions, started, left)
    report = verify_audit(store, "dm")
    assert report.ok, report.first_problem
    assert report.audit_rows == summary.service_calls + 1  # + init


def check_tailoring(
    protocol: Protocol,
    summary: ClinicSimulationSummary,
    people: dict[int, str],
    visits: dict[int, dict[str, Any]],
    responses: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    left: dict[int, dict[str, Any]],
) -> None:
    """At the reassessment after the planned sessions of the counted component, a patient whose
    main outcome improved by its MCID stops at the planned count, any other goes on to the most
    sessions allowed (or stops early, with a withdrawal recorded)."""
    care = protocol.care
    assert care is not None
    counted = care.component(care.counted)
    main = protocol.outcome(care.response.mcid_outcome)
    assert main.mcid is not None
    decisive = f"R{counted.planned_sessions // care.reassess_every}"
    scores: dict[tuple[int, str], float] = {}
    for r in responses:
        if r["measure"] == main.measure:
            scores[(r["participant_id"], visits[r["visit_id"]]["code"])] = r["scores"][main.score]
    needled = Counter(s["participant_id"] for s in sessions if s["plan"] == counted.code)
    outcome: Counter[str] = Counter()
    for person in {v["participant_id"] for v in visits.values()}:
        count = needled[person]
        if (person, decisive) not in scores:
            assert person in left, people[person]
            assert count < counted.planned_sessions, people[person]
            outcome["stopped before deciding"] += 1
        elif scores[(person, "BL")] - scores[(person, decisive)] >= main.mcid.value:
            assert count == counted.planned_sessions, people[person]
            outcome["responded: stopped at the planned count"] += 1
        elif person in left:
            assert counted.planned_sessions < count < counted.most_sessions, people[person]
            outcome["extended, then stopped"] += 1
        else:
            assert count == counted.most_sessions, people[person]
            outcome["extended"] += 1
    assert outcome["responded: stopped at the planned count"] >= 2
    assert outcome["extended"] + outcome["extended, then stopped"] == summary.extended >= 1


def check_adverse_events(store: Store, sessions: list[dict[str, Any]]) -> None:
    needling = {s["id"]: s for s in sessions if s["plan"] == "needling" and s["delivered"]}
    events = rows(store, schema.adverse_events)
    assert all(e["session_id"] in needling for e in events)
    assert all(e["onset"] >= needling[e["session_id"]]["held_on"] for e in events)
    mild = [e for e in events if e["severity"] == "mild"]
    assert 0.4 * BRADY_MILD_RATE < len(mild) / len(needling) < 2 * BRADY_MILD_RATE
    assert {e["severity"] for e in events} <= {"mild", "significant"}
    assert all(e["duration_hours"] is not None and e["outcome"] == "resolved" for e in events)


def check_home_log(
    protocol: Protocol,
    sessions: list[dict[str, Any]],
    started: dict[int, date],
    left: dict[int, dict[str, Any]],
) -> None:
    """Home exercise days: numbered 1..count, after the start of care, with the exercises done
    and the pain during them in range; adherence of those who finished care about Beta(6, 2)."""
    assert protocol.care is not None
    assert protocol.care.home is not None
    home = protocol.care.home
    logs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in (s for s in sessions if s["plan"] == "home_exercise"):
        logs[s["participant_id"]].append(s)
        assert 1 <= s["details"]["exercises_done"] <= len(home.exercises)
        assert 0 <= s["details"]["pain_during"] <= 10
        assert s["held_on"] > started[s["participant_id"]]
        assert s["delivered"]
    for days in logs.values():
        assert sorted(d["number"] for d in days) == list(range(1, len(days) + 1))
    finished = [p for p in started if p not in left]
    adherence = sum(len(logs[p]) for p in finished) / (len(finished) * home.per_week * home.weeks)
    assert 0.5 < adherence < 0.9  # Beta(6, 2) has mean 0.75, less 3 % a week


def test_the_same_seed_writes_the_same_content(tmp_path: Path) -> None:
    contents, summaries = [], []
    for run in ("first", "second"):
        store, _, summary = simulated(f"sqlite:///{tmp_path / run}.sqlite", "knee-oa-clinic", 10)
        tables = [t for t in schema.AUDITED if t is not schema.audit]
        contents.append(
            {
                t.name: [
                    {k: v for k, v in r.items() if k not in TIMESTAMPS} for r in rows(store, t)
                ]
                for t in tables
            }
        )
        summaries.append({**summary.__dict__, "seconds": 0})
        store.close()
    assert contents[0] == contents[1]
    assert summaries[0] == summaries[1]
    assert len(contents[0]["responses"]) > 10 * 5
