"""The participant's one-time link: ``/link/{token}`` opens their self-report forms, no sign-in.

Everything about the participant and the visit comes from the stored link
(``services.links.open_participant_link`` / ``submit_participant_link``): the page posts only
the token (in its path), the measure and the answers, and the service refuses a measure the
link does not open. Forms are shown one at a time, in protocol order; after the last one the
service marks the link used, so opening it again (replay) is refused. An unknown, used or expired
link gives the same plain page with the service's message, which names no participant, visit or
date of anyone else; the participant's study code is never shown on these pages either.

The link's visitor has no account, so the page gives them an anonymous session (as the sign-in
page does) whose CSRF token the form carries; a staff member's session on a clinic tablet is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.core.instruments import get_instrument
from physiotrial.errors import AnswerError, PermissionDeniedError
from physiotrial.services.links import (
    LinkTarget,
    finish_participant_link,
    open_participant_link,
    submit_participant_link,
)
from physiotrial.services.study import study_protocol
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import keep_session, read_session, web_state
from physiotrial.web.forms import MeasureForm, measure_form, posted_answers, posted_values
from physiotrial.web.routes.visits import PostedForm
from physiotrial.web.sessions import Ended, anonymous
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)

LINK_PATH = "/link/{token}"
NOTHING_ANSWERED = (
    "nothing is answered yet: mark the line or choose an answer, then press the button again"
)


def _session(request: Request, now: datetime) -> None:
    """Give the visitor a session to carry the form's CSRF token (keep a live one)."""
    session = read_session(request)
    if session is None or session.ended(now) is Ended.ABSOLUTE:
        session = anonymous(now)
    keep_session(request, session.touched(now))


def _closed(request: Request, message: str) -> Response:
    return render(
        request, "link_closed.html", {"title": "Link closed", "message": message}, status=403
    )


def _form(request: Request, target: LinkTarget, measure: str, **given: object) -> MeasureForm:
    with web_state(request).store.read() as connection:
        planned = study_protocol(connection).measure(measure)
    instrument = get_instrument(planned.instrument)
    title = planned.label or instrument.title
    values = given.get("values")
    error = given.get("error")
    return measure_form(
        measure,
        title,
        instrument,
        values if isinstance(values, dict) else None,
        error if isinstance(error, str) else None,
    )


def _page(
    request: Request, token: str, target: LinkTarget, form: MeasureForm, status: int = 200
) -> Response:
    done = len(target.recorded)
    context = {
        "title": "Your questionnaires",
        "token": token,
        "form": form,
        "number": done + 1,
        "total": len(target.measures),
    }
    return render(request, "link.html", context, status=status)


@router.get(LINK_PATH)
def open_link(request: Request, token: str) -> Response:
    now = web_state(request).now()
    _session(request, now)
    try:
        target = open_participant_link(web_state(request).store, token, now)
    except PermissionDeniedError as error:
        return _closed(request, str(error))
    return _page(request, token, target, _form(request, target, target.outstanding[0]))


@router.post(LINK_PATH)
def submit_link(
    request: Request,
    token: str,
    posted: PostedForm,
    measure: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    state = web_state(request)
    now = state.now()
    try:
        target = open_participant_link(state.store, token, now)
    except PermissionDeniedError as error:
        return _closed(request, str(error))
    if measure not in target.outstanding:
        return _closed(request, f"this link fills {', '.join(target.outstanding)}; not {measure!r}")
    instrument = get_instrument(_form(request, target, measure).instrument)
    answers = posted_answers(measure, instrument, posted)
    try:
        submit_participant_link(state.store, token, measure, answers, now)
    except AnswerError as error:
        values = posted_values(measure, instrument, posted)
        where = f"{target.study_code} {target.visit} {measure}: "
        message = str(error).removeprefix(where)  # the study code is not shown on the link
        if message.startswith("no item answered"):
            message = NOTHING_ANSWERED
        form = _form(request, target, measure, values=values, error=message)
        return _page(request, token, target, form, status=422)
    except PermissionDeniedError as error:
        return _closed(request, str(error))
    if len(target.outstanding) == 1:
        return render(request, "link_done.html", {"title": "Thank you"})
    return RedirectResponse(request.url_for("open_link", token=token).path, status_code=303)


@router.post(LINK_PATH + "/finish")
def finish_link(request: Request, token: str) -> Response:
    """The participant stops here: the link is used up, whatever is left unfilled."""
    try:
        finish_participant_link(web_state(request).store, token, web_state(request).now())
    except PermissionDeniedError as error:
        return _closed(request, str(error))
    return render(request, "link_done.html", {"title": "Thank you"})
