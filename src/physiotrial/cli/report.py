"""``physiotrial report``: analyse the locked study and write report.html and report.pdf.

The analysis is the same service ``physiotrial analyse`` calls, so the report shows exactly what
the acting user may see (arms A and B for a blinded statistician); the report module turns those
results into one self-contained HTML file and a PDF of the same HTML. Both imports are inside the
command: the report pulls in WeasyPrint and matplotlib, which other commands should not pay for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from physiotrial.cli.common import ActAs, Database, StudyDir, study_store
from physiotrial.cli.errors import reports_errors

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html and report.pdf.")]


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


@reports_errors
def report_command(
    actor: ActAs,
    study: StudyDir = Path("."),
    database: Database = None,
    out: OutDir = Path("report"),
) -> None:
    """Analyse the locked study by its protocol and write the trial report (HTML and PDF)."""
    from physiotrial.report.render import write_report
    from physiotrial.services.analysis import analyse

    with study_store(study, database) as store:
        results = analyse(store, actor)
    html, pdf = write_report(results, out)
    typer.echo(f"wrote {html} and {pdf}")
