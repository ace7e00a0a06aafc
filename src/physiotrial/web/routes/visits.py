"""The visit page: one form per measure planned at a participant's visit, and its corrections.

Who may open the page, which participant (site) and which measure each role may record are the
services' decisions: ``participant_visits`` refuses a role without visit lists or a participant
of another site, ``capture.record`` refuses a role that does not fit the measure's rater, and
``capture.RATER_ROLES`` only decides whether a form is offered at all. Each form is generated
from the instrument specification (web/forms.py) and posts to its own URL; the service validates
and scores. A refused answer shows the page again (422) with the service's message beside the
item it names and every posted answer kept. After a save the page shows the scores: the page
reaches only the roles the services give visit records to (``response_history`` and
``participant_visits`` need the ``visits`` permission); a participant's link shows none.
A correction posts the whole form with a reason (``capture.correct``).

A coordinator or assessor can give the participant a one-time link to the visit's self-report
forms (``links.create_participant_link``): the page shows its URL once, with a QR code (inline
SVG made by segno, so the tablet's camera can open it).
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from physiotrial.core.instruments import get_instrument
from physiotrial.core.protocol import Protocol, Role
from physiotrial.errors import AnswerError, ConflictError, ScheduleError
from physiotrial.services.capture import (
    RATER_ROLES,
    RecordedResponse,
    correct,
    record,
    response_history,
)
from physiotrial.services.context import PERMISSIONS, Actor
from physiotrial.services.links import create_participant_link, self_report
from physiotrial.services.schedule import VisitView, participant_visits
from physiotrial.services.study import study_protocol
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.forms import MeasureForm, measure_form, posted_answers, posted_values
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)

LINK_MINUTES = 60 * 24
"""How long a link given from the visit page lasts unless the giver chooses: the rest of the
clinic day and the evening."""
LINK_LIFETIMES = {
    60: "1 hour (filled in the clinic)",
    LINK_MINUTES: "24 hours",
    60 * 24 * 3: "3 days",
}
LINK_LIFETIMES |= {60 * 24 * 7: "7 days (filled at home)"}
"""The lifetimes offered on the visit page (the service allows any within access.LINK_MINUTES)."""
VISIT_PATH = "/participants/{study_code}/visits/{visit_code}"


async def posted_form(request: Request) -> dict[str, str]:
    """The posted form as text fields (read here, async, so the route itself can stay sync)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


PostedForm = Annotated[dict[str, str], Depends(posted_form)]


def _protocol(request: Request) -> Protocol:
    with web_state(request).store.read() as connection:
        return study_protocol(connection)


def _view(request: Request, actor: Actor, study_code: str, visit_code: str) -> VisitView:
    """The participant's visit as the services show it to ``actor`` (they check role and site)."""
    state = web_state(request)
    visits = participant_visits(state.store, actor.username, study_code, state.today())
    for view in visits:
        if view.code == visit_code:
            return view
    from physiotrial.errors import NotFoundError

    have = ", ".join(v.code for v in visits) or "none (not randomised yet)"
    raise NotFoundError(f"visit: {study_code} has no visit {visit_code!r}; their visits: {have}")


def _current(request: Request, actor: Actor, study_code: str, visit: VisitView) -> dict[str, Any]:
    store = web_state(request).store
    found: dict[str, RecordedResponse] = {}
    for measure in visit.recorded:
        history = response_history(store, actor.username, (study_code, visit.code, measure))
        found[measure] = history[-1]
    return found


def visit_page(
    request: Request,
    actor: Actor,
    study_code: str,
    visit_code: str,
    *,
    failed: tuple[str, MeasureForm] | None = None,
    saved: str | None = None,
    link: str | None = None,
    done_on: str | None = None,
    status: int = 200,
) -> Response:
    """The visit page; ``failed`` is (measure, its form with the posted values and the error);
    ``done_on`` the date a refused form posted (kept, like its answers)."""
    protocol = _protocol(request)
    view = _view(request, actor, study_code, visit_code)
    recorded = _current(request, actor, study_code, view)
    sections = []
    for key in view.measures:
        measure = protocol.measure(key)
        instrument = get_instrument(measure.instrument)
        title = measure.label or instrument.title
        response = recorded.get(key)
        if failed is not None and failed[0] == key:
            form = failed[1]
        else:
            answers = response.answers if response is not None else None
            form = measure_form(key, title, instrument, answers)
        sections.append(
            {
                "key": key,
                "form": form,
                "title": title,
                "instrument": instrument,
                "rater": measure.rater.value,
                "response": response,
                "can_record": actor.role in RATER_ROLES[measure.rater],
                "can_correct": actor.role in RATER_ROLES[measure.rater]
                or actor.role is Role.DATA_MANAGER,
                "correcting": failed is not None and failed[0] == key and response is not None,
            }
        )
    outstanding_prom = [m for m in self_report(protocol, visit_code) if m in view.outstanding]
    context = {
        "title": f"{study_code} · {view.name}",
        "study_code": study_code,
        "visit": view,
        "sections": sections,
        "done_on": done_on or (view.done_on or web_state(request).today()).isoformat(),
        "today": web_state(request).today().isoformat(),
        "lifetimes": LINK_LIFETIMES,
        "default_lifetime": LINK_MINUTES,
        "saved": saved,
        "can_link": actor.role in PERMISSIONS["give links"] and bool(outstanding_prom),
        "link": link,
        "qr": link_qr(link) if link else None,
    }
    return render(request, "visit.html", context, status=status)


def link_qr(url: str) -> Markup:
    """The link as a QR code, inline SVG (medium error correction: survives a scratched screen)."""
    svg = segno.make(url, error="m").svg_inline(scale=5, title="QR code of the one-time link")
    return Markup(svg)  # segno writes the SVG; the URL is ours (base URL + token)


@router.get(VISIT_PATH)
def show_visit(
    request: Request,
    actor: CurrentActor,
    study_code: str,
    visit_code: str,
    saved: str | None = None,
) -> Response:
    return visit_page(request, actor, study_code, visit_code, saved=saved)


def _refused(
    request: Request,
    actor: Actor,
    study_code: str,
    visit_code: str,
    measure: str,
    posted: dict[str, str],
    error: Exception,
) -> Response:
    """The page again, the measure's form holding what was posted (the date too) and the
    service's message."""
    protocol = _protocol(request)
    planned = protocol.measure(measure)
    instrument = get_instrument(planned.instrument)
    title = planned.label or instrument.title
    values = posted_values(measure, instrument, posted)
    form = measure_form(measure, title, instrument, values, str(error))
    kept = posted.get("done_on")
    page = partial(visit_page, failed=(measure, form), done_on=kept, status=422)
    return page(request, actor, study_code, visit_code)


def _planned(request: Request, visit_code: str, measure: str) -> Any:
    """The measure's instrument, once the protocol plans the measure at this visit."""
    protocol = _protocol(request)
    visit = protocol.visit(visit_code)
    if measure not in visit.measures:
        from physiotrial.errors import NotFoundError

        raise NotFoundError(
            f"measure: {measure!r} is not planned at visit {visit_code}; "
            f"{visit_code} captures: {', '.join(visit.measures) or 'no measures'}"
        )
    return get_instrument(protocol.measure(measure).instrument)


@router.post(VISIT_PATH + "/record/{measure}")
def record_measure(
    request: Request,
    actor: CurrentActor,
    study_code: str,
    visit_code: str,
    measure: str,
    posted: PostedForm,
    done_on: Annotated[date, Form()],
) -> Response:
    instrument = _planned(request, visit_code, measure)
    answers = posted_answers(measure, instrument, posted)
    state = web_state(request)
    try:
        record(
            state.store,
            actor.username,
            study_code,
            visit_code,
            measure,
            answers,
            done_on,
            state.today(),
        )
    except (AnswerError, ConflictError, ScheduleError) as error:
        return _refused(request, actor, study_code, visit_code, measure, posted, error)
    target = f"/participants/{study_code}/visits/{visit_code}?saved={measure}#m-{measure}"
    return RedirectResponse(target, status_code=303)


@router.post(VISIT_PATH + "/correct/{measure}")
def correct_measure(
    request: Request,
    actor: CurrentActor,
    study_code: str,
    visit_code: str,
    measure: str,
    posted: PostedForm,
    reason: Annotated[str, Form()] = "",
) -> Response:
    instrument = _planned(request, visit_code, measure)
    answers = posted_answers(measure, instrument, posted)
    store = web_state(request).store
    try:
        correct(store, actor.username, (study_code, visit_code, measure), answers, reason)
    except (AnswerError, ConflictError, ScheduleError) as error:
        return _refused(request, actor, study_code, visit_code, measure, posted, error)
    target = f"/participants/{study_code}/visits/{visit_code}?saved={measure}#m-{measure}"
    return RedirectResponse(target, status_code=303)


@router.post(VISIT_PATH + "/link")
def give_link(
    request: Request,
    actor: CurrentActor,
    study_code: str,
    visit_code: str,
    minutes: Annotated[int, Form()] = LINK_MINUTES,
) -> Response:
    """A one-time link valid for ``minutes`` (the service refuses a lifetime out of range)."""
    state = web_state(request)
    token = create_participant_link(
        state.store, actor.username, study_code, visit_code, state.now(), minutes
    )
    url = str(request.url_for("open_link", token=token))
    return visit_page(request, actor, study_code, visit_code, link=url)
