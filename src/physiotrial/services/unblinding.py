"""Emergency unblinding on request: site staff ask, the data manager grants or declines.

A coordinator, assessor or therapist of the participant's site asks for one participant's
allocation to be revealed in a clinical emergency, with a reason (:func:`request_unblinding`).
The data manager sees every request and decides it once (:func:`decide_unblinding`): granting
writes, in the same transaction, the decision and the ``unblindings`` row that
``randomisation.unblind`` writes, so a granted request is an unblinding with its audit row
(action ``unblind``); declining needs a reason (action ``decline unblinding``).

Who sees what (services/blinding.py): the arm of a granted request reaches only roles that may
see allocations, through :func:`blinding.arm_for`; the requester sees the status of their own
requests and never the arm (the data manager tells them out of band, by a channel the trial's
emergency procedure names). A data manager's note on a *granted* request is not shown to the
requester either, since it could name the arm; the reason of a decline is.

Requests and decisions are allowed while the study is locked, as ``unblind`` is: an emergency
does not wait for an unlock. ``unblinding_requests`` is hashed by the lock like ``unblindings``
(services/locking.py): both are part of the trial's record of who broke the blind and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.errors import ConflictError, NotFoundError
from physiotrial.services.blinding import arm_for, sees_allocation
from physiotrial.services.context import (
    PERMISSIONS,
    Actor,
    acting,
    participant_row,
    require,
    writing,
)
from physiotrial.services.enrolment import required_text
from physiotrial.services.randomisation import allocation_of
from physiotrial.store import schema
from physiotrial.store.store import Store

GRANTED = "granted"
DECLINED = "declined"
DECISIONS = (GRANTED, DECLINED)


@dataclass(frozen=True)
class UnblindingRequest:
    """A request as the acting user may see it: ``arm`` is None unless the request was granted
    and the user may see allocations; ``decision_reason`` of a granted request is None for a
    user who may not see allocations."""

    id: int
    study_code: str
    site: str
    reason: str
    requested_by: str
    requested_at: str
    decision: str | None
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None
    arm: str | None

    @property
    def status(self) -> str:
        return self.decision or "pending"


def request_unblinding(store: Store, actor: str, study_code: str, reason: str) -> UnblindingRequest:
    """Ask the data manager to unblind one randomised participant of the actor's site.

    Refused: a blank code or reason (naming the field), an unknown participant, another site's
    participant, one not randomised, or one with a request still pending.
    """
    code = required_text("participant", study_code)
    why = required_text("reason", reason)
    with writing(
        store, actor, "request unblinding", participant=code, reason=why, when_locked=True
    ) as (tx, user):
        connection = tx.connection
        row = _participant(connection, code)
        require(user, "request unblinding", row["site_id"])
        if allocation_of(connection, row["id"]) is None:
            raise ConflictError(
                f"participant {code} is not randomised (status {row['status']}); there is no "
                "allocation to unblind"
            )
        r = schema.unblinding_requests
        pending = connection.execute(
            select(r.c.id, r.c.requested_by, r.c.requested_at).where(
                r.c.participant_id == row["id"], r.c.decision.is_(None)
            )
        ).first()
        if pending is not None:
            raise ConflictError(
                f"participant {code} already has a pending unblinding request ({pending.id}, by "
                f"{pending.requested_by} at {pending.requested_at}); the data manager decides it"
            )
        request_id = tx.insert(
            r,
            {
                "participant_id": row["id"],
                "reason": why,
                "requested_by": tx.actor,
                "requested_at": tx.at,
            },
        )
        return _one(connection, user, request_id)


def unblinding_requests(store: Store, actor: str) -> list[UnblindingRequest]:
    """Every request for the data manager; a requester's own requests; newest first."""
    with store.read() as connection:
        user = acting(connection, actor)
        if user.role not in PERMISSIONS["unblind"]:
            require(user, "request unblinding")
        r = schema.unblinding_requests
        query = _query().order_by(r.c.id.desc())
        if user.role not in PERMISSIONS["unblind"]:
            query = query.where(r.c.requested_by == user.username)
        return [_shown(connection, user, row) for row in connection.execute(query).mappings()]


def decide_unblinding(
    store: Store, actor: str, request_id: int, decision: str, reason: str | None = None
) -> UnblindingRequest:
    """Grant (unblind: the result carries the arm) or decline (a reason is required) a request.

    A request is decided once; a second decision is refused with who decided it and when.
    """
    action = "unblind" if decision == GRANTED else "decline unblinding"
    with store.read() as connection:
        require(acting(connection, actor), action)
        if decision not in DECISIONS:
            raise ConflictError(
                f"decision: {decision!r} is not allowed; allowed: {', '.join(DECISIONS)}"
            )
        note = required_text("reason", reason) if decision == DECLINED else (reason or "").strip()
        asked = _request_row(connection, request_id)
    why = note or str(asked["reason"])
    with writing(
        store, actor, action, participant=asked["study_code"], reason=why, when_locked=True
    ) as (tx, user):
        connection = tx.connection
        current = _request_row(connection, request_id)
        if current["decision"] is not None:
            raise ConflictError(
                f"unblinding request {request_id} was already {current['decision']} by "
                f"{current['decided_by']} at {current['decided_at']}; a request is decided once"
            )
        if decision == GRANTED:
            if allocation_of(connection, current["participant_id"]) is None:
                raise ConflictError(
                    f"participant {current['study_code']} has no allocation to unblind"
                )
            tx.insert(
                schema.unblindings,
                {
                    "participant_id": current["participant_id"],
                    "scope": "participant",
                    "reason": (
                        f"request {request_id} by {current['requested_by']}: {current['reason']}"
                    ),
                    "entered_by": tx.actor,
                    "entered_at": tx.at,
                },
            )
        tx.update(
            schema.unblinding_requests,
            request_id,
            {
                "decision": decision,
                "decided_by": tx.actor,
                "decided_at": tx.at,
                "decision_reason": note or None,
            },
        )
        return _one(connection, user, request_id)


def _participant(connection: Connection, study_code: str) -> dict[str, Any]:
    try:
        return participant_row(connection, study_code)
    except NotFoundError:
        raise NotFoundError(
            f"participant: no participant {study_code!r}; allowed: a study code such as SEV-001"
        ) from None


def _query() -> Any:
    r, p, s, a = (
        schema.unblinding_requests,
        schema.participants,
        schema.sites,
        schema.allocations,
    )
    return (
        select(r, p.c.study_code, s.c.code.label("site"), a.c.arm)
        .join(p, p.c.id == r.c.participant_id)
        .join(s, s.c.id == p.c.site_id)
        .outerjoin(a, a.c.participant_id == r.c.participant_id)
    )


def _request_row(connection: Connection, request_id: int) -> dict[str, Any]:
    r = schema.unblinding_requests
    row = connection.execute(_query().where(r.c.id == request_id)).mappings().one_or_none()
    if row is None:
        raise NotFoundError(f"request: no unblinding request {request_id}")
    return dict(row)


def _one(connection: Connection, user: Actor, request_id: int) -> UnblindingRequest:
    return _shown(connection, user, _request_row(connection, request_id))


def _shown(connection: Connection, user: Actor, row: Any) -> UnblindingRequest:
    """The request as ``user`` may see it (the module docstring says what is held back)."""
    granted = row["decision"] == GRANTED
    sees = sees_allocation(connection, user) and user.role in PERMISSIONS["unblind"]
    arm = arm_for(connection, user, row["arm"]) if granted and sees else None
    note = row["decision_reason"] if sees or not granted else None
    return UnblindingRequest(
        id=int(row["id"]),
        study_code=str(row["study_code"]),
        site=str(row["site"]),
        reason=str(row["reason"]),
        requested_by=str(row["requested_by"]),
        requested_at=str(row["requested_at"]),
        decision=row["decision"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_reason=note,
        arm=arm,
    )
