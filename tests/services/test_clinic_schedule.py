"""A clinic reassessment waits for its session: R2 (after session 6) is not due, late or missed
for a patient whose needling stopped at the 3 planned sessions, and is due once session 6 is in.

Knee care plan: care starts on DAY0; needling weekly; R1 after session 3 (planned day 15, window
days 8-22), R2 after session 6 (day 36, window days 29-43).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from physiotrial.core.protocol import Role
from physiotrial.core.schedule import awaits_session
from physiotrial.services import enrolment, randomisation, safety
from physiotrial.services.progress import completeness, participant_list
from physiotrial.services.schedule import due_visits, participant_visits
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store

DAY0 = date(2025, 3, 3)
SUITABLE = {"needle_phobia": False, "anticoagulants": False, "popliteus_trigger_point": True}
NEEDLING = {"muscle": "popliteus", "side": "left", "insertions": 5, "local_twitch_responses": 1}


@pytest.mark.parametrize(
    ("after_session", "held", "done", "waits"),
    [
        (None, 0, False, False),  # a trial visit waits for nothing
        (6, 3, False, True),
        (6, 6, False, False),
        (6, 7, False, False),
        (6, 3, True, False),  # done anyway (e.g. reassessed early): it happened
        (3, 0, False, True),
    ],
)
def test_awaits_session(after_session: int | None, held: int, done: bool, waits: bool) -> None:
    assert awaits_session(after_session, held, done) is waits


@dataclass
class Clinic:
    store: Store
    responder: str
    extended: str


def _needle(store: Store, code: str, numbers: range) -> None:
    for number in numbers:
        day = DAY0 + timedelta(days=1 + 7 * (number - 1))
        safety.record_session(
            store, "therapist", code, "needling", number, day, True, NEEDLING, today=day
        )


@pytest.fixture
def clinic(database_url: str) -> Iterator[Clinic]:
    init_study(database_url, "knee-oa-clinic", admin="dm", admin_name="Data Manager")
    store = Store(database_url)
    add_site(store, "dm", "CLN", "Knee clinic")
    add_user(store, "dm", "coord", "Coord", Role.COORDINATOR, "CLN")
    add_user(store, "dm", "therapist", "Therapist", Role.THERAPIST, "CLN")
    codes = []
    for name in ("Ana", "Ben"):
        code = enrolment.screen(store, "coord", "CLN", DAY0, SUITABLE, {}, name, "x").study_code
        enrolment.consent(store, "coord", code, "1.0", DAY0)
        randomisation.randomise(store, "therapist", code, DAY0)
        codes.append(code)
    _needle(store, codes[0], range(1, 4))  # responded: needling stops at the planned 3
    _needle(store, codes[1], range(1, 7))  # no change at R1: extended to 6
    yield Clinic(store, *codes)
    store.close()


def _status(store: Store, code: str, today: date, visit: str) -> tuple[str, bool]:
    found = next(v for v in participant_visits(store, "coord", code, today) if v.code == visit)
    return found.status, found.stopped


@pytest.mark.parametrize(
    ("days", "responder", "extended"),
    [
        (30, ("upcoming", False), ("upcoming", False)),  # session 6 (day 36) not yet given
        (36, ("upcoming", False), ("open", False)),  # session 6 in: the extended one is due
        (40, ("upcoming", False), ("late", False)),
        (50, ("upcoming", True), ("missed", False)),  # closed: not needed / missed
    ],
)
def test_r2_waits_for_session_6(
    clinic: Clinic, days: int, responder: tuple[str, bool], extended: tuple[str, bool]
) -> None:
    today = DAY0 + timedelta(days=days)
    assert _status(clinic.store, clinic.responder, today, "R2") == responder
    assert _status(clinic.store, clinic.extended, today, "R2") == extended
    due = {(d.study_code, d.code) for d in due_visits(clinic.store, "coord", today)}
    assert (clinic.responder, "R2") not in due
    assert ((clinic.extended, "R2") in due) is (extended[0] != "upcoming")


def test_a_waiting_reassessment_is_not_expected_data_nor_the_next_visit(clinic: Clinic) -> None:
    today = DAY0 + timedelta(days=50)
    r2 = next(c for c in completeness(clinic.store, "coord", today) if c.code == "R2")
    assert (r2.visits, r2.expected) == (1, 6)  # the extended patient's R2 only (6 measures)
    rows = {r.study_code: r for r in participant_list(clinic.store, "coord", today)}
    responder, extended = rows[clinic.responder], rows[clinic.extended]
    assert responder.next_visit is not None
    assert responder.next_visit.code == "M3"  # R2 skipped: its session never came
    assert extended.next_visit is not None
    assert extended.next_visit.code == "M3"  # R2 missed (closed), M3 next
    # BL and R1 were never recorded (missed) for both; R2 only for the extended patient
    assert responder.outstanding == 5 + 6
    assert extended.outstanding == 5 + 6 + 6
