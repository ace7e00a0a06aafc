"""The ``physiotrial`` command line: each command parses, calls one service, prints the result.

Any :class:`PhysiotrialError` becomes one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import typer

from physiotrial import __version__
from physiotrial.cli import (
    admin,
    analysis,
    capture,
    clinic,
    demo,
    enrolment,
    instruments,
    mmrm,
    protocol,
    report,
    serve,
    simulate,
    study,
)

app = typer.Typer(
    name="physiotrial",
    help="Run, record, analyse and report sham-controlled physiotherapy trials.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(protocol.app, name="protocol")
app.add_typer(instruments.app, name="instruments")
app.command("score")(instruments.score)
study.register(app)
enrolment.register(app)
capture.register(app)
admin.register(app)
analysis.register(app)
demo.register(app)
simulate.register(app)
report.register(app)
mmrm.register(app)
serve.register(app)
clinic.register(app)


@app.command("version")
def version() -> None:
    """Print the physiotrial version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
