"""Signed session cookies: who is signed in, since when, and the CSRF token of the session.

The cookie is stateless (nothing is kept on the server) and signed with itsdangerous under the
app's secret, so it cannot be forged or edited. It carries a random session id, the session's
CSRF token, the username, the user's session epoch (``services.access.session_epoch``), and the
times it was issued and last seen. A signed-in session is honoured only while all of these hold:

- the user's current epoch equals the cookie's: signing out (``end_sessions``) or a new password
  raises the epoch and so ends every session of the user at once, on every device;
- it was last seen at most :data:`IDLE` ago (30 minutes) and issued at most :data:`ABSOLUTE` ago
  (12 hours) — OWASP Session Management Cheat Sheet, "Session Expiration" (idle and absolute
  timeouts).

Session fixation (OWASP, "Renew the Session ID After Any Privilege Level Change"): a visitor who
is not signed in gets an *anonymous* session (``username`` None: a session id and a CSRF token
for the sign-in form only). Sign-in never upgrades that cookie: it issues a new one with a fresh
random session id and CSRF token, and an anonymous cookie is never honoured as signed in.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from physiotrial.web.errors import SettingError

COOKIE = "physiotrial_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
_SALT = "physiotrial.web.session.v1"


class Ended(StrEnum):
    """Why a signed-in session is no longer honoured (shown on the sign-in page)."""

    IDLE = "idle"
    ABSOLUTE = "absolute"
    SIGNED_OUT = "signed-out"


ENDED_MESSAGES = {
    Ended.IDLE: "Your session ended after 30 minutes without activity. Please sign in again.",
    Ended.ABSOLUTE: "Your session ended after 12 hours. Please sign in again.",
    Ended.SIGNED_OUT: "You are signed out.",
}


@dataclass(frozen=True)
class Session:
    """What the cookie carries; times are whole seconds since the Unix epoch (UTC)."""

    sid: str
    csrf: str
    username: str | None
    epoch: int | None
    issued: int
    seen: int

    @property
    def signed_in(self) -> bool:
        return self.username is not None and self.epoch is not None

    def ended(self, now: datetime) -> Ended | None:
        """Why this session is over at ``now`` by the clock alone (the epoch is checked apart,
        because it needs the store), or None while it lasts."""
        moment = int(now.timestamp())
        if moment - self.issued > ABSOLUTE.total_seconds():
            return Ended.ABSOLUTE
        if moment - self.seen > IDLE.total_seconds():
            return Ended.IDLE
        return None

    def touched(self, now: datetime) -> Session:
        """The same session, last seen ``now`` (idle timeout counts from the last request)."""
        return replace(self, seen=int(now.timestamp()))


def anonymous(now: datetime) -> Session:
    """A session for a visitor who has not signed in: a CSRF token for the sign-in form."""
    moment = int(now.timestamp())
    return Session(_token(), _token(), None, None, moment, moment)


def signed_in(username: str, epoch: int, now: datetime) -> Session:
    """A new session for a user who has just signed in: nothing carried over from before."""
    moment = int(now.timestamp())
    return Session(_token(), _token(), username, epoch, moment, moment)


def _token() -> str:
    return secrets.token_urlsafe(32)


class SessionCodec:
    """Signs sessions into cookie values and reads them back; a bad signature reads as None."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise SettingError(
                f"session secret: {len(secret)} characters is too short; allowed: 32 or more"
            )
        self._serializer = URLSafeSerializer(secret, salt=_SALT)

    def dumps(self, session: Session) -> str:
        return str(self._serializer.dumps(asdict(session)))

    def loads(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data: Any = self._serializer.loads(value)
        except BadSignature:
            return None
        return _session(data)


def _session(data: Any) -> Session | None:
    """The session in a signed payload, or None when its shape is not this version's."""
    if not isinstance(data, dict) or set(data) != set(Session.__dataclass_fields__):
        return None
    texts = all(isinstance(data[k], str) and data[k] for k in ("sid", "csrf"))
    times = all(type(data[k]) is int for k in ("issued", "seen"))
    user, epoch = data["username"], data["epoch"]
    who = (user is None and epoch is None) or (isinstance(user, str) and type(epoch) is int)
    return Session(**data) if texts and times and who else None
