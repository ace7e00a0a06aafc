"""Sessions, adverse events, deviations and withdrawals, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest

from physiotrial.errors import (
    AnswerError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ScheduleError,
)
from physiotrial.services.capture import record
from physiotrial.services.enrolment import screen
from physiotrial.services.safety import (
    correct_adverse_event,
    participant_sessions,
    record_adverse_event,
    record_deviation,
    record_session,
    withdraw,
)
from tests.services.helpers_capture import (
    BASELINE,
    DAY0,
    ELIGIBLE,
    arm_of,
    counts,
    enrol,
    make_study,
)

T1 = DAY0 + timedelta(days=1)
NEEDLING = {
    "muscle": "popliteus",
    "side": "right",
    "insertions": "6",
    "local_twitch_responses": 2,
    "duration_min": 5,
}
RECEIVES = {
    "DN": "Dry needling of the popliteus trigger point",
    "SHAM": "Retractable non-penetrating needle at the same landmarks",
}


@pytest.fixture
def study(database_url: str) -> Any:
    store = make_study(database_url)
    code = enrol(store)
    yield store, code
    store.close()


def test_a_therapist_records_a_session_with_typed_details(study: Any) -> None:
    store, code = study
    arm = arm_of(store, code)
    before = counts(store)
    result = record_session(store, "therapist", code, "needling", 1, T1, True, NEEDLING, T1)
    assert result.details == {
        "muscle": "popliteus",
        "side": "right",
        "insertions": 6,
        "local_twitch_responses": 2,
        "duration_min": 5.0,
    }
    assert (result.number, result.of, result.delivered) == (1, 3, True)
    assert (result.arm, result.received) == (arm, RECEIVES[arm])
    after = counts(store)
    assert (after["sessions"], after["audit"]) == (before["sessions"] + 1, before["audit"] + 1)
    exercise = {"completed": "yes", "exercises_done": 8, "pain_during": "3"}
    done = record_session(store, "therapist", code, "exercise", 1, T1, True, exercise, T1)
    assert done.details == {"completed": True, "exercises_done": 8, "pain_during": 3}


@pytest.mark.parametrize(
    ("plan", "number", "details", "error", "fragment"),
    [
        (
            "needling",
            1,
            {"insertions": 51},
            AnswerError,
            "SEV-001 needling session 1, field insertions: 51 is not allowed; allowed: whole "
            "numbers 0 to 50",
        ),
        ("needling", 1, {"insertions": 2.5}, AnswerError, "2.5 is not allowed; allowed: whole"),
        ("needling", 1, {"insertions": True}, AnswerError, "True is not allowed; allowed: whole"),
        (
            "needling",
            1,
            {"side": "both"},
            AnswerError,
            "field side: 'both' is not allowed; allowed: left, right",
        ),
        (
            "needling",
            1,
            {"duration_min": "long"},
            AnswerError,
            "field duration_min: 'long' is not allowed; allowed: 0 to 30 min",
        ),
        ("needling", 1, {"duration_min": -1}, AnswerError, "-1 is not allowed; allowed: 0 to 30"),
        (
            "needling",
            1,
            {"colour": "red"},
            AnswerError,
            "no field colour in session plan needling; fields: muscle, side, insertions, "
            "local_twitch_responses, duration_min",
        ),
        (
            "exercise",
            1,
            {"completed": "maybe"},
            AnswerError,
            "field completed: 'maybe' is not allowed; allowed: yes or no",
        ),
        (
            "needling",
            4,
            {},
            AnswerError,
            "SEV-001 needling session 4: number: 4 is not allowed; allowed: 1 to 3",
        ),
        ("exercise", 0, {}, AnswerError, "number: 0 is not allowed; allowed: 1 to 12"),
        ("massage", 1, {}, NotFoundError, "no session plan 'massage'; plans: needling, exercise"),
    ],
)
def test_session_details_are_checked_against_the_plan(
    study: Any,
    plan: str,
    number: int,
    details: dict[str, object],
    error: type[Exception],
    fragment: str,
) -> None:
    store, code = study
    before = counts(store)
    with pytest.raises(error) as excinfo:
        record_session(store, "therapist", code, plan, number, T1, True, details, T1)
    assert fragment in str(excinfo.value)
    assert counts(store) == before


@pytest.mark.parametrize(
    ("user", "when", "error", "fragment"),
    [
        ("coord", T1, PermissionDeniedError, "coord (coordinator) may not session; allowed roles"),
        ("assessor", T1, PermissionDeniedError, "allowed roles: therapist"),
        ("therapist_uni", T1, PermissionDeniedError, "works at another site"),
        ("therapist", T1 + timedelta(days=1), ScheduleError, "held on 2025-03-05 is after today"),
    ],
)
def test_only_the_sites_therapist_records_sessions(
    study: Any, user: str, when: Any, error: type[Exception], fragment: str
) -> None:
    store, code = study
    before = counts(store)
    with pytest.raises(error) as excinfo:
        record_session(store, user, code, "needling", 1, when, True, NEEDLING, T1)
    assert fragment in str(excinfo.value)
    assert counts(store) == before


def test_a_session_is_recorded_once_and_only_after_randomisation(study: Any) -> None:
    store, code = study
    before = DAY0 - timedelta(days=1)
    with pytest.raises(
        ScheduleError,
        match=r"SEV-001 needling session 1: held on 2025-03-02 is before randomisation "
        r"\(2025-03-03\); allowed: 2025-03-03 or later",
    ):
        record_session(store, "therapist", code, "needling", 1, before, True, {}, T1)
    record_session(store, "therapist", code, "needling", 1, T1, True, {}, T1)
    with pytest.raises(ConflictError, match="SEV-001 needling session 1 is already recorded"):
        record_session(store, "therapist", code, "needling", 1, T1, True, {}, T1)
    waiting = screen(store, "coord", "SEV", DAY0, ELIGIBLE, {"sex": "male"}, "Not Yet")
    with pytest.raises(ConflictError, match="SEV-002 is not randomised; sessions start after it"):
        record_session(store, "therapist", waiting.study_code, "needling", 1, T1, True, {}, T1)


@pytest.mark.parametrize(
    ("user", "sees_arm"),
    [("therapist", True), ("dm", True), ("coord", False), ("assessor", False)],
)
def test_blinded_roles_see_sessions_without_arm_or_revealing_fields(
    study: Any, user: str, sees_arm: bool
) -> None:
    store, code = study
    arm = arm_of(store, code)
    record_session(store, "therapist", code, "needling", 1, T1, True, NEEDLING, T1)
    (shown,) = participant_sessions(store, user, code)
    assert ("local_twitch_responses" in shown.details) is sees_arm
    assert shown.details["insertions"] == 6
    assert shown.arm == (arm if sees_arm else None)
    assert shown.received == (RECEIVES[arm] if sees_arm else None)
    if not sees_arm:
        text = repr(asdict(shown))
        assert all(words not in text for words in RECEIVES.values())
        assert all(f"'{code}'" not in text for code in RECEIVES)


AE = {
    "term": "bruising",
    "onset": T1,
    "severity": "mild",
    "relatedness": "probable",
    "action": "none",
    "outcome": "resolved",
}


@pytest.mark.parametrize("severity", ["mild", "significant", "serious"])
def test_adverse_event_severities_follow_white(study: Any, severity: str) -> None:
    store, code = study
    event = record_adverse_event(
        store, "assessor", code, **{**AE, "severity": severity}, duration_hours=48, today=T1
    )
    assert (event.severity, event.duration_hours, event.version, event.session) == (
        severity,
        48.0,
        1,
        None,
    )


@pytest.mark.parametrize(
    ("changes", "error", "fragment"),
    [
        (
            {"severity": "moderate"},
            AnswerError,
            "SEV-001 adverse event: severity: 'moderate' is not allowed; allowed: mild, "
            "significant, serious",
        ),
        (
            {"relatedness": "maybe"},
            AnswerError,
            "relatedness: 'maybe' is not allowed; allowed: not related, unlikely, possible, "
            "probable, definite",
        ),
        (
            {"outcome": "better"},
            AnswerError,
            "outcome: 'better' is not allowed; allowed: resolved, ongoing, resolved with "
            "sequelae, fatal",
        ),
        (
            {"outcome": "fatal"},
            AnswerError,
            "severity: 'mild' is not allowed; allowed: serious when the outcome is fatal",
        ),
        ({"term": "  "}, AnswerError, "term: '  ' is not allowed; allowed: a non-blank text"),
        ({"duration_hours": -2}, AnswerError, "duration_hours: -2 is not allowed; allowed: 0 or"),
        ({"onset": T1 + timedelta(days=1)}, ScheduleError, "onset 2025-03-05 is after today"),
        ({"session": ("needling", 2)}, NotFoundError, "has no recorded needling session 2"),
    ],
)
def test_adverse_event_fields_are_checked(
    study: Any, changes: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    store, code = study
    before = counts(store)
    with pytest.raises(error) as excinfo:
        record_adverse_event(store, "therapist", code, **{**AE, **changes}, today=T1)
    assert fragment in str(excinfo.value)
    assert counts(store) == before


def test_an_adverse_event_links_to_its_session_and_is_corrected_as_a_new_version(
    study: Any,
) -> None:
    store, code = study
    record_session(store, "therapist", code, "needling", 1, T1, True, NEEDLING, T1)
    first = record_adverse_event(store, "therapist", code, **AE, session=("needling", 1), today=T1)
    assert first.session == ("needling", 1)
    day = T1 + timedelta(days=3)
    changes = {"severity": "significant", "outcome": "ongoing", "action": "referred to GP"}
    second = correct_adverse_event(store, "coord", first.id, changes, "GP visit reported", day)
    assert (second.version, second.supersedes_id, second.current) == (2, first.id, True)
    assert (second.severity, second.term, second.session) == (
        "significant",
        "bruising",
        first.session,
    )
    assert second.reason == "GP visit reported"
    before = counts(store)
    for bad, reason, error, fragment in [
        (changes, "", ConflictError, "a correction needs a reason"),
        ({"colour": "blue"}, "x", AnswerError, "no field colour to change; fields: term, onset"),
        (changes, "x", ConflictError, "has been superseded"),
    ]:
        with pytest.raises(error, match=fragment):
            correct_adverse_event(store, "coord", first.id, bad, reason, day)
    with pytest.raises(ConflictError, match="the correction changes nothing"):
        correct_adverse_event(store, "coord", second.id, changes, "again", day)
    with pytest.raises(PermissionDeniedError, match="may not correct"):
        correct_adverse_event(store, "patient", second.id, {"severity": "mild"}, "x", day)
    assert counts(store) == before


@pytest.mark.parametrize(
    ("user", "category", "description", "error", "fragment"),
    [
        ("coord", "visit_window", "W3 done 2 days late", None, ""),
        ("dm", "blinding", "assessor overheard the allocation", None, ""),
        ("coord", "late", "x", AnswerError, "category: 'late' is not allowed; allowed: eligib"),
        ("coord", "other", " ", AnswerError, "description: ' ' is not allowed; allowed: a non"),
        ("assessor", "other", "x", PermissionDeniedError, "allowed roles: coordinator, data_man"),
        ("coord_uni", "other", "x", PermissionDeniedError, "works at another site"),
    ],
)
def test_deviations(
    study: Any,
    user: str,
    category: str,
    description: str,
    error: type[Exception] | None,
    fragment: str,
) -> None:
    store, code = study
    before = counts(store)
    if error is None:
        result = record_deviation(store, user, code, T1, category, description, today=T1)
        assert (result.category, result.description, result.entered_by) == (
            category,
            description,
            user,
        )
        assert counts(store)["deviations"] == before["deviations"] + 1
        return
    with pytest.raises(error) as excinfo:
        record_deviation(store, user, code, T1, category, description, today=T1)
    assert fragment in str(excinfo.value)
    assert counts(store) == before


def test_a_withdrawal_is_recorded_once_with_a_reason_and_changes_the_status(study: Any) -> None:
    store, code = study
    left = DAY0 + timedelta(days=10)
    record_session(store, "therapist", code, "needling", 1, T1, True, {}, T1)
    before = counts(store)
    for kind, reason, user, error, fragment in [
        ("withdrawn", "", "coord", ConflictError, "a withdrawal needs a reason"),
        ("dropped", "x", "coord", AnswerError, "kind: 'dropped' is not allowed; allowed: withd"),
        ("withdrawn", "x", "therapist", PermissionDeniedError, "may not withdraw"),
        ("withdrawn", "x", "coord_uni", PermissionDeniedError, "works at another site"),
    ]:
        with pytest.raises(error, match=fragment):
            withdraw(store, user, code, kind, left, reason, today=left)
    with pytest.raises(ScheduleError, match="occurred on 2025-03-14 is after today"):
        withdraw(store, "coord", code, "withdrawn", left + timedelta(days=1), "x", today=left)
    assert counts(store) == before
    result = withdraw(
        store, "coord", code, "withdrawn", left, "no longer wishes to take part", left
    )
    assert (result.kind, result.previous_status, result.occurred_on) == (
        "withdrawn",
        "randomised",
        left,
    )
    assert counts(store)["participant statuses"] == ["withdrawn"]
    with pytest.raises(ConflictError, match="already recorded as withdrawn on 2025-03-13; a part"):
        withdraw(store, "coord", code, "lost_to_follow_up", left, "x", today=left)
    later = left + timedelta(days=1)
    with pytest.raises(ConflictError, match="left the study \\(withdrawn\\) on 2025-03-13; a ses"):
        record_session(store, "therapist", code, "needling", 2, later, True, {}, later)


def test_a_withdrawal_cannot_predate_a_visit_already_done(study: Any) -> None:
    store, code = study
    record_session(store, "therapist", code, "needling", 1, T1, True, {}, T1)
    with pytest.raises(ConflictError, match=r"has visits done after 2025-03-03 \(T1\); allowed"):
        withdraw(store, "coord", code, "withdrawn", DAY0, "changed mind", today=T1)


W3 = DAY0 + timedelta(days=21)
WOMAC_2 = BASELINE["womac"]


def test_withdrawal_blocks_visits_done_after_it(study: Any) -> None:
    store, code = study
    record(store, "patient", code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)
    left = DAY0 + timedelta(days=10)
    withdraw(store, "coord", code, "withdrawn", left, "moved abroad", today=left)
    before = counts(store)
    with pytest.raises(ConflictError) as excinfo:
        record(store, "patient", code, "W3", "womac", WOMAC_2, W3, today=W3)
    assert str(excinfo.value) == (
        "SEV-001 left the study (withdrawn) on 2025-03-13; visit W3 done on 2025-03-24 cannot be "
        "recorded; allowed: data collected on or before 2025-03-13"
    )
    assert counts(store) == before
    late_entry = record(store, "patient", code, "BL", "pcs", BASELINE["pcs"], DAY0, today=W3)
    assert late_entry.scores["total"] == 26
