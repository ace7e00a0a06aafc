"""A small study with data in every table, written with ``Store.write`` as the services would.

The lock, export and audit tests need participants at every stage (screen-failed, randomised,
withdrawn), responses with a correction, sessions with an ``unblinded_only`` field and an adverse
event linked to a session. They are written here directly, one ``Store.write`` (one audit row)
per step, so these tests do not depend on the enrolment and capture services' internals; the
row shapes follow those services (answers stored as item codes, every item present, scores
from core scoring with the measure's protocol options).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.core.protocol import Role
from physiotrial.core.schedule import plan_visits
from physiotrial.services.study import add_site, add_user, init_study, study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

SEED = "lock-export-audit-tests"
DAY0 = date(2025, 3, 3)
WOMAC_ITEMS = [f"{p}{i}" for p, n in (("p", 5), ("s", 2), ("f", 17)) for i in range(1, n + 1)]


@dataclass(frozen=True)
class Person:
    id: int
    code: str
    site: str
    sex: str
    arm: str | None


def make_study(database_url: str) -> Store:
    """The reference protocol, two sites and one user of every role."""
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="Dana Manager", seed=SEED)
    store = Store(database_url)
    add_site(store, "dm", "SEV", "Seville health centre")
    add_site(store, "dm", "UNI", "University of Seville")
    users = [
        ("coord", Role.COORDINATOR, "SEV"),
        ("coord_uni", Role.COORDINATOR, "UNI"),
        ("assessor", Role.ASSESSOR, "SEV"),
        ("therapist", Role.THERAPIST, "SEV"),
        ("stat", Role.STATISTICIAN, None),
    ]
    for username, role, site in users:
        add_user(store, "dm", username, f"{username.title()} Person", role, site)
    return store


def screen(
    store: Store, code: str, site: str, sex: str, *, eligible: bool = True, name: str = ""
) -> Person:
    """A screened participant with identity, screening answers and (if eligible) consent."""
    answers = {"age": 67, "acr_knee_oa": True, "pain_months": 14, "needle_phobia": not eligible}
    with store.write(actor="coord", role="coordinator", action="screen", participant=code) as tx:
        site_id = tx.connection.execute(
            select(schema.sites.c.id).where(schema.sites.c.code == site)
        ).scalar_one()
        pid = tx.insert(
            schema.participants,
            {
                "study_code": code,
                "site_id": site_id,
                "status": "eligible" if eligible else "screen_failed",
                "factor_levels": {"sex": sex},
                "created_at": tx.at,
            },
        )
        tx.insert(
            schema.identities,
            {"participant_id": pid, "name": name or f"Name of {code}", "contact": f"{code}@x.es"},
        )
        tx.insert(
            schema.screenings,
            {
                "participant_id": pid,
                "screened_on": DAY0,
                "answers": answers,
                "eligible": eligible,
                "reasons": [] if eligible else ["needle_phobia: Fear of needles"],
                **_entered(tx),
            },
        )
    if eligible:
        with store.write(
            actor="coord", role="coordinator", action="consent", participant=code
        ) as tx:
            tx.insert(
                schema.consents,
                {
                    "participant_id": pid,
                    "form_version": "1.0",
                    "consented_on": DAY0,
                    **_entered(tx),
                },
            )
            tx.update(schema.participants, pid, {"status": "consented"})
    return Person(pid, code, site, sex, None)


def randomise(store: Store, person: Person, on: date = DAY0) -> Person:
    """Allocate the next free slot of the person's stratum and plan their visits."""
    stratum = f"sex={person.sex}"
    with store.write(
        actor="coord", role="coordinator", action="randomise", participant=person.code
    ) as tx:
        c = tx.connection
        used = select(schema.allocations.c.slot_id).where(schema.allocations.c.slot_id.is_not(None))
        slot = (
            c.execute(
                select(schema.sequence_slots)
                .where(schema.sequence_slots.c.stratum == stratum)
                .where(schema.sequence_slots.c.id.not_in(used))
                .order_by(schema.sequence_slots.c.position)
                .limit(1)
            )
            .mappings()
            .one()
        )
        index = c.execute(select(func.count()).select_from(schema.allocations)).scalar_one() + 1
        tx.insert(
            schema.allocations,
            {
                "participant_id": person.id,
                "stratum": stratum,
                "slot_id": slot["id"],
                "sequence_index": index,
                "arm": slot["arm"],
                "randomised_on": on,
                **_entered(tx),
            },
        )
        for visit in plan_visits(study_protocol(c), on):
            tx.insert(
                schema.visits,
                {
                    "participant_id": person.id,
                    "code": visit.code,
                    "planned": visit.planned,
                    "opens": visit.opens,
                    "closes": visit.closes,
                    "done_on": None,
                },
            )
        tx.update(schema.participants, person.id, {"status": "randomised"})
    return Person(person.id, person.code, person.site, person.sex, str(slot["arm"]))


def record(
    store: Store,
    person: Person,
    visit: str,
    measure: str,
    answers: Mapping[str, object],
    done_on: date,
    *,
    actor: tuple[str, str] = ("assessor", "assessor"),
) -> int:
    """A first response, scored by core, every item stored (blank ones as None); no day of its
    own, as responses recorded before revision 0004 (the visit's day stands in)."""
    with store.write(actor=actor[0], role=actor[1], action="record", participant=person.code) as tx:
        protocol = study_protocol(tx.connection)
        spec = protocol.measure(measure)
        instrument = get_instrument(spec.instrument)
        scored = score_response(instrument, answers, spec.options)
        visit_row = _visit(tx.connection, person, visit)
        response_id = tx.insert(
            schema.responses,
            {
                "participant_id": person.id,
                "visit_id": visit_row["id"],
                "measure": measure,
                "instrument": spec.instrument,
                "instrument_version": scored.version,
                "rater": spec.rater.value,
                "answers": {item: answers.get(item) for item in instrument.item_ids},
                "scores": scored.scores,
                "unscorable": scored.unscorable,
                "options": dict(spec.options),
                **_entered(tx),
                "version": 1,
                "current": True,
                "supersedes_id": None,
                "reason": None,
            },
        )
        if visit_row["done_on"] is None:
            tx.update(schema.visits, visit_row["id"], {"done_on": done_on})
    return response_id


def correct(store: Store, person: Person, response_id: int, answers: Mapping[str, object]) -> int:
    """Version 2 of a response; the old one loses ``current``."""
    why = "transcription error"
    with store.write(
        actor="dm", role="data_manager", action="correct", participant=person.code, reason=why
    ) as tx:
        old = dict(
            tx.connection.execute(
                select(schema.responses).where(schema.responses.c.id == response_id)
            )
            .mappings()
            .one()
        )
        merged = {**old["answers"], **answers}
        scored = score_response(get_instrument(old["instrument"]), merged, old["options"])
        tx.update(schema.responses, response_id, {"current": False})
        values = {k: v for k, v in old.items() if k != "id"}
        values |= {"answers": merged, "scores": scored.scores, "unscorable": scored.unscorable}
        values |= {"version": 2, "supersedes_id": response_id, "reason": why, **_entered(tx)}
        return tx.insert(schema.responses, values)


def session(
    store: Store, person: Person, plan: str, number: int, details: Mapping[str, object]
) -> int:
    with store.write(
        actor="therapist", role="therapist", action="session", participant=person.code
    ) as tx:
        return tx.insert(
            schema.sessions,
            {
                "participant_id": person.id,
                "plan": plan,
                "number": number,
                "held_on": date(2025, 3, 3 + number),
                "delivered": True,
                "details": dict(details),
                **_entered(tx),
                "version": 1,
                "current": True,
            },
        )


def adverse_event(store: Store, person: Person, session_id: int | None) -> int:
    with store.write(
        actor="therapist", role="therapist", action="ae", participant=person.code
    ) as tx:
        return tx.insert(
            schema.adverse_events,
            {
                "participant_id": person.id,
                "term": "post-needling soreness",
                "onset": date(2025, 3, 4),
                "duration_hours": 36.0,
                "severity": "mild",
                "relatedness": "probable",
                "action": "none",
                "outcome": "resolved",
                "session_id": session_id,
                **_entered(tx),
                "version": 1,
                "current": True,
            },
        )


def withdraw(store: Store, person: Person, on: date, reason: str) -> None:
    with store.write(
        actor="coord", role="coordinator", action="withdraw", participant=person.code, reason=reason
    ) as tx:
        tx.insert(
            schema.dispositions,
            {
                "participant_id": person.id,
                "kind": "withdrawn",
                "occurred_on": on,
                "reason": reason,
                **_entered(tx),
            },
        )
        tx.update(schema.participants, person.id, {"status": "withdrawn"})


def deviation(store: Store, person: Person, on: date, category: str, text: str) -> None:
    with store.write(
        actor="coord", role="coordinator", action="deviation", participant=person.code
    ) as tx:
        tx.insert(
            schema.deviations,
            {
                "participant_id": person.id,
                "occurred_on": on,
                "category": category,
                "description": text,
                **_entered(tx),
            },
        )


def unblind_study(store: Store) -> None:
    """What the data manager's study unblinding writes (after lock)."""
    with store.write(
        actor="dm", role="data_manager", action="unblind", reason="final analysis", when_locked=True
    ) as tx:
        tx.update(schema.study, 1, {"unblinded": True})
        tx.insert(
            schema.unblindings,
            {"participant_id": None, "scope": "study", "reason": "final analysis", **_entered(tx)},
        )


@dataclass(frozen=True)
class Trial:
    store: Store
    people: dict[str, Person]
    womac_v1: int
    womac_v2: int
    needling: int


def populate(database_url: str) -> Trial:
    """SEV-001 (female, randomised; BL VAS, WOMAC corrected, DN4 unscorable; W3 VAS, PGIC;
    sessions, AE, deviation), SEV-002 (male, randomised, BL VAS, withdrawn), UNI-001 (screen
    failed)."""
    store = make_study(database_url)
    first = randomise(store, screen(store, "SEV-001", "SEV", "female", name="Ana Torres"))
    second = randomise(store, screen(store, "SEV-002", "SEV", "male", name="Luis Romero"))
    failed = screen(store, "UNI-001", "UNI", "female", eligible=False, name="Eva Ruiz")
    participant = ("coord", "coordinator")
    record(store, first, "BL", "vas_max", {"mm": 62}, DAY0, actor=participant)
    womac = dict.fromkeys(WOMAC_ITEMS, 2)
    womac_v1 = record(store, first, "BL", "womac", womac, DAY0, actor=participant)
    womac_v2 = correct(store, first, womac_v1, {"p1": 4})
    record(store, first, "BL", "dn4", {"burning": 1, "tingling": 1}, DAY0)
    record(store, first, "W3", "vas_max", {"mm": 31.5}, date(2025, 3, 24), actor=participant)
    record(store, first, "W3", "pgic", {"impression": 2}, date(2025, 3, 24), actor=participant)
    record(store, second, "BL", "vas_max", {"mm": 70}, DAY0, actor=participant)
    details = {"muscle": "popliteus", "side": "left", "insertions": 6}
    needling = session(store, first, "needling", 1, details | {"local_twitch_responses": 3})
    session(store, first, "exercise", 1, {"completed": True, "exercises_done": 8})
    adverse_event(store, first, needling)
    deviation(store, first, date(2025, 3, 12), "visit_window", "T2 two days late")
    withdraw(store, second, date(2025, 3, 20), "moved away")
    people = {p.code: p for p in (first, second, failed)}
    return Trial(store, people, womac_v1, womac_v2, needling)


def count(store: Store, table: Any) -> int:
    with store.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _entered(tx: Any) -> dict[str, str]:
    return {"entered_by": tx.actor, "entered_at": tx.at}


def _visit(connection: Any, person: Person, code: str) -> dict[str, Any]:
    row = (
        connection.execute(
            select(schema.visits).where(
                schema.visits.c.participant_id == person.id, schema.visits.c.code == code
            )
        )
        .mappings()
        .one()
    )
    return dict(row)
