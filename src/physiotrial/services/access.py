"""Who may come in, and how: passwords, lockout, session epochs, API tokens, one-time links.

What the web layer (issue 6) needs from the store, kept here so that it stays a thin shell:

- Passwords are argon2id hashes (RFC 9106; argon2-cffi's ``PasswordHasher`` defaults, t=3,
  m=64 MiB, p=4), at least :data:`MIN_PASSWORD` characters (NIST SP 800-63B 5.1.1 asks for at
  least 8 and no composition rules). The hash lives in ``credentials``, which the audit trail
  does not snapshot; the audited ``user_access`` row carries its SHA-256 seal, so the audit trail
  never holds the hash or anything a password can be tested against (the seal covers the salt),
  yet a hash swapped in behind physiotrial's back is refused at sign-in and named by
  :func:`credential_problems`.
- Sign-in fails with one message whatever was wrong, and an unknown user costs a dummy hash, so
  neither the message nor (roughly) the time says whether an account exists. Five failures in a
  row lock the account for 15 minutes (OWASP Authentication Cheat Sheet, "account lockout").
  Failures, lockouts and the reset after a success are audited writes without the password.
- Sessions are stateless signed cookies carrying ``(username, epoch, issued_at)``; raising the
  user's epoch (logout everywhere, a new password) ends all of them at once.
- API tokens and one-time links are 256-bit random tokens shown once; only their SHA-256 is kept.
- A participant has no account: :mod:`links` gives one-time links, whose answers are recorded
  as the built-in user :data:`LINK_USER`, who can never sign in.

Access writes are allowed while the study is locked (a data manager must still sign in to
unlock); trial data (links, responses) are not.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Select, select

from physiotrial.core.protocol import Role
from physiotrial.errors import ConflictError, NotFoundError, PermissionDeniedError
from physiotrial.services.context import Actor, acting, require, writing
from physiotrial.store import schema
from physiotrial.store.store import Store, Transaction

MIN_PASSWORD = 10
MAX_PASSWORD = 1000
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
LINK_MINUTES = (5, 60 * 24 * 14)
"""Shortest and longest life of a one-time link, in minutes."""
LINK_USER = "participant-link"
"""The built-in user that participants' link entries are audited as; it can never sign in."""
TOKEN_PREFIX = "pt_"
WRONG = "wrong username or password"
HASHER = PasswordHasher()
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


# --- pure helpers ---------------------------------------------------------------------------


def utc_text(moment: datetime) -> str:
    """A timezone-aware moment as the store's UTC text (``...Z``)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no timezone; pass an aware datetime (UTC)")
    return moment.astimezone(UTC).strftime(_TIME)


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, _TIME).replace(tzinfo=UTC)


def shown(text: str) -> str:
    """Stored UTC text as people read it: ``2025-03-03 10:15:00 UTC``."""
    return parse_utc(text).strftime("%Y-%m-%d %H:%M:%S UTC")


def digest(token: str) -> str:
    """SHA-256 of a token: what is stored instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_password(password: str) -> None:
    """Refuse a password too short (or absurdly long) to use, saying what is allowed."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ConflictError(
            f"password: {len(password)} characters is not allowed; allowed: "
            f"{MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )


def password_matches(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return HASHER.hash(secrets.token_urlsafe(16))


# --- accounts -------------------------------------------------------------------------------


def _account(connection: Connection, username: str) -> dict[str, Any] | None:
    """The user with their sign-in state and hash (``None`` columns where none is stored)."""
    u, a, c = schema.users, schema.user_access, schema.credentials
    query = (
        select(u.c.id, u.c.username, u.c.role, u.c.site_id, u.c.active)
        .add_columns(a.c.session_epoch, a.c.failed_sign_ins, a.c.locked_until, a.c.password_seal)
        .add_columns(c.c.password_hash)
        .outerjoin(a, a.c.user_id == u.c.id)
        .outerjoin(c, c.c.user_id == u.c.id)
        .where(u.c.username == username)
    )
    row = connection.execute(query).mappings().one_or_none()
    return None if row is None else dict(row)


def _existing(connection: Connection, username: str) -> dict[str, Any]:
    account = _account(connection, username)
    if account is None:
        raise NotFoundError(f"no user {username!r}; a data manager adds users (user add)")
    return account


def _save_access(tx: Transaction, account: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    if account["session_epoch"] is None:  # no user_access row yet
        start = {"session_epoch": 0, "failed_sign_ins": 0, "locked_until": None}
        start |= {"password_set_at": None, "password_seal": None}
        tx.insert(schema.user_access, {"user_id": account["id"], **start, **values})
    else:
        tx.update(schema.user_access, account["id"], values)


def _store_hash(tx: Transaction, account: Mapping[str, Any], hashed: str) -> dict[str, Any]:
    """Write the hash outside the audited tables; return the audited values that seal it."""
    c = schema.credentials
    if account["password_hash"] is None:
        tx.connection.execute(c.insert().values(user_id=account["id"], password_hash=hashed))
    else:
        query = c.update().where(c.c.user_id == account["id"]).values(password_hash=hashed)
        tx.connection.execute(query)
    return {"password_seal": digest(hashed), "password_set_at": tx.at}


def _others(who: Actor, username: str) -> None:
    if who.username != username:
        require(who, "manage other users")


def set_password(store: Store, actor: str, username: str, password: str) -> None:
    """Set a password (your own, or anyone's as data manager); ends the user's sessions and lifts
    a lockout. Participants have no password: they come in through one-time links."""
    check_password(password)
    hashed = HASHER.hash(password)
    with writing(store, actor, "set password", when_locked=True) as (tx, who):
        _others(who, username)
        account = _existing(tx.connection, username)
        if account["role"] == Role.PARTICIPANT.value:
            raise ConflictError(
                f"{username} is a participant; participants have no password and come in "
                "only through a one-time link"
            )
        sealed = _store_hash(tx, account, hashed)
        epoch = (account["session_epoch"] or 0) + 1
        values = {"session_epoch": epoch, "failed_sign_ins": 0, "locked_until": None}
        _save_access(tx, account, values | sealed)


def _can_sign_in(account: Mapping[str, Any] | None) -> bool:
    return bool(
        account is not None
        and account["active"]
        and account["role"] != Role.PARTICIPANT.value
        and account["password_hash"] is not None
    )


def _locked(account: Mapping[str, Any], now: datetime) -> str | None:
    until = account["locked_until"]
    return until if until is not None and parse_utc(until) > now else None


def _locked_message(username: str, until: str) -> str:
    return (
        f"{username} is locked after {MAX_FAILURES} failed sign-ins in a row; try again at "
        f"{shown(until)}, or ask a data manager to set a new password"
    )


def authenticate(store: Store, username: str, password: str, now: datetime) -> Actor:
    """The user whose password this is; one message for every wrong username or password."""
    utc_text(now)
    with store.read() as connection:
        account = _account(connection, username)
    if account is None or not _can_sign_in(account):
        password_matches(_dummy_hash(), password)  # about the time a real check takes
        raise PermissionDeniedError(WRONG)
    if until := _locked(account, now):
        raise PermissionDeniedError(_locked_message(username, until))
    stored = account["password_hash"]
    if account["password_seal"] != digest(stored):
        raise PermissionDeniedError(
            f"the password of {username} was changed outside physiotrial and cannot be used; "
            "ask a data manager to set a new one"
        )
    if not password_matches(stored, password):
        _failed(store, account, now)
    with store.read() as connection:  # a lockout written while the hash was being checked
        account = _existing(connection, username)
    if until := _locked(account, now):
        raise PermissionDeniedError(_locked_message(username, until))
    rehash = HASHER.check_needs_rehash(stored)
    if account["failed_sign_ins"] or account["locked_until"] is not None or rehash:
        with store.write(
            actor=username, role=account["role"], action="sign in", when_locked=True
        ) as tx:
            current = _existing(tx.connection, username)
            values: dict[str, Any] = {"failed_sign_ins": 0, "locked_until": None}
            if rehash:
                values |= _store_hash(tx, current, HASHER.hash(password))
            _save_access(tx, current, values)
    return Actor(username=username, role=Role(account["role"]), site_id=account["site_id"])


def _failed(store: Store, account: Mapping[str, Any], now: datetime) -> NoReturn:
    """Count a failed sign-in (the fifth in a row locks the account) and refuse it."""
    username = account["username"]
    with store.write(
        actor=username, role=account["role"], action="sign-in failed", when_locked=True
    ) as tx:
        current = _existing(tx.connection, username)  # serialised: concurrent failures all count
        if until := _locked(current, now):  # locked meanwhile: refused, not counted again
            raise PermissionDeniedError(_locked_message(username, until))
        failures = (current["failed_sign_ins"] or 0) + 1
        until = utc_text(now + LOCKOUT) if failures >= MAX_FAILURES else None
        values = {"failed_sign_ins": 0, "locked_until": until} if until else {}
        _save_access(tx, current, values or {"failed_sign_ins": failures})
    if until:
        raise PermissionDeniedError(f"{WRONG}; {_locked_message(username, until)}")
    raise PermissionDeniedError(WRONG)


def credential_problems(connection: Connection) -> list[str]:
    """Password hashes that do not match their audited seal (for ``audit verify``)."""
    u, a, c = schema.users, schema.user_access, schema.credentials
    query = (
        select(u.c.username, a.c.password_seal, c.c.password_hash)
        .outerjoin(a, a.c.user_id == u.c.id)
        .outerjoin(c, c.c.user_id == u.c.id)
        .where((a.c.password_seal.is_not(None)) | (c.c.password_hash.is_not(None)))
        .order_by(u.c.id)
    )
    problems = []
    for name, seal, hashed in connection.execute(query):
        if seal != (None if hashed is None else digest(hashed)):
            problems.append(
                f"credentials of {name}: the password hash does not match its audited seal "
                "(user_access.password_seal): changed outside physiotrial"
            )
    return problems


# --- sessions -------------------------------------------------------------------------------


def end_sessions(store: Store, actor: str, username: str) -> int:
    """Sign ``username`` out everywhere (your own, or anyone's as data manager); the new epoch."""
    with writing(store, actor, "end sessions", when_locked=True) as (tx, who):
        _others(who, username)
        account = _existing(tx.connection, username)
        epoch = int(account["session_epoch"] or 0) + 1
        _save_access(tx, account, {"session_epoch": epoch})
    return epoch


def session_epoch(store: Store, username: str) -> int:
    """The epoch a session cookie of ``username`` must carry to be valid."""
    with store.read() as connection:
        account = _account(connection, username)
    if not _can_sign_in(account):
        raise PermissionDeniedError(f"{username} cannot sign in; sign in again")
    assert account is not None
    return int(account["session_epoch"] or 0)


# --- API tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiToken:
    """An API token as its owner sees it: never the token itself."""

    id: int
    username: str
    label: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None


def _tokens() -> Select[Any]:
    t, u = schema.api_tokens, schema.users
    columns = (t.c.id, u.c.username, t.c.label, t.c.created_at, t.c.expires_at)
    extra = (t.c.revoked_at, t.c.revoked_by, u.c.role, u.c.site_id, u.c.active)
    return select(*columns, *extra).join(u, u.c.id == t.c.user_id).order_by(t.c.id)


def _token(row: Mapping[Any, Any]) -> ApiToken:
    return ApiToken(**{k: row[k] for k in ApiToken.__dataclass_fields__})


def issue_api_token(
    store: Store, actor: str, label: str, *, expires_at: datetime | None = None
) -> str:
    """A new API token for the acting user, returned once (``pt_`` + 32 random bytes)."""
    if not label.strip():
        raise ConflictError("label: a blank label is not allowed; say what the token is for")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writing(store, actor, "use api tokens", when_locked=True) as (tx, who):
        values = {"user_id": _existing(tx.connection, who.username)["id"], "label": label.strip()}
        values |= {"token_hash": digest(token), "created_at": tx.at}
        values |= {"expires_at": None if expires_at is None else utc_text(expires_at)}
        tx.insert(schema.api_tokens, values | {"revoked_at": None, "revoked_by": None})
    return token


def revoke_api_token(store: Store, actor: str, token_id: int) -> ApiToken:
    """Revoke a token (your own, or anyone's as data manager)."""
    with writing(store, actor, "use api tokens", when_locked=True) as (tx, who):
        row = tx.connection.execute(_tokens().where(schema.api_tokens.c.id == token_id))
        found = row.mappings().one_or_none()
        if found is None:
            raise NotFoundError(f"no API token {token_id}")
        _others(who, found["username"])
        if found["revoked_at"] is not None:
            raise ConflictError(f"API token {token_id} was revoked at {shown(found['revoked_at'])}")
        values = {"revoked_at": tx.at, "revoked_by": who.username}
        tx.update(schema.api_tokens, token_id, values)
    return _token({**found, **values})


def list_api_tokens(store: Store, actor: str) -> list[ApiToken]:
    """Your tokens (every user's for a data manager), without secrets."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "use api tokens")
        query = _tokens()
        if who.role is not Role.DATA_MANAGER:
            query = query.where(schema.users.c.username == who.username)
        return [_token(r) for r in connection.execute(query).mappings()]


def user_for_token(store: Store, token: str, now: datetime) -> Actor:
    """The user an API request acts as; refused for an unknown, revoked or expired token."""
    with store.read() as connection:
        query = _tokens().where(schema.api_tokens.c.token_hash == digest(token))
        row = connection.execute(query).mappings().one_or_none()
    if row is None:
        raise PermissionDeniedError("unknown API token; check it was copied whole or issue one")
    name = f"API token {row['id']} ({row['label']})"
    if row["revoked_at"] is not None:
        raise PermissionDeniedError(f"{name} was revoked at {shown(row['revoked_at'])}")
    if row["expires_at"] is not None and parse_utc(row["expires_at"]) <= now:
        raise PermissionDeniedError(f"{name} expired at {shown(row['expires_at'])}")
    if not row["active"] or row["role"] == Role.PARTICIPANT.value:
        raise PermissionDeniedError(f"{name} belongs to {row['username']}, who cannot sign in")
    return Actor(username=row["username"], role=Role(row["role"]), site_id=row["site_id"])
