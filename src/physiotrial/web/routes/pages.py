"""Sign-in, sign-out and the dashboard.

Sign-in calls ``services.access.authenticate``, which gives one message for every wrong username
or password and locks an account after repeated failures (the message names the unlock time).
A successful sign-in issues a new session (sessions.py: fresh session id and CSRF token), so a
cookie planted before sign-in is never signed in. Signing out ends every session of the user
(``end_sessions`` raises the session epoch): a stateless cookie cannot be revoked alone.

The dashboard reads only services: the study (``study_info``), recruitment (``recruitment``,
which carries arm counts only for roles that may see allocations) and the due list
(``due_visits``, refused by the services for roles that have no visit list).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.errors import PermissionDeniedError
from physiotrial.services.access import authenticate, end_sessions, session_epoch
from physiotrial.services.context import Actor
from physiotrial.services.recruitment import recruitment
from physiotrial.services.schedule import DueVisit, due_visits
from physiotrial.services.study import study_info
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import (
    CurrentActor,
    drop_session,
    keep_session,
    read_session,
    signed_in_actor,
    web_state,
)
from physiotrial.web.errors import safe_next
from physiotrial.web.sessions import ABSOLUTE, ENDED_MESSAGES, Ended, Session, anonymous, signed_in
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)

DUE_SHOWN = 20
"""How many due visits the dashboard lists (the counts cover all of them)."""


def _sign_in_page(
    request: Request,
    session: Session,
    *,
    next_path: str | None,
    message: str | None = None,
    notice: str | None = None,
    username: str = "",
    status: int = 200,
) -> Response:
    keep_session(request, session)
    context = {"next": next_path or "", "message": message, "notice": notice, "username": username}
    return render(request, "login.html", context, status=status)


def _form_session(request: Request) -> Session:
    """The session whose CSRF token the sign-in form carries: the visitor's own anonymous one
    while it lasts, else a new anonymous one (a stale signed-in cookie is replaced)."""
    now = web_state(request).now()
    session = read_session(request)
    if session is None or session.signed_in or session.ended(now) is Ended.ABSOLUTE:
        return anonymous(now)
    return session


@router.get("/login")
def login_page(request: Request, next: str | None = None, ended: str | None = None) -> Response:
    found = signed_in_actor(request)
    target = safe_next(next)
    if isinstance(found, Actor):
        return RedirectResponse(target or "/", status_code=303)
    notice = ENDED_MESSAGES.get(Ended(ended)) if ended in set(Ended) else None
    return _sign_in_page(request, _form_session(request), next_path=target, notice=notice)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    state = web_state(request)
    now = state.now()
    name = username.strip()
    try:
        actor = authenticate(state.store, name, password, now)
        epoch = session_epoch(state.store, actor.username)
    except PermissionDeniedError as error:
        session = _form_session(request)
        return _sign_in_page(
            request,
            session,
            next_path=safe_next(next),
            message=str(error),
            username=name,
            status=401,
        )
    keep_session(request, signed_in(actor.username, epoch, now))
    return RedirectResponse(safe_next(next) or "/", status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    found = signed_in_actor(request)
    if isinstance(found, Actor):
        end_sessions(web_state(request).store, found.username, found.username)
    drop_session(request)
    return RedirectResponse(f"/login?ended={Ended.SIGNED_OUT.value}", status_code=303)


def _due_counts(due: list[DueVisit]) -> dict[str, int]:
    counts = dict.fromkeys(("open", "late", "missed"), 0)
    for visit in due:
        counts[visit.status] = counts.get(visit.status, 0) + 1
    return counts


@router.get("/")
def dashboard(request: Request, actor: CurrentActor) -> Response:
    state = web_state(request)
    today: date = state.today()
    info = study_info(state.store)
    counts = recruitment(state.store, actor.username)
    due: list[DueVisit] | None
    try:
        due = due_visits(state.store, actor.username, today)
    except PermissionDeniedError:
        due = None  # the services give this role no visit list
    context: dict[str, Any] = {
        "title": "Dashboard",
        "study": info,
        "recruitment": counts,
        "today": today,
        "due": None if due is None else due[:DUE_SHOWN],
        "due_total": None if due is None else len(due),
        "due_counts": None if due is None else _due_counts(due),
        "session_hours": int(ABSOLUTE.total_seconds() // 3600),
    }
    return render(request, "dashboard.html", context)
