"""``physiotrial clinic ...``: a clinic's patients and its own evidence, from the terminal."""

from __future__ import annotations

from pathlib import Path

import typer

from physiotrial.cli.common import ActAs, AsJson, Database, StudyDir, emit, study_store
from physiotrial.cli.errors import reports_errors
from physiotrial.services import clinic

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
    lines = [f"{view.study_code}: {view.title} ({view.status})"]
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
        f"{line.study_code}  {line.site}  {line.status:<10} sessions {line.sessions}/{line.planned}"
        + "".join(f"\n    ! {flag.message}" for flag in line.flags)
        for line in lines
    )
    emit(list(lines), as_json, text or "no patient has started care yet")
