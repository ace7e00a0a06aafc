"""``physiotrial analyse``: the protocol's analysis plan on the locked study, as tables and CSVs.

Prints the primary outcome (ANCOVA row flagged primary) and the secondary outcomes at the
primary visit with rich, then writes every table as CSV (``--out``, default ``analysis``). A
blinded statistician sees arms A and B only; the service decides that, not this command.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from physiotrial.analysis.results import AnalysisResults
from physiotrial.cli.common import ActAs, Database, StudyDir, study_store
from physiotrial.cli.errors import reports_errors
from physiotrial.services.analysis import analyse, write_results

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Folder for the CSV tables.")]


def register(app: typer.Typer) -> None:
    app.command("analyse")(analyse_command)


@reports_errors
def analyse_command(
    actor: ActAs,
    study: StudyDir = Path("."),
    database: Database = None,
    out: OutDir = Path("analysis"),
) -> None:
    """Analyse the locked study by the protocol's plan and write every table as CSV."""
    with study_store(study, database) as store:
        results = analyse(store, actor)
    paths = write_results(results, out)
    console = Console()
    show(results, console)
    console.print(f"wrote {len(paths)} tables to {out}")


def _number(value: object, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if digits > 3 else f"{value:.{digits}f}"
    return str(value)


def show(results: AnalysisResults, console: Console) -> None:
    """The primary outcome and the secondary outcomes at the primary visit."""
    arms = f"{results.experimental} − {results.control}"
    blinded = " (blinded: arms A/B)" if results.blinded else ""
    console.print(f"[bold]{results.title}[/bold]{blinded}")
    console.print(f"data hash {results.manifest.get('data_hash', '–')}")
    ancova = results.table("ancova")
    primary = ancova[ancova["primary"].astype(bool)]
    console.print(_table(f"Primary outcome: difference {arms} (ANCOVA)", primary))
    if not primary.empty:
        visit, population = primary["visit"].iloc[0], primary["population"].iloc[0]
        secondary = ancova[
            ~ancova["primary"].astype(bool)
            & (ancova["visit"] == visit)
            & (ancova["population"] == population)
        ]
        console.print(_table(f"Secondary outcomes at {visit} ({population})", secondary))
    published = results.table("published")
    if not published.empty:
        table = Table(title="Against the published abstract", title_justify="left")
        for column in ("outcome", "published", "ours", "within published CI"):
            table.add_column(column)
        for row in published.itertuples():
            table.add_row(
                str(row.outcome),
                f"{row.published_estimate:.1f} [{row.published_ci_low:.1f}, "
                f"{row.published_ci_high:.1f}]",
                f"{row.estimate:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]",
                "yes" if row.within_published_ci else "no",
            )
        console.print(table)


def _table(title: str, rows: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    columns = ("outcome", "visit", "n", "estimate", "ci", "p", "p_holm")
    for column in columns:
        table.add_column(column, justify="left" if column in ("outcome", "visit") else "right")
    for row in rows.itertuples():
        table.add_row(
            str(row.outcome),
            str(row.visit),
            str(row.n),
            _number(row.estimate),
            f"{_number(row.ci_low)} to {_number(row.ci_high)}",
            _number(row.p, 4),
            _number(row.p_holm, 4),
        )
    return table
