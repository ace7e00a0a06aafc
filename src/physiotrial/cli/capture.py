"""Capture commands: ``visits``, ``record``, ``correct``, ``session``, ``ae``, ``deviation``,
``withdraw``.

Each command parses its options, calls one service and prints what the acting user may see (the
services decide that; a session shows its arm only to a role allowed to see it). Answers come
from ``--answer ITEM=VALUE`` (repeatable) and/or a JSON object file (``--answers``); the command
line wins where both name an item. ``record --csv`` takes many responses from a CSV file instead
(services.bulk: every row checked before any is written). Dates are YYYY-MM-DD; a missing date
means today.
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
    read_answers,
    study_store,
)
from physiotrial.cli.errors import fail, reports_errors
from physiotrial.errors import InputFileError
from physiotrial.services.bulk import record_many, response_rows
from physiotrial.services.capture import RecordedResponse, Target, correct, record
from physiotrial.services.safety import (
    correct_adverse_event,
    record_adverse_event,
    record_deviation,
    record_session,
    withdraw,
)
from physiotrial.services.schedule import due_visits, participant_visits

Today = typer.Option(None, "--today", help="Date the list is for, YYYY-MM-DD (default: today).")
Pairs = typer.Option([], "--answer", help="Answer ITEM=VALUE, e.g. p1=2 (repeatable).")
PairsFile = typer.Option(None, "--answers", help="JSON object of item: answer.")


RECORD_HELP = (
    "Record a measure at a visit: validated, scored and stored with the instrument version."
    "\n\n"
    "With --csv FILE, record every row of a file instead (rows count from 1 under the header; "
    "a column that is not an item of its row's measure must be blank). Every row is checked "
    "and scored before anything is written: one bad cell writes nothing, and the error names "
    "the row, the column, the value and what is allowed. Each row is then recorded in its own "
    "transaction with its own audit row. If the database refuses a row (already recorded, a "
    "participant of another site, ...), recording stops there: the rows before it stay "
    "recorded, and the error says which row failed and how many were recorded before it. "
    "Re-running is safe, since a row already recorded is refused and never recorded twice: "
    "fix or remove the failing row and run again with the rows from it on."
)
"""Help of ``record`` (one string per paragraph: typer keeps a docstring's line breaks)."""


def register(app: typer.Typer) -> None:
    app.command("visits")(visits_command)
    app.command("record", help=RECORD_HELP)(record_command)
    app.command("correct")(correct_command)
    app.command("session")(session_command)
    app.command("ae")(ae_command)
    app.command("deviation")(deviation_command)
    app.command("withdraw")(withdraw_command)


def _scores(response: RecordedResponse) -> str:
    shown = ", ".join(f"{k}={_number(v)}" for k, v in response.scores.items())
    lines = [f"  scores: {shown}"]
    lines += [f"  {key}: not scored ({why})" for key, why in response.unscorable.items()]
    return "\n".join(lines)


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)


@reports_errors
def visits_command(
    study_code: str | None = typer.Argument(None, help="Participant study code, e.g. SEV-001."),
    due: bool = typer.Option(False, "--due", help="List the site's open, late and missed visits."),
    site: str | None = typer.Option(None, "--site", help="Site code for --due (default: yours)."),
    today: str | None = Today,
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """One participant's visit schedule, or with --due the visits a site must act on."""
    day = parse_day(today, "--today")
    if due == (study_code is not None):
        raise fail("give a participant study code, or --due for the site's list (not both)")
    with study_store(study, database) as store:
        if study_code is None:
            rows = due_visits(store, actor, day, site)
            lines = [
                f"{d.site:<6} {d.study_code:<10} {d.code:<4} {d.status:<7} planned "
                f"{d.planned} window {d.opens}..{d.closes} ({d.days_left:+d} days)"
                for d in rows
            ]
            emit(rows, as_json, "\n".join(lines) or f"no open, late or missed visits on {day}")
            return
        views = participant_visits(store, actor, study_code, day)
    lines = [
        f"{v.code:<4} {v.status:<13} planned {v.planned} window {v.opens}..{v.closes}"
        f"{f' done {v.done_on}' if v.done_on else ''}{' STOPPED' if v.stopped else ''}"
        f"  recorded {len(v.recorded)}/{len(v.measures)}"
        f"{' (to do: ' + ', '.join(v.outstanding) + ')' if v.outstanding else ''}"
        for v in views
    ]
    emit(views, as_json, "\n".join(lines) or f"{study_code} has no visits (not randomised yet)")


@reports_errors
def record_command(
    study_code: str | None = typer.Argument(None, help="Participant study code (not with --csv)."),
    visit: str | None = typer.Option(None, "--visit", help="Visit code, e.g. BL."),
    measure: str | None = typer.Option(None, "--measure", help="Measure key, e.g. womac."),
    answer: list[str] = Pairs,
    answers: Path | None = PairsFile,
    done_on: str | None = typer.Option(
        None, "--on", "--done-on", help="Date of the visit (today)."
    ),
    csv_file: Path | None = typer.Option(
        None,
        "--csv",
        help="CSV of responses, one a row: study_code, visit, measure, on (YYYY-MM-DD), then "
        "item ids as columns (blank = missing).",
    ),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Record a measure at a visit, or every row of a CSV file: see :data:`RECORD_HELP`."""
    if csv_file is not None:
        given: dict[str, object] = {"STUDY_CODE": study_code, "--visit": visit}
        given |= {"--measure": measure, "--on": done_on, "--answers": answers}
        given |= {"--answer": answer or None}
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            raise fail(f"--csv takes every response from the file; do not give {', '.join(clash)}")
        _record_file(csv_file, actor, study, database, as_json)
        return
    if study_code is None or visit is None or measure is None:
        raise fail("name what to record: STUDY_CODE --visit V --measure M, or --csv FILE")
    given_answers = read_answers(answers, answer, "--answer")
    with study_store(study, database) as store:
        result = record(
            store, actor, study_code, visit, measure, given_answers, parse_day(done_on, "--done-on")
        )
    head = f"recorded {study_code} {visit} {measure} (response {result.id}, version 1)"
    emit(result, as_json, f"{head}\n{_scores(result)}")


def _record_file(path: Path, actor: str, study: Path, database: str | None, as_json: bool) -> None:
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark
    except OSError as error:
        raise InputFileError(f"{path}: cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    rows = response_rows(text, str(path))
    with study_store(study, database) as store:
        results = record_many(store, actor, rows, str(path))
    noun = "response" if len(results) == 1 else "responses"
    lines = [f"recorded {len(results)} {noun} from {path}"]
    lines += [
        f"row {row.row}: {r.study_code} {r.visit} {r.measure} (response {r.id})\n{_scores(r)}"
        for row, r in zip(rows, results, strict=True)
    ]
    emit(results, as_json, "\n".join(lines))


@reports_errors
def correct_command(
    study_code: str | None = typer.Argument(None, help="Participant study code."),
    visit: str | None = typer.Option(None, "--visit", help="Visit code."),
    measure: str | None = typer.Option(None, "--measure", help="Measure key."),
    response: int | None = typer.Option(None, "--response", help="Response id instead."),
    answer: list[str] = Pairs,
    answers: Path | None = PairsFile,
    reason: str = typer.Option(..., "--reason", help="Why the answers change (audited)."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Correct a recorded response: a new version with a reason; the old one is kept."""
    target: Target
    if response is not None:
        target = response
    elif study_code and visit and measure:
        target = (study_code, visit, measure)
    else:
        raise fail("name the response: STUDY_CODE --visit V --measure M, or --response ID")
    given = read_answers(answers, answer, "--answer")
    with study_store(study, database) as store:
        result = correct(store, actor, target, given, reason)
    head = (
        f"corrected {result.study_code} {result.visit} {result.measure}: version "
        f"{result.version} (response {result.id}, supersedes {result.supersedes_id})"
    )
    emit(result, as_json, f"{head}\n{_scores(result)}")


@reports_errors
def session_command(
    study_code: str = typer.Argument(..., help="Participant study code."),
    plan: str = typer.Option(..., "--plan", help="Session plan code, e.g. needling."),
    number: int = typer.Option(..., "--number", help="Session number within the plan."),
    held_on: str | None = typer.Option(None, "--on", "--held-on", help="Date held (today)."),
    not_delivered: bool = typer.Option(False, "--not-delivered", help="Planned but not given."),
    detail: list[str] = typer.Option([], "--detail", help="FIELD=VALUE (repeatable)."),
    details: Path | None = typer.Option(None, "--details", help="JSON object of field: value."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Record a treatment session and its details (therapists)."""
    given = read_answers(details, detail, "--detail")
    day = parse_day(held_on, "--held-on")
    with study_store(study, database) as store:
        result = record_session(
            store, actor, study_code, plan, number, day, not not_delivered, given
        )
    state = "delivered" if result.delivered else "not delivered"
    text = f"recorded {study_code} {result.plan} session {result.number} of {result.of} ({state})"
    if result.arm is not None:
        text += f"\n  arm {result.arm}: {result.received}"
    emit(result, as_json, text)


@reports_errors
def ae_command(
    study_code: str | None = typer.Argument(None, help="Participant study code."),
    term: str | None = typer.Option(None, "--term", help="What happened, e.g. bruising."),
    onset: str | None = typer.Option(None, "--onset", "--on", help="Date it began (today)."),
    severity: str | None = typer.Option(None, "--severity", help="mild, significant, serious."),
    relatedness: str | None = typer.Option(
        None, "--relatedness", help="not related, unlikely, possible, probable, definite."
    ),
    action: str | None = typer.Option(None, "--action", help="What was done about it."),
    outcome: str | None = typer.Option(
        None, "--outcome", help="resolved, ongoing, resolved with sequelae, fatal."
    ),
    duration_hours: float | None = typer.Option(None, "--duration-hours", help="How long."),
    session: str | None = typer.Option(None, "--session", help="PLAN:NUMBER it followed."),
    correct_id: int | None = typer.Option(None, "--correct", help="Correct this event id."),
    reason: str | None = typer.Option(None, "--reason", help="Why (with --correct)."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Record an adverse event, or with --correct ID and --reason a corrected version of one."""
    link = _session_link(session)
    with study_store(study, database) as store:
        if correct_id is not None:
            changes = {
                k: v
                for k, v in {
                    "term": term,
                    "onset": None if onset is None else parse_day(onset, "--onset"),
                    "severity": severity,
                    "relatedness": relatedness,
                    "action": action,
                    "outcome": outcome,
                    "duration_hours": duration_hours,
                    "session": link,
                }.items()
                if v is not None
            }
            event = correct_adverse_event(store, actor, correct_id, changes, reason)
        else:
            required = {"STUDY_CODE": study_code, "--term": term, "--severity": severity}
            required |= {"--relatedness": relatedness, "--action": action, "--outcome": outcome}
            missing = [name for name, value in required.items() if value is None]
            if missing:
                raise fail(f"an adverse event needs {', '.join(missing)}")
            event = record_adverse_event(
                store,
                actor,
                str(study_code),
                str(term),
                parse_day(onset, "--onset"),
                str(severity),
                str(relatedness),
                str(action),
                str(outcome),
                duration_hours,
                link,
            )
    emit(
        event,
        as_json,
        f"adverse event {event.id} (version {event.version}) for {event.study_code}: "
        f"{event.term}, {event.severity}, {event.relatedness}, {event.outcome}",
    )


def _session_link(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    plan, sep, number = text.partition(":")
    if not sep or not number.strip().isdigit():
        raise fail(f"--session: {text!r} is not PLAN:NUMBER, e.g. needling:1")
    return plan.strip(), int(number)


@reports_errors
def deviation_command(
    study_code: str = typer.Argument(..., help="Participant study code."),
    category: str = typer.Option(..., "--category", help="e.g. visit_window, intervention."),
    description: str = typer.Option(..., "--description", help="What departed from protocol."),
    on: str | None = typer.Option(None, "--on", help="Date it happened (today)."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Record a protocol deviation (coordinators, data managers)."""
    with study_store(study, database) as store:
        result = record_deviation(
            store, actor, study_code, parse_day(on, "--on"), category, description
        )
    emit(result, as_json, f"recorded deviation {result.id} for {study_code}: {result.category}")


@reports_errors
def withdraw_command(
    study_code: str = typer.Argument(..., help="Participant study code."),
    kind: str = typer.Option("withdrawn", "--kind", help="withdrawn or lost_to_follow_up."),
    reason: str = typer.Option(..., "--reason", help="Why (audited)."),
    on: str | None = typer.Option(None, "--on", help="Date of leaving (today)."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Record that a participant withdrew or was lost to follow-up (once, with a reason)."""
    with study_store(study, database) as store:
        result = withdraw(store, actor, study_code, kind, parse_day(on, "--on"), reason)
    stopped = ", ".join(result.visits_stopped) or "none"
    emit(
        result,
        as_json,
        f"{study_code}: {result.kind} on {result.occurred_on} (was {result.previous_status}); "
        f"visits stopped: {stopped}",
    )
