"""Shared fixtures: a fresh, migrated study database on SQLite and on PostgreSQL.

``database_url`` is parametrised over both backends, so every store and services test that uses
it runs twice. PostgreSQL comes from PHYSIOTRIAL_TEST_DATABASE_URL (an admin URL, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); each test gets its own database, copied
from a migrated template. Without a reachable server the PostgreSQL half is skipped locally and
fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from physiotrial.store.migrate import upgrade
from physiotrial.store.store import make_engine

PG_ENV = "PHYSIOTRIAL_TEST_DATABASE_URL"


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        reason = f"{PG_ENV} is not set: PostgreSQL tests not run"
    else:
        try:
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(text("select 1"))
            engine.dispose()
            return url
        except Exception as error:  # any failure to reach the server
            reason = f"PostgreSQL at {PG_ENV} is not reachable: {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL is required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgresql_template() -> Iterator[tuple[str, str]]:
    admin = _pg_admin_url()
    assert admin is not None
    name = f"physiotrial_template_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    migrated = make_engine(url)
    upgrade(migrated)
    migrated.dispose()
    yield admin, name
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "study.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin, template = request.getfixturevalue("postgresql_template")
    name = f"physiotrial_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
