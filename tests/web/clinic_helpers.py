"""A knee clinic built through the services by hand, for the clinic pages' tests.

The knee care plan (knee-oa-clinic: needling counted, 3 planned, up to 6; VAS max pain MCID
19.9 mm, WOMAC function 9.1) with six patients at site CLN whose numbers can be checked by eye,
and two at site OTH:

| patient | VAS max BL → R1 → R2 | WOMAC items (pain, function) | needling | adverse event |
| CLN-001 | 68 → 31 → 25 | 3,3 → 1,1 → 1,1 | 6 | — |
| CLN-002 | 60 → 55 → 38 | 3,3 → 3,3 → 2,2 | 6 | post-needling soreness, mild, 30 h |
| CLN-003 | 72 → 70 | 3,3 → 3,3 | 3 | — |
| CLN-004 | 50 → 75 | 2,2 → 3,3 | 3 | prolonged aggravation, significant, 96 h |
| CLN-005 | 80 → 50 → 30 | 4,4 → 3,3 → 2,2 | 6 | bruising, mild, 48 h |
| CLN-006 | 66 | 3,3 | 2 | — |

CLN-001 also logged home exercise on 4, 4, 3, 2 and 4 days in weeks 1-5. OTH-001 started care
on the same day and had 2 needling sessions, nothing recorded; OTH-002 is consented and waits
to start care.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from physiotrial.core.protocol import Role
from physiotrial.services.access import set_password
from physiotrial.services.capture import record
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.randomisation import randomise
from physiotrial.services.safety import record_adverse_event, record_session
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store
from tests.web.conftest import PASSWORD, sign_in

NOT_A_CLINIC_WORD = re.compile(r"\b(arms?|randomi[sz]\w*|allocat\w*)\b", re.IGNORECASE)
"""Words no clinic page shows: a clinic has one arm and allocates nobody."""
DAY0 = date(2025, 3, 3)
NOW = datetime(2025, 5, 5, 9, 0, tzinfo=UTC)
"""Nine weeks after DAY0: R1 (day 15) and R2 (day 36) are past, M3 (day 91) not open yet."""
SUITABLE = {"needle_phobia": False, "anticoagulants": False, "popliteus_trigger_point": True}
USERS = {
    "coord": (Role.COORDINATOR, "CLN"),
    "assessor": (Role.ASSESSOR, "CLN"),
    "therapist": (Role.THERAPIST, "CLN"),
    "stats": (Role.STATISTICIAN, None),
    "therapist_oth": (Role.THERAPIST, "OTH"),
    "coord_oth": (Role.COORDINATOR, "OTH"),
}
VISIT_DAY = {"BL": 0, "R1": 15, "R2": 36}
PATIENTS: tuple[
    tuple[list[int], list[tuple[int, int]], int, tuple[str, str, float] | None], ...
] = (
    ([68, 31, 25], [(3, 3), (1, 1), (1, 1)], 6, None),
    ([60, 55, 38], [(3, 3), (3, 3), (2, 2)], 6, ("post-needling soreness", "mild", 30)),
    ([72, 70], [(3, 3), (3, 3)], 3, None),
    ([50, 75], [(2, 2), (3, 3)], 3, ("prolonged aggravation of symptoms", "significant", 96)),
    ([80, 50, 30], [(4, 4), (3, 3), (2, 2)], 6, ("bruising", "mild", 48)),
    ([66], [(3, 3)], 2, None),
)
HOME_DAYS = (4, 4, 3, 2, 4)
"""CLN-001's home exercise days in weeks 1-5 (4 a week asked for): the target met in 3 weeks."""


def _womac(pain: int, function: int) -> dict[str, object]:
    items: dict[str, object] = {f"p{i}": pain for i in range(1, 6)}
    items |= {"s1": 2, "s2": 2} | {f"f{i}": function for i in range(1, 18)}
    return items


def _dn4(positive: int) -> dict[str, object]:
    answers: dict[str, object] = {"burning": "yes" if positive > 0 else "no"}
    answers |= {"tingling": 1 if positive > 1 else 0, "numbness": "no"}
    rest = ("painful_cold", "electric_shocks", "pins_needles", "itching")
    rest += ("touch_hypoesthesia", "prick_hypoesthesia", "brushing")
    return answers | dict.fromkeys(rest, 0)


def _session_day(number: int) -> date:
    """Needling weekly from day 1; sessions 4-6 after R1, weekly from day 16."""
    return DAY0 + timedelta(days=1 + 7 * (number - 1) if number <= 3 else 16 + 7 * (number - 4))


def _patient(store: Store, site: str, name: str, *, start: bool = True) -> str:
    coordinator = "coord" if site == "CLN" else "coord_oth"
    screened = screen(store, coordinator, site, DAY0 - timedelta(days=3), SUITABLE, {}, name)
    consent(store, coordinator, screened.study_code, "1.0", DAY0 - timedelta(days=2))
    if start:
        randomise(store, coordinator, screened.study_code, DAY0)
    return screened.study_code


def build_clinic(database_url: str) -> tuple[Store, list[str], str]:
    """The clinic of the module docstring: (store, the CLN patients, OTH-001); OTH-002 is
    consented and waits to start care."""
    init_study(database_url, "knee-oa-clinic", admin="dm", admin_name="Data Manager", seed="t")
    store = Store(database_url)
    add_site(store, "dm", "CLN", "Knee clinic")
    add_site(store, "dm", "OTH", "Other clinic")
    for username, (role, site) in USERS.items():
        add_user(store, "dm", username, username.title(), role, site)
    for username in ("dm", *USERS):
        set_password(store, "dm", username, PASSWORD)
    today = NOW.date()
    codes = []
    for number, (pain, womac, needled, event) in enumerate(PATIENTS, start=1):
        code = _patient(store, "CLN", f"Patient {number}")
        codes.append(code)
        for session in range(1, needled + 1):
            details = {"muscle": "popliteus", "side": "left", "insertions": 6}
            held = _session_day(session)
            record_session(
                store, "therapist", code, "needling", session, held, True, details, today
            )
        for visit, vas, (p, f) in zip(VISIT_DAY, pain, womac, strict=False):
            day = DAY0 + timedelta(days=VISIT_DAY[visit])
            record(store, "assessor", code, visit, "vas_max", {"mm": vas}, day, today)
            record(store, "assessor", code, visit, "womac", _womac(p, f), day, today)
            record(store, "assessor", code, visit, "dn4", _dn4(1), day, today)
        if event is not None:
            term, severity, hours = event
            onset = _session_day(1) + timedelta(days=1)
            record_adverse_event(
                store,
                "therapist",
                code,
                term,
                onset,
                severity,
                "probable",
                "ice and advice",
                "resolved",
                duration_hours=hours,
                session=("needling", 1),
                today=today,
            )
    session = 1
    for week, days in enumerate(HOME_DAYS):
        for day in range(days):
            held = DAY0 + timedelta(days=7 * week + day)
            exercise = {"exercises_done": 3, "pain_during": 2}
            record_session(
                store, "therapist", codes[0], "home_exercise", session, held, True, exercise, today
            )
            session += 1
    other = _patient(store, "OTH", "Other Patient")
    for session in (1, 2):  # no adverse event at OTH
        details = {"muscle": "popliteus", "side": "right", "insertions": 4}
        held = _session_day(session)
        record_session(
            store, "therapist_oth", other, "needling", session, held, True, details, today
        )
    _patient(store, "OTH", "Waiting Patient", start=False)
    return store, codes, other


@dataclass
class Clinic:
    store: Store
    client: TestClient
    codes: list[str]
    other: str

    def as_user(self, username: str) -> TestClient:
        """A browser signed in as ``username``."""
        browser = TestClient(self.client.app)
        assert sign_in(browser, username).status_code == 303
        return browser
