"""Web access on SQLite and PostgreSQL: passwords, lockout, session epochs, API tokens and
participants' one-time links; no secret in the audit trail, and ``audit verify`` still passes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import inspect, select, text, update
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.core.protocol import Role
from physiotrial.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StudyLockedError,
)
from physiotrial.services import access
from physiotrial.services.access import (
    LINK_USER,
    WRONG,
    authenticate,
    credential_problems,
    end_sessions,
    issue_api_token,
    list_api_tokens,
    revoke_api_token,
    session_epoch,
    set_password,
    user_for_token,
)
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.context import Actor
from physiotrial.services.links import (
    DONE_LINK,
    UNKNOWN_LINK,
    USED_LINK,
    create_participant_link,
    finish_participant_link,
    open_participant_link,
    submit_participant_link,
)
from physiotrial.services.locking import data_hash, lock
from physiotrial.services.session import open_study
from physiotrial.store import schema
from physiotrial.store.migrate import downgrade, upgrade
from physiotrial.store.store import Store
from tests.services.helpers_capture import BASELINE, DAY0, enrol, make_study

NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
PASSWORD = "correct horse battery"
SELF_REPORT_BL = ("vas_max", "vas_current", "vas_min", "womac", "tsk11", "pcs")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    made = make_study(database_url)
    yield made
    made.close()


def _audit_text(store: Store) -> str:
    """Every audit row as text: what someone reading the audit table sees."""
    with store.read() as connection:
        rows = connection.execute(select(schema.audit)).all()
    return "\n".join(" ".join(str(v) for v in row) for row in rows)


def _all_text(store: Store, *, leave_out: tuple[str, ...] = ()) -> str:
    """Every row of every table as text."""
    with store.read() as connection:
        return "\n".join(
            " ".join(str(v) for v in row)
            for table in schema.metadata.sorted_tables
            if table.name not in leave_out
            for row in connection.execute(select(table)).all()
        )


def _access(store: Store, username: str) -> dict[str, object]:
    u, a = schema.users, schema.user_access
    query = select(a).join(u, u.c.id == a.c.user_id).where(u.c.username == username)
    with store.read() as connection:
        return dict(connection.execute(query).mappings().one())


def _verified(store: Store) -> None:
    report = verify_audit(store, "dm")
    assert report.problems == ()
    with store.read() as connection:
        assert credential_problems(connection) == []


def _deactivate(store: Store, username: str) -> None:
    with store.write(actor="dm", role="data_manager", action="user deactivate") as tx:
        user_id = tx.connection.execute(
            select(schema.users.c.id).where(schema.users.c.username == username)
        ).scalar_one()
        tx.update(schema.users, user_id, {"active": False})


# --- passwords ------------------------------------------------------------------------------


def test_a_password_signs_in_and_is_stored_only_as_an_argon2id_hash(store: Store) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    assert authenticate(store, "coord", PASSWORD, NOW) == Actor("coord", Role.COORDINATOR, 1)
    with store.read() as connection:
        hashed = connection.execute(select(schema.credentials.c.password_hash)).scalar_one()
        unused = connection.execute(select(schema.users.c.password_hash)).scalars().all()
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert set(unused) == {None}
    sealed = _access(store, "coord")
    assert sealed["password_seal"] == hashlib.sha256(hashed.encode()).hexdigest()
    assert (sealed["session_epoch"], sealed["failed_sign_ins"]) == (1, 0)
    with pytest.raises(PermissionDeniedError, match=f"^{WRONG}$"):
        authenticate(store, "coord", "correct horse battery!", NOW)
    _verified(store)


@pytest.mark.parametrize(
    ("actor", "username", "password", "error", "message"),
    [
        ("dm", "coord", "short pw!", ConflictError, "password: 9 characters is not allowed; "
         "allowed: 10 to 1000 characters"),
        ("dm", "coord", "", ConflictError, "password: 0 characters is not allowed"),
        ("coord", "assessor", PASSWORD, PermissionDeniedError,
         r"coord \(coordinator\) may not manage other users; allowed roles: data_manager"),
        ("patient", "patient", PASSWORD, PermissionDeniedError,
         r"patient \(participant\) may not set password"),
        ("dm", "patient", PASSWORD, ConflictError,
         "patient is a participant; participants have no password"),
        ("dm", "nobody", PASSWORD, NotFoundError, "no user 'nobody'"),
    ],
)  # fmt: skip
def test_passwords_that_are_refused(
    store: Store, actor: str, username: str, password: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        set_password(store, actor, username, password)
    with store.read() as connection:
        assert connection.execute(select(schema.credentials)).all() == []


def test_users_set_their_own_password_and_the_data_manager_anyones(store: Store) -> None:
    set_password(store, "stats", "stats", PASSWORD)
    set_password(store, "dm", "assessor", "another long password")
    assert authenticate(store, "stats", PASSWORD, NOW).role is Role.STATISTICIAN
    assert authenticate(store, "assessor", "another long password", NOW).site_id == 1
    entries = audit_log(store, "dm", action="set password")
    assert [(e.actor, e.changes) for e in entries] == [
        ("stats", ("added user_access 6",)),
        ("dm", ("added user_access 3",)),
    ]


def test_no_password_or_hash_ever_reaches_the_audit_trail(store: Store) -> None:
    set_password(store, "coord", "coord", PASSWORD)
    tried = "a wrong guess of mine"
    with pytest.raises(PermissionDeniedError):
        authenticate(store, "coord", tried, NOW)
    set_password(store, "dm", "coord", "a brand new password")
    with store.read() as connection:
        hashed = connection.execute(select(schema.credentials.c.password_hash)).scalar_one()
    trail = _audit_text(store)
    for secret in (PASSWORD, tried, "a brand new password", hashed, hashed.split("$")[-1]):
        assert secret not in trail
        assert secret not in _all_text(store, leave_out=("credentials",))
    salt = hashed.split("$")[-2]
    assert salt not in trail
    assert "sign-in failed" in trail
    _verified(store)


# --- sign-in and lockout --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["nobody", "inactive", "no password", "participant", LINK_USER])
def test_everyone_who_cannot_sign_in_gets_the_same_message(store: Store, who: str) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    set_password(store, "dm", "assessor", PASSWORD)
    _deactivate(store, "assessor")
    enrolled = enrol(store)
    create_participant_link(store, "coord", enrolled, "BL", NOW)  # creates LINK_USER
    username = {"inactive": "assessor", "no password": "therapist", "participant": "patient"}
    before = _audit_text(store)
    with pytest.raises(PermissionDeniedError) as raised:
        authenticate(store, username.get(who, who), PASSWORD, NOW)
    assert str(raised.value) == WRONG
    assert _audit_text(store) == before  # nothing to count for an account that cannot sign in


def test_five_failures_in_a_row_lock_for_fifteen_minutes(store: Store) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    for attempt in range(1, 5):
        with pytest.raises(PermissionDeniedError) as raised:
            authenticate(store, "coord", f"wrong guess {attempt}", NOW)
        assert str(raised.value) == WRONG
        assert _access(store, "coord")["failed_sign_ins"] == attempt
    fifth = NOW + timedelta(seconds=40)
    with pytest.raises(PermissionDeniedError) as raised:
        authenticate(store, "coord", "wrong guess 5", fifth)
    assert str(raised.value) == (
        "wrong username or password; coord is locked after 5 failed sign-ins in a row; try "
        "again at 2025-03-03 09:45:40 UTC, or ask a data manager to set a new password"
    )
    assert _access(store, "coord")["locked_until"] == "2025-03-03T09:45:40.000000Z"
    almost = fifth + timedelta(minutes=15) - timedelta(microseconds=1)
    with pytest.raises(PermissionDeniedError, match=r"try again at 2025-03-03 09:45:40 UTC"):
        authenticate(store, "coord", PASSWORD, almost)  # the right password, still locked
    assert authenticate(store, "coord", PASSWORD, fifth + timedelta(minutes=15)).username == "coord"
    state = _access(store, "coord")
    assert (state["failed_sign_ins"], state["locked_until"]) == (0, None)
    actions = [e.action for e in audit_log(store, "dm", user="coord")]
    assert actions == ["sign-in failed"] * 5 + ["sign in"]
    _verified(store)


def test_a_success_resets_the_count_and_a_data_manager_lifts_a_lock(store: Store) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    for _ in range(4):
        with pytest.raises(PermissionDeniedError, match=f"^{WRONG}$"):
            authenticate(store, "coord", "not it at all", NOW)
    authenticate(store, "coord", PASSWORD, NOW)
    for _ in range(4):
        with pytest.raises(PermissionDeniedError, match=f"^{WRONG}$"):
            authenticate(store, "coord", "not it at all", NOW)
    with pytest.raises(PermissionDeniedError, match="is locked"):
        authenticate(store, "coord", "not it at all", NOW)
    set_password(store, "dm", "coord", "a fresh password")
    assert authenticate(store, "coord", "a fresh password", NOW).username == "coord"


def test_a_hash_made_with_older_parameters_is_renewed_at_sign_in(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    monkeypatch.setattr(access, "HASHER", PasswordHasher(time_cost=4))
    assert authenticate(store, "coord", PASSWORD, NOW).username == "coord"
    with store.read() as connection:
        hashed = connection.execute(select(schema.credentials.c.password_hash)).scalar_one()
    assert hashed.startswith("$argon2id$v=19$m=65536,t=4,p=4$")
    assert _access(store, "coord")["password_seal"] == hashlib.sha256(hashed.encode()).hexdigest()
    assert [e.action for e in audit_log(store, "dm", user="coord")] == ["sign in"]
    assert authenticate(store, "coord", PASSWORD, NOW).username == "coord"
    assert len(audit_log(store, "dm", user="coord")) == 1  # nothing left to write
    _verified(store)


def test_a_hash_swapped_in_outside_physiotrial_cannot_sign_in(store: Store) -> None:
    set_password(store, "dm", "dm", PASSWORD)
    set_password(store, "dm", "coord", "the intruder's password")
    with store.engine.begin() as connection:
        c = schema.credentials
        theirs = connection.execute(select(c.c.password_hash).where(c.c.user_id == 2))
        connection.execute(update(c).where(c.c.user_id == 1).values(password_hash=theirs.scalar()))
    with pytest.raises(PermissionDeniedError, match="the password of dm was changed outside"):
        authenticate(store, "dm", "the intruder's password", NOW)
    with store.read() as connection:
        assert credential_problems(connection) == [
            "credentials of dm: the password hash does not match its audited seal "
            "(user_access.password_seal): changed outside physiotrial"
        ]
    report = verify_audit(store, "dm")
    assert any("credentials of dm" in p for p in report.problems)


def test_a_study_made_before_web_access_is_upgraded_when_opened(database_url: str) -> None:
    old = make_study(database_url)
    downgrade(old.engine, "0001")
    old.close()
    store = open_study(database_url)
    try:
        assert inspect(store.engine).has_table("user_access")
        set_password(store, "dm", "coord", PASSWORD)
        assert authenticate(store, "coord", PASSWORD, NOW).username == "coord"
        _verified(store)
    finally:
        store.close()


def test_sign_in_state_does_not_change_the_locked_data_hash(store: Store) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    lock(store, "dm", "database lock for analysis")
    with store.read() as connection:
        before = data_hash(connection)
    with pytest.raises(PermissionDeniedError):
        authenticate(store, "coord", "not the password", NOW)
    issue_api_token(store, "dm", "pipeline")
    with store.read() as connection:
        assert data_hash(connection) == before


def test_unlocking_behind_physiotrials_back_is_named_by_audit_verify(store: Store) -> None:
    set_password(store, "dm", "coord", PASSWORD)
    for _ in range(5):
        with pytest.raises(PermissionDeniedError):
            authenticate(store, "coord", "not the password", NOW)
    with store.engine.begin() as connection:
        connection.execute(update(schema.user_access).values(locked_until=None))
    problems = verify_audit(store, "dm").problems
    assert len(problems) == 1
    assert re.fullmatch(
        r"user_access row 2: locked_until differ from audit row \d+: changed outside physiotrial",
        problems[0],
    )


def test_sign_in_works_while_the_study_is_locked_and_links_do_not(store: Store) -> None:
    enrolled = enrol(store)
    lock(store, "dm", "interim look")
    set_password(store, "dm", "dm", PASSWORD)
    with pytest.raises(PermissionDeniedError, match=f"^{WRONG}$"):
        authenticate(store, "dm", "not the password", NOW)
    assert authenticate(store, "dm", PASSWORD, NOW).role is Role.DATA_MANAGER
    with pytest.raises(StudyLockedError, match="give links is not allowed"):
        create_participant_link(store, "coord", enrolled, "BL", NOW)


def test_now_must_say_its_timezone(store: Store) -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        authenticate(store, "dm", PASSWORD, datetime(2025, 3, 3, 9, 30))


# --- session epochs -------------------------------------------------------------------------


def test_epochs_rise_at_logout_everywhere_and_at_a_new_password(store: Store) -> None:
    with pytest.raises(PermissionDeniedError, match="coord cannot sign in"):
        session_epoch(store, "coord")  # no password, so no session either
    set_password(store, "coord", "coord", PASSWORD)
    assert session_epoch(store, "coord") == 1
    assert end_sessions(store, "coord", "coord") == 2
    assert end_sessions(store, "dm", "coord") == 3
    set_password(store, "coord", "coord", "yet another password")
    assert session_epoch(store, "coord") == 4
    with pytest.raises(PermissionDeniedError, match="may not manage other users"):
        end_sessions(store, "coord", "dm")
    _deactivate(store, "coord")
    with pytest.raises(PermissionDeniedError, match="coord cannot sign in"):
        session_epoch(store, "coord")
    _verified(store)


# --- API tokens -----------------------------------------------------------------------------


def test_api_tokens_are_shown_once_and_kept_as_sha256(store: Store) -> None:
    token = issue_api_token(store, "coord", "site REDCap push")
    assert re.fullmatch(r"pt_[A-Za-z0-9_-]{43}", token)
    assert user_for_token(store, token, NOW) == Actor("coord", Role.COORDINATOR, 1)
    with store.read() as connection:
        stored = connection.execute(select(schema.api_tokens.c.token_hash)).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in _all_text(store)
    assert token[3:] not in _all_text(store)
    [listed] = list_api_tokens(store, "coord")
    assert (listed.id, listed.username, listed.label) == (1, "coord", "site REDCap push")
    assert (listed.expires_at, listed.revoked_at) == (None, None)
    assert not any(token in str(v) or stored == v for v in vars(listed).values())
    _verified(store)


def test_revoked_unknown_and_expired_tokens_are_refused(store: Store) -> None:
    token = issue_api_token(store, "coord", "push")
    expiring = issue_api_token(store, "stats", "nightly", expires_at=NOW + timedelta(days=1))
    other = issue_api_token(store, "assessor", "tablet")
    assert user_for_token(store, expiring, NOW + timedelta(hours=23)).username == "stats"
    with pytest.raises(PermissionDeniedError, match=r"API token 2 \(nightly\) expired at 2025-03"):
        user_for_token(store, expiring, NOW + timedelta(days=1))
    with pytest.raises(PermissionDeniedError, match="may not manage other users"):
        revoke_api_token(store, "coord", 3)
    revoked = revoke_api_token(store, "coord", 1)
    assert (revoked.revoked_by, revoked.revoked_at is not None) == ("coord", True)
    with pytest.raises(PermissionDeniedError, match=r"API token 1 \(push\) was revoked at 20"):
        user_for_token(store, token, NOW)
    with pytest.raises(ConflictError, match="API token 1 was revoked at"):
        revoke_api_token(store, "coord", 1)
    with pytest.raises(NotFoundError, match="no API token 9"):
        revoke_api_token(store, "dm", 9)
    with pytest.raises(PermissionDeniedError, match="unknown API token"):
        user_for_token(store, "pt_" + "A" * 43, NOW)
    revoke_api_token(store, "dm", 3)
    with pytest.raises(PermissionDeniedError, match="was revoked"):
        user_for_token(store, other, NOW)
    assert [t.id for t in list_api_tokens(store, "dm")] == [1, 2, 3]
    assert [t.id for t in list_api_tokens(store, "stats")] == [2]
    with pytest.raises(PermissionDeniedError, match=r"patient \(participant\) may not use api"):
        issue_api_token(store, "patient", "mine")
    _deactivate(store, "stats")
    with pytest.raises(PermissionDeniedError, match="belongs to stats, who cannot sign in"):
        user_for_token(store, expiring, NOW)
    _verified(store)


# --- participants' one-time links -----------------------------------------------------------


def _responses(store: Store, study_code: str) -> list[tuple[str, str, str, object]]:
    r, p, v = schema.responses, schema.participants, schema.visits
    query = (
        select(v.c.code, r.c.measure, r.c.entered_by, r.c.scores)
        .join(p, p.c.id == r.c.participant_id)
        .join(v, v.c.id == r.c.visit_id)
        .where(p.c.study_code == study_code)
        .order_by(r.c.id)
    )
    with store.read() as connection:
        return [(row[0], row[1], row[2], row[3]) for row in connection.execute(query)]


def test_a_link_fills_every_self_report_form_of_its_visit_once(store: Store) -> None:
    code = enrol(store)
    token = create_participant_link(store, "coord", code, "BL", NOW)
    target = open_participant_link(store, token, NOW)
    assert (target.study_code, target.visit) == (code, "BL")
    assert target.measures == SELF_REPORT_BL
    assert (target.recorded, target.expires_at) == ((), "2025-03-04T09:30:00.000000Z")
    audit_rows = len(audit_log(store, "dm"))
    for number, measure in enumerate(SELF_REPORT_BL, start=1):
        recorded = submit_participant_link(store, token, measure, BASELINE[measure], NOW)
        assert (recorded.entered_by, recorded.rater, recorded.done_on) == (
            LINK_USER,
            "participant",
            DAY0,
        )
        if number < len(SELF_REPORT_BL):
            assert open_participant_link(store, token, NOW).outstanding == SELF_REPORT_BL[number:]
    rows = _responses(store, code)
    assert [(v, m, who) for v, m, who, _ in rows] == [("BL", m, LINK_USER) for m in SELF_REPORT_BL]
    assert rows[0][3] == {"score": 72}
    entries = audit_log(store, "dm")[audit_rows:]
    assert [(e.actor, e.role, e.action, e.participant) for e in entries] == [
        (LINK_USER, "participant", "record", code)
    ] * len(SELF_REPORT_BL)
    assert {e.reason for e in entries} == {"entered by the participant through one-time link 1"}
    assert entries[0].changes == ("added responses 1", "changed visits 1: done_on")
    assert entries[-1].changes == ("added responses 6", "changed participant_links 1: used_at")
    with pytest.raises(PermissionDeniedError) as raised:
        open_participant_link(store, token, NOW)
    assert str(raised.value) == USED_LINK
    with pytest.raises(PermissionDeniedError, match=f"^{USED_LINK}$"):
        submit_participant_link(store, token, "vas_max", {"mm": 10}, NOW)
    with pytest.raises(ConflictError, match="every self-report form is already filled in"):
        create_participant_link(store, "coord", code, "BL", NOW)
    _verified(store)


def test_a_link_refuses_what_it_does_not_open(store: Store) -> None:
    code = enrol(store)
    token = create_participant_link(store, "assessor", code, "BL", NOW, minutes=60)
    with pytest.raises(
        PermissionDeniedError, match=r"^this link fills vas_max, .*, pcs; not 'dn4'"
    ):
        submit_participant_link(store, token, "dn4", BASELINE["dn4"], NOW)
    submit_participant_link(store, token, "pcs", BASELINE["pcs"], NOW)
    with pytest.raises(PermissionDeniedError, match="not 'pcs'"):
        submit_participant_link(store, token, "pcs", BASELINE["pcs"], NOW)
    with pytest.raises(Exception, match="vas_max"):  # validated by capture: 140 mm is no VAS
        submit_participant_link(store, token, "vas_max", {"mm": 140}, NOW)
    assert open_participant_link(store, token, NOW + timedelta(minutes=59)).recorded == ("pcs",)
    later = NOW + timedelta(minutes=60)
    expired = "this link expired at 2025-03-03 10:30:00 UTC; ask the study team for a new link"
    for attempt in (
        lambda: open_participant_link(store, token, later),
        lambda: submit_participant_link(store, token, "vas_max", {"mm": 30}, later),
        lambda: finish_participant_link(store, token, later),
    ):
        with pytest.raises(PermissionDeniedError) as raised:
            attempt()
        assert str(raised.value) == expired
    for unknown in ("", "x", token[:-1], hashlib.sha256(token.encode()).hexdigest()):
        with pytest.raises(PermissionDeniedError) as raised:
            open_participant_link(store, unknown, NOW)
        assert str(raised.value) == UNKNOWN_LINK
    for message in (expired, UNKNOWN_LINK, USED_LINK, DONE_LINK):
        assert code not in message
    _verified(store)


def test_a_link_writes_only_for_its_own_participant(store: Store) -> None:
    first, second = enrol(store), enrol(store, sex="male")
    token_a = create_participant_link(store, "coord", first, "BL", NOW)
    token_b = create_participant_link(store, "coord", second, "BL", NOW)
    submit_participant_link(store, token_a, "vas_max", {"mm": 64}, NOW)
    assert [m for _, m, _, _ in _responses(store, first)] == ["vas_max"]
    assert _responses(store, second) == []
    assert open_participant_link(store, token_b, NOW).recorded == ()
    assert open_participant_link(store, token_a, NOW).study_code == first
    finish_participant_link(store, token_a, NOW)
    with pytest.raises(PermissionDeniedError, match=f"^{USED_LINK}$"):
        submit_participant_link(store, token_a, "womac", BASELINE["womac"], NOW)
    assert open_participant_link(store, token_b, NOW).outstanding == SELF_REPORT_BL
    _verified(store)


@pytest.mark.parametrize(
    ("actor", "visit", "error", "message"),
    [
        ("coord_uni", "BL", PermissionDeniedError, "coord_uni works at another site and may not "
         "give links for this participant"),
        ("assessor_uni", "BL", PermissionDeniedError, "works at another site"),
        ("therapist", "BL", PermissionDeniedError, r"therapist \(therapist\) may not give links; "
         "allowed roles: assessor, coordinator"),
        ("dm", "BL", PermissionDeniedError, "may not give links"),
        ("coord", "T1", NotFoundError, "visit 'T1' has no self-report forms; visits with them: "
         "BL, T3, W3, M3, M6"),
        ("coord", "SCR", NotFoundError, "visit 'SCR' has no self-report forms"),
    ],
)  # fmt: skip
def test_who_may_give_a_link_and_for_which_visit(
    store: Store, actor: str, visit: str, error: type[Exception], message: str
) -> None:
    code = enrol(store)
    with pytest.raises(error, match=message):
        create_participant_link(store, actor, code, visit, NOW)
    with store.read() as connection:
        assert connection.execute(select(schema.participant_links)).all() == []


def test_link_lifetimes_outside_the_allowed_range_are_refused(store: Store) -> None:
    code = enrol(store)
    for minutes in (0, 4, 60 * 24 * 14 + 1):
        with pytest.raises(ConflictError, match=rf"minutes: {minutes} is not allowed; allowed: 5"):
            create_participant_link(store, "coord", code, "BL", NOW, minutes=minutes)


def test_the_link_user_is_created_once_audited_and_can_never_sign_in(store: Store) -> None:
    code = enrol(store)
    create_participant_link(store, "coord", code, "BL", NOW)
    create_participant_link(store, "coord", code, "BL", NOW)
    entries = audit_log(store, "dm", action="give links")
    assert entries[0].changes == ("added users 10", "added participant_links 1")
    assert entries[1].changes == ("added participant_links 2",)
    with pytest.raises(ConflictError, match="participant-link is a participant"):
        set_password(store, "dm", LINK_USER, PASSWORD)
    with pytest.raises(PermissionDeniedError, match=f"^{WRONG}$"):
        authenticate(store, LINK_USER, PASSWORD, NOW)
    with pytest.raises(PermissionDeniedError, match="may not use api tokens"):
        issue_api_token(store, LINK_USER, "sneaky")
    _verified(store)


def test_a_reserved_name_taken_by_staff_is_refused(store: Store) -> None:
    from physiotrial.services.study import add_user

    code = enrol(store)
    add_user(store, "dm", LINK_USER, "Someone", Role.STATISTICIAN)
    with pytest.raises(ConflictError, match="'participant-link' is reserved"):
        create_participant_link(store, "coord", code, "BL", NOW)


# --- migration and command line -------------------------------------------------------------

NEW_TABLES = {"user_access", "credentials", "api_tokens", "participant_links"}


def test_a_study_from_revision_0001_upgrades_and_still_verifies(database_url: str) -> None:
    store = Store(database_url)
    downgrade(store.engine, "0001")
    assert not NEW_TABLES & set(inspect(store.engine).get_table_names())
    with store.write(actor="dm", role="data_manager", action="user add") as tx:
        values = {"username": "dm", "full_name": "Dana", "role": "data_manager"}
        tx.insert(schema.users, values | {"site_id": None, "active": True, "created_at": tx.at})
    upgrade(store.engine)
    assert set(inspect(store.engine).get_table_names()) >= NEW_TABLES
    from physiotrial.store.audit import verify_chain, verify_data
    from physiotrial.store.store import snapshot

    with store.read() as connection:
        assert verify_chain(connection) + verify_data(connection, snapshot) == []
    set_password(store, "dm", "dm", PASSWORD)
    assert authenticate(store, "dm", PASSWORD, NOW).role is Role.DATA_MANAGER
    downgrade(store.engine, "0001")
    assert not NEW_TABLES & set(inspect(store.engine).get_table_names())
    with store.read() as connection:
        assert connection.execute(text("SELECT username FROM users")).scalars().all() == ["dm"]
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
        )
    upgrade(store.engine)
    store.close()


def test_user_password_from_the_command_line(store: Store, database_url: str) -> None:
    runner = CliRunner()
    base = ["user", "password", "coord", "--database", database_url]
    result = runner.invoke(app, [*base, "--as", "dm"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert result.output.startswith("New password: \nRepeat for confirmation: \n")
    assert result.output.endswith("password set for coord; their sessions have ended\n")
    assert authenticate(store, "coord", PASSWORD, NOW).username == "coord"
    stdin = [*base, "--as", "coord", "--password-stdin"]
    result = runner.invoke(app, stdin, input="from standard input\n")
    assert result.exit_code == 0, result.output
    assert authenticate(store, "coord", "from standard input", NOW).username == "coord"
    assert session_epoch(store, "coord") == 2
    result = runner.invoke(app, stdin, input="too short\n")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: password: 9 characters is not allowed; allowed: 10 to 1000 characters"
    )
    other = ["user", "password", "dm", "--database", database_url, "--as", "coord"]
    result = runner.invoke(app, [*other, "--password-stdin"], input=f"{PASSWORD}\n")
    assert result.exit_code == 1
    assert "coord (coordinator) may not manage other users" in result.output
    _verified(store)


def test_the_hasher_is_argon2id() -> None:
    assert access.HASHER.type.name == "ID"
