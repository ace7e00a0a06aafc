"""``physiotrial demo`` and ``make demo``: the reference trial end to end in about a minute.

The demo does what a trial team does, through the same services: it creates a fresh SQLite
study for the built-in protocol, simulates recruitment, treatment and follow-up with the
simulator (screening, consent, concealed randomisation, every visit's questionnaires and tests,
sessions, adverse events, losses to follow-up), locks the database, unblinds the locked study,
analyses it as the statistician, and writes report.html and report.pdf. The terminal shows
progress bars and the headline results against the published ones.

Then the clinic half: a fresh study from the care plan ``knee-oa-clinic`` in ``DIR/clinic``,
patients simulated without arms (``simulate.clinic``), and what the clinic pages show: the
caseload and the Kaplan–Meier sessions to meaningful improvement.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from physiotrial.analysis.results import AnalysisResults
from physiotrial.core.protocol import Role
from physiotrial.report.render import write_report
from physiotrial.services.analysis import analyse, write_results
from physiotrial.services.clinic import FINISHED, IN_CARE, STOPPED, clinic_overview
from physiotrial.services.clinic_evidence import ResponseCurve, sessions_to_response_curves
from physiotrial.services.locking import lock
from physiotrial.services.randomisation import unblind_study
from physiotrial.services.session import open_study
from physiotrial.services.study import add_user, init_study, study_protocol
from physiotrial.settings import Settings
from physiotrial.simulate import study_seed
from physiotrial.simulate.clinic import simulate_clinic
from physiotrial.simulate.driver import simulate_study

PROTOCOL = "popliteus-dn-koa"
DATA_MANAGER = "dm"
STATISTICIAN = "stats"
DEFAULT_SEED = 2025


@dataclass(frozen=True)
class DemoOutcome:
    """Where the demo wrote its study and report, and how long each step took (seconds)."""

    directory: Path
    html: Path
    pdf: Path
    timings: dict[str, float]
    results: AnalysisResults


def run_demo(
    directory: Path,
    *,
    seed: int = DEFAULT_SEED,
    participants: int = 38,
    console: Console | None = None,
) -> DemoOutcome:
    """Simulate, lock, analyse and report the reference trial in a fresh ``directory``."""
    console = console or Console()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    url = Settings.resolve(directory).database_url
    timings: dict[str, float] = {}
    started = time.perf_counter()
    init_study(
        url, PROTOCOL, admin=DATA_MANAGER, admin_name="Demo data manager", seed=study_seed(seed)
    )
    store = open_study(url)
    try:
        add_user(store, DATA_MANAGER, STATISTICIAN, "Demo statistician", Role.STATISTICIAN)
        with store.read() as connection:
            protocol = study_protocol(connection)
        with _progress(console) as progress:
            task = progress.add_task("simulating the trial through the services", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            simulate_study(store, protocol, participants, seed, date(2025, 1, 13), advance)
        timings["simulate"] = time.perf_counter() - started

        step = time.perf_counter()
        lock(store, DATA_MANAGER, "demo: database lock for the final analysis")
        unblind_study(store, DATA_MANAGER, "demo: unblinding after database lock")
        with console.status("analysing (ITT, ANCOVA, repeated measures, responders, blinding)"):
            results = analyse(store, STATISTICIAN)
            write_results(results, directory / "results")
        timings["lock and analyse"] = time.perf_counter() - step

        step = time.perf_counter()
        with console.status("writing report.html and report.pdf"):
            html, pdf = write_report(results, directory)
        timings["report"] = time.perf_counter() - step
    finally:
        store.close()
    timings["total"] = time.perf_counter() - started
    return DemoOutcome(directory, html, pdf, timings, results)


CARE_PLAN = "knee-oa-clinic"
THERAPIST = "therapist"
PATIENTS = 60


@dataclass(frozen=True)
class ClinicDemo:
    directory: Path
    standing: dict[str, int]
    """In care / finished / stopped → patients, on the last simulated day."""
    response: ResponseCurve | None
    seconds: float


def run_clinic_demo(directory: Path, seed: int, console: Console) -> ClinicDemo:
    """Simulate a knee clinic in a fresh ``directory`` and read back what its pages show."""
    started = time.perf_counter()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    url = Settings.resolve(directory).database_url
    init_study(
        url, CARE_PLAN, admin=DATA_MANAGER, admin_name="Demo data manager", seed=study_seed(seed)
    )
    store = open_study(url)
    try:
        with store.read() as connection:
            protocol = study_protocol(connection)
        with console.status(f"simulating a knee clinic ({PATIENTS} patients, no arms)"):
            summary = simulate_clinic(store, protocol, PATIENTS, seed, admin=DATA_MANAGER)
        add_user(store, DATA_MANAGER, THERAPIST, "Demo therapist", Role.THERAPIST, "CLN")
        overview = clinic_overview(store, THERAPIST, summary.last_day)
        curves = sessions_to_response_curves(store, THERAPIST, "mcid")
    finally:
        store.close()
    standing = {s: overview.count(s) for s in (IN_CARE, FINISHED, STOPPED)}
    return ClinicDemo(directory, standing, curves.overall, time.perf_counter() - started)


def clinic_lines(demo: ClinicDemo) -> list[str]:
    """What the terminal says of the clinic: caseload, the median, and how to open the pages."""
    counts = ", ".join(f"{n} {s}" for s, n in demo.standing.items())
    lines = [f"clinic: {counts}"]
    curve = demo.response
    if curve is not None and curve.median is not None:
        low = "—" if curve.median_lower is None else f"{curve.median_lower:g}"
        high = "not reached" if curve.median_upper is None else f"{curve.median_upper:g}"
        lines.append(
            f"half of the clinic's patients reached a meaningful improvement in knee pain by "
            f"session {curve.median:g} (95 % CI {low} to {high}); {curve.responded} of "
            f"{curve.n} so far"
        )
    lines.append(
        f"clinic pages: physiotrial user password {THERAPIST} --study {demo.directory} "
        f"--as {DATA_MANAGER}, then physiotrial serve {demo.directory}"
    )
    return lines


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def summary_table(results: AnalysisResults) -> Table:
    """Every outcome's adjusted difference at the primary visit (experimental − control)."""
    arms = f"{results.experimental} − {results.control}"
    table = Table(title=f"Between-group differences ({arms}), ANCOVA, intention to treat")
    for column in ("outcome", "visit", "difference", "95% CI", "p"):
        table.add_column(column, no_wrap=column == "outcome")
    ancova = results.table("ancova")
    itt = ancova[ancova["population"] == "itt"]
    primary = itt[itt["primary"].astype(bool)]
    visit = primary["visit"].iloc[0] if len(primary) else itt["visit"].iloc[-1]
    for _, row in itt[itt["visit"] == visit].iterrows():
        p_value = float(row["p"])
        table.add_row(
            str(row["outcome"]) + (" (primary)" if bool(row["primary"]) else ""),
            str(row["visit"]),
            f"{row['estimate']:.1f}",
            f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}]",
            "<0.001" if p_value < 0.001 else f"{p_value:.3f}",
        )
    return table


def published_table(results: AnalysisResults) -> Table:
    """The abstract's headline numbers against ours, both as improvement favouring DN."""
    table = Table(title="Published (Sci Rep 2025;15:44117) vs reproduced")
    for column in ("outcome", "published", "reproduced", "within published CI"):
        table.add_column(column, no_wrap=True)
    for _, row in results.table("published").iterrows():
        table.add_row(
            str(row["outcome"]),
            f"{row['published_estimate']:.1f} [{row['published_ci_low']:.1f}, "
            f"{row['published_ci_high']:.1f}]",
            f"{row['estimate']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]",
            "yes" if bool(row["within_published_ci"]) else "NO",
        )
    return table


def main(directory: Path | None = None, seed: int = DEFAULT_SEED) -> DemoOutcome:
    """Run the demo and print what a newcomer should see."""
    console = Console()
    target = directory or Path("demo")
    console.rule("[bold]physiotrial demo: the popliteus dry-needling trial, simulated end to end")
    outcome = run_demo(target, seed=seed, console=console)
    console.print(summary_table(outcome.results))
    if not outcome.results.table("published").empty:
        console.print(published_table(outcome.results))
    times = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.timings.items())
    console.print(f"study database: {outcome.directory / 'physiotrial.sqlite'}")
    console.print(f"report: {outcome.html}  and  {outcome.pdf}")
    console.print(f"timings: {times}")
    console.rule("[bold]and a knee clinic using the same outcomes for its own patients")
    clinic = run_clinic_demo(target / "clinic", seed, console)
    for line in clinic_lines(clinic):
        console.print(line)
    console.print(f"clinic simulated in {clinic.seconds:.1f} s")
    return outcome


if __name__ == "__main__":
    main()
