"""Adverse events (record, and correct with a reason), withdrawals and protocol deviations.

Each form posts to the service that records it (``services.safety``: ``record_adverse_event``,
``correct_adverse_event``, ``record_deviation``, ``withdraw``), which decides who may (role and
site) and what is allowed. A refused value comes back (422) with the service's message beside
the field it names and every posted value kept; a refusal that names no field (already
withdrawn, the study locked) is shown above the form with its own status. After a save the
participant page opens with a notice. The choices offered (severity, relatedness, outcome,
deviation category, kind of departure) are the services' own lists.

Nothing here carries an allocation: the sessions an adverse event can be linked to are listed
by ``participant_sessions`` (no arm for a blinded role), by plan and number only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.errors import AnswerError, NotFoundError, PermissionDeniedError, PhysiotrialError
from physiotrial.services.context import Actor, require
from physiotrial.services.events import adverse_event, participant_departure
from physiotrial.services.safety import (
    AE_OUTCOMES,
    DEPARTURES,
    DEVIATION_CATEGORIES,
    RELATEDNESS,
    SEVERITIES,
    AdverseEventRecord,
    correct_adverse_event,
    participant_sessions,
    record_adverse_event,
    record_deviation,
    withdraw,
)
from physiotrial.services.schedule import participant_visits, stopped_by
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.errors import status_of
from physiotrial.web.routes.treatment import day_of, field_in
from physiotrial.web.routes.visits import PostedForm
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
PARTICIPANT = "/participants/{study_code}"
AE_FIELDS = ("term", "onset", "duration_hours", "severity", "relatedness", "action", "outcome")
AE_NAMED = {f": {name}": name for name in AE_FIELDS} | {
    ": session": "session",
    "has no recorded": "session",
    "needs a reason": "reason",
}
"""What a services message says → the adverse-event form field it is about."""
KIND_LABELS = {"withdrawn": "Withdrew from the study", "lost_to_follow_up": "Lost to follow-up"}


def _refusal(
    error: PhysiotrialError, named: dict[str, str]
) -> tuple[dict[str, str], str | None, int]:
    """Errors beside their field (422), or the message above the form with its own status.
    A refusal of the role or of the participant (403, 404) is not the form's: it is raised."""
    if isinstance(error, PermissionDeniedError) or (
        isinstance(error, NotFoundError) and "has no recorded" not in str(error)
    ):
        raise error
    message = str(error)
    field = field_in(message, named)
    if field is None:
        return {}, message, status_of(error)
    return {field: message}, "Please correct the field marked below.", 422


def _participant_notice(study_code: str, done: str) -> Response:
    return RedirectResponse(f"/participants/{study_code}?done={done}", status_code=303)


def _form_values(posted: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in posted.items() if k != "csrf_token"}


# --- adverse events ---------------------------------------------------------------------------


def _sessions(request: Request, actor: Actor, study_code: str) -> list[tuple[str, str]]:
    """The recorded sessions an event may follow, as (``plan:number``, what the person reads)."""
    state = web_state(request)
    found = participant_sessions(state.store, actor.username, study_code)
    return [
        (f"{s.plan}:{s.number}", f"{s.plan_name}, session {s.number} ({s.held_on.isoformat()})")
        for s in found
    ]


def _ae_page(
    request: Request,
    actor: Actor,
    study_code: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
    event: AdverseEventRecord | None = None,
) -> Response:
    context: dict[str, Any] = {
        "title": f"{study_code} · {'correct adverse event' if event else 'adverse event'}",
        "study_code": study_code,
        "event": event,
        "sessions": _sessions(request, actor, study_code),
        "severity_options": [(s, s) for s in SEVERITIES],
        "relatedness_options": [(r, r) for r in RELATEDNESS],
        "outcome_options": [(o, o) for o in AE_OUTCOMES],
        "values": values,
        "errors": errors or {},
        "problem": problem,
        "today": web_state(request).today().isoformat(),
    }
    return render(request, "adverse_event.html", context, status=status)


def _ae_posted(study_code: str, values: dict[str, str]) -> dict[str, Any]:
    """The posted form as the services' arguments (text they refuse is passed on as text)."""
    where = f"{study_code} adverse event"
    hours_text = values.get("duration_hours", "").strip()
    hours: object = None
    if hours_text:
        try:
            hours = float(hours_text)
        except ValueError:
            hours = hours_text
    session = None
    linked = values.get("session", "")
    if linked:
        plan, _, number = linked.partition(":")
        if not number.isdigit():
            raise AnswerError(f"{where}: session {linked!r} is not a recorded session")
        session = (plan, int(number))
    return {
        "term": values.get("term", ""),
        "onset": day_of(values.get("onset", ""), f"{where}: onset"),
        "severity": values.get("severity", ""),
        "relatedness": values.get("relatedness", ""),
        "action": values.get("action", ""),
        "outcome": values.get("outcome", ""),
        "duration_hours": hours,
        "session": session,
    }


@router.get(PARTICIPANT + "/adverse-events/new")
def adverse_event_form(request: Request, actor: CurrentActor, study_code: str) -> Response:
    require(actor, "ae")
    values = {"onset": web_state(request).today().isoformat()}
    return _ae_page(request, actor, study_code, values)


@router.post(PARTICIPANT + "/adverse-events/new")
def adverse_event_submit(
    request: Request, actor: CurrentActor, study_code: str, posted: PostedForm
) -> Response:
    require(actor, "ae")
    values = _form_values(posted)
    state = web_state(request)
    try:
        given = _ae_posted(study_code, values)
        record_adverse_event(state.store, actor.username, study_code, **given, today=state.today())
    except PhysiotrialError as error:
        errors, problem, status = _refusal(error, AE_NAMED)
        return _ae_page(request, actor, study_code, values, errors, problem, status)
    return _participant_notice(study_code, "ae")


def _event_values(event: AdverseEventRecord) -> dict[str, str]:
    values = {k: str(getattr(event, k)) for k in AE_FIELDS if k != "duration_hours"}
    hours = event.duration_hours
    values["duration_hours"] = "" if hours is None else f"{hours:g}"
    values["session"] = "" if event.session is None else f"{event.session[0]}:{event.session[1]}"
    return values


@router.get(PARTICIPANT + "/adverse-events/{event_id}/correct")
def correction_form(
    request: Request, actor: CurrentActor, study_code: str, event_id: int
) -> Response:
    event = adverse_event(web_state(request).store, actor.username, study_code, event_id)
    return _ae_page(request, actor, study_code, _event_values(event), event=event)


@router.post(PARTICIPANT + "/adverse-events/{event_id}/correct")
def correction_submit(
    request: Request, actor: CurrentActor, study_code: str, event_id: int, posted: PostedForm
) -> Response:
    state = web_state(request)
    event = adverse_event(state.store, actor.username, study_code, event_id)
    values = _form_values(posted)
    try:
        changes = _ae_posted(study_code, values)
        reason = values.get("reason", "")
        correct_adverse_event(
            state.store, actor.username, event_id, changes, reason, today=state.today()
        )
    except PhysiotrialError as error:
        errors, problem, status = _refusal(error, AE_NAMED)
        return _ae_page(request, actor, study_code, values, errors, problem, status, event)
    return _participant_notice(study_code, "ae-corrected")


# --- withdrawal -------------------------------------------------------------------------------

WITHDRAWAL_NAMED = {
    ": kind": "kind",
    "occurred on": "occurred_on",
    "has visits done after": "occurred_on",
    "needs a reason": "reason",
}


def _withdrawal_page(
    request: Request,
    actor: Actor,
    study_code: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    require(actor, "withdraw")
    state = web_state(request)
    visits = participant_visits(state.store, actor.username, study_code, state.today())
    context: dict[str, Any] = {
        "title": f"{study_code} · withdrawal",
        "study_code": study_code,
        "departure": participant_departure(state.store, actor.username, study_code),
        "kinds": [(k, KIND_LABELS.get(k, k)) for k in DEPARTURES],
        "kind_labels": KIND_LABELS,
        "pending": stopped_by(visits, state.today()),
        "values": values,
        "errors": errors or {},
        "problem": problem,
        "today": state.today().isoformat(),
    }
    return render(request, "withdrawal.html", context, status=status)


@router.get(PARTICIPANT + "/withdraw")
def withdrawal_form(request: Request, actor: CurrentActor, study_code: str) -> Response:
    values = {"occurred_on": web_state(request).today().isoformat()}
    return _withdrawal_page(request, actor, study_code, values)


@router.post(PARTICIPANT + "/withdraw")
def withdrawal_submit(
    request: Request, actor: CurrentActor, study_code: str, posted: PostedForm
) -> Response:
    require(actor, "withdraw")
    values = _form_values(posted)
    state = web_state(request)
    try:
        day = day_of(values.get("occurred_on", ""), f"{study_code} withdrawal: occurred on")
        kind, reason = values.get("kind", ""), values.get("reason", "")
        withdraw(state.store, actor.username, study_code, kind, day, reason, state.today())
    except PhysiotrialError as error:
        errors, problem, status = _refusal(error, WITHDRAWAL_NAMED)
        return _withdrawal_page(request, actor, study_code, values, errors, problem, status)
    return _participant_notice(study_code, "withdrawal")


# --- deviations -------------------------------------------------------------------------------

DEVIATION_NAMED = {
    "occurred on": "occurred_on",
    ": category": "category",
    ": description": "description",
}


def _deviation_page(
    request: Request,
    actor: Actor,
    study_code: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    require(actor, "deviation")
    state = web_state(request)
    participant_visits(state.store, actor.username, study_code, state.today())  # site check
    context: dict[str, Any] = {
        "title": f"{study_code} · protocol deviation",
        "study_code": study_code,
        "categories": [(c, c.replace("_", " ")) for c in DEVIATION_CATEGORIES],
        "values": values,
        "errors": errors or {},
        "problem": problem,
        "today": state.today().isoformat(),
    }
    return render(request, "deviation.html", context, status=status)


@router.get(PARTICIPANT + "/deviations/new")
def deviation_form(request: Request, actor: CurrentActor, study_code: str) -> Response:
    values = {"occurred_on": web_state(request).today().isoformat()}
    return _deviation_page(request, actor, study_code, values)


@router.post(PARTICIPANT + "/deviations/new")
def deviation_submit(
    request: Request, actor: CurrentActor, study_code: str, posted: PostedForm
) -> Response:
    require(actor, "deviation")
    values = _form_values(posted)
    state = web_state(request)
    try:
        day = day_of(values.get("occurred_on", ""), f"{study_code} deviation: occurred on")
        category, description = values.get("category", ""), values.get("description", "")
        record_deviation(
            state.store, actor.username, study_code, day, category, description, state.today()
        )
    except PhysiotrialError as error:
        errors, problem, status = _refusal(error, DEVIATION_NAMED)
        return _deviation_page(request, actor, study_code, values, errors, problem, status)
    return _participant_notice(study_code, "deviation")
