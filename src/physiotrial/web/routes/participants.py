"""The participant page: the visit schedule with windows and status, and every record with its
history, as the services give them to the signed-in role.

Everything comes from services that already apply the role, site and blinding rules:
``participant_visits`` (schedule; refuses another site's participant and roles without a visit
list), ``response_history`` (every version of each recorded measure, corrections with their
reasons) and ``participant_sessions`` (no arm and no ``unblinded_only`` field for a blinded
role). The page adds nothing of its own, so it cannot show more than the services allow.

In a clinic study whose care plan has a home exercise programme, a coordinator or the therapist
can give the patient a link to their exercise log (``exercise_log.create_exercise_log_link``):
shown once, with its QR code, as the visit page shows a visit link.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from physiotrial.services.capture import RecordedResponse, response_history
from physiotrial.services.context import Actor
from physiotrial.services.events import (
    participant_adverse_events,
    participant_departure,
    participant_deviations,
)
from physiotrial.services.exercise_log import create_exercise_log_link
from physiotrial.services.safety import participant_sessions
from physiotrial.services.schedule import participant_visits
from physiotrial.services.study import study_protocol
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.routes.enrolment import enrolment_standing
from physiotrial.web.routes.visits import link_qr
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
NOTICES = {
    "session": "Session saved.",
    "ae": "Adverse event recorded.",
    "ae-corrected": "Adverse event corrected; the earlier version is kept.",
    "deviation": "Protocol deviation recorded.",
    "withdrawal": "Withdrawal recorded; the remaining visits are stopped.",
}
"""The notice shown after each form is saved (``?done=<key>``)."""
EXERCISE_LINK_MINUTES = 60 * 24 * 7
EXERCISE_LINK_LIFETIMES = {EXERCISE_LINK_MINUTES: "7 days", 60 * 24 * 14: "14 days"}
"""How long an exercise-log link may last: a week of home exercise, or two."""


def _shown(value: Any) -> str:
    """An answer or score as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@router.get("/participants/{study_code}")
def participant_page(
    request: Request, actor: CurrentActor, study_code: str, done: str | None = None
) -> Response:
    return _page(request, actor, study_code, notice=NOTICES.get(done or ""))


@router.post("/participants/{study_code}/exercise-log-link")
def give_exercise_log_link(
    request: Request,
    actor: CurrentActor,
    study_code: str,
    minutes: Annotated[int, Form()] = EXERCISE_LINK_MINUTES,
) -> Response:
    """A link to the patient's home exercise log, shown once with its QR code (the service
    refuses a study without a home programme, a patient not in care and a lifetime out of
    range)."""
    state = web_state(request)
    token = create_exercise_log_link(state.store, actor.username, study_code, state.now(), minutes)
    url = str(request.url_for("open_link", token=token))
    return _page(request, actor, study_code, link=url)


def _page(
    request: Request,
    actor: Actor,
    study_code: str,
    *,
    notice: str | None = None,
    link: str | None = None,
) -> Response:
    state = web_state(request)
    standing = enrolment_standing(request, actor, study_code)
    visits = participant_visits(state.store, actor.username, study_code, state.today())
    histories: dict[tuple[str, str], list[RecordedResponse]] = {}
    for visit in visits:
        for measure in visit.recorded:
            target = (study_code, visit.code, measure)
            histories[(visit.code, measure)] = response_history(state.store, actor.username, target)
    sessions = participant_sessions(state.store, actor.username, study_code)
    events = participant_adverse_events(state.store, actor.username, study_code)
    deviations = participant_deviations(state.store, actor.username, study_code)
    departure = participant_departure(state.store, actor.username, study_code)
    with state.store.read() as connection:
        protocol = study_protocol(connection)
    labels = {
        (plan.code, f.id): f.label + (f" ({f.unit})" if f.unit else "")
        for plan in protocol.sessions
        for f in plan.records
    }
    context: dict[str, Any] = {
        "title": f"Participant {study_code}",
        **standing,
        "visits": visits,
        "histories": histories,
        "sessions": sessions,
        "today": state.today(),
        "shown": _shown,
        "field_labels": labels,
        "plans": protocol.sessions,
        "events": events,
        "deviations": deviations,
        "departure": departure,
        "notice": notice,
        "home": protocol.care.home if protocol.care is not None else None,
        "lifetimes": EXERCISE_LINK_LIFETIMES,
        "default_lifetime": EXERCISE_LINK_MINUTES,
        "link": link,
        "qr": link_qr(link) if link else None,
    }
    return render(request, "participant.html", context)
