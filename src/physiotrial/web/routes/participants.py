"""The participant page: the visit schedule with windows and status, and every record with its
history, as the services give them to the signed-in role.

Everything comes from services that already apply the role, site and blinding rules:
``participant_visits`` (schedule; refuses another site's participant and roles without a visit
list), ``response_history`` (every version of each recorded measure, corrections with their
reasons) and ``participant_sessions`` (no arm and no ``unblinded_only`` field for a blinded
role). The page adds nothing of its own, so it cannot show more than the services allow.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from physiotrial.services.capture import RecordedResponse, response_history
from physiotrial.services.events import (
    participant_adverse_events,
    participant_departure,
    participant_deviations,
)
from physiotrial.services.safety import participant_sessions
from physiotrial.services.schedule import participant_visits
from physiotrial.services.study import study_protocol
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.routes.enrolment import enrolment_standing
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
        "notice": NOTICES.get(done or ""),
    }
    return render(request, "participant.html", context)
