"""Reading back adverse events (every version), deviations and withdrawals, on SQLite and
PostgreSQL: grouped by event, oldest version first, and refused to roles and sites that may not
see the participant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from physiotrial.errors import NotFoundError, PermissionDeniedError
from physiotrial.services.enrolment import screen
from physiotrial.services.events import (
    adverse_event,
    participant_adverse_events,
    participant_departure,
    participant_deviations,
    treatment_for,
)
from physiotrial.services.safety import (
    correct_adverse_event,
    record_adverse_event,
    record_deviation,
    record_session,
    withdraw,
)
from tests.services.helpers_capture import DAY0, ELIGIBLE, arm_of, enrol, make_study
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.services.test_safety import NEEDLING, RECEIVES

T1 = DAY0 + timedelta(days=1)
T2 = DAY0 + timedelta(days=8)
LATER = DAY0 + timedelta(days=30)


@pytest.fixture
def study(database_url: str) -> Any:
    store = make_study(database_url)
    code = enrol(store)
    yield store, code
    store.close()


def _soreness(store: Any, code: str, **changes: Any) -> Any:
    given: dict[str, Any] = {
        "term": "post-needling soreness",
        "onset": T1,
        "severity": "mild",
        "relatedness": "probable",
        "action": "ice",
        "outcome": "resolved",
        "duration_hours": 24,
        "session": ("needling", 1),
    } | changes
    return record_adverse_event(store, "therapist", code, **given, today=LATER)


def test_every_version_of_each_adverse_event_grouped_oldest_first(study: Any) -> None:
    store, code = study
    record_session(store, "therapist", code, "needling", 1, T1, True, NEEDLING, LATER)
    first = _soreness(store, code)
    bruise = _soreness(store, code, term="bruising", onset=T2, session=None, duration_hours=None)
    second = correct_adverse_event(
        store, "therapist", first.id, {"duration_hours": 36}, "the participant rang back", LATER
    )
    third = correct_adverse_event(
        store, "coord", second.id, {"outcome": "ongoing"}, "still sore at the visit", LATER
    )
    found = participant_adverse_events(store, "assessor", code)
    assert [h.current.term for h in found] == ["post-needling soreness", "bruising"]
    soreness, bruising = found
    assert [v.id for v in soreness.versions] == [first.id, second.id, third.id]
    assert [v.version for v in soreness.versions] == [1, 2, 3]
    assert [v.current for v in soreness.versions] == [False, False, True]
    assert [v.reason for v in soreness.versions] == [
        None,
        "the participant rang back",
        "still sore at the visit",
    ]
    assert [v.duration_hours for v in soreness.versions] == [24.0, 36.0, 36.0]
    assert soreness.current.outcome == "ongoing"
    assert soreness.current.entered_by == "coord"
    assert soreness.current.session == ("needling", 1)
    assert soreness.versions[1].supersedes_id == first.id
    assert bruising.versions == (bruising.current,)
    assert (bruising.current.onset, bruising.current.session) == (T2, None)
    assert bruise.id == bruising.current.id
    assert not ARM_WORDS.search(repr(found))


def test_one_version_for_the_correction_form(study: Any) -> None:
    store, code = study
    event = _soreness(store, code, session=None)
    shown = adverse_event(store, "coord", code, event.id)
    assert (shown.id, shown.term, shown.severity, shown.version) == (
        event.id,
        event.term,
        "mild",
        1,
    )
    other = enrol(store, DAY0, sex="male")
    with pytest.raises(NotFoundError, match=f"{other} has no adverse event {event.id}"):
        adverse_event(store, "coord", other, event.id)
    with pytest.raises(NotFoundError, match="has no adverse event 99999"):
        adverse_event(store, "coord", code, 99999)
    with pytest.raises(PermissionDeniedError, match="may not correct"):
        adverse_event(store, "stats", code, event.id)
    with pytest.raises(PermissionDeniedError, match="another site"):
        adverse_event(store, "coord_uni", code, event.id)


def test_deviations_by_date_with_their_values(study: Any) -> None:
    store, code = study
    record_deviation(store, "coord", code, T2, "visit_window", "T2 held a day late", LATER)
    record_deviation(store, "dm", code, T1, "consent", "consent page 2 unsigned", LATER)
    found = participant_deviations(store, "therapist", code)
    assert [(d.occurred_on, d.category, d.description, d.entered_by) for d in found] == [
        (T1, "consent", "consent page 2 unsigned", "dm"),
        (T2, "visit_window", "T2 held a day late", "coord"),
    ]
    assert all(d.study_code == code for d in found)


def test_the_departure_once_recorded(study: Any) -> None:
    store, code = study
    assert participant_departure(store, "coord", code) is None
    withdraw(store, "coord", code, "withdrawn", T2, "moved abroad", LATER)
    left = participant_departure(store, "assessor", code)
    assert left is not None
    assert (left.kind, left.occurred_on, left.reason, left.entered_by) == (
        "withdrawn",
        T2,
        "moved abroad",
        "coord",
    )


@pytest.mark.parametrize(
    "read", [participant_adverse_events, participant_deviations, participant_departure]
)
def test_reading_needs_a_role_with_visits_at_the_participants_site(study: Any, read: Any) -> None:
    store, code = study
    with pytest.raises(PermissionDeniedError, match="may not visits"):
        read(store, "stats", code)
    with pytest.raises(PermissionDeniedError, match="another site"):
        read(store, "therapist_uni", code)
    with pytest.raises(NotFoundError, match="no participant 'NOPE-1'"):
        read(store, "dm", "NOPE-1")


def test_what_the_arm_receives_only_for_the_therapist(study: Any) -> None:
    store, code = study
    arm = arm_of(store, code)
    assert treatment_for(store, "therapist", code, "needling") == RECEIVES[arm]
    assert "exercise" in (treatment_for(store, "therapist", code, "exercise") or "")
    for blinded in ("coord", "assessor", "stats", "dm"):
        with pytest.raises(PermissionDeniedError, match="may not session"):
            treatment_for(store, blinded, code, "needling")
    with pytest.raises(PermissionDeniedError, match="another site"):
        treatment_for(store, "therapist_uni", code, "needling")
    with pytest.raises(NotFoundError, match="no session plan 'cupping'"):
        treatment_for(store, "therapist", code, "cupping")
    waiting = screen(store, "coord", "SEV", DAY0, ELIGIBLE, {"sex": "female"}, "Not Randomised")
    assert treatment_for(store, "therapist", waiting.study_code, "needling") is None
