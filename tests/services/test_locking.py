"""Database lock and unlock on SQLite and PostgreSQL: the manifest, refused writes, reasons."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from physiotrial import __version__
from physiotrial.cli import app
from physiotrial.core.protocol import Role
from physiotrial.errors import ConflictError, PermissionDeniedError, StudyLockedError
from physiotrial.services import capture, enrolment, randomisation, safety
from physiotrial.services.audit import verify_audit
from physiotrial.services.locking import current_manifest, data_hash, lock, unlock
from physiotrial.services.study import add_site, add_user, amend_protocol, study_info
from physiotrial.store import schema
from physiotrial.store.store import Store, canonical, snapshot
from tests.services.helpers_admin import DAY0, Trial, count, populate

REFERENCE = Path(__file__).parents[2] / "src/physiotrial/protocols/popliteus-dn-koa.toml"


@pytest.fixture
def trial(database_url: str) -> Iterator[Trial]:
    """The populated study; its store is closed even when a test fails."""
    populated = populate(database_url)
    yield populated
    populated.store.close()


def _independent_hash(store: Store) -> str:
    """The documented data hash, recomputed here without the service's code."""
    digest = hashlib.sha256(b"physiotrial-data-1\n")
    with store.read() as connection:
        for table in schema.AUDITED:
            if table.name == "locks":
                continue
            query = select(table).order_by(*table.primary_key.columns)
            for row in connection.execute(query).mappings():
                values = snapshot(table, row)
                if table.name == "study":
                    del values["locked"], values["unblinded"]
                if table.name == "responses" and values["done_on"] is None:
                    del values["done_on"]  # added by revision 0004: hashed only when set
                if table.name == "participant_links" and values["purpose"] is None:
                    del values["purpose"]  # added by revision 0005: hashed only when set
                digest.update(canonical([table.name, values]).encode() + b"\n")
    return digest.hexdigest()


def test_lock_manifest_holds_hashes_versions_time_and_who(trial: Trial) -> None:
    store = trial.store
    before = _independent_hash(store)
    audit_rows = count(store, schema.audit)
    start = datetime.now(UTC)
    manifest = lock(store, "dm", "last participant completed M6; queries resolved")
    info = study_info(store)
    assert manifest.lock_id == 1
    assert manifest.data_hash == before == _independent_hash(store)
    assert manifest.protocol_version == "1.0"
    assert manifest.protocol_hash == info.protocol_hash
    assert manifest.protocol_hash == hashlib.sha256(REFERENCE.read_bytes()).hexdigest()
    assert manifest.sequence_hash == info.sequence_hash
    assert manifest.software_version == __version__
    assert manifest.locked_by == "dm"
    assert manifest.reason == "last participant completed M6; queries resolved"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", manifest.locked_at)
    locked_at = datetime.strptime(manifest.locked_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert start <= locked_at <= datetime.now(UTC)
    assert manifest.audit_head_id == audit_rows
    assert "locks" not in manifest.tables
    expected_rows = {"participants": 3, "identities": 3, "sites": 2, "users": 6, "responses": 7}
    assert {k: manifest.tables[k] for k in expected_rows} == expected_rows
    assert manifest.rows == sum(manifest.tables.values())
    assert info.locked is True
    assert current_manifest(store) == manifest
    with store.read() as connection:
        row = connection.execute(select(schema.locks)).mappings().one()
        head = connection.execute(
            select(schema.audit.c.hash).where(schema.audit.c.id == audit_rows)
        )
        assert manifest.audit_head_hash == head.scalar_one()
    assert row["manifest"]["data_hash"] == manifest.data_hash
    assert row["locked_by"] == "dm"
    assert verify_audit(store, "dm").problems == ()


def test_the_data_hash_follows_the_data_not_the_lock_state(trial: Trial) -> None:
    store = trial.store
    with store.read() as connection:
        open_hash, _ = data_hash(connection)
    first = lock(store, "dm", "interim look")
    assert first.data_hash == open_hash
    unlock(store, "dm", "late query on SEV-001")
    with store.read() as connection:
        assert data_hash(connection)[0] == open_hash
    add_site(store, "dm", "MAD", "Madrid clinic")
    second = lock(store, "dm", "final")
    assert second.lock_id == 2
    assert second.data_hash != open_hash
    assert second.tables["sites"] == first.tables["sites"] + 1


def _services(trial: Trial, tmp_path: Path) -> list[tuple[str, str, Callable[[], Any]]]:
    """(action as named in the message, description, call) for writes of several services."""
    store, first = trial.store, trial.people["SEV-001"]
    amended = tmp_path / "v1.1.toml"
    amended.write_text(REFERENCE.read_text().replace('version = "1.0"', 'version = "1.1"', 1))
    return [
        ("site add", "add_site", lambda: add_site(store, "dm", "MAD", "Madrid")),
        ("user add", "add_user", lambda: add_user(store, "dm", "x", "X", Role.ASSESSOR)),
        (
            "protocol amend",
            "amend_protocol",
            lambda: amend_protocol(store, "dm", str(amended), "ethics amendment 2"),
        ),
        (
            "screen",
            "enrolment.screen",
            lambda: enrolment.screen(
                store, "coord", "SEV", DAY0, {"age": 70}, {"sex": "male"}, "New Person"
            ),
        ),
        (
            "consent",
            "enrolment.consent",
            lambda: enrolment.consent(store, "coord", "SEV-002", "1.0", DAY0),
        ),
        (
            "randomise",
            "randomisation.randomise",
            lambda: randomisation.randomise(store, "coord", "SEV-002", DAY0),
        ),
        (
            "record",
            "capture.record",
            lambda: capture.record(
                store, "assessor", first.code, "W3", "dn4", {"burning": 0}, date(2025, 3, 24)
            ),
        ),
        (
            "session",
            "safety.record_session",
            lambda: safety.record_session(
                store, "therapist", first.code, "needling", 2, date(2025, 3, 10), True, {}
            ),
        ),
        (
            "ae",
            "safety.record_adverse_event",
            lambda: safety.record_adverse_event(
                store, "therapist", first.code, "bruise", DAY0, "mild", "possible", "ice", "ongoing"
            ),
        ),
        (
            "withdraw",
            "safety.withdraw",
            lambda: safety.withdraw(store, "coord", first.code, "withdrawn", DAY0, "moved"),
        ),
    ]


def test_writes_after_lock_are_refused_clearly_and_change_nothing(
    trial: Trial, tmp_path: Path
) -> None:
    store = trial.store
    lock(store, "dm", "final analysis")
    audit_rows = count(store, schema.audit)
    with store.read() as connection:
        before = data_hash(connection)
    for action, name, call in _services(trial, tmp_path):
        with pytest.raises(StudyLockedError) as excinfo:
            call()
        assert str(excinfo.value) == (
            f"the study database is locked; {action} is not allowed until a data manager "
            "unlocks it with a reason"
        ), name
    assert count(store, schema.audit) == audit_rows
    with store.read() as connection:
        assert data_hash(connection) == before
    assert verify_audit(store, "dm").problems == ()


@pytest.mark.parametrize(
    ("actor", "reason", "error", "message"),
    [
        ("dm", "", ConflictError, "lock needs a reason: reason '' is empty"),
        ("dm", "   ", ConflictError, "lock needs a reason: reason '   ' is empty"),
        (
            "coord",
            "final",
            PermissionDeniedError,
            "coord (coordinator) may not lock; allowed roles",
        ),
        ("stat", "final", PermissionDeniedError, "stat (statistician) may not lock"),
    ],
)
def test_lock_needs_a_reason_and_a_data_manager(
    trial: Trial, actor: str, reason: str, error: type[Exception], message: str
) -> None:
    audit_rows = count(trial.store, schema.audit)
    with pytest.raises(error, match=re.escape(message)):
        lock(trial.store, actor, reason)
    assert count(trial.store, schema.audit) == audit_rows
    assert count(trial.store, schema.locks) == 0
    assert study_info(trial.store).locked is False


def test_a_second_lock_is_refused_naming_the_lock_in_force(trial: Trial) -> None:
    first = lock(trial.store, "dm", "final")
    with pytest.raises(ConflictError) as excinfo:
        lock(trial.store, "dm", "again")
    assert str(excinfo.value) == (
        f"the study database is already locked (lock 1 by dm at {first.locked_at}); "
        "unlock it with a reason before locking again"
    )
    assert count(trial.store, schema.locks) == 1


def test_unlock_needs_a_reason_then_reopens_writes(trial: Trial) -> None:
    store = trial.store
    with pytest.raises(ConflictError, match="nothing to unlock"):
        unlock(store, "dm", "no lock yet")
    locked = lock(store, "dm", "final")
    with pytest.raises(
        ConflictError, match=re.escape("unlock needs a reason: reason ' ' is empty")
    ):
        unlock(store, "dm", " ")
    with pytest.raises(PermissionDeniedError, match=r"coord \(coordinator\) may not unlock"):
        unlock(store, "coord", "I want to edit")
    assert study_info(store).locked is True
    lifted = unlock(store, "dm", "query on SEV-001 W3 VAS")
    assert lifted.lock_id == locked.lock_id
    assert lifted.data_hash == locked.data_hash
    assert (lifted.unlocked_by, lifted.unlock_reason) == ("dm", "query on SEV-001 W3 VAS")
    assert lifted.unlocked_at is not None
    assert lifted.unlocked_at > locked.locked_at
    assert study_info(store).locked is False
    assert current_manifest(store) is None
    add_site(store, "dm", "MAD", "Madrid clinic")
    with store.read() as connection:
        row = connection.execute(select(schema.locks)).mappings().one()
    assert row["unlock_reason"] == "query on SEV-001 W3 VAS"
    assert row["manifest"]["data_hash"] == locked.data_hash
    assert verify_audit(store, "dm").problems == ()


def test_lock_and_unlock_from_the_command_line(trial: Trial, database_url: str) -> None:
    runner = CliRunner()
    base = ["--database", database_url, "--as", "dm"]
    result = runner.invoke(app, ["lock", *base])
    assert result.exit_code == 2  # --reason is required
    result = runner.invoke(app, ["lock", "--reason", "final analysis", *base])
    assert result.exit_code == 0, result.output
    store = trial.store
    manifest = current_manifest(store)
    assert manifest is not None
    assert result.output.startswith(f"locked (lock 1) at {manifest.locked_at} by dm\n")
    assert f"data hash {manifest.data_hash} ({manifest.rows} rows)" in result.output
    again = runner.invoke(app, ["site", "add", "MAD", "--name", "Madrid", "--as", "dm", *base[:2]])
    assert again.exit_code == 1
    assert again.output.strip() == (
        "error: the study database is locked; site add is not allowed until a data manager "
        "unlocks it with a reason"
    )
    result = runner.invoke(app, ["unlock", "--reason", "", *base])
    assert result.exit_code == 1
    assert "unlock needs a reason" in result.output
    result = runner.invoke(app, ["unlock", "--reason", "query", *base, "--json"])
    assert result.exit_code == 0, result.output
    assert '"unlock_reason": "query"' in result.output
    assert current_manifest(store) is None
