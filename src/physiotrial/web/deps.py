"""FastAPI dependencies: the app's state, the session, the signed-in user, and role guards.

Who may do what is decided by the services alone (``services.context.PERMISSIONS``,
``services.blinding``): :func:`allowed` and :func:`api_allowed` ask ``require`` and let its
:class:`PermissionDeniedError` become the 403 page or JSON, so the web layer keeps no copy of
the roles table. A route that calls a service gets the same refusal from the service itself.

The session cookie is written back by the middleware in ``app.py``: a dependency only says which
session the response should carry (:func:`keep_session`) or that it should carry none
(:func:`drop_session`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from physiotrial.errors import NotFoundError, PermissionDeniedError
from physiotrial.services.access import session_epoch, user_for_token
from physiotrial.services.context import Actor, acting, require
from physiotrial.services.session import Store
from physiotrial.settings import Settings
from physiotrial.web.errors import SignInRequired, Unauthenticated
from physiotrial.web.sessions import COOKIE, Ended, Session, SessionCodec


@dataclass(frozen=True)
class WebState:
    """What every request of one app shares (``app.state.web``)."""

    settings: Settings
    store: Store
    codec: SessionCodec
    now: Callable[[], datetime]

    def today(self) -> date:
        """Today's date where the server runs: the day visits are due on."""
        return self.now().astimezone().date()


def web_state(request: Request) -> WebState:
    state = request.app.state.web
    assert isinstance(state, WebState)
    return state


def read_session(request: Request) -> Session | None:
    """The session the request's cookie carries, if its signature holds (read once)."""
    if not hasattr(request.state, "session_in"):
        codec = web_state(request).codec
        request.state.session_in = codec.loads(request.cookies.get(COOKIE))
    found = request.state.session_in
    assert found is None or isinstance(found, Session)
    return found


def keep_session(request: Request, session: Session) -> None:
    """Send ``session`` back as the cookie, and let pages use its CSRF token."""
    request.state.session = session
    request.state.session_out = session


def drop_session(request: Request) -> None:
    """Clear the session cookie in the response."""
    request.state.session = None
    request.state.session_out = None
    request.state.session_drop = True


def signed_in_actor(request: Request) -> Actor | Ended | None:
    """The user a signed-in session acts as; why it ended; or None for no signed-in session.

    Checks the timeouts, then the user's session epoch (signed out everywhere, new password,
    deactivated), then reads the user's role and site fresh from the store.
    """
    state = web_state(request)
    session = read_session(request)
    if session is None or session.username is None:
        return None
    now = state.now()
    ended = session.ended(now)
    if ended is not None:
        return ended
    try:
        if session_epoch(state.store, session.username) != session.epoch:
            return Ended.SIGNED_OUT
        with state.store.read() as connection:
            actor = acting(connection, session.username)
    except (PermissionDeniedError, NotFoundError):
        return Ended.SIGNED_OUT
    keep_session(request, session.touched(now))
    request.state.actor = actor
    return actor


def current_actor(request: Request) -> Actor:
    """The signed-in user of a page; otherwise a redirect to sign in, coming back here."""
    found = signed_in_actor(request)
    if isinstance(found, Actor):
        return found
    if found is not None:
        drop_session(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(here, None if found is None else found.value)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def allowed(action: str) -> Callable[[Actor], Actor]:
    """A dependency: the signed-in user, if the services let their role perform ``action``."""

    def guard(actor: CurrentActor) -> Actor:
        require(actor, action)
        return actor

    return guard


BEARER = HTTPBearer(auto_error=False, description="An API token: physiotrial issues one per user.")


def api_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Actor:
    """The user an API request acts as, from ``Authorization: Bearer <token>``; else 401."""
    if credentials is None:
        raise Unauthenticated(
            "Authorization: no API token; send the header 'Authorization: Bearer <token>'"
        )
    state = web_state(request)
    try:
        actor = user_for_token(state.store, credentials.credentials, state.now())
    except PermissionDeniedError as error:
        raise Unauthenticated(f"Authorization: {error}") from None
    request.state.actor = actor
    return actor


ApiActor = Annotated[Actor, Depends(api_actor)]


def api_allowed(action: str) -> Callable[[Actor], Actor]:
    """A dependency: the API user, if the services let their role perform ``action``."""

    def guard(actor: ApiActor) -> Actor:
        require(actor, action)
        return actor

    return guard
