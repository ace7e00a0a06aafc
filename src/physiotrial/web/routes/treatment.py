"""The treatment-session form: one field per record field of the protocol's session plan.

Only the therapist records sessions (``services.safety.record_session`` refuses every other role,
and another site's participant); the form is built from the plan's ``records`` (type, unit,
range, choices), and the service alone validates: a refused value comes back (422) with the
service's message beside the field it names and every posted value kept.

Blinding (DESIGN.md): the therapist must know the arm to needle or sham, so this form, which only
the therapist can open, says what the participant's arm receives (``events.treatment_for``) and
offers the ``unblinded_only`` fields (a local twitch reveals real needling), marked as kept from
blinded staff. Nothing of it leaves the form: the redirect after saving carries no arm, and the
participant page shows a session through ``participant_sessions``, which drops the arm and those
fields for a blinded role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.core.protocol import Protocol, RecordField
from physiotrial.errors import AnswerError, NotFoundError, PermissionDeniedError, PhysiotrialError
from physiotrial.services.context import Actor, require
from physiotrial.services.events import treatment_for
from physiotrial.services.safety import participant_sessions, record_session, session_plan
from physiotrial.services.study import study_protocol
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.errors import status_of
from physiotrial.web.routes.visits import PostedForm
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
DETAIL = "detail."
"""Form fields of a plan's record fields are ``detail.<id>`` (an id may be ``number``)."""
_DETAIL_IN_MESSAGE = re.compile(r", field (\w+): ")


@dataclass(frozen=True)
class DetailField:
    """One record field of a session plan as an input."""

    name: str
    label: str
    kind: str
    unit: str | None
    options: tuple[tuple[str, str], ...]
    hint: str | None
    unblinded_only: bool


def day_of(text: str, field: str) -> date:
    """A posted ``<input type=date>`` value; anything else is refused naming the field."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise AnswerError(
            f"{field}: {text!r} is not a date; allowed: a date as YYYY-MM-DD"
        ) from None


def field_in(message: str, known: dict[str, str]) -> str | None:
    """The form field a services message names: ``known`` maps what the message says
    (``": severity"``, ``"held on"``) to the field; the first one found in the message wins."""
    found = [(message.find(said), name) for said, name in known.items() if said in message]
    return min(found)[1] if found else None


def _detail(field: RecordField) -> DetailField:
    options: tuple[tuple[str, str], ...] = ()
    hint = None
    if field.type == "yes_no":
        options = (("yes", "yes"), ("no", "no"))
    elif field.type == "choice":
        options = tuple((c, c) for c in field.choices)
    elif field.type in ("integer", "number"):
        low = "no minimum" if field.minimum is None else f"{field.minimum:g}"
        high = "no maximum" if field.maximum is None else f"{field.maximum:g}"
        whole = "whole numbers " if field.type == "integer" else ""
        hint = f"Allowed: {whole}{low} to {high}{f' {field.unit}' if field.unit else ''}"
    kind = "radios" if options else "text"
    return DetailField(
        DETAIL + field.id, field.label, kind, field.unit, options, hint, field.unblinded_only
    )


def _protocol(request: Request) -> Protocol:
    with web_state(request).store.read() as connection:
        return study_protocol(connection)


def _session_page(
    request: Request,
    actor: Actor,
    study_code: str,
    plan_code: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    """The form; the role and the participant's site are checked by the services first."""
    require(actor, "session")
    state = web_state(request)
    plan = session_plan(_protocol(request), plan_code)
    recorded = participant_sessions(state.store, actor.username, study_code)
    done = {s.number for s in recorded if s.plan == plan.code}
    left = [n for n in range(1, plan.count + 1) if n not in done]
    today = state.today().isoformat()
    shown = {"held_on": today, "delivered": "yes", "number": str(left[0]) if left else ""}
    context: dict[str, Any] = {
        "title": f"{study_code} · {plan.name}",
        "study_code": study_code,
        "plan": plan,
        "left": left,
        "recorded": sorted(done),
        "treatment": treatment_for(state.store, actor.username, study_code, plan.code),
        "details": [_detail(f) for f in plan.records],
        "values": shown | (values or {}),
        "errors": errors or {},
        "problem": problem,
        "today": today,
    }
    return render(request, "treatment_session.html", context, status=status)


@router.get("/participants/{study_code}/sessions/new")
def session_form(request: Request, actor: CurrentActor, study_code: str, plan: str) -> Response:
    return _session_page(request, actor, study_code, plan)


@router.post("/participants/{study_code}/sessions/new")
def session_submit(
    request: Request, actor: CurrentActor, study_code: str, posted: PostedForm
) -> Response:
    values = {k: v for k, v in posted.items() if k != "csrf_token"}
    plan = session_plan(_protocol(request), values.get("plan", ""))
    details = {f.id: values.get(DETAIL + f.id, "") for f in plan.records}
    state = web_state(request)
    try:
        number_text = values.get("number", "").strip()
        if not number_text.isdigit():
            raise AnswerError(
                f"number: {number_text!r} is not a session number; allowed: 1 to {plan.count}"
            )
        held_on = day_of(values.get("held_on", ""), "held_on")
        delivered = values.get("delivered", "yes") != "no"
        record_session(
            state.store,
            actor.username,
            study_code,
            plan.code,
            int(number_text),
            held_on,
            delivered,
            details,
            state.today(),
        )
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError | NotFoundError):
            raise
        message = str(error)
        detail = _DETAIL_IN_MESSAGE.search(message)
        field = DETAIL + detail.group(1) if detail else None
        field = field or field_in(message, {"number": "number", "held": "held_on"})
        if field is None:
            return _session_page(
                request, actor, study_code, plan.code, values, None, message, status_of(error)
            )
        errors = {field: message}
        problem = "Please correct the field marked below."
        return _session_page(request, actor, study_code, plan.code, values, errors, problem, 422)
    return RedirectResponse(f"/participants/{study_code}?done=session#sessions", status_code=303)
