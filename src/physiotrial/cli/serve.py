"""``physiotrial serve DIR``: run the web app of a study with uvicorn.

The CLI and the web layer never import each other (DESIGN.md): this command checks that the
study opens, puts the study directory (and ``--database``) in the environment the web app reads
its settings from, and names the app to uvicorn by its import string, as any ASGI server would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from physiotrial.cli.common import Database, study_store
from physiotrial.cli.errors import reports_errors
from physiotrial.settings import DATABASE_ENV, STUDY_ENV

APP_FACTORY = "physiotrial.web.app:app_from_environment"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


@reports_errors
def serve(
    directory: Path = typer.Argument(..., help="Study directory (holds the SQLite file)."),
    database: Database = None,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Server processes (one per core: each serves requests on one core; they share the "
        "study's database and the session secret).",
    ),
) -> None:
    """Serve the study's web pages and JSON API (put it behind HTTPS to use it off this host)."""
    import uvicorn  # imported here: every other command starts without it

    with study_store(directory, database):
        pass  # a wrong directory or URL fails here, with the CLI's one-line message
    os.environ[STUDY_ENV] = str(directory.resolve())
    if database is not None:
        os.environ[DATABASE_ENV] = database
    typer.echo(f"serving {directory} at http://{host}:{port}/ (Ctrl+C stops)")
    options: dict[str, Any] = {"factory": True, "host": host, "port": port, "proxy_headers": True}
    if workers > 1:  # uvicorn then runs a supervisor that starts and restarts the workers
        options["workers"] = workers
    uvicorn.run(APP_FACTORY, **options)
