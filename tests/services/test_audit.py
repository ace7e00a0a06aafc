"""Audit verification and the audit log, on SQLite and PostgreSQL.

Tampering is done the way an intruder with database access would: plain SQL behind physiotrial's
back (and, for the audit table, after disabling its append-only trigger, as in
tests/store/test_store.py). ``verify_audit`` must fail and name the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.errors import ConflictError, PermissionDeniedError
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.locking import lock
from physiotrial.store import schema
from physiotrial.store.store import Store
from tests.services.helpers_admin import Trial, count, populate

ARMS = ("DN", "SHAM")


@pytest.fixture
def trial(database_url: str) -> Iterator[Trial]:
    populated = populate(database_url)
    yield populated
    populated.store.close()


def _audit_id(store: Store, action: str, participant: str | None = None) -> int:
    """The audit row of the first ``action`` (for ``participant``)."""
    query = select(schema.audit.c.id).where(schema.audit.c.action == action)
    if participant is not None:
        query = query.where(schema.audit.c.participant == participant)
    with store.read() as connection:
        return int(connection.execute(query.order_by(schema.audit.c.id)).scalars().first() or 0)


def _allow_audit_edits(store: Store, connection: Connection) -> None:
    if store.backend == "sqlite":
        connection.execute(text("DROP TRIGGER audit_no_update"))
        connection.execute(text("DROP TRIGGER audit_no_delete"))
    else:
        connection.execute(text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))


def test_an_untouched_study_verifies(trial: Trial) -> None:
    store = trial.store
    lock(store, "dm", "final")
    report = verify_audit(store, "dm")
    assert report.ok
    assert report.problems == ()
    assert report.first_problem is None
    assert report.audit_rows == count(store, schema.audit)
    assert report.data_rows == sum(count(store, t) for t in schema.AUDITED)
    assert report.sequence_slots == 400
    assert verify_audit(store, "stat").ok  # the statistician may verify, blinded or not


def test_only_data_managers_and_statisticians_verify(trial: Trial) -> None:
    with pytest.raises(PermissionDeniedError, match=r"coord \(coordinator\) may not verify"):
        verify_audit(trial.store, "coord")


Tamper = Callable[[Trial, Connection], None]


def _site_name(trial: Trial, connection: Connection) -> None:
    connection.execute(text("UPDATE sites SET name = 'Elsewhere' WHERE code = 'UNI'"))


def _screening_answer(trial: Trial, connection: Connection) -> None:
    pid = trial.people["SEV-002"].id
    s = schema.screenings
    answers = connection.execute(select(s.c.answers).where(s.c.participant_id == pid)).scalar_one()
    changed = {**answers, "age": 49}
    connection.execute(update(s).where(s.c.participant_id == pid).values(answers=changed))


def _audit_reason(trial: Trial, connection: Connection) -> None:
    _allow_audit_edits(trial.store, connection)
    connection.execute(text("UPDATE audit SET reason = 'moved abroad' WHERE action = 'withdraw'"))


def _audit_last_row_removed(trial: Trial, connection: Connection) -> None:
    _allow_audit_edits(trial.store, connection)
    last = connection.execute(text("SELECT max(id) FROM audit")).scalar_one()
    connection.execute(text(f"DELETE FROM audit WHERE id = {int(last)}"))


def _slot_arm(trial: Trial, connection: Connection) -> None:
    slots = schema.sequence_slots
    arm = connection.execute(select(slots.c.arm).where(slots.c.id == 7)).scalar_one()
    other = ARMS[1 - ARMS.index(arm)]
    connection.execute(update(slots).where(slots.c.id == 7).values(arm=other))


def _allocation_arm(trial: Trial, connection: Connection) -> None:
    a = schema.allocations
    pid = trial.people["SEV-001"].id
    arm = trial.people["SEV-001"].arm
    assert arm is not None
    other = ARMS[1 - ARMS.index(arm)]
    connection.execute(update(a).where(a.c.participant_id == pid).values(arm=other))


def _row_added(trial: Trial, connection: Connection) -> None:
    connection.execute(insert(schema.sites).values(code="GHOST", name="Not a site"))


def _row_deleted(trial: Trial, connection: Connection) -> None:
    connection.execute(delete(schema.deviations))


def _expected(trial: Trial, name: str) -> list[str]:
    """Patterns of the first problem(s) each tampering must produce, naming the row."""
    store = trial.store
    sev2 = trial.people["SEV-002"].id
    withdraw = _audit_id(store, "withdraw")
    return {
        "site name": [
            f"sites row 2: name differ from audit row {_audit_id(store, 'site add') + 1}: "
            "changed outside physiotrial"
        ],
        "screening answer": [
            f"screenings row {sev2}: answers differ from audit row "
            f"{_audit_id(store, 'screen', 'SEV-002')}: changed outside physiotrial"
        ],
        "audit row": [
            rf"audit row {withdraw} \(withdraw by coord at .*Z\): its content was changed after "
            "it was written"
        ],
        "last audit row": [
            rf"the audit head names row {withdraw}, but the trail ends at row {withdraw - 1}: "
            "rows were removed from the end"
        ],
        "slot arm": [
            r"sequence_slots: the stored sequence does not match its seal \(study.sequence_hash\)",
            r"sequence_slots row 7 \(stratum sex=female #7\): arm differ from the sealed sequence",
        ],
        "allocation arm": [
            f"allocations row 1: arm differ from audit row "
            f"{_audit_id(store, 'randomise', 'SEV-001')}: changed outside physiotrial"
        ],
        "row added": ["sites row 3 was added outside physiotrial"],
        "row deleted": [
            rf"deviations row 1 \(audit row {_audit_id(store, 'deviation')}\) was deleted"
        ],
    }[name]


@pytest.mark.parametrize(
    ("name", "tamper"),
    [
        ("site name", _site_name),
        ("screening answer", _screening_answer),
        ("audit row", _audit_reason),
        ("last audit row", _audit_last_row_removed),
        ("slot arm", _slot_arm),
        ("allocation arm", _allocation_arm),
        ("row added", _row_added),
        ("row deleted", _row_deleted),
    ],
)
def test_any_change_behind_physiotrials_back_is_named(
    trial: Trial, name: str, tamper: Tamper
) -> None:
    store = trial.store
    expected = _expected(trial, name)
    assert verify_audit(store, "dm").ok
    with store.engine.begin() as connection:
        tamper(trial, connection)
    report = verify_audit(store, "stat")
    assert not report.ok
    for problem, pattern in zip(report.problems, expected, strict=False):
        assert re.fullmatch(pattern, problem), (problem, pattern)
    assert len(report.problems) >= len(expected)
    assert report.first_problem == report.problems[0]
    for problem in report.problems:  # a blinded verifier reads these: no arm, ever
        assert not set(re.findall(r"\w+", problem)) & set(ARMS), problem


def test_verify_from_the_command_line(trial: Trial, database_url: str) -> None:
    runner = CliRunner()
    base = ["audit", "verify", "--database", database_url, "--as", "dm"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    rows, data = (
        count(trial.store, schema.audit),
        sum(count(trial.store, t) for t in schema.AUDITED),
    )
    assert result.output.startswith(f"audit trail verified: {rows} rows, {data} data rows")
    with trial.store.engine.begin() as connection:
        _site_name(trial, connection)
        _row_added(trial, connection)
    result = runner.invoke(app, base)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == (
        "error: audit verification failed: sites row 2: name differ from audit row "
        f"{_audit_id(trial.store, 'site add') + 1}: changed outside physiotrial"
    )
    assert lines[1:] == ["  and 1 more:", "  - sites row 3 was added outside physiotrial"]


# --- the audit log --------------------------------------------------------------------------


def test_the_log_shows_who_when_what_and_why_without_values(trial: Trial) -> None:
    entries = audit_log(trial.store, "dm")
    assert [e.id for e in entries] == list(range(1, count(trial.store, schema.audit) + 1))
    first = entries[0]
    assert (first.actor, first.role, first.action) == ("dm", "data_manager", "init")
    assert first.changes[:3] == ("added protocol_versions 1", "added study 1", "added users 1")
    withdrawal = next(e for e in entries if e.action == "withdraw")
    assert (withdrawal.actor, withdrawal.role) == ("coord", "coordinator")
    assert withdrawal.participant == "SEV-002"
    assert withdrawal.reason == "moved away"
    assert withdrawal.changes == ("added dispositions 1", "changed participants 2: status")
    assert withdrawal.summary == "added dispositions 1; changed participants 2: status"
    correction = next(e for e in entries if e.action == "correct")
    assert correction.changes == (
        f"changed responses {trial.womac_v1}: current",
        f"added responses {trial.womac_v2}",
    )
    for entry in entries:
        words = set(re.findall(r"\w+", " ".join(entry.changes)))
        assert not words & set(ARMS), entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry.at)


def _day_of(trial: Trial, action: str) -> date:
    """The UTC date the first ``action`` was written (not "now": a test may cross midnight)."""
    return date.fromisoformat(audit_log(trial.store, "dm", action=action)[0].at[:10])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"participant": "SEV-002"}, ["screen", "consent", "randomise", "record", "withdraw"]),
        ({"participant": "UNI-001"}, ["screen"]),
        ({"user": "therapist"}, ["session", "session", "ae"]),
        ({"user": "therapist", "action": "ae"}, ["ae"]),
        ({"action": "correct"}, ["correct"]),
        ({"action": "site add"}, ["site add", "site add"]),
        ({"participant": "SEV-001", "user": "assessor"}, ["record"]),
        ({"participant": "nobody"}, []),
        ({"since": 0, "until": 0, "action": "consent"}, ["consent", "consent"]),
        ({"since": 1, "action": "consent"}, []),
        ({"until": -1, "action": "consent"}, []),
    ],
)
def test_the_log_filters(trial: Trial, filters: dict[str, Any], expected: list[str]) -> None:
    day = _day_of(trial, "consent")
    dates = {k: day + timedelta(days=v) for k, v in filters.items() if k in ("since", "until")}
    entries = audit_log(trial.store, "dm", **(filters | dates))
    assert [e.action for e in entries] == expected
    assert [e.id for e in entries] == sorted(e.id for e in entries)


def test_the_log_is_for_data_managers_and_checks_its_dates(trial: Trial) -> None:
    today = datetime.now(UTC).date()
    with pytest.raises(PermissionDeniedError, match=r"stat \(statistician\) may not audit"):
        audit_log(trial.store, "stat")
    with pytest.raises(ConflictError, match=r"since \S+ is after until \S+; allowed: since on or"):
        audit_log(trial.store, "dm", since=today, until=today - timedelta(days=1))


def test_log_from_the_command_line(trial: Trial, database_url: str) -> None:
    runner = CliRunner()
    base = ["audit", "log", "--database", database_url, "--as", "dm"]
    result = runner.invoke(app, [*base, "--participant", "SEV-002", "--action", "withdraw"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert re.fullmatch(
        r"\s*\d+  \S+Z  coord \(coordinator\)  withdraw  \[SEV-002\]  reason: moved away", lines[0]
    )
    assert lines[1].strip() == "added dispositions 1; changed participants 2: status"
    result = runner.invoke(app, [*base, "--since", "yesterday"])
    assert result.exit_code == 1
    assert "error: --since: 'yesterday' is not a date; allowed: YYYY-MM-DD" in result.output
    result = runner.invoke(app, [*base, "--user", "nobody"])
    assert result.output.strip() == "no audit rows match"
