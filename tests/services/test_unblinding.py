"""Emergency unblinding requests on SQLite and PostgreSQL: ask, grant or decline, once.

The study is helpers_capture's (SEV-001 randomised at SEV). Refusals change nothing (every
audited table and the audit trail are counted before and after); a grant writes the decision and
the ``unblindings`` row in one transaction with one audit row; the requester never receives the
arm (ARM_WORDS, tests/services/test_blinding_matrix.py), the data manager does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import inspect, select

from physiotrial.errors import ConflictError, NotFoundError, PermissionDeniedError
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.enrolment import screen
from physiotrial.services.locking import data_hash, lock
from physiotrial.services.session import open_study
from physiotrial.services.unblinding import (
    decide_unblinding,
    request_unblinding,
    unblinding_requests,
)
from physiotrial.store import schema
from physiotrial.store.migrate import downgrade
from physiotrial.store.store import Store
from tests.services.helpers_capture import DAY0, ELIGIBLE, arm_of, counts, enrol, make_study
from tests.services.test_blinding_matrix import ARM_WORDS

WHY = "anaphylaxis after session 2; ED needs to know if a needle was used"


@pytest.fixture
def trial(database_url: str) -> Iterator[tuple[Store, str]]:
    store = make_study(database_url)
    yield store, enrol(store)
    store.close()


def _rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.read() as connection:
        query = select(table).order_by(*table.primary_key.columns)
        return [dict(r) for r in connection.execute(query).mappings()]


def test_a_site_user_requests_and_sees_the_request_pending(trial: tuple[Store, str]) -> None:
    store, code = trial
    made = request_unblinding(store, "assessor", code, f"  {WHY} ")
    assert (made.id, made.study_code, made.site, made.reason) == (1, code, "SEV", WHY)
    assert (made.requested_by, made.status, made.decision, made.arm) == (
        "assessor",
        "pending",
        None,
        None,
    )
    [row] = _rows(store, schema.unblinding_requests)
    assert row["reason"] == WHY
    assert row["requested_by"] == "assessor"
    assert row["decision"] is None
    [entry] = audit_log(store, "dm", action="request unblinding")
    assert (entry.actor, entry.role, entry.participant, entry.reason) == (
        "assessor",
        "assessor",
        code,
        WHY,
    )
    assert entry.changes == ("added unblinding_requests 1",)
    assert [r.id for r in unblinding_requests(store, "assessor")] == [1]
    assert unblinding_requests(store, "coord") == []  # the requester's own only
    assert [r.requested_by for r in unblinding_requests(store, "dm")] == ["assessor"]
    assert _rows(store, schema.unblindings) == []  # asking reveals nothing
    assert verify_audit(store, "dm").problems == ()


@pytest.mark.parametrize(
    ("user", "code", "reason", "error", "message"),
    [
        ("coord_uni", None, WHY, PermissionDeniedError, "works at another site"),
        ("stats", None, WHY, PermissionDeniedError, "may not request unblinding"),
        ("dm", None, WHY, PermissionDeniedError, "may not request unblinding"),
        ("patient", None, WHY, PermissionDeniedError, "may not request unblinding"),
        ("coord", None, "  ", ConflictError, "reason: '  ' is blank"),
        ("coord", "", WHY, ConflictError, "participant: '' is blank"),
        ("coord", "SEV-999", WHY, NotFoundError, "participant: no participant 'SEV-999'"),
    ],
)
def test_refused_requests_write_nothing(
    trial: tuple[Store, str],
    user: str,
    code: str | None,
    reason: str,
    error: type[Exception],
    message: str,
) -> None:
    store, enrolled = trial
    before = counts(store)
    with pytest.raises(error, match=message):
        request_unblinding(store, user, enrolled if code is None else code, reason)
    assert counts(store) == before


def test_a_participant_not_randomised_or_already_pending_is_refused(
    trial: tuple[Store, str],
) -> None:
    store, code = trial
    screened = screen(store, "coord", "SEV", DAY0, ELIGIBLE, {"sex": "male"}, "New Person")
    with pytest.raises(ConflictError, match=r"is not randomised \(status eligible\)"):
        request_unblinding(store, "coord", screened.study_code, WHY)
    request_unblinding(store, "coord", code, WHY)
    before = counts(store)
    with pytest.raises(ConflictError, match=r"already has a pending unblinding request \(1, by"):
        request_unblinding(store, "therapist", code, "second ask")
    assert counts(store) == before


def test_granting_unblinds_in_one_write_and_only_the_data_manager_gets_the_arm(
    trial: tuple[Store, str],
) -> None:
    store, code = trial
    request_unblinding(store, "coord", code, WHY)
    audit_rows = counts(store)["audit"]
    granted = decide_unblinding(store, "dm", 1, "granted")
    assert granted.arm == arm_of(store, code)
    assert (granted.status, granted.decided_by, granted.decision_reason) == ("granted", "dm", None)
    assert counts(store)["audit"] == audit_rows + 1  # decision and unblinding: one audit row
    [unblinding] = _rows(store, schema.unblindings)
    assert unblinding["scope"] == "participant"
    assert unblinding["reason"] == f"request 1 by coord: {WHY}"
    assert unblinding["entered_by"] == "dm"
    [row] = _rows(store, schema.unblinding_requests)
    assert (row["decision"], row["decided_by"]) == ("granted", "dm")
    assert row["decided_at"] == unblinding["entered_at"]
    [entry] = audit_log(store, "dm", action="unblind")
    assert (entry.actor, entry.participant, entry.reason) == ("dm", code, WHY)
    assert entry.changes == ("added unblindings 1", "changed unblinding_requests 1: " + _fields())
    [seen] = unblinding_requests(store, "coord")
    assert (seen.status, seen.arm, seen.decided_by) == ("granted", None, "dm")
    assert not ARM_WORDS.search(repr(unblinding_requests(store, "coord")))
    assert ARM_WORDS.search(repr(unblinding_requests(store, "dm")))  # the search works
    assert verify_audit(store, "dm").problems == ()


def _fields() -> str:
    return "decided_at, decided_by, decision"


def test_a_grant_note_is_kept_from_the_requester_who_may_not_see_arms(
    trial: tuple[Store, str],
) -> None:
    store, code = trial
    request_unblinding(store, "therapist", code, WHY)
    note = f"told the ED by phone: {arm_of(store, code)}"
    decide_unblinding(store, "dm", 1, "granted", note)
    [mine] = unblinding_requests(store, "therapist")
    assert (mine.status, mine.decision_reason, mine.arm) == ("granted", None, None)
    [theirs] = unblinding_requests(store, "dm")
    assert theirs.decision_reason == note
    [entry] = audit_log(store, "dm", action="unblind")
    assert entry.reason == note


def test_declining_needs_a_reason_and_the_requester_reads_it(trial: tuple[Store, str]) -> None:
    store, code = trial
    request_unblinding(store, "coord", code, WHY)
    before = counts(store)
    with pytest.raises(ConflictError, match="reason: None is blank"):
        decide_unblinding(store, "dm", 1, "declined")
    with pytest.raises(ConflictError, match=r"decision: 'maybe' is not allowed; allowed: granted"):
        decide_unblinding(store, "dm", 1, "maybe", "unsure")
    assert counts(store) == before
    declined = decide_unblinding(store, "dm", 1, "declined", "manage as if active needling")
    assert (declined.status, declined.arm) == ("declined", None)
    [mine] = unblinding_requests(store, "coord")
    assert (mine.status, mine.decision_reason) == ("declined", "manage as if active needling")
    assert _rows(store, schema.unblindings) == []
    [entry] = audit_log(store, "dm", action="decline unblinding")
    assert entry.changes == ("changed unblinding_requests 1: " + _fields() + ", decision_reason",)
    # a declined request no longer blocks a new one
    assert request_unblinding(store, "coord", code, "worse now").id == 2


def test_a_request_is_decided_once_and_only_by_the_data_manager(
    trial: tuple[Store, str],
) -> None:
    store, code = trial
    request_unblinding(store, "coord", code, WHY)
    before = counts(store)
    for user in ("coord", "therapist", "stats"):
        with pytest.raises(PermissionDeniedError, match="may not unblind"):
            decide_unblinding(store, user, 1, "granted")
    with pytest.raises(PermissionDeniedError, match="may not decline unblinding"):
        decide_unblinding(store, "coord", 1, "declined", "no")
    with pytest.raises(NotFoundError, match="request: no unblinding request 7"):
        decide_unblinding(store, "dm", 7, "granted")
    assert counts(store) == before
    decide_unblinding(store, "dm", 1, "declined", "not an emergency")
    after = counts(store)
    for decision in ("granted", "declined"):
        with pytest.raises(ConflictError, match=r"request 1 was already declined by dm at .*once"):
            decide_unblinding(store, "dm", 1, decision, "again")
    assert counts(store) == after
    with pytest.raises(PermissionDeniedError, match=r"stats .* may not request unblinding"):
        unblinding_requests(store, "stats")


def test_requests_and_grants_work_while_locked_and_change_the_data_hash(
    trial: tuple[Store, str],
) -> None:
    store, code = trial
    lock(store, "dm", "database lock for analysis")
    with store.read() as connection:
        locked_hash, tables = data_hash(connection)
    assert tables["unblinding_requests"] == 0
    request_unblinding(store, "coord", code, WHY)
    with store.read() as connection:
        asked_hash, tables = data_hash(connection)
    assert tables["unblinding_requests"] == 1
    assert asked_hash != locked_hash  # hashed like unblindings: part of the trial's record
    assert decide_unblinding(store, "dm", 1, "granted").arm == arm_of(store, code)
    assert verify_audit(store, "dm").problems == ()


def test_a_study_at_revision_0002_upgrades_and_still_verifies(database_url: str) -> None:
    old = make_study(database_url)
    code = enrol(old)
    downgrade(old.engine, "0002")
    assert not inspect(old.engine).has_table("unblinding_requests")
    old.close()
    store = open_study(database_url)  # brings the schema up to date
    try:
        assert inspect(store.engine).has_table("unblinding_requests")
        assert verify_audit(store, "dm").problems == ()
        request_unblinding(store, "coord", code, WHY)
        assert decide_unblinding(store, "dm", 1, "granted").arm == arm_of(store, code)
        report = verify_audit(store, "dm")
        assert report.problems == ()
        last = audit_log(store, "dm", participant=code)[-1]
        granted = ("added unblindings 1", "changed unblinding_requests 1: " + _fields())
        assert last.changes == granted
    finally:
        store.close()
