"""Who may see an allocation: the one rule every service result, export and message follows.

DESIGN.md: the therapist must know the arm to needle or sham; the data manager may, and every
look is logged; the statistician sees arms only after the study is unblinded (after lock);
coordinators, assessors and participants never do. A blinded role's results simply carry no arm
(``None``), and error messages never name an arm, whoever asks.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from physiotrial.core.protocol import Role
from physiotrial.services.context import Actor
from physiotrial.store import schema

ALWAYS_UNBLINDED = frozenset({Role.THERAPIST, Role.DATA_MANAGER})
UNBLINDED_AFTER_UNBLINDING = frozenset({Role.STATISTICIAN})


def sees_allocation(connection: Connection, actor: Actor) -> bool:
    """True when ``actor`` may be shown allocations now."""
    if actor.role in ALWAYS_UNBLINDED:
        return True
    if actor.role in UNBLINDED_AFTER_UNBLINDING:
        unblinded = connection.execute(select(schema.study.c.unblinded)).scalar_one_or_none()
        return bool(unblinded)
    return False


def arm_for(connection: Connection, actor: Actor, arm: str | None) -> str | None:
    """``arm`` if the actor may see it, else None: the filter every result passes through."""
    return arm if arm is not None and sees_allocation(connection, actor) else None
