"""``physiotrial protocol validate | show | list``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from physiotrial.cli.common import ActAs, Database, StudyDir, study_store
from physiotrial.cli.errors import reports_errors
from physiotrial.cli.render import render_protocol
from physiotrial.errors import ProtocolError
from physiotrial.services.protocols import builtin_protocols, load_protocol
from physiotrial.services.study import amend_protocol

app = typer.Typer(help="Validate and show trial protocols.", no_args_is_help=True)


@app.command("validate")
@reports_errors
def validate(file: Path = typer.Argument(..., help="Protocol TOML file or built-in name.")) -> None:
    """Check a protocol file and report every problem at once, each with its key path."""
    try:
        protocol = load_protocol(str(file))
    except ProtocolError as error:
        typer.echo(error.report(), err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"{file}: valid protocol {protocol.study.id} version {protocol.study.version} "
        f"({len(protocol.arms)} arms, {len(protocol.visits)} visits, "
        f"{len(protocol.outcomes)} outcomes)"
    )


@app.command("show")
@reports_errors
def show(
    name: str = typer.Argument(..., help="Built-in protocol name or a protocol TOML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the validated protocol as JSON."),
) -> None:
    """Print arms, randomisation, eligibility, the visit × measure schedule and the outcomes."""
    protocol = load_protocol(name)
    if as_json:
        typer.echo(protocol.model_dump_json(indent=2))
        return
    render_protocol(protocol, Console(width=120))


@app.command("list")
def list_protocols() -> None:
    """List the protocols shipped with physiotrial."""
    for name in builtin_protocols():
        typer.echo(name)


@app.command("amend")
@reports_errors
def amend(
    file: Path = typer.Argument(..., help="The amended protocol TOML (a new study.version)."),
    reason: str = typer.Option(..., help="Why (e.g. the ethics committee approval)."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
) -> None:
    """Adopt an amended protocol as a new version; earlier versions are kept (data managers)."""
    with study_store(study, database) as store:
        info = amend_protocol(store, actor, str(file), reason)
    typer.echo(f"study {info.study_id} now runs protocol version {info.protocol_version}")
