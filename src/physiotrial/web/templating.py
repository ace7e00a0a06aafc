"""Server-rendered pages: Jinja2 templates (autoescaped) with what every page needs.

Every page gets the signed-in user (``actor``, or None) and the session's CSRF token
(``csrf_token``), which ``base.html`` puts in a ``<meta>`` tag and in ``hx-headers`` for htmx, and
which every form includes as the hidden field ``csrf_token`` (``{{ csrf_field() }}``).

``is_clinic`` says whether the study is a clinic (started from a care plan, issue 7): the
navigation then leads to the clinic pages, and pages that speak of randomisation say "start
care" instead (a clinic has one arm and no allocation to speak of).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from physiotrial.errors import PhysiotrialError
from physiotrial.services.clinic import status_word, study_is_clinic
from physiotrial.services.context import PERMISSIONS

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"
CSRF_FIELD = "csrf_token"
"""The hidden form field that carries the CSRF token (csrf.py reads it)."""


def csrf_token(request: Request) -> str:
    """The CSRF token of the request's session ('' when there is none yet)."""
    session = getattr(request.state, "session", None)
    return str(session.csrf) if session is not None else ""


def is_clinic(request: Request) -> bool:
    """Whether the request's study is a clinic (read once per request; False when the study
    cannot be read, so an error page about the store still renders)."""
    known = getattr(request.state, "is_clinic", None)
    if known is None:
        try:
            known = study_is_clinic(request.app.state.web.store)
        except PhysiotrialError:
            known = False
        request.state.is_clinic = known
    return bool(known)


def _spaced(status: str) -> str:
    """A stored participant status in words, as a trial says it."""
    return status.replace("_", " ")


def render(
    request: Request, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> Response:
    token = csrf_token(request)
    hidden = Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))
    actor = getattr(request.state, "actor", None)

    def may(action: str) -> bool:
        """Whether the signed-in role may perform ``action`` (for links and buttons only: the
        services refuse the action itself)."""
        return actor is not None and actor.role in PERMISSIONS[action]

    clinic = actor is not None and is_clinic(request)
    values = {
        "actor": actor,
        "may": may,
        "is_clinic": clinic,
        "status_word": status_word if clinic else _spaced,
        "csrf_token": token,
        "csrf_field": lambda: hidden,
        **(context or {}),
    }
    response = TEMPLATES.TemplateResponse(request, name, values, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response
