"""``physiotrial init``, ``status``, ``user add`` and ``site add``."""

from __future__ import annotations

from pathlib import Path

import typer

from physiotrial.cli.common import ActAs, AsJson, Database, StudyDir, emit, study_store
from physiotrial.cli.errors import reports_errors
from physiotrial.core.protocol import Role
from physiotrial.services.study import add_site, add_user, init_study, study_info
from physiotrial.settings import Settings

users = typer.Typer(help="Users and their roles.", no_args_is_help=True)
sites = typer.Typer(help="Recruiting sites.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("status")(status)
    app.add_typer(users, name="user")
    app.add_typer(sites, name="site")


@reports_errors
def init(
    directory: Path = typer.Argument(..., help="Study directory; the SQLite file goes here."),
    protocol: str = typer.Option(..., help="Built-in protocol name or a protocol TOML file."),
    admin: str = typer.Option("admin", help="Username of the first data manager."),
    admin_name: str = typer.Option("Data manager", help="Full name of the first data manager."),
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    """Create a study: store the protocol, add the first data manager, seal the sequence."""
    directory.mkdir(parents=True, exist_ok=True)
    url = Settings.resolve(directory, database).database_url
    info = init_study(url, protocol, admin=admin, admin_name=admin_name)
    emit(
        info,
        as_json,
        f"created study {info.study_id} (protocol {info.protocol_version}, hash "
        f"{info.protocol_hash[:12]}…); randomisation sequence sealed "
        f"({info.sequence_hash[:12] + '…' if info.sequence_hash else 'minimisation, no list'}); "
        f"data manager {admin!r}",
    )


@reports_errors
def status(study: StudyDir = Path("."), database: Database = None, as_json: AsJson = False) -> None:
    """The study, its protocol version and seal, lock state and participant count."""
    with study_store(study, database) as store:
        info = study_info(store)
    emit(
        info,
        as_json,
        f"{info.study_id}: protocol {info.protocol_version}, {info.participants} participants, "
        f"{'LOCKED' if info.locked else 'open'}",
    )


@users.command("add")
@reports_errors
def user_add(
    username: str = typer.Argument(...),
    role: Role = typer.Option(..., help="coordinator, assessor, therapist, statistician, …"),
    name: str = typer.Option(..., help="Full name."),
    site: str | None = typer.Option(None, help="Site code, for site-bound roles."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
) -> None:
    """Add a user with a role (data managers only)."""
    with study_store(study, database) as store:
        add_user(store, actor, username, name, role, site)
    typer.echo(f"added {role.value} {username}")


@sites.command("add")
@reports_errors
def site_add(
    code: str = typer.Argument(...),
    name: str = typer.Option(..., help="Site name."),
    actor: ActAs = ...,  # type: ignore[assignment]
    study: StudyDir = Path("."),
    database: Database = None,
) -> None:
    """Add a recruiting site (data managers only)."""
    with study_store(study, database) as store:
        add_site(store, actor, code, name)
    typer.echo(f"added site {code}")
