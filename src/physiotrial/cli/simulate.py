"""``physiotrial simulate DIR``: a fresh study of a built-in protocol, filled by the simulator.

A trial protocol (the reference trial by default) runs through ``simulate.driver``; a clinic care
plan (``--protocol knee-oa-clinic``) through ``simulate.clinic``: patients without arms.

The study is created as ``physiotrial init`` would (built-in protocol, first data manager
``admin``), with the randomisation seed derived from ``--seed`` so that the same seed gives the
same allocations and the same data; then every participant is screened, consented, randomised,
treated and followed up through the services (``simulate.driver.simulate_study``).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from physiotrial.cli.common import AsJson, Database, emit
from physiotrial.cli.errors import reports_errors
from physiotrial.services.session import open_study
from physiotrial.services.study import init_study, study_protocol
from physiotrial.settings import Settings
from physiotrial.simulate import study_seed
from physiotrial.simulate.clinic import ClinicSimulationSummary, simulate_clinic
from physiotrial.simulate.driver import simulate_study

PROTOCOL = "popliteus-dn-koa"
ADMIN = "admin"


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)


@reports_errors
def simulate(
    directory: Path = typer.Argument(..., help="Study directory for a new study (SQLite here)."),
    participants: int = typer.Option(
        38, min=2, help="Participants to randomise (in a clinic: patients who come)."
    ),
    protocol_name: str = typer.Option(
        PROTOCOL, "--protocol", help="Built-in protocol or care plan, or a file."
    ),
    seed: int = typer.Option(2025, help="Simulation seed; the same seed gives the same data."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Create a study of the reference protocol and simulate its whole trial through the
    services: screening, consent, randomisation, visits, sessions, adverse events, withdrawals."""
    directory.mkdir(parents=True, exist_ok=True)
    url = Settings.resolve(directory, database).database_url
    init_study(url, protocol_name, admin=ADMIN, admin_name="Data manager", seed=study_seed(seed))
    store = open_study(url)
    try:
        with store.read() as connection:
            protocol = study_protocol(connection)
        console = Console(stderr=True)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
        )
        with Progress(*columns, TimeElapsedColumn(), console=console, disable=as_json) as bar:
            task = bar.add_task("simulating the study", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if protocol.is_clinic:
                clinic = simulate_clinic(store, protocol, participants, seed, progress=advance)
            else:
                summary = simulate_study(
                    store, protocol, participants, seed, progress=advance, admin=ADMIN
                )
    finally:
        store.close()
    if protocol.is_clinic:
        emit(clinic, as_json, clinic_text(clinic))
        return
    visits = ", ".join(f"{k} {v}" for k, v in summary.responses_by_visit.items())
    emit(
        summary,
        as_json,
        f"simulated {summary.randomised} randomised of {summary.screened} screened "
        f"({summary.screen_failed} screen failures, {summary.declined} declined) from "
        f"{summary.first_day.isoformat()} to {summary.last_day.isoformat()}\n"
        f"responses: {visits}\n"
        f"sessions: {summary.sessions} ({summary.sessions_delivered} delivered); adverse events: "
        f"{summary.adverse_events}; withdrawals: {summary.withdrawals}; missed visits: "
        f"{summary.missed_visits}; out of window: {summary.out_of_window_visits}\n"
        f"{summary.service_calls} service calls in {summary.seconds:.1f} s; data manager {ADMIN!r}",
    )


def clinic_text(summary: ClinicSimulationSummary) -> str:
    """The clinic simulation's counts in a few lines."""
    sessions = ", ".join(f"{k} {v}" for k, v in summary.sessions_by_plan.items())
    visits = ", ".join(f"{k} {v}" for k, v in summary.assessments_by_visit.items())
    events = ", ".join(f"{v} {k}" for k, v in summary.adverse_events_by_severity.items())
    return (
        f"simulated a clinic: {summary.started} patients started care of {summary.patients} "
        f"({summary.unsuitable} not suitable) from {summary.first_day.isoformat()} to "
        f"{summary.last_day.isoformat()}\nsessions: {sessions}\nassessments: {visits}\n"
        f"adverse events: {events or 'none'}; stopped early: {summary.stopped_early}; "
        f"extended: {summary.extended}\n{summary.service_calls} service calls in "
        f"{summary.seconds:.1f} s; data manager {ADMIN!r}"
    )
