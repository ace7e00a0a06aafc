"""Where the study database is, and the web server's secret: the one place that reads the
environment.

Precedence for the database: an explicit ``--database`` URL, then ``PHYSIOTRIAL_DATABASE_URL``,
then the embedded default, a SQLite file ``physiotrial.sqlite`` in the study directory. The
session secret of the web app comes from ``PHYSIOTRIAL_SECRET_KEY`` when set (web/app.py falls
back to a key file in the study directory). ``physiotrial serve`` hands the study directory to
the app it starts through ``PHYSIOTRIAL_STUDY`` (the app is built by an import string, in a
fresh process or worker, so the environment is how it learns its arguments).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATABASE_ENV = "PHYSIOTRIAL_DATABASE_URL"
SECRET_ENV = "PHYSIOTRIAL_SECRET_KEY"
STUDY_ENV = "PHYSIOTRIAL_STUDY"
SQLITE_FILE = "physiotrial.sqlite"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one command or app instance."""

    database_url: str
    directory: Path
    secret_key: str | None = None

    @classmethod
    def resolve(cls, directory: Path, database: str | None = None) -> Settings:
        url = database or os.environ.get(DATABASE_ENV) or f"sqlite:///{directory / SQLITE_FILE}"
        secret = os.environ.get(SECRET_ENV) or None
        return cls(database_url=url, directory=directory, secret_key=secret)

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings of an app started by ``physiotrial serve`` (the study directory from
        ``PHYSIOTRIAL_STUDY``, else the current directory)."""
        return cls.resolve(Path(os.environ.get(STUDY_ENV, ".")))
