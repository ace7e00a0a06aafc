"""How errors reach people: an HTML page for the browser, JSON under ``/api``.

Every :class:`PhysiotrialError` carries a message written for the person who must act on it, and
services already keep allocations out of their messages (services/blinding.py), so the message is
shown as it is. The status code comes from the error's class (:func:`status_of`); the JSON body
is ``{"error": {"field": ..., "reason": ...}}``, where ``field`` is the leading ``name:`` of the
message when it has one (the services' convention, e.g. ``password: 3 characters is not
allowed``) and ``reason`` the whole message. An unexpected exception becomes a 500 that shows no
detail (the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from physiotrial.errors import (
    ConflictError,
    InstrumentError,
    NotFoundError,
    OutputFileError,
    PermissionDeniedError,
    PhysiotrialError,
    StoreError,
    StudyLockedError,
)
from physiotrial.web.templating import render

API_PREFIX = "/api/"
LOG = logging.getLogger("physiotrial.web")
_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")


class SettingError(PhysiotrialError, ValueError):
    """A setting the web app cannot start with (the session secret: too short, or its key file
    readable by other users); the message names the setting and what is allowed."""


class SignInRequired(PhysiotrialError):
    """A page that needs a signed-in user was asked for without one (redirects to sign-in)."""

    def __init__(self, next_path: str, ended: str | None = None) -> None:
        super().__init__("sign in to see this page")
        self.next_path = next_path
        self.ended = ended


class Unauthenticated(PermissionDeniedError):
    """An API request without a usable bearer token (401, not 403: who you are is unknown)."""

    field = "Authorization"


def status_of(error: Exception) -> int:
    """The HTTP status for an error the user can act on."""
    match error:
        case Unauthenticated():
            return 401
        case NotFoundError():
            return 404
        case InstrumentError():  # an unknown instrument, item or option named in the request
            return 422
        case PermissionDeniedError():
            return 403
        case ConflictError() | StudyLockedError():
            return 409
        case StoreError():
            return 503
        case OutputFileError():
            return 500
        case ValueError():
            return 422
        case _:
            return 400


def field_of(message: str) -> str | None:
    """The field a services message names first (``visit: ...`` → ``visit``), if any."""
    found = _FIELD.match(message)
    return found.group(1) if found else None


def error_body(reason: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"field": field, "reason": reason}}


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


TITLES = {
    400: "Request not accepted",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflicts with what is recorded",
    422: "Please check what was entered",
    500: "Something went wrong",
    503: "The study database is not available",
}


def _respond(request: Request, status: int, message: str, field: str | None = None) -> Response:
    if is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(message, field), status_code=status, headers=headers)
    title = TITLES.get(status, "Request not accepted")
    return render(request, "error.html", {"title": title, "message": message}, status=status)


async def physiotrial_error(request: Request, error: Exception) -> Response:
    if isinstance(error, SignInRequired):
        return sign_in_redirect(error.next_path, error.ended)
    message = str(error)
    field = getattr(error, "field", None) or field_of(message)
    return _respond(request, status_of(error), message, field)


async def validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems: Sequence[Any] = error.errors()
    first = problems[0] if problems else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path")]
    field = ".".join(location) or None
    reason = str(first.get("msg", "not valid"))
    value = first.get("input")
    message = f"{field}: {value!r} is not allowed; {reason}" if field else reason
    if field and first.get("type") == "missing":
        message = f"{field}: required; give a value"
    return _respond(request, 422, message, field)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    reason = {404: "no such page", 405: "this method is not allowed here"}.get(
        error.status_code, str(error.detail)
    )
    response = _respond(request, error.status_code, reason)
    response.headers.update(error.headers or {})
    return response


async def unexpected_error(request: Request, error: Exception) -> Response:
    LOG.exception("unexpected error on %s %s", request.method, request.url.path)
    reason = (
        "an unexpected error happened and was logged; please try again, or tell the data manager"
    )
    return _respond(request, 500, reason)


def sign_in_redirect(next_path: str | None = None, ended: str | None = None) -> RedirectResponse:
    """303 to the sign-in page, coming back to ``next_path`` (a local path only) afterwards."""
    query = {k: v for k, v in (("next", safe_next(next_path)), ("ended", ended)) if v}
    target = "/login" + (f"?{urlencode(query)}" if query else "")
    return RedirectResponse(target, status_code=303)


def safe_next(path: str | None) -> str | None:
    """``path`` if it is a path on this site (no scheme, no host, no ``//``), else None."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 32 for c in path) or "\\" in path:
        return None
    return path


def install(app: FastAPI) -> None:
    app.add_exception_handler(PhysiotrialError, physiotrial_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
