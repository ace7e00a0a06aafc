"""The simulated trial through the real services, on SQLite and PostgreSQL: what it writes, that
the audit trail verifies, that each participant follows the allocated arm's trajectory, and that
the same seeds give the same data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.services.audit import verify_audit
from physiotrial.services.protocols import load_protocol
from physiotrial.services.session import Store
from physiotrial.services.study import init_study
from physiotrial.simulate.driver import SimulationSummary, simulate_study
from physiotrial.simulate.trajectories import simulate_cohort
from physiotrial.store import schema

PROTOCOL = load_protocol("popliteus-dn-koa")
MEASURES = {v.code: len(v.measures) for v in PROTOCOL.visits}
TIMESTAMPS = {"entered_at", "created_at", "sealed_at"}
runner = CliRunner()


def simulated(
    url: str, n: int = 38, seed: int = 2025
) -> tuple[Store, SimulationSummary, list[Any]]:
    init_study(url, "popliteus-dn-koa", admin="dm", admin_name="Dana Manager", seed=f"sim-{seed}")
    store = Store(url)
    ticks: list[tuple[int, int]] = []
    summary = simulate_study(store, PROTOCOL, n, seed, progress=lambda d, t: ticks.append((d, t)))
    return store, summary, ticks


def rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.read() as connection:
        found = connection.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(r) for r in found.mappings()]


@pytest.mark.slow
def test_the_simulated_trial_through_the_services(database_url: str) -> None:
    """One simulation per backend (about 10 s each on an idle 2-core machine), checked whole."""
    store, summary, ticks = simulated(database_url)
    try:
        for check in CHECKS:
            check((store, summary, ticks))
    finally:
        store.close()


def check_screening_enrols_the_requested_number_with_reasons_for_every_failure(trial: Any) -> None:
    store, summary, _ = trial
    screenings = rows(store, schema.screenings)
    failed = [s for s in screenings if not s["eligible"]]
    assert summary.randomised == 38 == len(rows(store, schema.allocations))
    assert summary.screened == len(screenings) == 38 + summary.screen_failed + summary.declined
    assert len(failed) == summary.screen_failed >= 5
    assert all(s["reasons"] for s in failed)
    assert len(rows(store, schema.consents)) == 38
    assert 45 <= summary.screened <= 70
    statuses = Counter(p["status"] for p in rows(store, schema.participants))
    assert statuses["screen_failed"] == summary.screen_failed
    assert statuses["eligible"] == summary.declined


def check_every_measure_is_recorded_at_every_visit_attended(trial: Any) -> None:
    store, summary, _ = trial
    responses = rows(store, schema.responses)
    visits = {v["id"]: v["code"] for v in rows(store, schema.visits)}
    by_visit = Counter(visits[r["visit_id"]] for r in responses)
    assert dict(by_visit) == summary.responses_by_visit
    assert by_visit["BL"] == 38 * MEASURES["BL"]
    assert by_visit["T3"] == 38
    for code in ("W3", "M3", "M6"):
        assert by_visit[code] % MEASURES[code] == 0
    assert by_visit["M6"] < 38 * MEASURES["M6"] or summary.withdrawals == 0
    assert all(r["unscorable"] == {} for r in responses if r["measure"] != "guess_assessor")


def check_sessions_adherence_adverse_events_and_withdrawals(trial: Any) -> None:
    store, summary, _ = trial
    sessions = rows(store, schema.sessions)
    plans = Counter(s["plan"] for s in sessions)
    assert plans == {"needling": 38 * 3, "exercise": 38 * 12}
    assert summary.sessions == len(sessions)
    exercise = [s for s in sessions if s["plan"] == "exercise"]
    assert 0.7 < sum(s["delivered"] for s in exercise) / len(exercise) < 1.0
    events = rows(store, schema.adverse_events)
    needling = {s["id"] for s in sessions if s["plan"] == "needling"}
    assert len(events) == summary.adverse_events >= 1
    assert {e["severity"] for e in events} == {"mild"}
    assert all(e["session_id"] in needling for e in events)
    left = rows(store, schema.dispositions)
    assert len(left) == summary.withdrawals
    assert {d["kind"] for d in left} <= {"lost_to_follow_up", "withdrawn"}


def check_audit_verifies_and_progress_reaches_the_end(trial: Any) -> None:
    store, summary, ticks = trial
    report = verify_audit(store, "dm")
    assert report.ok, report.first_problem
    assert report.audit_rows == summary.service_calls + 1  # + init
    assert ticks[-1][0] == ticks[-1][1]
    assert [d for d, _ in ticks] == sorted(d for d, _ in ticks)


def check_each_participant_follows_the_trajectory_of_the_allocated_arm(trial: Any) -> None:
    store, summary, _ = trial
    cohort = simulate_cohort(PROTOCOL, 38, 2025)
    people = {p["id"]: p["study_code"] for p in rows(store, schema.participants)}
    arms = {people[a["participant_id"]]: a["arm"] for a in rows(store, schema.allocations)}
    visits = {v["id"]: v["code"] for v in rows(store, schema.visits)}
    checked = 0
    for r in rows(store, schema.responses):
        code, visit = people[r["participant_id"]], visits[r["visit_id"]]
        if r["measure"] == "vas_max":
            target = cohort.row(summary.participants[code], arms[code])[f"vas_max.score@{visit}"]
            assert r["scores"]["score"] == round(target)
            checked += 1
    assert checked >= 38 * 3


CHECKS = (
    check_screening_enrols_the_requested_number_with_reasons_for_every_failure,
    check_every_measure_is_recorded_at_every_visit_attended,
    check_sessions_adherence_adverse_events_and_withdrawals,
    check_audit_verifies_and_progress_reaches_the_end,
    check_each_participant_follows_the_trajectory_of_the_allocated_arm,
)


def test_the_same_seeds_give_the_same_database_content(tmp_path: Path) -> None:
    contents = []
    for run in ("first", "second"):
        store, _, _ = simulated(f"sqlite:///{tmp_path / run}.sqlite", n=8, seed=7)
        tables = [t for t in schema.AUDITED if t is not schema.audit]
        contents.append(
            {
                t.name: [
                    {k: v for k, v in r.items() if k not in TIMESTAMPS} for r in rows(store, t)
                ]
                for t in tables
            }
        )
        store.close()
    assert contents[0] == contents[1]
    assert contents[0]["responses"]


def test_cli_simulate_creates_a_study_and_reports_what_it_wrote(tmp_path: Path) -> None:
    study = tmp_path / "sim"
    args = ["simulate", str(study), "--participants", "6", "--seed", "3"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["randomised"] == 6
    assert summary["responses_by_visit"]["BL"] == 6 * MEASURES["BL"]
    verified = runner.invoke(app, ["audit", "verify", "--study", str(study), "--as", "admin"])
    assert verified.exit_code == 0, verified.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "this database already holds a study" in again.output
