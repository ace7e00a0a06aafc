"""The participant list: every participant the signed-in role may see, with a filter.

``services.progress.participant_list`` applies the role (the ``visits`` permission), the site
(site-bound roles see their own site) and blinding (it never reads an arm), so this page shows
what it is given and nothing more. The filter is a plain GET form, so it works without script;
with htmx, typing in it fetches only the results (``HX-Request``) and pushes the filtered URL
into the history. A history restore (``HX-History-Restore-Request``: back to a page htmx keeps
no copy of) gets the whole page, as htmx expects.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from physiotrial.errors import AnswerError
from physiotrial.services.progress import STATUSES, ParticipantRow, participant_list
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)


def _fragment_only(request: Request) -> bool:
    headers = request.headers
    return "HX-Request" in headers and "HX-History-Restore-Request" not in headers


@router.get("/participants")
def participant_list_page(
    request: Request, actor: CurrentActor, code: str = "", status: str = ""
) -> Response:
    state = web_state(request)
    today = state.today()
    rows: list[ParticipantRow] = []
    message = None
    try:
        rows = participant_list(state.store, actor.username, today, code, status or None)
    except AnswerError as error:
        message = str(error)
    context: dict[str, Any] = {
        "title": "Participants",
        "rows": rows,
        "code": code,
        "status": status,
        "statuses": STATUSES,
        "message": message,
        "today": today,
        "filtered": bool(code.strip() or status),
    }
    name = "participant_rows.html" if _fragment_only(request) else "participant_list.html"
    response = render(request, name, context, status=422 if message else 200)
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response
