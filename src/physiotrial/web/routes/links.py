"""The participant's one-time link: ``/link/{token}`` opens their self-report forms, no sign-in.

Everything about the participant and the visit comes from the stored link
(``services.links.open_participant_link`` / ``submit_participant_link``): the page posts only
the token (in its path), the measure and the answers, and the service refuses a measure the
link does not open. Forms are shown one at a time, in protocol order; after the last one the
service marks the link used, so opening it again (replay) is refused. An unknown, used or expired
link gives the same plain page with the service's message, which names no participant, visit or
date of anyone else; the participant's study code is never shown on these pages either.

A link to a clinic patient's home exercise log (``services.exercise_log``) opens, at the same
address, their programme (each exercise with sets × repetitions and load), a form for one day
(the exercises done, the pain during them on 0-10, the day, today unless changed), this week's
count against the prescribed days and the days logged with this link. It stays usable until it
expires or the patient presses "I am done". It shows no study code and no scores.

The link's visitor has no account, so the page gives them an anonymous session (as the sign-in
page does) whose CSRF token the form carries; a staff member's session on a clinic tablet is kept.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.core.instruments import get_instrument
from physiotrial.errors import AnswerError, ConflictError, PermissionDeniedError, ScheduleError
from physiotrial.services.exercise_log import PAIN, ExerciseLog, log_exercise, open_exercise_log
from physiotrial.services.links import (
    EXERCISE_LOG,
    LinkTarget,
    finish_participant_link,
    link_purpose,
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
def open_link(request: Request, token: str, saved: str | None = None) -> Response:
    now = web_state(request).now()
    _session(request, now)
    if link_purpose(web_state(request).store, token) == EXERCISE_LOG:
        return exercise_page(request, token, now, saved=saved)
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
    """The participant stops here: the link is used up, whatever is left unfilled (an
    exercise log: the patient is done logging)."""
    kind = link_purpose(web_state(request).store, token)
    try:
        finish_participant_link(web_state(request).store, token, web_state(request).now())
    except PermissionDeniedError as error:
        return _closed(request, str(error))
    if kind == EXERCISE_LOG:
        return render(request, "link_done.html", {"title": "Thank you", "message": LOG_DONE})
    return render(request, "link_done.html", {"title": "Thank you"})


# --- the home exercise log -----------------------------------------------------------------------

LOG_DONE = (
    "Your exercise log is saved and this link is now closed. Your therapist sees the days you "
    "logged. You can close this page."
)
FIELDS = {"day": "Day", "exercises_done": "Exercises", "pain_during": "Pain during the exercises"}
"""The service's field names as the patient's page says them."""
NOTHING_TICKED = "Exercises: nothing is ticked; tick each exercise you did, then press Save"
NO_PAIN = (
    f"Pain during the exercises: nothing is chosen; choose a number from {PAIN[0]} (no pain) "
    f"to {PAIN[1]} (worst pain)"
)


def _day_text(day: date) -> str:
    """A day as a patient reads it: Wednesday 5 March."""
    return f"{day:%A} {day.day} {day:%B}"


def _saved(log: ExerciseLog, saved: str | None) -> str | None:
    try:
        day = date.fromisoformat(saved or "")
    except ValueError:
        return None
    week = f"{log.this_week} of {log.per_week} days this week"
    if log.this_week > log.per_week:
        week = f"{log.this_week} days this week (your plan is {log.per_week})"
    return f"Saved {_day_text(day)} — {week}."


def exercise_page(
    request: Request,
    token: str,
    now: datetime,
    *,
    saved: str | None = None,
    error: tuple[str, str] | None = None,
    posted: dict[str, Any] | None = None,
) -> Response:
    """The exercise log; ``error`` is (field, message) of a refused day, ``posted`` its values."""
    try:
        log = open_exercise_log(web_state(request).store, token, now)
    except PermissionDeniedError as error_:
        return _closed(request, str(error_))
    kept = posted or {}
    context = {
        "title": "Your home exercises",
        "token": token,
        "log": log,
        "saved": None if error else _saved(log, saved),
        "field": error[0] if error else None,
        "error": error[1] if error else None,
        "day": kept.get("day") or log.today.isoformat(),
        "ticked": kept.get("ticked", []),
        "pain": kept.get("pain", ""),
        "pains": range(PAIN[0], PAIN[1] + 1),
        "logged": [(_day_text(d.day), d) for d in log.logged],
    }
    return render(request, "exercise_log.html", context, status=422 if error else 200)


@router.post(LINK_PATH + "/log")
def log_day(
    request: Request,
    token: str,
    day: Annotated[str, Form(max_length=20)] = "",
    exercise: Annotated[list[str] | None, Form(max_length=60)] = None,
    pain_during: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Log one day; a refusal shows the page again with the message beside its field and
    everything posted kept."""
    state = web_state(request)
    now = state.now()
    ticked = exercise or []
    posted = {"day": day, "ticked": ticked, "pain": pain_during}
    refused: tuple[str, str] | None = None
    when = now.date()
    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        today = now.date().isoformat()
        refused = ("day", f"Day: {day!r} is not a date; allowed: a date such as {today}")
    if not ticked:
        refused = ("exercises_done", NOTHING_TICKED)
    elif not pain_during.strip():
        refused = ("pain_during", NO_PAIN)
    elif not pain_during.strip().isdigit():
        refused = ("pain_during", f"{NO_PAIN}, not {pain_during!r}")
    if refused is None:
        try:
            log_exercise(state.store, token, now, when, ticked, int(pain_during))
        except PermissionDeniedError as error:
            return _closed(request, str(error))
        except (AnswerError, ConflictError, ScheduleError) as error:
            field, _, rest = str(error).partition(": ")
            refused = (field, f"{FIELDS.get(field, field)}: {rest}")
    if refused is not None:
        return exercise_page(request, token, now, error=refused, posted=posted)
    path = request.url_for("open_link", token=token).path
    return RedirectResponse(f"{path}?saved={when.isoformat()}#saved", status_code=303)
