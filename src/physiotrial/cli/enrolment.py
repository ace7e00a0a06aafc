"""``physiotrial screen``, ``consent``, ``randomise``, ``unblind`` and ``randomisation verify``.

Each command parses its options, calls one service and prints what the acting user may see: a
blinded role's randomisation says "arm concealed", never the arm (DESIGN.md, blinding rule).
``screen --answers`` reads a JSON object, or a one-row CSV when the file name ends in ``.csv``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from physiotrial.cli.common import (
    ActAs,
    AsJson,
    Database,
    StudyDir,
    emit,
    parse_day,
    parse_pairs,
    read_answers,
    study_store,
)
from physiotrial.cli.errors import fail, reports_errors
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.randomisation import (
    randomise,
    unblind,
    unblind_study,
    verify_randomisation,
)

randomisation = typer.Typer(help="Checks of the randomisation sequence.", no_args_is_help=True)

On = typer.Option(None, "--on", help="Date, YYYY-MM-DD (default: today).")


def register(app: typer.Typer) -> None:
    app.command("screen")(screen_command)
    app.command("consent")(consent_command)
    app.command("randomise")(randomise_command)
    app.command("unblind")(unblind_command)
    app.add_typer(randomisation, name="randomisation")


@reports_errors
def screen_command(
    site: str = typer.Option(..., "--site", help="Site code, e.g. SEV."),
    name: str = typer.Option(..., "--name", help="Full name (kept apart from study data)."),
    contact: str | None = typer.Option(None, "--contact", help="Phone or e-mail."),
    answer: list[str] = typer.Option(
        [], "--answer", help="Eligibility answer ID=VALUE, e.g. age=63 (repeatable)."
    ),
    answers: Path | None = typer.Option(
        None,
        "--answers",
        help="File of criterion id: answer, a JSON object or (by a .csv suffix) a one-row CSV "
        "under a header of criterion ids (--answer overrides).",
    ),
    factor: list[str] = typer.Option(
        [], "--factor", help="Stratification factor level, e.g. sex=female (repeatable)."
    ),
    on: str | None = On,
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Screen a person: a new study code, the eligibility decision and every reason."""
    given: dict[str, object] = read_answers(answers, answer, "--answer")
    levels = parse_pairs(factor, "--factor")
    day = parse_day(on, "--on")
    with study_store(study, database) as store:
        result = screen(store, actor, site, day, given, levels, name, contact)
    verdict = "eligible" if result.eligible else "NOT eligible (screen failed)"
    lines = [f"{result.study_code}: {verdict}, screened {result.screened_on.isoformat()}"]
    lines += [f"  - {reason}" for reason in result.reasons]
    emit(result, as_json, "\n".join(lines))


@reports_errors
def consent_command(
    study_code: str = typer.Argument(..., help="Study code, e.g. SEV-001."),
    form_version: str = typer.Option(..., "--form-version", help="Consent form version."),
    on: str | None = On,
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Record written informed consent of a participant screened eligible."""
    with study_store(study, database) as store:
        result = consent(store, actor, study_code, form_version, parse_day(on, "--on"))
    emit(
        result,
        as_json,
        f"{result.study_code}: consented on {result.consented_on.isoformat()} "
        f"(form {result.form_version})",
    )


@reports_errors
def randomise_command(
    study_code: str = typer.Argument(..., help="Study code, e.g. SEV-001."),
    on: str | None = On,
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Randomise a consented participant and plan their visits (one audited call); in a clinic
    study (a care plan) this starts care."""
    with study_store(study, database) as store:
        result = randomise(store, actor, study_code, parse_day(on, "--on"))
    arm = f"arm {result.arm}" if result.arm else "arm concealed (your role is blinded)"
    head = (
        f"{result.study_code}: care started on {result.randomised_on.isoformat()}"
        if result.clinic
        else f"{result.study_code}: randomised on {result.randomised_on.isoformat()} "
        f"(allocation {result.sequence_index}); {arm}"
    )
    lines = [
        head,
        "visits:",
        *(
            f"  {v.code:<4} {v.planned.isoformat()}  window {v.opens.isoformat()} to "
            f"{v.closes.isoformat()}  {v.name}"
            for v in result.visits
        ),
    ]
    emit(result, as_json, "\n".join(lines))


@reports_errors
def unblind_command(
    study_code: str | None = typer.Argument(None, help="Study code; omit with --whole-study."),
    reason: str = typer.Option(..., "--reason", help="Why unblinding is needed (audited)."),
    whole_study: bool = typer.Option(
        False, "--whole-study", help="Unblind the whole study (only after the database lock)."
    ),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Emergency unblinding of one participant, or of the locked study (data managers only)."""
    if whole_study == (study_code is not None):
        raise fail("give a study code or --whole-study (one of the two)")
    with study_store(study, database) as store:
        if study_code is None:
            done = unblind_study(store, actor, reason)
            emit(done, as_json, f"study {done.study_id} unblinded at {done.unblinded_at}")
            return
        arm = unblind(store, actor, study_code, reason)
    emit({"study_code": study_code, "arm": arm}, as_json, f"{study_code}: arm {arm} (logged)")


@randomisation.command("verify")
@reports_errors
def verify_command(
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Re-derive the sequence from the seed and check the seal, every slot and allocation."""
    with study_store(study, database) as store:
        problems = verify_randomisation(store, actor)
    text = (
        "randomisation verified: the sequence matches its seal and every allocation its slot"
        if not problems
        else "\n".join([f"{len(problems)} problems:", *(f"  - {p}" for p in problems)])
    )
    emit({"verified": not problems, "problems": problems}, as_json, text)
    if problems:
        raise typer.Exit(code=1)
