"""The JSON API under ``/api/v1``, for sites that push data from other systems.

Every request authenticates with ``Authorization: Bearer <token>`` (``services.access``: one
token per user and purpose, stored only as a SHA-256); a missing, unknown, revoked or expired
token is a 401. The API calls the same services as the pages and the CLI, so the same role and
blinding rules hold: an arm count reaches only a role that may see allocations. Errors are
``{"error": {"field": ..., "reason": ...}}`` (web/errors.py). The OpenAPI document is served at
``/api/v1/openapi.json``. The participant endpoints (a participant's visits, the responses recorded
at a visit, recording and correcting a measure, adverse events) are in api_participants.py and
are included in :data:`router` here.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from physiotrial.services.recruitment import recruitment
from physiotrial.services.schedule import DueVisit, due_visits
from physiotrial.services.study import study_info
from physiotrial.web.deps import ApiActor, web_state
from physiotrial.web.routes import api_participants

PREFIX = "/api/v1"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ErrorDetail(_Out):
    field: str | None
    reason: str


class ErrorBody(_Out):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "No API token, or an unknown, revoked or expired one"),
        (403, "The token's user may not do this"),
        (404, "No such participant, visit, site or record"),
        (409, "Conflicts with what is recorded, or the study is locked"),
        (422, "A value that is not allowed (the field and the allowed values are named)"),
    )
}

router = APIRouter(prefix=PREFIX, tags=["api"], responses=ERRORS)


class Me(_Out):
    username: str
    role: str
    site_id: int | None


class ArmCount(_Out):
    code: str
    name: str
    randomised: int


class Recruitment(_Out):
    site: str | None
    screened: int
    eligible: int
    randomised: int
    target: int | None
    arms: list[ArmCount] | None


class Study(_Out):
    study_id: str
    title: str
    protocol_version: str
    protocol_hash: str
    sequence_hash: str | None
    locked: bool
    unblinded: bool
    participants: int
    recruitment: Recruitment


class DueList(_Out):
    today: date
    visits: list[DueVisit]  # the service's own dataclass: one field list, not two


@router.get("/me", response_model=Me, summary="Who the token acts as")
def me(actor: ApiActor) -> Me:
    return Me(username=actor.username, role=actor.role.value, site_id=actor.site_id)


@router.get("/study", response_model=Study, summary="The study, its lock state and recruitment")
def study(request: Request, actor: ApiActor) -> Study:
    store = web_state(request).store
    info = study_info(store)
    counts = Recruitment.model_validate(recruitment(store, actor.username))
    fields = {name: getattr(info, name) for name in Study.model_fields if name != "recruitment"}
    return Study(**fields, recruitment=counts)


@router.get("/visits/due", response_model=DueList, summary="Visits open, late or missed")
def visits_due(
    request: Request,
    actor: ApiActor,
    today: Annotated[
        date | None, Query(description="YYYY-MM-DD; the server's today if not given")
    ] = None,
    site: Annotated[
        str | None, Query(max_length=40, pattern=api_participants.PLAIN, description="A site code")
    ] = None,
) -> DueList:
    state = web_state(request)
    day = today or state.today()
    due = due_visits(state.store, actor.username, day, site)
    return DueList(today=day, visits=list(due))


router.include_router(api_participants.router)
