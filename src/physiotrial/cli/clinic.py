"""``physiotrial clinic ...``: a clinic's patients and its own evidence, from the terminal."""

from __future__ import annotations

from pathlib import Path

import typer

from physiotrial.cli.common import ActAs, AsJson, Database, StudyDir, emit, study_store
from physiotrial.cli.errors import fail, reports_errors
from physiotrial.errors import OutputFileError
from physiotrial.services import clinic
from physiotrial.services import clinic_evidence as evidence

app = typer.Typer(help="Clinic mode: patients' progress, caseload, sessions to response.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="clinic")


@app.command("progress")
@reports_errors
def progress_command(
    study_code: str = typer.Argument(..., help="The patient's code, e.g. CLN-001."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Each outcome against baseline and its MCID, sessions, adherence and flags."""
    with study_store(study, database) as store:
        view = clinic.patient_progress(store, actor, study_code)
    p = view.progress
    lines = [f"{view.study_code}: {view.title} ({clinic.status_word(view.status)})"]
    lines += [f"  ! {flag.message}" for flag in p.flags]
    for course in p.courses:
        mcid = f"MCID {course.mcid:g}" if course.mcid is not None else "no MCID"
        points = ", ".join(
            f"{pt.visit} {round(pt.value, 1):g}"
            + ("" if pt.visit == "BL" else f" ({pt.improvement:+.1f}{' ✓' if pt.reached else ''})")
            for pt in course.points
        )
        lines.append(f"  {course.name} [{mcid}]: {points or 'not measured yet'}")
    responder = ", ".join(
        f"{visit} {'yes' if flag else 'no' if flag is False else 'cannot tell'}"
        for visit, flag in p.responder.items()
    )
    lines.append(f"  OMERACT-OARSI responder: {responder or 'no reassessment yet'}")
    sessions = ", ".join(
        f"{view.components[code]} {done} of {planned}"
        for code, (done, planned) in p.sessions.items()
    )
    lines.append(f"  sessions: {sessions}")
    if p.exercise:
        weeks = ", ".join(f"week {w.week} {w.days}/{w.target}" for w in p.exercise)
        lines.append(f"  home exercise days: {weeks}")
    for event in view.adverse_events:
        lasted = "" if event.duration_hours is None else f", lasted {event.duration_hours:g} h"
        lines.append(f"  adverse event: {event.term} ({event.severity}{lasted})")
    emit(view, as_json, "\n".join(lines))


@app.command("caseload")
@reports_errors
def caseload_command(
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Every patient in care with sessions against the plan; flagged patients first."""
    with study_store(study, database) as store:
        lines = clinic.caseload(store, actor)
    text = "\n".join(
        f"{line.study_code}  {line.site}  {clinic.status_word(line.status):<10} "
        f"sessions {line.sessions}/{line.planned}"
        + "".join(f"\n    ! {flag.message}" for flag in line.flags)
        for line in lines
    )
    emit(list(lines), as_json, text or "no patient has started care yet")


@app.command("response")
@reports_errors
def response_command(
    rule: str = typer.Option("mcid", help="mcid (the care plan's main outcome) or omeract_oarsi."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Sessions to meaningful improvement: Kaplan–Meier share responded, median with 95 % CI."""
    if rule not in ("mcid", "omeract_oarsi"):
        raise fail(f"--rule: {rule!r} is not allowed; allowed: mcid, omeract_oarsi")
    with study_store(study, database) as store:
        curves = evidence.sessions_to_response_curves(store, actor, rule)  # type: ignore[arg-type]
    lines = []
    for curve in (c for c in (curves.overall, *curves.groups) if c is not None):
        median = "not reached" if curve.median is None else f"{curve.median:g}"
        low = "—" if curve.median_lower is None else f"{curve.median_lower:g}"
        high = "not reached" if curve.median_upper is None else f"{curve.median_upper:g}"
        lines.append(
            f"{curve.label}: {curve.responded} of {curve.n} responded; median sessions to "
            f"response {median} (95 % CI {low} to {high})"
        )
        lines += [
            f"  session {s.sessions:>2}: at risk {s.at_risk:>3}, responded {s.events:>2}, "
            f"censored {s.censored:>2}, share responded {100 * s.responded:5.1f} % "
            f"({100 * s.lower:.1f} to {100 * s.upper:.1f})"
            for s in curve.steps
        ]
    emit(curves, as_json, "\n".join(lines) or "no patient has started care yet")


@app.command("safety")
@reports_errors
def safety_command(
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Adverse events per needling session by severity and term, against published rates."""
    with study_store(study, database) as store:
        safety = evidence.clinic_safety(store, actor)
    lines = [f"{safety.component}: {safety.sessions} sessions, {safety.patients} patients"]
    for line in safety.lines:
        published = "; ".join(
            f"{p.source} {100 * p.rate:.2f} % ({p.comparison})" for p in line.published
        )
        lines.append(
            f"  {line.label:<32} {line.sessions_with_event:>3}/{line.sessions} sessions "
            f"{100 * line.rate:5.2f} % ({100 * line.ci_low:.2f} to {100 * line.ci_high:.2f})"
            + (f"  published: {published}" if published else "")
        )
    emit(safety, as_json, "\n".join(lines))


@app.command("planning")
@reports_errors
def planning_command(
    out: Path = typer.Argument(..., help="CSV file to write (observed SDs and correlations)."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
) -> None:
    """The clinic's observed SDs and baseline correlations per outcome, for a trial's power."""
    with study_store(study, database) as store:
        table = evidence.planning_table(store, actor)
    try:
        table.to_csv(out, index=False)
    except OSError as error:
        raise OutputFileError(f"{out}: cannot be written: {error}") from None
    typer.echo(f"wrote {len(table)} rows to {out}")
