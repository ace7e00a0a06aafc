"""CSRF protection: every state-changing request of a page must carry its session's token.

The synchroniser-token pattern of the OWASP CSRF Prevention Cheat Sheet, held in the signed
session cookie rather than on the server: each session (including the anonymous one that shows
the sign-in form) has a random token; every POST form sends it as the hidden field
``csrf_token``, and htmx sends it as the ``X-CSRF-Token`` header. A request whose token is
missing or differs from the session's is refused with a 403 page before the route runs. Another
site can make a browser send the cookie, but cannot read the token out of our pages.

:data:`HTML_ROUTER_DEPENDENCIES` puts the check on a whole router, so a route added to a page
router later cannot forget it. The JSON API is not cookie-authenticated (bearer tokens only), so
it needs no CSRF token.
"""

from __future__ import annotations

import secrets

from fastapi import Depends, Request

from physiotrial.errors import PermissionDeniedError
from physiotrial.web.deps import read_session, web_state
from physiotrial.web.sessions import Ended
from physiotrial.web.templating import CSRF_FIELD

HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(PermissionDeniedError):
    """A state-changing request without this session's CSRF token."""

    def __init__(self) -> None:
        super().__init__(
            "this form could not be accepted: it has expired or did not come from a page of this "
            "site (missing or wrong CSRF token); go back, reload the page and try again"
        )


async def sent_token(request: Request) -> str | None:
    """The token the request carries: the header (htmx) or else the form field."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose CSRF token is not its session's (router dependency)."""
    if request.method in SAFE_METHODS:
        return
    session = read_session(request)
    sent = await sent_token(request)
    if (
        session is None
        or session.ended(web_state(request).now()) is Ended.ABSOLUTE
        or not sent
        or not secrets.compare_digest(sent.encode(), session.csrf.encode())
    ):
        raise CsrfRefused()
    request.state.session = session


HTML_ROUTER_DEPENDENCIES = [Depends(csrf_protect)]
"""``APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES)`` for every router of pages."""
