"""A reference-trial study with users at two sites, and randomised participants, for the capture,
schedule and safety tests.

Participants go through the real screening, consent and randomisation services, so their visit
rows are the ones ``randomise`` plans from day 0; their arm comes from the sealed sequence of a
fixed seed (read it with :func:`arm_of` where a test needs it).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from physiotrial.core.protocol import Role
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.randomisation import randomise
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store import schema
from physiotrial.store.store import Store

SEED = "capture-tests"
DAY0 = date(2025, 3, 3)
"""Baseline and randomisation day of the default participant (a Monday)."""

USERS: dict[str, tuple[Role, str | None]] = {
    "coord": (Role.COORDINATOR, "SEV"),
    "assessor": (Role.ASSESSOR, "SEV"),
    "therapist": (Role.THERAPIST, "SEV"),
    "patient": (Role.PARTICIPANT, None),
    "stats": (Role.STATISTICIAN, None),
    "coord_uni": (Role.COORDINATOR, "UNI"),
    "assessor_uni": (Role.ASSESSOR, "UNI"),
    "therapist_uni": (Role.THERAPIST, "UNI"),
}
"""Username → role and site; the data manager is ``dm``."""

ELIGIBLE = {
    "age": 63,
    "acr_knee_oa": True,
    "pain_months": 12,
    "popliteus_trigger_point": True,
    "needle_phobia": False,
    "anticoagulants": False,
    "recent_knee_procedure": False,
    "other_lower_limb_condition": False,
    "consent_capacity": True,
}

BASELINE: dict[str, dict[str, object]] = {
    "vas_max": {"mm": 72},
    "vas_current": {"mm": 45.5},
    "vas_min": {"mm": 20},
    "womac": dict.fromkeys([*(f"p{i}" for i in range(1, 6)), "s1", "s2"], 2)
    | dict.fromkeys((f"f{i}" for i in range(1, 18)), 2),
    "dn4": {"burning": "yes", "tingling": 1, "numbness": "no"}
    | dict.fromkeys(("painful_cold", "electric_shocks", "pins_needles", "itching"), 0)
    | dict.fromkeys(("touch_hypoesthesia", "prick_hypoesthesia", "brushing"), 0),
    "tsk11": {f"q{i}": 3 for i in (1, 2, 3, 5, 6, 7, 10, 11, 13, 15, 17)},
    "pcs": {f"q{i}": 2 for i in range(1, 14)},
    "tug": {"time_s": 11.2, "walking_aid": "no"},
    "six_mwt": {
        "distance_m": 410,
        "sex": 1,
        "age_years": 64,
        "height_cm": 165,
        "weight_kg": 72,
    },
    "strength": {"extension_n": 250, "flexion_n": 120, "lever_arm_m": 0.35, "body_mass_kg": 72},
    "rom": {"flexion_deg": 118, "extension_deficit_deg": 5},
}
"""One complete, valid set of answers for every measure of visit BL of the reference trial."""

RATER_OF = {
    "vas_max": "patient",
    "vas_current": "coord",
    "vas_min": "assessor",
    "womac": "patient",
    "tsk11": "coord",
    "pcs": "patient",
    "dn4": "assessor",
    "tug": "assessor",
    "six_mwt": "assessor",
    "strength": "assessor",
    "rom": "assessor",
}
"""Who enters each BL measure in the tests: a role the measure's rater allows."""


def make_study(database_url: str) -> Store:
    """The reference trial with sites SEV and UNI and the users of :data:`USERS`."""
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="Data Manager", seed=SEED)
    store = Store(database_url)
    add_site(store, "dm", "SEV", "Seville health centre")
    add_site(store, "dm", "UNI", "University physiotherapy department")
    for username, (role, site) in USERS.items():
        add_user(store, "dm", username, username.title(), role, site)
    return store


def enrol(store: Store, day0: date = DAY0, site: str = "SEV", sex: str = "female") -> str:
    """Screen, consent and randomise one eligible participant at ``site`` on ``day0``."""
    coordinator = "coord" if site == "SEV" else "coord_uni"
    screened = screen(
        store, coordinator, site, day0 - timedelta(days=7), ELIGIBLE, {"sex": sex}, "Test Person"
    )
    consent(store, coordinator, screened.study_code, "1.0", day0 - timedelta(days=5))
    randomise(store, coordinator, screened.study_code, day0)
    return screened.study_code


def arm_of(store: Store, study_code: str) -> str:
    """The allocated arm, read straight from the store (tests only)."""
    a, p = schema.allocations, schema.participants
    query = (
        select(a.c.arm).join(p, p.c.id == a.c.participant_id).where(p.c.study_code == study_code)
    )
    with store.read() as connection:
        return str(connection.execute(query).scalar_one())


def counts(store: Store) -> dict[str, Any]:
    """Rows in every audited table, audit rows, and visits marked done: a write leaves a trace
    here, a refused write leaves none."""
    with store.read() as connection:
        found: dict[str, Any] = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (*schema.AUDITED, schema.audit)
        }
        found["visits done"] = connection.execute(
            select(func.count()).where(schema.visits.c.done_on.is_not(None))
        ).scalar_one()
        found["participant statuses"] = sorted(
            connection.execute(select(schema.participants.c.status)).scalars()
        )
    return found
