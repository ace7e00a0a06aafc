"""Recruitment at a glance: how many were screened, found eligible and randomised, and per arm,
and how recruitment grew over time against the protocol's target.

The web dashboard (issue 6) shows recruitment against the protocol's target. Site-bound roles
(coordinator, assessor, therapist) count their own site only, like :func:`schedule.due_visits`;
the other roles count every site. The counts per arm pass the one blinding rule
(:func:`blinding.sees_allocation`): for a role that may not see allocations ``arms`` is ``None``
and no arm code or name is read into the result at all, so nothing can leak from it. The
timeline (:func:`recruitment_over_time`) never reads an arm for anyone: it counts dates only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, case, func, select

from physiotrial.core.protocol import Protocol
from physiotrial.services.blinding import sees_allocation
from physiotrial.services.context import SITE_BOUND, Actor, acting
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


@dataclass(frozen=True)
class RecruitmentPoint:
    """Totals so far at the end of one period (``ends``: its last day, or today for the period
    still running)."""

    ends: date
    screened: int
    randomised: int


@dataclass(frozen=True)
class RecruitmentTimeline:
    """Cumulative screened and randomised counts per ``period`` ("week" or "month"), from the
    period of the first screening to today's, for ``site`` (None: every site).

    ``target`` is the protocol's planned total randomised for the whole study (None when the
    protocol gives no sample size); it is the same for a site-bound role, who sees their own
    site's counts: the protocol sets no target per site. The protocol declares no recruitment
    period, so there is no planned line to draw, only the target level.
    """

    site: str | None
    period: str
    points: tuple[RecruitmentPoint, ...]
    target: int | None


WEEKS_SHOWN = 26
"""Up to this many weeks the timeline counts per week; a longer one counts per month."""


def site_scope(connection: Connection, who: Actor) -> tuple[int | None, str | None]:
    """The site (id, code) whose participants ``who`` counts: their own if site-bound, else
    (None, None) for every site."""
    if who.role not in SITE_BOUND or who.site_id is None:
        return None, None
    query = select(schema.sites.c.code).where(schema.sites.c.id == who.site_id)
    return who.site_id, str(connection.execute(query).scalar_one())


def recruitment(store: Store, actor: str) -> Recruitment:
    """Recruitment as ``actor`` may see it; any active user may ask."""
    with store.read() as connection:
        who = acting(connection, actor)
        protocol = study_protocol(connection)
        p, s, a = schema.participants, schema.screenings, schema.allocations
        site_id, site = site_scope(connection, who)
        scope = p.c.site_id == site_id if site_id is not None else p.c.id.is_not(None)
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
    return Recruitment(
        site=site,
        screened=int(screened),
        eligible=int(eligible),
        randomised=int(randomised),
        target=_target(protocol),
        arms=arms,
    )


def recruitment_over_time(store: Store, actor: str, today: date) -> RecruitmentTimeline:
    """Screened and randomised so far at the end of each week (each month once the span from
    the first screening's week to today passes :data:`WEEKS_SHOWN` weeks), up to ``today``.

    Counts are cumulative and use the same rows as :func:`recruitment` (one per screening, one
    per allocation), dated by ``screened_on`` and ``randomised_on``; a record dated after
    ``today`` is not counted, so a past ``today`` shows the past. No screening yet (or none by
    ``today``): no points. Any active user may ask; site-bound roles see their own site.
    """
    with store.read() as connection:
        who = acting(connection, actor)
        protocol = study_protocol(connection)
        site_id, site = site_scope(connection, who)
        p, s, a = schema.participants, schema.screenings, schema.allocations
        screened_q = select(s.c.screened_on).join(p, p.c.id == s.c.participant_id)
        randomised_q = select(a.c.randomised_on).join(p, p.c.id == a.c.participant_id)
        if site_id is not None:
            screened_q = screened_q.where(p.c.site_id == site_id)
            randomised_q = randomised_q.where(p.c.site_id == site_id)
        screened = sorted(d for d in connection.execute(screened_q).scalars() if d <= today)
        randomised = sorted(d for d in connection.execute(randomised_q).scalars() if d <= today)
    target = _target(protocol)
    if not screened:
        return RecruitmentTimeline(site=site, period="week", points=(), target=target)
    first = screened[0] - timedelta(days=screened[0].weekday())
    weekly = (today - first).days < WEEKS_SHOWN * 7
    ends = _week_ends(first, today) if weekly else _month_ends(screened[0], today)
    points = tuple(
        RecruitmentPoint(
            ends=end,
            screened=sum(1 for d in screened if d <= end),
            randomised=sum(1 for d in randomised if d <= end),
        )
        for end in ends
    )
    period = "week" if weekly else "month"
    return RecruitmentTimeline(site=site, period=period, points=points, target=target)


def _week_ends(monday: date, today: date) -> list[date]:
    """The Sundays from ``monday``'s week to the week before today's, then today."""
    ends: list[date] = []
    end = monday + timedelta(days=6)
    while end < today:
        ends.append(end)
        end += timedelta(days=7)
    return [*ends, today]


def _month_ends(first: date, today: date) -> list[date]:
    """The last day of each month from ``first``'s month to the month before today's, then
    today."""
    ends: list[date] = []
    month = first.replace(day=1)
    while True:
        following = (month + timedelta(days=32)).replace(day=1)
        end = following - timedelta(days=1)
        if end >= today:
            return [*ends, today]
        ends.append(end)
        month = following


def _target(protocol: Protocol) -> int | None:
    """The planned total randomised: per arm × arms, when the protocol gives a sample size."""
    size = protocol.sample_size
    return size.per_arm * len(protocol.arms) if size is not None else None
