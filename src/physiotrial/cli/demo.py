"""``physiotrial demo [DIR]``: the reference trial simulated, locked, analysed and reported."""

from __future__ import annotations

from pathlib import Path

import typer

from physiotrial.cli.errors import reports_errors


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


@reports_errors
def demo_command(
    directory: Path = typer.Argument(
        Path("demo"), help="A fresh folder for the demo study and its report (replaced)."
    ),
    seed: int = typer.Option(2025, help="Simulation seed (the default reproduces the README)."),
) -> None:
    """Simulate the reference trial into a fresh SQLite study, lock, analyse and report it."""
    from physiotrial.demo import main

    main(directory, seed)
