"""Sign-in, sign-out and the dashboard.

Sign-in calls ``services.access.authenticate``, which gives one message for every wrong username
or password and locks an account after repeated failures (the message names the unlock time).
A successful sign-in issues a new session (sessions.py: fresh session id and CSRF token), so a
cookie planted before sign-in is never signed in. Signing out ends every session of the user
(``end_sessions`` raises the session epoch): a stateless cookie cannot be revoked alone.

The dashboard reads only services, which apply the role, site and blinding rules: the study
(``study_info``), recruitment (``recruitment``, which carries arm counts only for roles that may
see allocations, and ``recruitment_over_time``), the visits to act on, open adverse events and
data-entry completeness (``services.progress``; None for a role the services give no such list).
The page only lays the numbers out: the recruitment chart is an inline SVG drawn here from the
timeline's points (no script: the content security policy allows none inline), with a title, a
description and the same numbers as a table for those who cannot see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.errors import PermissionDeniedError
from physiotrial.services.access import authenticate, end_sessions, session_epoch
from physiotrial.services.clinic import study_is_clinic
from physiotrial.services.context import Actor
from physiotrial.services.progress import completeness, open_adverse_events, visits_to_act_on
from physiotrial.services.recruitment import RecruitmentTimeline, recruitment, recruitment_over_time
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
EVENTS_SHOWN = 10
"""How many open adverse events the dashboard lists (the count covers all of them)."""
CHART = (640, 260, 52, 16, 628, 212)
"""The recruitment chart's viewBox width and height, then its plot area: left, top, right,
bottom (room on the left for the counts and below for the dates)."""
X_LABELS = 6
"""At most this many dates under the chart."""


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


@dataclass(frozen=True)
class Chart:
    """Where the recruitment chart's lines, dots and labels fall (viewBox user units).

    ``screened`` and ``randomised`` are SVG polyline points; ``dots`` is (x, y screened,
    y randomised) per period; ``target_y`` is None when no target line is drawn (no sample size,
    or a site's own counts, which the study-wide target does not apply to)."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    screened: str
    randomised: str
    dots: tuple[tuple[float, float, float], ...]
    target: int | None
    target_y: float | None
    y_ticks: tuple[tuple[float, int], ...]
    x_ticks: tuple[tuple[float, str], ...]


def _step(top: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) that cuts 0..top into about five."""
    raw = max(top / 5, 1)
    power = int(10 ** math.floor(math.log10(raw)))
    return next(k * power for k in (1, 2, 5, 10) if k * power >= raw)


def recruitment_chart(timeline: RecruitmentTimeline) -> Chart | None:
    """The chart of ``timeline`` (None when it has no points yet)."""
    points = timeline.points
    if not points:
        return None
    width, height, left, top, right, bottom = CHART
    target = timeline.target if timeline.site is None else None
    highest = max([p.screened for p in points] + [target or 0, 1])
    step = _step(highest)
    y_max = step * math.ceil(highest / step)

    def x(i: int) -> float:
        share = i / (len(points) - 1) if len(points) > 1 else 0.5
        return round(left + (right - left) * share, 1)

    def y(value: int) -> float:
        return round(bottom - (bottom - top) * value / y_max, 1)

    def line(values: list[int]) -> str:
        return " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))

    every = math.ceil(len(points) / X_LABELS)
    shown = range(len(points) - 1, -1, -every)
    label = "{0.day} {0:%b}" if timeline.period == "week" else "{0:%b %Y}"
    return Chart(
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        screened=line([p.screened for p in points]),
        randomised=line([p.randomised for p in points]),
        dots=tuple((x(i), y(p.screened), y(p.randomised)) for i, p in enumerate(points)),
        target=target,
        target_y=None if target is None else y(target),
        y_ticks=tuple((y(v), v) for v in range(0, y_max + 1, step)),
        x_ticks=tuple((x(i), label.format(points[i].ends)) for i in sorted(shown)),
    )


@router.get("/")
def dashboard(request: Request, actor: CurrentActor) -> Response:
    """The trial's dashboard; a clinic's is /clinic (no recruitment target, no arms)."""
    state = web_state(request)
    if study_is_clinic(state.store):
        return RedirectResponse("/clinic", status_code=303)
    today: date = state.today()
    timeline = recruitment_over_time(state.store, actor.username, today)
    acts = visits_to_act_on(state.store, actor.username, today)
    events = open_adverse_events(state.store, actor.username)
    context: dict[str, Any] = {
        "title": "Dashboard",
        "study": study_info(state.store),
        "recruitment": recruitment(state.store, actor.username),
        "timeline": timeline,
        "chart": recruitment_chart(timeline),
        "today": today,
        "acts": acts,
        "due": None if acts is None else acts.visits[:DUE_SHOWN],
        "events": events,
        "events_shown": None if events is None else events[:EVENTS_SHOWN],
        "completeness": completeness(state.store, actor.username, today),
        "session_hours": int(ABSOLUTE.total_seconds() // 3600),
    }
    return render(request, "dashboard.html", context)
