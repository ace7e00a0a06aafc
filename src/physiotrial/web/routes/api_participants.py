"""The participant part of the JSON API: a site's other systems push visit data through it.

The endpoints are thin: each reads the request body (pydantic models, so the OpenAPI document
says what is allowed) and calls one service, which checks role, site, protocol and answers and
writes one transaction with its audit row. Nothing here decides who may see what: the schedule
(``participant_visits``), responses (``response_history``) and adverse events carry no
allocation, whoever asks, so a blinded role gets exactly what the therapist and the data manager
get. The services' dataclasses are the response models where they fit, so a field is declared
once. Errors become ``{"error": {"field", "reason"}}`` in web/errors.py; the statuses each
endpoint can answer with are listed in api.ERRORS.

Text and codes are limited in length and may not hold control characters: PostgreSQL refuses a
NUL in text, and an unbounded value is never a real answer.

:data:`router` has no prefix; api.py includes it under ``/api/v1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from physiotrial.errors import NotFoundError, PhysiotrialError
from physiotrial.services.capture import RecordedResponse, correct, record, response_history
from physiotrial.services.safety import (
    AE_OUTCOMES,
    RELATEDNESS,
    SEVERITIES,
    AdverseEventRecord,
    record_adverse_event,
)
from physiotrial.services.schedule import VisitView, participant_visits
from physiotrial.web.deps import ApiActor, WebState, web_state

router = APIRouter()

PLAIN = r"^[^\x00-\x1f\x7f]*$"
"""No control characters (a NUL cannot be stored in PostgreSQL text)."""
StudyCode = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=PLAIN,
        description="The participant's pseudonymous study code, e.g. SEV-001",
    ),
]
VisitCode = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=PLAIN, description="A visit code, e.g. BL or W3"),
]
MeasureKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=PLAIN,
        description="A measure planned at the visit by the protocol, e.g. womac or vas_max",
    ),
]
Answer = int | float | Annotated[str, Field(max_length=200, pattern=PLAIN)] | None
Answers = Annotated[
    dict[Annotated[str, Field(max_length=64, pattern=PLAIN)], Answer],
    Field(
        max_length=200,
        description=(
            "Item id → answer: the item's code or number, null for unanswered. Items not given "
            "are unanswered (in a correction: keep their recorded answer)."
        ),
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=2000, pattern=PLAIN)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitList(BaseModel):
    study_code: str = Field(description="The participant")
    today: date = Field(description="The day the statuses are computed for")
    visits: list[VisitView] = Field(description="Every planned visit, soonest first")


class ResponseList(BaseModel):
    study_code: str
    visit: str
    responses: list[RecordedResponse] = Field(
        description="The current version of each measure recorded at the visit, in protocol order"
    )


class ResponseIn(_In):
    answers: Answers
    done_on: date | None = Field(
        default=None,
        description=(
            "The day the visit was done (YYYY-MM-DD, not after today); if not given, the day "
            "already recorded for the visit, else the server's today"
        ),
    )


class CorrectionIn(_In):
    answers: Answers
    reason: Text = Field(description="Why the recorded answers change (kept in the audit trail)")


class SessionRef(_In):
    plan: Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN)] = Field(
        description="The session plan's code, e.g. needling or exercise"
    )
    number: int = Field(ge=1, le=1000, description="The session's number in that plan")


class AdverseEventIn(_In):
    term: Text = Field(description="What happened, e.g. 'bruising at the needling site'")
    onset: date = Field(description="The day it began (YYYY-MM-DD, not after today)")
    severity: str = Field(
        json_schema_extra={"enum": list(SEVERITIES)},
        description="White et al.: mild, significant or serious",
    )
    relatedness: str = Field(
        json_schema_extra={"enum": list(RELATEDNESS)},
        description="Attribution to the intervention (NCI CTEP five-point scale)",
    )
    action: Text = Field(description="What was done about it")
    outcome: str = Field(
        json_schema_extra={"enum": list(AE_OUTCOMES)}, description="Fatal only when serious"
    )
    duration_hours: float | None = Field(
        default=None, ge=0, le=1e6, description="How long it lasted, in hours"
    )
    session: SessionRef | None = Field(
        default=None, description="The recorded session it followed, if any"
    )


class AdverseEvent(BaseModel):
    """An adverse event as recorded (services.safety.AdverseEventRecord, whose ``session``
    tuple has no OpenAPI 3.1 form FastAPI writes correctly, so it is an object here)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    study_code: str
    term: str
    onset: date
    severity: str
    relatedness: str
    action: str
    outcome: str
    duration_hours: float | None
    session: SessionRef | None
    version: int
    current: bool
    supersedes_id: int | None
    reason: str | None
    entered_by: str
    entered_at: str

    @classmethod
    def of(cls, event: AdverseEventRecord) -> AdverseEvent:
        fields = {k: getattr(event, k) for k in AdverseEventRecord.__dataclass_fields__}
        plan_number = event.session
        session = (
            None if plan_number is None else SessionRef(plan=plan_number[0], number=plan_number[1])
        )
        return cls(**fields | {"session": session})


FIELDS = (
    (re.compile(r"\bitem (\S+) of \S+: "), "answers.{}"),
    (re.compile(r"no item answered|the correction changes no answer"), "answers"),
    (re.compile(r" adverse event: .* session "), "session"),
    (re.compile(r" adverse event: (\w+)[: ]"), "{}"),
    (re.compile(r"\bdone on\b"), "done_on"),
    (re.compile(r"needs a reason"), "reason"),
    (re.compile(r"^no participant "), "study_code"),
    (re.compile(r"has no visit|is not a visit of the protocol|has not been recorded"), "visit"),
    (re.compile(r"is not planned at visit"), "measure"),
)
"""Service messages → the request field they are about (the first pattern found wins)."""


@contextmanager
def naming_fields() -> Iterator[None]:
    """Give a service error the request field it is about, where its message has no ``name:``
    prefix (capture messages start with where the data belong: ``SEV-001 BL womac: ...``)."""
    try:
        yield
    except PhysiotrialError as error:
        if getattr(error, "field", None) is None:
            message = str(error)
            for pattern, field in FIELDS:
                found = pattern.search(message)
                if found:
                    setattr(error, "field", field.format(*found.groups()))  # noqa: B010
                    break
        raise


VISITS = "/participants/{study_code}/visits"
RESPONSES = VISITS + "/{visit}/responses"


def _visit(state: WebState, actor: ApiActor, study_code: str, visit: str) -> VisitView:
    """The participant's visit as the services show it to ``actor`` (they check role and site)."""
    views = participant_visits(state.store, actor.username, study_code, state.today())
    for view in views:
        if view.code == visit:
            return view
    have = ", ".join(v.code for v in views) or "none (not randomised yet)"
    raise NotFoundError(f"visit: {study_code} has no visit {visit!r}; their visits: {have}")


@router.get(VISITS, response_model=VisitList, summary="A participant's visits and their status")
def visits(
    request: Request,
    actor: ApiActor,
    study_code: StudyCode,
    today: Annotated[
        date | None, Query(description="YYYY-MM-DD; the server's today if not given")
    ] = None,
) -> VisitList:
    state = web_state(request)
    day = today or state.today()
    with naming_fields():
        views = participant_visits(state.store, actor.username, study_code, day)
    return VisitList(study_code=study_code, today=day, visits=views)


@router.get(RESPONSES, response_model=ResponseList, summary="What is recorded at a visit")
def responses(
    request: Request, actor: ApiActor, study_code: StudyCode, visit: VisitCode
) -> ResponseList:
    state = web_state(request)
    with naming_fields():
        view = _visit(state, actor, study_code, visit)
        current = [
            response_history(state.store, actor.username, (study_code, visit, measure))[-1]
            for measure in view.recorded
        ]
    return ResponseList(study_code=study_code, visit=visit, responses=current)


@router.post(
    RESPONSES + "/{measure}",
    response_model=RecordedResponse,
    status_code=201,
    summary="Record a measure at a visit (its first version), scored",
)
def record_response(
    request: Request,
    actor: ApiActor,
    study_code: StudyCode,
    visit: VisitCode,
    measure: MeasureKey,
    body: ResponseIn,
) -> RecordedResponse:
    state = web_state(request)
    today = state.today()
    with naming_fields():
        done_on = body.done_on or _visit(state, actor, study_code, visit).done_on or today
        return record(
            state.store, actor.username, study_code, visit, measure, body.answers, done_on, today
        )


@router.post(
    RESPONSES + "/{measure}/corrections",
    response_model=RecordedResponse,
    status_code=201,
    summary="Correct a recorded measure: a new version, with a reason",
)
def correct_response(
    request: Request,
    actor: ApiActor,
    study_code: StudyCode,
    visit: VisitCode,
    measure: MeasureKey,
    body: CorrectionIn,
) -> RecordedResponse:
    store = web_state(request).store
    target = (study_code, visit, measure)
    with naming_fields():
        return correct(store, actor.username, target, body.answers, body.reason)


@router.post(
    "/participants/{study_code}/adverse-events",
    response_model=AdverseEvent,
    status_code=201,
    summary="Record an adverse event",
)
def adverse_event(
    request: Request, actor: ApiActor, study_code: StudyCode, body: AdverseEventIn
) -> AdverseEvent:
    state = web_state(request)
    session = None if body.session is None else (body.session.plan, body.session.number)
    given = body.model_dump(exclude={"session"})
    with naming_fields():
        event = record_adverse_event(
            state.store, actor.username, study_code, **given, session=session, today=state.today()
        )
    return AdverseEvent.of(event)
