"""Schema migrations with Alembic: upgrade an empty or older database to head, or downgrade."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("physiotrial.store").joinpath("migrations"))
    )
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def bring_up_to_date(engine: Engine) -> None:
    """Upgrade a physiotrial database made by an older version; do nothing when it is current or
    when the database holds no physiotrial schema at all (that is for the caller to refuse)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != set(ScriptDirectory.from_config(_config(engine)).get_heads()):
        upgrade(engine)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the schema back to ``revision`` (default: empty)."""
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
