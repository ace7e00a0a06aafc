"""Randomisation, its verification, and unblinding: the one audited call that allocates.

How a slot is taken: the write transaction is already serialised with every other write (SQLite
``BEGIN IMMEDIATE``, PostgreSQL row lock on ``audit_head``; store.py), so reading the lowest free
slot of the stratum and recording it cannot interleave with another randomisation; the slot row
is also selected ``FOR UPDATE``, and ``allocations.slot_id`` is UNIQUE, so even a broken lock
could not hand one slot out twice (DESIGN.md, "Randomisation cannot hand out the same sequence
slot twice"). Under minimisation there is no list: the arm comes from :func:`core.minimise` with
every earlier allocation, in order, and the secret seed.

What is revealed: the result carries the arm only through :func:`blinding.arm_for` (the therapist
needs it; coordinators get ``None``), and no error or verification message names an arm
(allocation concealment, CONSORT 2010 items 9-10; Schulz & Grimes, Lancet 2002;359:614-618).

Unblinding: a data manager may reveal one participant's arm in an emergency, with a reason,
logged in ``unblindings`` and the audit trail; the whole study is unblinded only once the
database is locked, after which the statistician sees arms (ICH E9 section 2.3.1; DESIGN.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, exists, func, select

from physiotrial.core.eligibility import stratum_of
from physiotrial.core.randomisation import (
    Allocation,
    Slot,
    generate_sequence,
    has_sequence,
    minimise,
    sequence_hash,
    verify_allocations,
)
from physiotrial.core.schedule import plan_visits
from physiotrial.errors import ConflictError, RandomisationError, StoreError
from physiotrial.services.blinding import arm_for
from physiotrial.services.context import acting, participant_row, require, writing
from physiotrial.services.enrolment import consent_row, required_text, screening_row
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

RANDOMISED = "randomised"
WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ScheduledVisit:
    code: str
    name: str
    planned: date
    opens: date
    closes: date


@dataclass(frozen=True)
class RandomisationResult:
    """A randomisation as the acting user may see it: ``arm`` is None for blinded roles."""

    study_code: str
    status: str
    randomised_on: date
    sequence_index: int
    arm: str | None
    visits: tuple[ScheduledVisit, ...]
    clinic: bool = False
    """True in a clinic study: this started care (one arm, nothing was randomised)."""


@dataclass(frozen=True)
class StudyUnblinding:
    study_id: str
    unblinded_at: str
    reason: str


def _seed(connection: Connection) -> str:
    seed = connection.execute(
        select(schema.secrets.c.value).where(schema.secrets.c.name == "seed")
    ).scalar_one_or_none()
    if seed is None:
        raise StoreError("the study has no randomisation seed; was it created with `init`?")
    return str(seed)


def allocation_of(connection: Connection, participant_id: int) -> dict[str, Any] | None:
    row = (
        connection.execute(
            select(schema.allocations).where(schema.allocations.c.participant_id == participant_id)
        )
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


def _refusal(connection: Connection, row: dict[str, Any], randomised_on: date) -> str | None:
    """Why this participant cannot be randomised now, or None (messages never name an arm)."""
    code = row["study_code"]
    allocation = allocation_of(connection, row["id"])
    if allocation is not None:
        return (
            f"participant {code} is already randomised (allocation "
            f"{allocation['sequence_index']}, on {allocation['randomised_on'].isoformat()}); "
            "a participant is randomised once"
        )
    left = connection.execute(
        select(schema.dispositions.c.kind).where(schema.dispositions.c.participant_id == row["id"])
    ).scalar_one_or_none()
    if row["status"] == WITHDRAWN or left is not None:
        return f"participant {code} has left the study ({left or row['status']}); not randomised"
    screening = screening_row(connection, row["id"])
    if screening is None or not screening["eligible"]:
        return (
            f"participant {code} was not screened eligible (status {row['status']}); not randomised"
        )
    given = consent_row(connection, row["id"])
    if given is None:
        return (
            f"participant {code} has not consented (status {row['status']}); record consent first"
        )
    if randomised_on < given["consented_on"]:
        return (
            f"randomised_on {randomised_on.isoformat()} is before the consent on "
            f"{given['consented_on'].isoformat()}; allowed: "
            f"{given['consented_on'].isoformat()} or later"
        )
    return None


def _next_slot(connection: Connection, stratum: str, per_stratum: int | None) -> dict[str, Any]:
    """The lowest-position slot of ``stratum`` that no allocation references, locked."""
    slots, allocations = schema.sequence_slots, schema.allocations
    taken = exists().where(allocations.c.slot_id == slots.c.id)
    query = (
        select(slots)
        .where(slots.c.stratum == stratum, ~taken)
        .order_by(slots.c.position)
        .limit(1)
        .with_for_update()
    )
    slot = connection.execute(query).mappings().first()
    if slot is None:
        raise RandomisationError(
            f"stratum {stratum}: every sequence slot is used ({per_stratum} sealed per stratum); "
            "physiotrial cannot extend a sealed sequence yet: stop recruiting to this stratum "
            "and ask the trial statistician (the sequence size is set at init from sample_size)"
        )
    return dict(slot)


def _prior(connection: Connection) -> list[tuple[dict[str, str], str]]:
    """Every allocation so far as (factor levels, arm), in allocation order."""
    a, p = schema.allocations, schema.participants
    query = (
        select(p.c.factor_levels, a.c.arm)
        .join(p, p.c.id == a.c.participant_id)
        .order_by(a.c.sequence_index)
    )
    return [(dict(levels), str(arm)) for levels, arm in connection.execute(query)]


def randomise(
    store: Store, actor: str, study_code: str, randomised_on: date
) -> RandomisationResult:
    """Allocate one consented, eligible participant and plan their visits from ``randomised_on``.

    Refusals (:class:`ConflictError`: not eligible, not consented, already randomised, left the
    study) write nothing. The arm in the result passes through :func:`arm_for`.
    """
    with writing(store, actor, "randomise", participant=study_code) as (tx, user):
        connection = tx.connection
        row = participant_row(connection, study_code)
        require(user, "randomise", row["site_id"])
        refusal = _refusal(connection, row, randomised_on)
        if refusal is not None:
            raise ConflictError(refusal)
        protocol = study_protocol(connection)
        stratum = stratum_of(protocol, row["factor_levels"])
        count = connection.execute(
            select(func.count()).select_from(schema.allocations)
        ).scalar_one()
        slot_id: int | None = None
        if protocol.randomisation.method == "none":
            arm = protocol.arms[0].code
        elif protocol.randomisation.method == "minimisation":
            prior = _prior(connection)
            seed = _seed(connection)
            arm = minimise(protocol, seed, prior, row["factor_levels"], len(prior))
        else:
            per_stratum = connection.execute(select(schema.study.c.per_stratum)).scalar_one()
            slot = _next_slot(connection, stratum, per_stratum)
            slot_id, arm = int(slot["id"]), str(slot["arm"])
        index = int(count) + 1
        tx.insert(
            schema.allocations,
            {
                "participant_id": row["id"],
                "stratum": stratum,
                "slot_id": slot_id,
                "sequence_index": index,
                "arm": arm,
                "randomised_on": randomised_on,
                "entered_by": tx.actor,
                "entered_at": tx.at,
            },
        )
        planned = plan_visits(protocol, randomised_on)
        for visit in planned:
            tx.insert(
                schema.visits,
                {
                    "participant_id": row["id"],
                    "code": visit.code,
                    "planned": visit.planned,
                    "opens": visit.opens,
                    "closes": visit.closes,
                    "done_on": None,
                },
            )
        tx.update(schema.participants, row["id"], {"status": RANDOMISED})
        shown = arm_for(connection, user, arm)
    return RandomisationResult(
        study_code=study_code,
        status=RANDOMISED,
        randomised_on=randomised_on,
        sequence_index=index,
        arm=shown,
        visits=tuple(ScheduledVisit(v.code, v.name, v.planned, v.opens, v.closes) for v in planned),
        clinic=protocol.is_clinic,
    )


# --- verification ---------------------------------------------------------------------------

_ARM_MISMATCH = re.compile(r" is [^,]*, recorded .*$")


def _without_arm(message: str) -> str:
    """A core verification message with the arms it names taken out.

    ``verify_allocations`` says which arm a slot holds and which was recorded; the result of this
    service goes to roles that may be blind (the statistician before unblinding), so it says only
    that they differ, and the data manager looks the arms up in the audit trail.
    """
    return _ARM_MISMATCH.sub(" differs from the arm the seed gives (arm changed)", message)


def _stored_slots(connection: Connection) -> list[Slot]:
    s = schema.sequence_slots
    rows = connection.execute(
        select(s.c.stratum, s.c.position, s.c.arm, s.c.block, s.c.block_size).order_by(s.c.id)
    )
    return [Slot(r.stratum, r.position, r.arm, r.block, r.block_size) for r in rows]


def _sequence_problems(stored: list[Slot], derived: list[Slot], seal: str | None) -> list[str]:
    problems: list[str] = []
    if sequence_hash(derived) != seal:
        problems.append(
            "the sequence re-derived from the seed does not match the seal recorded at study "
            "start (the seed, the protocol or the seal changed)"
        )
    if sequence_hash(stored) != seal:
        problems.append("the stored sequence does not match the seal recorded at study start")
    by_key = {(s.stratum, s.position): s for s in stored}
    expected = {(s.stratum, s.position): s for s in derived}
    for key, slot in expected.items():
        where = f"slot {key[0]} #{key[1]}"
        if key not in by_key:
            problems.append(f"{where} is missing from the stored sequence")
        elif by_key[key] != slot:
            problems.append(
                f"{where} differs from the sequence the seed gives (changed after sealing)"
            )
    for key in by_key.keys() - expected.keys():
        problems.append(f"slot {key[0]} #{key[1]} is stored but not in the sequence the seed gives")
    return problems


def _recorded(connection: Connection) -> list[Allocation]:
    a, p, s = schema.allocations, schema.participants, schema.sequence_slots
    query = (
        select(p.c.study_code, a.c.stratum, s.c.position, a.c.arm, p.c.factor_levels)
        .join(p, p.c.id == a.c.participant_id)
        .outerjoin(s, s.c.id == a.c.slot_id)
        .order_by(a.c.sequence_index)
    )
    return [
        Allocation(r.study_code, r.stratum, r.position, r.arm, dict(r.factor_levels))
        for r in connection.execute(query)
    ]


def verify_randomisation(store: Store, actor: str) -> list[str]:
    """Every departure of the stored sequence and allocations from what the seed gives.

    Re-derives the sequence from the secret seed and compares it with the seal and with every
    stored slot, then re-checks each allocation (:func:`core.verify_allocations`). An empty list
    means verified. Messages name participants and slots, never arms.
    """
    with store.read() as connection:
        user = acting(connection, actor)
        require(user, "verify")
        protocol = study_protocol(connection)
        study = connection.execute(select(schema.study)).mappings().one()
        seed = _seed(connection)
        per_stratum = int(study["per_stratum"] or 0)
        problems: list[str] = []
        if has_sequence(protocol):
            derived = generate_sequence(protocol, seed, per_stratum)
            problems += _sequence_problems(
                _stored_slots(connection), derived, study["sequence_hash"]
            )
        checked = verify_allocations(protocol, seed, per_stratum, _recorded(connection))
        return problems + [_without_arm(message) for message in checked]


# --- unblinding -----------------------------------------------------------------------------


def unblind(store: Store, actor: str, study_code: str, reason: str) -> str:
    """Emergency unblinding of one participant (data managers only): returns the arm.

    The reason is required; the look is recorded in ``unblindings`` and in the audit trail.
    """
    why = required_text("reason", reason)
    with writing(store, actor, "unblind", participant=study_code, reason=why, when_locked=True) as (
        tx,
        user,
    ):
        row = participant_row(tx.connection, study_code)
        allocation = allocation_of(tx.connection, row["id"])
        if allocation is None:
            raise ConflictError(
                f"participant {study_code} is not randomised (status {row['status']}); "
                "there is no allocation to unblind"
            )
        tx.insert(
            schema.unblindings,
            {
                "participant_id": row["id"],
                "scope": "participant",
                "reason": why,
                "entered_by": tx.actor,
                "entered_at": tx.at,
            },
        )
        arm = arm_for(tx.connection, user, str(allocation["arm"]))
    if arm is None:  # PERMISSIONS["unblind"] holds only roles that see allocations
        raise StoreError("unblinding is allowed for a role that may not see allocations")
    return arm


def unblind_study(store: Store, actor: str, reason: str) -> StudyUnblinding:
    """Unblind the whole study after the database lock; the statistician then sees arms."""
    why = required_text("reason", reason)
    with writing(store, actor, "unblind", reason=why, when_locked=True) as (tx, _user):
        study = tx.connection.execute(select(schema.study)).mappings().one()
        if not study["locked"]:
            raise ConflictError(
                "the study is not locked; the whole study is unblinded only after the database "
                "lock (lock it first)"
            )
        if study["unblinded"]:
            raise ConflictError("the study is already unblinded")
        tx.update(schema.study, study["id"], {"unblinded": True})
        tx.insert(
            schema.unblindings,
            {
                "participant_id": None,
                "scope": "study",
                "reason": why,
                "entered_by": tx.actor,
                "entered_at": tx.at,
            },
        )
        at = tx.at
    return StudyUnblinding(study_id=str(study["study_id"]), unblinded_at=at, reason=why)
