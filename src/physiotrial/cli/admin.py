"""Data manager commands: ``lock``, ``unlock``, ``export DIR``, ``audit verify | log`` and
``user password NAME`` (which any user may run for themself).

``audit verify`` is the tamper check of DESIGN.md ("physiotrial audit verify detects any edit"):
it exits 0 and says how much it checked when the record is intact, and exits 1 naming the first
problem (then every other one) when anything was changed outside physiotrial.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from physiotrial.cli.common import (
    ActAs,
    AsJson,
    Database,
    StudyDir,
    emit,
    parse_optional_day,
    study_store,
)
from physiotrial.cli.errors import fail, reports_errors
from physiotrial.cli.study import users
from physiotrial.services.access import set_password
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.export import export
from physiotrial.services.locking import lock, unlock

audit = typer.Typer(help="Check and read the audit trail.", no_args_is_help=True)
Reason = typer.Option(..., "--reason", help="Why (required; kept in the audit trail).")
_FORMATS = {"csv": ("csv",), "parquet": ("parquet",), "both": ("csv", "parquet")}


def register(app: typer.Typer) -> None:
    app.command("lock")(lock_command)
    app.command("unlock")(unlock_command)
    app.command("export")(export_command)
    app.add_typer(audit, name="audit")
    users.command("password")(password_command)


@reports_errors
def lock_command(
    reason: str = Reason,
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Lock the study database for analysis: no data may change until it is unlocked."""
    with study_store(study, database) as store:
        manifest = lock(store, actor, reason)
    emit(
        manifest,
        as_json,
        f"locked (lock {manifest.lock_id}) at {manifest.locked_at} by {manifest.locked_by}\n"
        f"  data hash {manifest.data_hash} ({manifest.rows} rows)\n"
        f"  protocol {manifest.protocol_version} ({manifest.protocol_hash[:12]}…), sequence "
        f"seal {(manifest.sequence_hash or 'none')[:12]}, software {manifest.software_version}",
    )


@reports_errors
def unlock_command(
    reason: str = Reason,
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Unlock the study database (the lock and its manifest stay on record)."""
    with study_store(study, database) as store:
        manifest = unlock(store, actor, reason)
    emit(
        manifest,
        as_json,
        f"unlocked lock {manifest.lock_id} (locked at {manifest.locked_at}, data hash "
        f"{manifest.data_hash[:12]}…); data may change again",
    )


@reports_errors
def export_command(
    directory: Path = typer.Argument(..., help="Directory to write the tables into."),
    fmt: str = typer.Option("both", "--format", help="csv, parquet or both."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Export tidy, pseudonymised tables with a data dictionary and a manifest."""
    if fmt not in _FORMATS:
        raise fail(f"--format: {fmt!r} is not a format; allowed: csv, parquet, both")
    with study_store(study, database) as store:
        result = export(store, actor, directory, _FORMATS[fmt])
    tables = ", ".join(f"{name} {rows}" for name, rows in result.tables.items())
    locked = f"locked data {result.data_hash[:12]}…" if result.data_hash else "NOT locked"
    emit(
        result,
        as_json,
        f"exported {len(result.files)} files to {result.directory} "
        f"({'blinded' if result.blinded else 'with allocation'}; {locked})\n  rows: {tables}",
    )


@audit.command("verify")
@reports_errors
def verify_command(
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Check the hash chain, every data row against it, and the randomisation seal."""
    with study_store(study, database) as store:
        report = verify_audit(store, actor)
    if report.problems:
        if as_json:
            emit(report, True, "")
        count = len(report.problems)
        typer.echo(f"error: audit verification failed: {report.problems[0]}", err=True)
        if count > 1:
            typer.echo(f"  and {count - 1} more:", err=True)
            for problem in report.problems[1:]:
                typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(code=1)
    emit(
        report,
        as_json,
        f"audit trail verified: {report.audit_rows} rows, {report.data_rows} data rows "
        f"(randomisation seal intact over {report.sequence_slots} slots)",
    )


@audit.command("log")
@reports_errors
def log_command(
    participant: str | None = typer.Option(None, help="Only this study code."),
    user: str | None = typer.Option(None, help="Only what this user did."),
    since: str | None = typer.Option(None, help="From this date (UTC), YYYY-MM-DD."),
    until: str | None = typer.Option(None, help="Up to and including this date, YYYY-MM-DD."),
    action: str | None = typer.Option(None, help="Only this action, e.g. record, lock."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Who did what, when and why (data managers only); changed rows by table and key."""
    first, last = parse_optional_day(since, "--since"), parse_optional_day(until, "--until")
    with study_store(study, database) as store:
        entries = audit_log(store, actor, participant, user, first, last, action)
    lines = [
        f"{e.id:>6}  {e.at}  {e.actor} ({e.role})  {e.action}"
        + (f"  [{e.participant}]" if e.participant else "")
        + (f"  reason: {e.reason}" if e.reason else "")
        + f"\n        {e.summary}"
        for e in entries
    ]
    emit(entries, as_json, "\n".join(lines) if lines else "no audit rows match")


@reports_errors
def password_command(
    username: str = typer.Argument(..., help="Whose password: yours, or anyone's (data manager)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
) -> None:
    """Set a password (asked twice, hidden); ends the user's sessions and lifts a lockout."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with study_store(study, database) as store:
        set_password(store, actor, username, password)
    typer.echo(f"password set for {username}; their sessions have ended")
