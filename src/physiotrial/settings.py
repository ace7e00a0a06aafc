"""Where the study database is: the one place that reads the environment.

Precedence: an explicit ``--database`` URL, then ``PHYSIOTRIAL_DATABASE_URL``, then the embedded
default, a SQLite file ``physiotrial.sqlite`` in the study directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATABASE_ENV = "PHYSIOTRIAL_DATABASE_URL"
SQLITE_FILE = "physiotrial.sqlite"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one command or app instance."""

    database_url: str
    directory: Path

    @classmethod
    def resolve(cls, directory: Path, database: str | None = None) -> Settings:
        url = database or os.environ.get(DATABASE_ENV) or f"sqlite:///{directory / SQLITE_FILE}"
        return cls(database_url=url, directory=directory)
