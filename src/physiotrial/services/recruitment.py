"""Recruitment at a glance: how many were screened, found eligible and randomised, and per arm.

The web dashboard (issue 6) shows recruitment against the protocol's target. Site-bound roles
(coordinator, assessor, therapist) count their own site only, like :func:`schedule.due_visits`;
the other roles count every site. The counts per arm pass the one blinding rule
(:func:`blinding.sees_allocation`): for a role that may not see allocations ``arms`` is ``None``
and no arm code or name is read into the result at all, so nothing can leak from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from physiotrial.services.blinding import sees_allocation
from physiotrial.services.context import SITE_BOUND, acting
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store


@dataclass(frozen=True)
class ArmCount:
    code: str
    name: str
    randomised: int


@dataclass(frozen=True)
class Recruitment:
    """Counts for ``site`` (a site code) or, when ``site`` is None, for every site. ``target``
    is the protocol's planned total (per arm × arms) when the protocol gives a sample size."""

    site: str | None
    screened: int
    eligible: int
    randomised: int
    target: int | None
    arms: tuple[ArmCount, ...] | None


def recruitment(store: Store, actor: str) -> Recruitment:
    """Recruitment as ``actor`` may see it; any active user may ask."""
    with store.read() as connection:
        who = acting(connection, actor)
        protocol = study_protocol(connection)
        p, s, a = schema.participants, schema.screenings, schema.allocations
        site_id = who.site_id if who.role in SITE_BOUND else None
        scope = p.c.site_id == site_id if site_id is not None else p.c.id.is_not(None)
        site = None
        if site_id is not None:
            query = select(schema.sites.c.code).where(schema.sites.c.id == site_id)
            site = connection.execute(query).scalar_one()
        screened, eligible = connection.execute(
            select(func.count(), func.coalesce(func.sum(case((s.c.eligible, 1), else_=0)), 0))
            .select_from(s)
            .join(p, p.c.id == s.c.participant_id)
            .where(scope)
        ).one()
        allocated = select(a.c.participant_id).join(p, p.c.id == a.c.participant_id).where(scope)
        randomised = connection.execute(
            select(func.count()).select_from(allocated.subquery())
        ).scalar_one()
        arms = None
        if sees_allocation(connection, who):
            per_arm: dict[str, int] = dict(
                connection.execute(
                    select(a.c.arm, func.count())
                    .join(p, p.c.id == a.c.participant_id)
                    .where(scope)
                    .group_by(a.c.arm)
                ).all()
            )
            arms = tuple(
                ArmCount(arm.code, arm.name, int(per_arm.get(arm.code, 0))) for arm in protocol.arms
            )
    size = protocol.sample_size
    return Recruitment(
        site=site,
        screened=int(screened),
        eligible=int(eligible),
        randomised=int(randomised),
        target=size.per_arm * len(protocol.arms) if size is not None else None,
        arms=arms,
    )
