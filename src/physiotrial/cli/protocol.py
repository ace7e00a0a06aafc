"""``physiotrial protocol validate | show | list``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from physiotrial.cli.errors import reports_errors
from physiotrial.cli.render import render_protocol
from physiotrial.errors import ProtocolError
from physiotrial.services.protocols import builtin_protocols, load_protocol

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
