"""Screening → eligibility (with reasons) → consent → randomise, as pages.

The questions of the screening form are the protocol's eligibility criteria (core.protocol), one
field per criterion, as ``physiotrial screen --answer ID=VALUE`` collects them. Each answer is
checked on its own with :func:`core.eligibility.evaluate_eligibility` when the screening is
refused, so the message sits beside its field and every answer entered is kept; the decision
itself is made by ``services.enrolment.screen`` alone.

Blinding (DESIGN.md): the allocation is revealed once, in the page the randomise POST returns,
and only as ``services.randomisation.randomise`` gives it — ``arm`` is None for a blinded role,
whose page then says only "randomised". Nothing carries the arm afterwards: no redirect, no
flash message, no cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.core.eligibility import evaluate_eligibility
from physiotrial.core.protocol import NumericCriterion, Protocol, YesNoCriterion
from physiotrial.errors import EligibilityError, PermissionDeniedError, PhysiotrialError
from physiotrial.services.context import PERMISSIONS, Actor
from physiotrial.services.enrolment import consent, consent_row, screen, screening_row
from physiotrial.services.randomisation import randomise
from physiotrial.services.recruitment import recruitment
from physiotrial.services.schedule import person_for
from physiotrial.services.study import study_protocol
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, allowed, web_state
from physiotrial.web.errors import field_of, status_of
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
FACTOR_PREFIX = "factor__"
"""Form fields of randomisation factors are ``factor__<id>`` (a criterion may share an id)."""
Screener = Annotated[Actor, Depends(allowed("screen"))]
Consenter = Annotated[Actor, Depends(allowed("consent"))]
Randomiser = Annotated[Actor, Depends(allowed("randomise"))]


@dataclass(frozen=True)
class Question:
    """One eligibility criterion as a form field."""

    id: str
    sentence: str
    kind: str
    type: str
    unit: str | None
    choices: tuple[str, ...]


def questions(protocol: Protocol) -> list[Question]:
    """The protocol's eligibility criteria, in protocol order, as form questions."""
    found = []
    for c in protocol.eligibility:
        if isinstance(c, YesNoCriterion):
            choices: tuple[str, ...] = ("yes", "no")
        elif isinstance(c, NumericCriterion):
            choices = ()
        else:
            choices = c.choices
        unit = c.unit if isinstance(c, NumericCriterion) else None
        found.append(Question(c.id, c.sentence, c.kind, c.type, unit, choices))
    return found


def _protocol(request: Request) -> Protocol:
    with web_state(request).store.read() as connection:
        return study_protocol(connection)


def _screen_page(
    request: Request,
    actor: Actor,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    state = web_state(request)
    protocol = _protocol(request)
    context: dict[str, Any] = {
        "title": "Screen a person",
        "questions": questions(protocol),
        "factors": protocol.randomisation.factors,
        "factor_prefix": FACTOR_PREFIX,
        "site": recruitment(state.store, actor.username).site,
        "values": values,
        "errors": errors or {},
        "problem": problem,
        "today": state.today().isoformat(),
    }
    return render(request, "enrolment_screen.html", context, status=status)


@router.get("/enrolment/screen")
def screen_form(request: Request, actor: Screener) -> Response:
    return _screen_page(request, actor, {"screened_on": web_state(request).today().isoformat()})


def _field_errors(protocol: Protocol, answers: dict[str, str]) -> dict[str, str]:
    """Each answer that is not an answer to its criterion, checked alone (core's message)."""
    errors = {}
    for criterion_id, value in answers.items():
        try:
            evaluate_eligibility(protocol, {criterion_id: value})
        except EligibilityError as error:
            errors[criterion_id] = str(error)
    return errors


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise EligibilityError(
            f"{field}: {text!r} is not a date; allowed: a date as YYYY-MM-DD"
        ) from None


@router.post("/enrolment/screen")
async def screen_submit(request: Request, actor: Screener) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    protocol = _protocol(request)
    ids = [c.id for c in protocol.eligibility]
    answers = {i: values[i] for i in ids if values.get(i, "").strip()}
    levels = {
        f.id: values[FACTOR_PREFIX + f.id]
        for f in protocol.randomisation.factors
        if values.get(FACTOR_PREFIX + f.id)
    }
    site = recruitment(web_state(request).store, actor.username).site
    errors = _field_errors(protocol, answers)
    try:
        day = _day(values.get("screened_on", ""), "screened_on")
        if errors:
            raise EligibilityError("; ".join(errors.values()))
        if site is None:
            raise PermissionDeniedError(f"{actor.username} is not bound to a site; cannot screen")
        result = screen(
            web_state(request).store,
            actor.username,
            site,
            day,
            answers,
            levels,
            values.get("name", ""),
            values.get("contact", "").strip() or None,
        )
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError):
            raise
        message = str(error)
        field = field_of(message)
        if field is not None and field not in errors:
            errors[field] = message
        if not errors:
            factor = next((f.id for f in protocol.randomisation.factors if f.id in message), None)
            if factor is not None:
                errors[FACTOR_PREFIX + factor] = message
        problem = "Please correct the answers marked below." if errors else message
        status = 422 if errors else status_of(error)  # a field to correct: 422, not 409
        return _screen_page(request, actor, values, errors, problem, status=status)
    return RedirectResponse(f"/enrolment/{result.study_code}", status_code=303)


def enrolment_standing(request: Request, actor: Actor, study_code: str) -> dict[str, Any]:
    """The participant's screening, consent and status, once ``actor`` may see the participant
    (services refuse another site's participant and roles without a visit list)."""
    with web_state(request).store.read() as connection:
        person = person_for(connection, actor, study_code, "visits")
        screening = screening_row(connection, person["id"])
        given = consent_row(connection, person["id"])
        protocol = study_protocol(connection)
    labels = {c.id: c.sentence for c in protocol.eligibility}
    return {
        "study_code": study_code,
        "status": str(person["status"]),
        "factor_levels": dict(person["factor_levels"] or {}),
        "screening": screening,
        "consent": given,
        "labels": labels,
    }


def _may(actor: Actor, action: str) -> bool:
    return actor.role in PERMISSIONS[action]


def _enrolment_page(
    request: Request,
    actor: Actor,
    study_code: str,
    consent_values: dict[str, str] | None = None,
    consent_error: str | None = None,
    status: int = 200,
) -> Response:
    standing = enrolment_standing(request, actor, study_code)
    today = web_state(request).today().isoformat()
    context: dict[str, Any] = {
        "title": f"Enrolment of {study_code}",
        **standing,
        "may_consent": _may(actor, "consent"),
        "may_randomise": _may(actor, "randomise"),
        "consent_values": consent_values or {"consented_on": today, "form_version": ""},
        "consent_error": consent_error,
        "consent_field": field_of(consent_error or ""),
        "today": today,
    }
    return render(request, "enrolment_status.html", context, status=status)


@router.get("/enrolment/{study_code}")
def enrolment_page(request: Request, actor: CurrentActor, study_code: str) -> Response:
    return _enrolment_page(request, actor, study_code)


@router.post("/enrolment/{study_code}/consent")
def consent_submit(
    request: Request,
    actor: Consenter,
    study_code: str,
    form_version: Annotated[str, Form()] = "",
    consented_on: Annotated[str, Form()] = "",
) -> Response:
    entered = {"form_version": form_version, "consented_on": consented_on}
    try:
        day = _day(consented_on, "consented_on")
        consent(web_state(request).store, actor.username, study_code, form_version, day)
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError):
            raise
        return _enrolment_page(
            request, actor, study_code, entered, str(error), status=status_of(error)
        )
    return RedirectResponse(f"/enrolment/{study_code}", status_code=303)


@router.post("/enrolment/{study_code}/randomise")
def randomise_submit(request: Request, actor: Randomiser, study_code: str) -> Response:
    """Randomise today; the page shows the arm only when the services give it (therapist)."""
    state = web_state(request)
    result = randomise(state.store, actor.username, study_code, state.today())
    arm_name = None
    if result.arm is not None:
        arm_name = next(a.name for a in _protocol(request).arms if a.code == result.arm)
    context = {"title": f"{study_code} randomised", "result": result, "arm_name": arm_name}
    return render(request, "enrolment_randomised.html", context)
