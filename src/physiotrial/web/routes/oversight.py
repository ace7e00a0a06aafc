"""Oversight pages: the audit trail, and emergency unblinding requests.

The audit trail (``/audit``, data managers only: ``services.audit.audit_page`` refuses others)
is shown newest first, because a data manager reviewing the trail starts from what happened
last; pages are keyset pages of 100 rows (``before`` an audit id), which stay put while new
rows are written. The filters are a GET form, so a filtered view is a URL that can be kept or
shared, and works without script; htmx, when loaded, swaps only the results and pushes the URL.
A date that is not a date, or ``until`` before ``since``, is shown beside its field (422) with
what was entered kept. "Verify the audit chain" posts to ``/audit/verify`` and shows
``services.audit.verify_audit``'s report above the trail.

Emergency unblinding (``services.unblinding``): staff of the participant's site ask with a
reason (``/unblinding/request``); the data manager grants or declines each pending request on
``/unblinding``. Whoever asked sees the status of their own requests and never the arm: the
service gives the arm of a granted request to the data manager only, who tells the requester
out of band; redirects carry only a fixed notice key and the request number.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from physiotrial.errors import PermissionDeniedError, PhysiotrialError
from physiotrial.services.audit import (
    PAGE_SIZE,
    AuditReport,
    audit_page,
    check_dates,
    verify_audit,
)
from physiotrial.services.context import Actor
from physiotrial.services.study import study_protocol
from physiotrial.services.unblinding import (
    decide_unblinding,
    request_unblinding,
    unblinding_requests,
)
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, allowed, web_state
from physiotrial.web.errors import field_of, status_of
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
Auditor = Annotated[Actor, Depends(allowed("audit"))]
Requester = Annotated[Actor, Depends(allowed("request unblinding"))]
FILTERS = ("participant", "user", "action", "since", "until")
NOTICES = {
    "requested": (
        "Your request was sent to the data manager. You will see here whether it is granted; "
        "the allocation itself is never shown to you on this site."
    ),
    "granted": "The request is granted and the participant unblinded (recorded and audited).",
    "declined": "The request is declined; the requester sees your reason.",
}


# --- audit trail ------------------------------------------------------------------------------


def _day(text: str, field: str, errors: dict[str, str]) -> date | None:
    """The date a filter field holds (None when blank); a malformed one goes to ``errors``."""
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        errors[field] = f"{field}: {text!r} is not a date; allowed: a date as YYYY-MM-DD"
        return None


def _audit(
    request: Request,
    actor: Actor,
    values: dict[str, str],
    before: str = "",
    report: AuditReport | None = None,
) -> Response:
    errors: dict[str, str] = {}
    since = _day(values["since"], "since", errors)
    until = _day(values["until"], "until", errors)
    if not errors:
        try:
            check_dates(since, until)
        except PhysiotrialError as error:
            errors["until"] = f"until: {error}"
    start = int(before) if before.strip().isdigit() else None
    page = audit_page(
        web_state(request).store,
        actor.username,
        values["participant"].strip() or None,
        values["user"].strip() or None,
        action=values["action"].strip() or None,
        since=None if errors else since,
        until=None if errors else until,
        before=start,
        size=1 if errors else PAGE_SIZE,  # with a bad filter only the action names are shown
    )
    filtered = {k: v for k, v in values.items() if v.strip()}
    context: dict[str, Any] = {
        "title": "Audit trail",
        "page": None if errors else page,
        "actions": page.actions,
        "values": values,
        "errors": errors,
        "filtered": filtered,
        "report": report,
    }
    return render(request, "audit.html", context, status=422 if errors else 200)


@router.get("/audit")
def audit_trail(
    request: Request,
    actor: Auditor,
    participant: str = "",
    user: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
) -> Response:
    values = {
        "participant": participant,
        "user": user,
        "action": action,
        "since": since,
        "until": until,
    }
    return _audit(request, actor, values, before)


@router.post("/audit/verify")
def audit_verify(request: Request, actor: Auditor) -> Response:
    report = verify_audit(web_state(request).store, actor.username)
    return _audit(request, actor, dict.fromkeys(FILTERS, ""), report=report)


# --- emergency unblinding ---------------------------------------------------------------------


def _arm_names(request: Request) -> dict[str, str]:
    with web_state(request).store.read() as connection:
        return {a.code: a.name for a in study_protocol(connection).arms}


def _unblinding_page(
    request: Request,
    actor: Actor,
    notice: str | None = None,
    failed: int | None = None,
    problem: str | None = None,
    entered: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    found = unblinding_requests(web_state(request).store, actor.username)
    names = _arm_names(request) if any(r.arm for r in found) else {}
    context: dict[str, Any] = {
        "title": "Emergency unblinding",
        "pending": [r for r in found if r.decision is None],
        "decided": [r for r in found if r.decision is not None],
        "arm_names": names,
        "notice": NOTICES.get(notice or ""),
        "failed": failed,
        "problem": problem,
        "problem_field": field_of(problem or ""),
        "entered": entered or {},
    }
    return render(request, "unblinding.html", context, status=status)


@router.get("/unblinding")
def unblinding_list(request: Request, actor: CurrentActor, done: str = "") -> Response:
    return _unblinding_page(request, actor, notice=done)


def _request_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "title": "Ask for emergency unblinding",
        "values": values,
        "errors": errors or {},
        "problem": problem,
    }
    return render(request, "unblinding_request.html", context, status=status)


@router.get("/unblinding/request")
def unblinding_request_form(request: Request, _: Requester, participant: str = "") -> Response:
    return _request_page(request, {"participant": participant, "reason": ""})


@router.post("/unblinding/request")
def unblinding_request_submit(
    request: Request,
    actor: Requester,
    participant: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    values = {"participant": participant, "reason": reason}
    try:
        made = request_unblinding(web_state(request).store, actor.username, participant, reason)
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError):
            raise
        message = str(error)
        field = field_of(message)
        if field in values:
            return _request_page(request, values, {field: message}, status=422)
        return _request_page(request, values, problem=message, status=status_of(error))
    return RedirectResponse(f"/unblinding?done=requested#request-{made.id}", status_code=303)


@router.post("/unblinding/{request_id}/decide")
def unblinding_decide(
    request: Request,
    actor: CurrentActor,
    request_id: int,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Grant or decline; a refusal is shown beside that request's form (field errors 422)."""
    try:
        decided = decide_unblinding(
            web_state(request).store, actor.username, request_id, decision, reason
        )
    except PhysiotrialError as error:
        if isinstance(error, PermissionDeniedError):
            raise
        message = str(error)
        status = 422 if field_of(message) in ("decision", "reason") else status_of(error)
        return _unblinding_page(
            request,
            actor,
            failed=request_id,
            problem=message,
            entered={"reason": reason},
            status=status,
        )
    return RedirectResponse(
        f"/unblinding?done={decided.status}#request-{decided.id}", status_code=303
    )
