"""The account page: your password, your API tokens, and signing out your other sessions.

All of it is ``services.access``; the page keeps no rules of its own beyond the shape of its
forms (the new password typed twice, an expiry from the offered choices):

- Changing the password needs the current one, checked by ``authenticate`` (so a wrong guess
  counts towards the lockout exactly as at sign-in: an unattended, signed-in tablet is no way
  round it); the new one must pass ``check_password`` (length), then ``set_password`` stores it.
  ``set_password`` raises the user's session epoch, which ends *every* session of the user, this
  one included; the page then gives this browser a new session (fresh id and CSRF token, the new
  epoch), so you stay signed in here and every other device is signed out.
- API tokens: ``list_api_tokens`` (only your own are shown here, also to a data manager, who
  sees everyone's through the CLI), ``issue_api_token`` and ``revoke_api_token``. A new token is
  shown once, in the page that answers the POST (not stored, not in a URL, never shown again;
  the store keeps only its SHA-256). The store does not record when a token was last used.
- "Sign out on all other devices": ``end_sessions`` raises the epoch, and this browser gets a
  new session as after a password change. The header's "Sign out" ends every session,
  this one included.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.errors import PermissionDeniedError, PhysiotrialError
from physiotrial.services.access import (
    WRONG,
    ApiToken,
    authenticate,
    check_password,
    end_sessions,
    issue_api_token,
    list_api_tokens,
    parse_utc,
    revoke_api_token,
    session_epoch,
    set_password,
    shown,
)
from physiotrial.services.context import Actor
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, keep_session, web_state
from physiotrial.web.errors import field_of, status_of
from physiotrial.web.sessions import signed_in
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
EXPIRY_DAYS = {"30": 30, "90": 90, "365": 365, "never": None}
"""Token lifetimes offered (days; ``never`` for no expiry)."""
DEFAULT_EXPIRY = "90"
DONE = {
    "password": "Your password is changed. Every other session of yours is signed out.",
    "revoked": "The API token is revoked: requests with it are refused from now on.",
    "signed-out": "Every other session of yours is signed out; you stay signed in here.",
}
"""Notices after a successful action, chosen by a fixed key (no user text in the URL)."""


def _token_row(token: ApiToken, now: datetime) -> dict[str, Any]:
    expired = token.expires_at is not None and parse_utc(token.expires_at) <= now
    state = "revoked" if token.revoked_at else "expired" if expired else "active"
    return {
        "id": token.id,
        "label": token.label,
        "created": shown(token.created_at),
        "expires": shown(token.expires_at) if token.expires_at else "never",
        "revoked": shown(token.revoked_at) if token.revoked_at else None,
        "revoked_by": token.revoked_by,
        "state": state,
    }


def _account_page(
    request: Request,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_token: str | None = None,
    status: int = 200,
) -> Response:
    state = web_state(request)
    now = state.now()
    mine = [t for t in list_api_tokens(state.store, actor.username) if t.username == actor.username]
    context: dict[str, Any] = {
        "title": "Account",
        "tokens": [_token_row(t, now) for t in mine],
        "notice": DONE.get(request.query_params.get("done") or ""),
        "errors": errors or {},
        "values": values or {},
        "expiry_choices": EXPIRY_DAYS,
        "new_token": new_token,
    }
    return render(request, "account.html", context, status=status)


def _new_session(request: Request, username: str) -> None:
    """A fresh session for this browser at the user's new epoch (the old one has ended)."""
    state = web_state(request)
    keep_session(request, signed_in(username, session_epoch(state.store, username), state.now()))


@router.get("/account")
def account_page(request: Request, actor: CurrentActor) -> Response:
    return _account_page(request, actor)


@router.post("/account/password")
def change_password(
    request: Request,
    actor: CurrentActor,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
) -> Response:
    state = web_state(request)
    errors: dict[str, str] = {}
    if new_password != new_password_again:
        errors["new_password_again"] = (
            "new_password_again: the two new passwords differ; allowed: the same password twice"
        )
    else:
        try:
            check_password(new_password)
        except PhysiotrialError as error:
            errors["new_password"] = f"new_{error}" if field_of(str(error)) else str(error)
    if errors:
        return _account_page(request, actor, errors=errors, status=422)
    try:
        authenticate(state.store, actor.username, current_password, state.now())
    except PermissionDeniedError as error:
        message = str(error)
        if message == WRONG:
            message = "current_password: this is not your current password"
        status = 422 if str(error) == WRONG else 403
        return _account_page(request, actor, errors={"current_password": message}, status=status)
    set_password(state.store, actor.username, actor.username, new_password)
    _new_session(request, actor.username)
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/account/tokens")
def create_token(
    request: Request,
    actor: CurrentActor,
    label: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = DEFAULT_EXPIRY,
) -> Response:
    state = web_state(request)
    values = {"label": label, "expires": expires}
    if expires not in EXPIRY_DAYS:
        message = f"expires: {expires!r} is not offered; allowed: {', '.join(EXPIRY_DAYS)}"
        return _account_page(request, actor, errors={"token": message}, values=values, status=422)
    days = EXPIRY_DAYS[expires]
    until = None if days is None else state.now() + timedelta(days=days)
    try:
        token = issue_api_token(state.store, actor.username, label, expires_at=until)
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError):
            raise
        return _account_page(
            request, actor, errors={"token": str(error)}, values=values, status=422
        )
    return _account_page(request, actor, new_token=token)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, actor: CurrentActor, token_id: int) -> Response:
    try:
        revoke_api_token(web_state(request).store, actor.username, token_id)
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError):
            raise
        status = status_of(error)
        return _account_page(request, actor, errors={"revoke": str(error)}, status=status)
    return RedirectResponse("/account?done=revoked", status_code=303)


@router.post("/account/sign-out-others")
def sign_out_others(request: Request, actor: CurrentActor) -> Response:
    end_sessions(web_state(request).store, actor.username, actor.username)
    _new_session(request, actor.username)
    return RedirectResponse("/account?done=signed-out", status_code=303)
