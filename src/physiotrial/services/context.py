"""Who is acting, what their role may do, and the one way services write.

Every service call names the acting user. :func:`acting` looks the user up, and :func:`writing`
opens the write transaction (one audit row) only after checking the role may perform the action
and, for site-bound roles, that the participant belongs to the user's site.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.core.protocol import Role
from physiotrial.errors import NotFoundError, PermissionDeniedError
from physiotrial.store import schema
from physiotrial.store.store import Store, Transaction

C, A, T, P, S, D = (
    Role.COORDINATOR,
    Role.ASSESSOR,
    Role.THERAPIST,
    Role.PARTICIPANT,
    Role.STATISTICIAN,
    Role.DATA_MANAGER,
)

PERMISSIONS: dict[str, frozenset[Role]] = {
    "user add": frozenset({D}),
    "site add": frozenset({D}),
    "protocol amend": frozenset({D}),
    "screen": frozenset({C}),
    "consent": frozenset({C}),
    "randomise": frozenset({C, T}),
    "visits": frozenset({C, A, T, D}),
    "record": frozenset({C, A, T, P}),
    "correct": frozenset({C, A, T, D}),
    "session": frozenset({T}),
    "log home exercise": frozenset({T, P}),
    "ae": frozenset({C, A, T}),
    "deviation": frozenset({C, D}),
    "withdraw": frozenset({C}),
    "unblind": frozenset({D}),
    "request unblinding": frozenset({C, A, T}),
    "decline unblinding": frozenset({D}),
    "lock": frozenset({D}),
    "unlock": frozenset({D}),
    "export": frozenset({D, S, C}),
    "analyse": frozenset({D, S}),
    "audit": frozenset({D}),
    "verify": frozenset({D, S}),
    "set password": frozenset({C, A, T, S, D}),
    "end sessions": frozenset({C, A, T, S, D}),
    "use api tokens": frozenset({C, A, T, S, D}),
    "manage other users": frozenset({D}),
    "give links": frozenset({C, A}),
    "give exercise log links": frozenset({C, T}),
    "follow progress": frozenset({C, A, T, D}),
    "clinic outcomes": frozenset({C, A, T, S, D}),
}
"""Action → roles allowed to perform it (DESIGN.md, "Users and what they do").

Web access (services/access.py): every staff role may ``set password``, ``end sessions`` and ``use
api tokens`` for itself; doing so for another user is to ``manage other users``, the data
manager's. Participants have no account: a coordinator or an assessor of their site may ``give
links``, one-time links to the participant's self-report forms.

Clinic mode (issue 7): a coordinator or the therapist of the patient's site may ``give exercise
log links`` (services/exercise_log.py), through which the patient logs their home exercise days
as sessions of the participant-delivered plan ``home_exercise``. The participant role does not
get ``session``: that would let it record every plan, the therapist's needling too; the link
itself authorises the one plan it logs, as a visit link authorises its visit's forms.

Clinic mode (services/clinic.py): staff of the patient's site and the data manager ``follow
progress`` of a patient; the clinic's pooled figures (``clinic outcomes``) are open to every staff
role, the statistician included.

Emergency unblinding (services/unblinding.py): staff of the participant's site ``request
unblinding``; the data manager grants (``unblind``) or declines (``decline unblinding``)."""

SITE_BOUND = frozenset({C, A, T})
"""Roles that may act only on participants of their own site."""


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role
    site_id: int | None


def acting(connection: Connection, username: str) -> Actor:
    """The active user called ``username``."""
    row = (
        connection.execute(select(schema.users).where(schema.users.c.username == username))
        .mappings()
        .one_or_none()
    )
    if row is None or not row["active"]:
        raise NotFoundError(f"no active user {username!r}; a data manager adds users (user add)")
    return Actor(username=username, role=Role(row["role"]), site_id=row["site_id"])


def require(actor: Actor, action: str, site_id: int | None = None) -> None:
    """Refuse an action the actor's role (or site) does not allow, saying who may do it."""
    allowed = PERMISSIONS[action]
    if actor.role not in allowed:
        roles = ", ".join(sorted(r.value for r in allowed))
        raise PermissionDeniedError(
            f"{actor.username} ({actor.role.value}) may not {action}; allowed roles: {roles}"
        )
    if (
        site_id is not None
        and actor.role in SITE_BOUND
        and actor.site_id is not None
        and actor.site_id != site_id
    ):
        raise PermissionDeniedError(
            f"{actor.username} works at another site and may not {action} for this participant"
        )


@contextmanager
def writing(
    store: Store,
    username: str,
    action: str,
    *,
    participant: str | None = None,
    reason: str | None = None,
    when_locked: bool = False,
) -> Iterator[tuple[Transaction, Actor]]:
    """Open the write for ``action`` as ``username`` after checking the role may do it.

    The user is looked up inside the write transaction, so a user deactivated or moved to
    another site by a concurrent write cannot slip through between the check and the write.
    """
    with store.write(
        actor=username,
        role="",
        action=action,
        participant=participant,
        reason=reason,
        when_locked=when_locked,
    ) as tx:
        actor = acting(tx.connection, username)
        require(actor, action)
        tx.role = actor.role.value
        yield tx, actor


def participant_row(connection: Connection, study_code: str) -> dict[str, Any]:
    """The participant with this pseudonymous study code."""
    row = (
        connection.execute(
            select(schema.participants).where(schema.participants.c.study_code == study_code)
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"no participant {study_code!r}")
    return dict(row)
