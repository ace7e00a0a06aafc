"""Recording measures at visits, on SQLite and PostgreSQL: scored by core, checked before any
write, corrected only by adding a version with a reason."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.errors import (
    AnswerError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ScheduleError,
)
from physiotrial.services.capture import correct, record, response_history
from physiotrial.services.schedule import participant_visits
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.store import Store, snapshot
from tests.services.helpers_capture import BASELINE, DAY0, RATER_OF, counts, enrol, make_study

WOMAC_2 = BASELINE["womac"]
BL_MEASURES = "vas_max, vas_current, vas_min, womac, dn4, tsk11, pcs, tug, six_mwt, strength, rom"


@pytest.fixture
def study(database_url: str) -> Any:
    store = make_study(database_url)
    code = enrol(store)
    yield store, code
    store.close()


def _stored(store: Store, response_id: int) -> dict[str, Any]:
    with store.read() as connection:
        row = connection.execute(
            select(schema.responses).where(schema.responses.c.id == response_id)
        ).mappings()
        return dict(row.one())


def test_a_complete_baseline_visit_is_stored_with_the_scores_core_gives(study: Any) -> None:
    store, code = study
    with store.read() as connection:
        protocol = study_protocol(connection)
    assert tuple(BASELINE) == protocol.visit("BL").measures
    before = counts(store)
    for key, answers in BASELINE.items():
        measure = protocol.measure(key)
        instrument = get_instrument(measure.instrument)
        expected = score_response(instrument, answers, measure.options)
        result = record(store, RATER_OF[key], code, "BL", key, answers, DAY0, today=DAY0)
        row = _stored(store, result.id)
        assert row["scores"] == expected.scores == result.scores
        assert row["unscorable"] == expected.unscorable == {}
        assert row["instrument"] == measure.instrument
        assert row["instrument_version"] == instrument.version
        assert row["rater"] == measure.rater.value
        assert row["entered_by"] == RATER_OF[key]
        assert (row["version"], row["current"], row["supersedes_id"]) == (1, True, None)
        assert set(row["answers"]) == set(instrument.item_ids)
        assert result.done_on == DAY0
    after = counts(store)
    assert after["responses"] == before["responses"] + 11
    assert after["audit"] == before["audit"] + 11
    assert after["visits done"] == before["visits done"] + 1
    baseline = participant_visits(store, "coord", code, DAY0)[0]
    assert (baseline.code, baseline.status, baseline.done_on) == ("BL", "done", DAY0)
    assert baseline.outstanding == ()
    with store.read() as connection:
        assert verify_chain(connection) == []
        assert verify_data(connection, snapshot) == []


@pytest.mark.parametrize(
    ("measure", "answers", "scores"),
    [
        ("womac", WOMAC_2, {"pain": 10, "stiffness": 4, "function": 34, "total": 48}),
        ("womac", WOMAC_2, {"total_100": 50, "function_100": 50}),
        ("vas_max", {"mm": 72}, {"score": 72}),
        ("vas_current", {"mm": "45.5"}, {"score": 45.5}),
        ("tsk11", BASELINE["tsk11"], {"total": 33}),
        ("pcs", BASELINE["pcs"], {"total": 26, "helplessness": 12}),
        ("dn4", BASELINE["dn4"], {"total": 2, "positive": False}),
        ("rom", BASELINE["rom"], {"arc_deg": 113}),
    ],
)
def test_stored_scores_match_published_worked_values(
    study: Any, measure: str, answers: dict[str, object], scores: dict[str, object]
) -> None:
    store, code = study
    result = record(store, RATER_OF[measure], code, "BL", measure, answers, DAY0, today=DAY0)
    stored = _stored(store, result.id)["scores"]
    assert {k: stored[k] for k in scores} == scores


def test_answers_are_stored_as_item_codes_with_blanks_as_none(study: Any) -> None:
    store, code = study
    answers = {**BASELINE["dn4"], "itching": ""}
    result = record(store, "assessor", code, "BL", "dn4", answers, DAY0, today=DAY0)
    stored = _stored(store, result.id)["answers"]
    assert (stored["burning"], stored["numbness"], stored["itching"]) == (1, 0, None)


W3 = DAY0 + timedelta(days=21)


@pytest.mark.parametrize(
    ("user", "visit", "measure", "answers", "done_on", "error", "fragment"),
    [
        (
            "patient",
            "BL",
            "womac",
            {**WOMAC_2, "p1": 7},
            DAY0,
            AnswerError,
            "SEV-001 BL womac: item p1 of womac: 7 is not allowed; allowed: 0 (none), 1 (mild), "
            "2 (moderate), 3 (severe), 4 (extreme) or blank for missing",
        ),
        (
            "patient",
            "BL",
            "vas_max",
            {"mm": 101},
            DAY0,
            AnswerError,
            "item mm of vas: 101 is not allowed; allowed: 0 to 100 mm",
        ),
        (
            "patient",
            "BL",
            "womac",
            {"p99": 1},
            DAY0,
            AnswerError,
            "SEV-001 BL womac: womac has no item p99; items: p1, p2, p3",
        ),
        ("patient", "BL", "womac", {}, DAY0, AnswerError, "no item answered; items: p1, p2"),
        (
            "patient",
            "X9",
            "womac",
            WOMAC_2,
            DAY0,
            NotFoundError,
            "visit 'X9' is not a visit of the protocol; visits: BL, T1, T2, T3, W3, M3, M6",
        ),
        (
            "patient",
            "SCR",
            "womac",
            WOMAC_2,
            DAY0,
            NotFoundError,
            "visit 'SCR' is not a visit of the protocol; visits: BL, T1",
        ),
        (
            "patient",
            "BL",
            "pgic",
            {"impression": 2},
            DAY0,
            NotFoundError,
            f"SEV-001 BL: measure 'pgic' is not planned at visit BL; BL captures: {BL_MEASURES}",
        ),
        (
            "patient",
            "T1",
            "womac",
            WOMAC_2,
            DAY0,
            NotFoundError,
            "measure 'womac' is not planned at visit T1; T1 captures: no measures",
        ),
        (
            "therapist",
            "BL",
            "dn4",
            BASELINE["dn4"],
            DAY0,
            PermissionDeniedError,
            "therapist (therapist) may not record dn4, which is rated by the assessor; "
            "allowed roles: assessor",
        ),
        (
            "coord",
            "BL",
            "tug",
            BASELINE["tug"],
            DAY0,
            PermissionDeniedError,
            "coord (coordinator) may not record tug, which is rated by the assessor",
        ),
        (
            "therapist",
            "BL",
            "womac",
            WOMAC_2,
            DAY0,
            PermissionDeniedError,
            "may not record womac, which is rated by the participant; allowed roles: assessor, "
            "coordinator, participant",
        ),
        (
            "stats",
            "BL",
            "womac",
            WOMAC_2,
            DAY0,
            PermissionDeniedError,
            "stats (statistician) may not record; allowed roles: assessor, coordinator",
        ),
        (
            "assessor_uni",
            "BL",
            "dn4",
            BASELINE["dn4"],
            DAY0,
            PermissionDeniedError,
            "assessor_uni works at another site and may not record for this participant",
        ),
        (
            "patient",
            "BL",
            "womac",
            WOMAC_2,
            DAY0 + timedelta(days=1),
            ScheduleError,
            "SEV-001 BL: done on 2025-03-04 is after today (2025-03-03); allowed: 2025-03-03",
        ),
    ],
    ids=[
        "out-of-range",
        "vas-over-100",
        "unknown-item",
        "no-answers",
        "visit-not-in-protocol",
        "screening-visit",
        "measure-not-at-visit",
        "visit-without-measures",
        "therapist-rates-assessor-measure",
        "coordinator-rates-assessor-measure",
        "therapist-enters-self-report",
        "statistician",
        "other-site",
        "future-date",
    ],
)
def test_refused_records_name_the_problem_and_change_nothing(
    study: Any,
    user: str,
    visit: str,
    measure: str,
    answers: dict[str, object],
    done_on: date,
    error: type[Exception],
    fragment: str,
) -> None:
    store, code = study
    before = counts(store)
    with pytest.raises(error) as excinfo:
        record(store, user, code, visit, measure, answers, done_on, today=DAY0)
    assert fragment in str(excinfo.value)
    assert counts(store) == before


def test_a_participant_without_visits_is_told_so(study: Any) -> None:
    store, _ = study
    from physiotrial.services.enrolment import screen
    from tests.services.helpers_capture import ELIGIBLE

    screened = screen(store, "coord", "SEV", DAY0, ELIGIBLE, {"sex": "male"}, "Not Randomised")
    with pytest.raises(NotFoundError, match=r"has no visit BL; their visits: none \(not rand"):
        record(store, "patient", screened.study_code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)


def test_a_second_first_version_is_refused(study: Any) -> None:
    store, code = study
    first = record(store, "patient", code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)
    before = counts(store)
    with pytest.raises(ConflictError) as excinfo:
        record(store, "coord", code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)
    assert str(excinfo.value) == (
        f"SEV-001 BL womac is already recorded (response {first.id}); change it with correct "
        "and a reason"
    )
    assert counts(store) == before


def _visit_day(store: Store, code: str, visit: str, today: date) -> date | None:
    return next(v.done_on for v in participant_visits(store, "dm", code, today) if v.code == visit)


def test_each_measure_keeps_its_day_and_the_visit_its_first(study: Any) -> None:
    """W3's window is 2025-03-22 to 2025-03-31: PROMs sent home on a link may come a day or
    more after the assessor's tests, up to 14 days after the visit (the longest link)."""
    store, code = study
    today = date(2025, 4, 30)
    record(store, "patient", code, "W3", "womac", WOMAC_2, W3, today=today)
    later = record(store, "assessor", code, "W3", "dn4", BASELINE["dn4"], W3 + timedelta(1), today)
    assert (later.done_on, _visit_day(store, code, "W3", today)) == (date(2025, 3, 25), W3)
    record(store, "patient", code, "W3", "tsk11", BASELINE["tsk11"], date(2025, 3, 23), today)
    assert _visit_day(store, code, "W3", today) == date(2025, 3, 23)  # the first day now
    before = counts(store)
    with pytest.raises(
        ScheduleError,
        match=r"SEV-001 W3: done on 2025-04-07 is outside visit W3's window \(2025-03-22 to "
        r"2025-03-31\) and the 14 days after it was first done \(2025-03-23\); allowed: "
        r"2025-03-22 to 2025-04-06",
    ):
        record(store, "patient", code, "W3", "pcs", BASELINE["pcs"], date(2025, 4, 7), today)
    with pytest.raises(ScheduleError, match="allowed: 2025-03-22 to 2025-04-06"):
        record(store, "patient", code, "W3", "pcs", BASELINE["pcs"], date(2025, 3, 21), today)
    assert counts(store) == before
    home = record(store, "patient", code, "W3", "pcs", BASELINE["pcs"], date(2025, 4, 6), today)
    assert home.done_on == date(2025, 4, 6)
    fixed = correct(store, "assessor", (code, "W3", "dn4"), {"itching": 1}, "ticked the wrong box")
    assert (fixed.version, fixed.done_on) == (2, date(2025, 3, 25))
    days = [r.done_on for r in response_history(store, "dm", (code, "W3", "dn4"))]
    assert days == [date(2025, 3, 25), date(2025, 3, 25)]


def test_a_response_from_before_per_measure_days_verifies_and_hashes_as_before(
    study: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A response recorded before revision 0004 has no day of its own (NULL) and an audit
    snapshot without the column: the audit check reads an absent column as NULL, the lock's
    data hash leaves a NULL day out (so it equals the hash taken before the column existed),
    and the visit's day stands in for the response's."""
    from physiotrial.services import locking

    store, code = study
    done = record(store, "patient", code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)
    r = schema.responses

    def before_0004(table: Any, row: Any) -> dict[str, Any]:
        found = snapshot(table, row)
        return {k: v for k, v in found.items() if (table.name, k) != ("responses", "done_on")}

    def later_column(value: object) -> Any:
        return lambda table, row: snapshot(table, row) | {"added_later": value}

    with store.engine.begin() as connection:
        with_day = locking.data_hash(connection)[0]
        connection.execute(r.update().where(r.c.id == done.id).values(done_on=None))
        without_day = locking.data_hash(connection)[0]
        monkeypatch.setattr(locking, "snapshot", before_0004)
        assert locking.data_hash(connection)[0] == without_day != with_day
        connection.execute(r.update().where(r.c.id == done.id).values(done_on=DAY0))
        assert verify_data(connection, later_column(None)) == []
        problems = verify_data(connection, later_column("x"))
        assert problems
        assert all("added_later differ from audit row" in p for p in problems)
        connection.execute(r.update().where(r.c.id == done.id).values(done_on=None))
    (old,) = response_history(store, "dm", (code, "BL", "womac"))
    assert old.done_on == DAY0


def test_a_correction_adds_a_version_and_keeps_the_old_one(study: Any) -> None:
    store, code = study
    first = record(store, "patient", code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)
    before = counts(store)
    fixed = correct(store, "coord", (code, "BL", "womac"), {"p1": 4}, "transcription error")
    assert (fixed.version, fixed.supersedes_id, fixed.current) == (2, first.id, True)
    assert (fixed.scores["pain"], fixed.scores["total"]) == (12, 50)
    assert fixed.answers["p1"] == 4
    assert fixed.answers["p2"] == 2
    assert fixed.reason == "transcription error"
    old = _stored(store, first.id)
    assert (old["current"], old["answers"]["p1"], old["scores"]["pain"]) == (False, 2, 10)
    history = response_history(store, "coord", fixed.id)
    assert [(h.version, h.current, h.answers["p1"]) for h in history] == [
        (1, False, 2),
        (2, True, 4),
    ]
    assert response_history(store, "dm", (code, "BL", "womac")) == history
    after = counts(store)
    assert after["responses"] == before["responses"] + 1
    assert after["audit"] == before["audit"] + 1
    with store.read() as connection:
        audit = connection.execute(select(schema.audit).order_by(schema.audit.c.id.desc()))
        last = audit.mappings().first()
        assert last is not None
        assert (last["action"], last["reason"], last["participant"]) == (
            "correct",
            "transcription error",
            code,
        )
        changes = json.loads(last["changes"])
        assert [(c["table"], c["old"] is None) for c in changes] == [
            ("responses", False),
            ("responses", True),
        ]
        assert verify_data(connection, snapshot) == []


@pytest.mark.parametrize(
    ("user", "target", "answers", "reason", "error", "fragment"),
    [
        ("coord", "triple", {"p1": 4}, "", ConflictError, "a correction needs a reason"),
        ("coord", "triple", {"p1": 4}, "   ", ConflictError, "a correction needs a reason"),
        ("coord", "triple", {"p1": 2}, "typo", ConflictError, "the correction changes no answer"),
        ("coord", "triple", {"p1": 9}, "typo", AnswerError, "item p1 of womac: 9 is not allowed"),
        ("coord", "triple", {"zz": 1}, "typo", AnswerError, "womac has no item zz"),
        ("therapist", "triple", {"p1": 4}, "typo", PermissionDeniedError, "rated by the partic"),
        ("patient", "triple", {"p1": 4}, "typo", PermissionDeniedError, "may not correct"),
        ("coord_uni", "triple", {"p1": 4}, "typo", PermissionDeniedError, "another site"),
        ("coord", ("SEV-001", "W3", "womac"), {}, "x", NotFoundError, "W3 womac has not been rec"),
        ("coord", 999, {"p1": 4}, "typo", NotFoundError, "no response 999"),
    ],
)
def test_refused_corrections_change_nothing(
    study: Any,
    user: str,
    target: Any,
    answers: dict[str, object],
    reason: str,
    error: type[Exception],
    fragment: str,
) -> None:
    store, code = study
    record(store, "patient", code, "BL", "womac", WOMAC_2, DAY0, today=DAY0)
    before = counts(store)
    with pytest.raises(error, match=fragment):
        correct(
            store, user, (code, "BL", "womac") if target == "triple" else target, answers, reason
        )
    assert counts(store) == before


def test_only_the_current_version_can_be_corrected_and_a_data_manager_may_correct_any(
    study: Any,
) -> None:
    store, code = study
    first = record(store, "assessor", code, "BL", "tug", BASELINE["tug"], DAY0, today=DAY0)
    with pytest.raises(PermissionDeniedError, match="coordinator"):
        correct(store, "coord", first.id, {"time_s": 12}, "misread stopwatch")
    second = correct(store, "dm", first.id, {"time_s": 14.5}, "misread stopwatch")
    assert second.scores == {"time_s": 14.5, "high_fall_risk": True}
    with pytest.raises(ConflictError, match=f"response {first.id} \\(version 1\\) has been super"):
        correct(store, "assessor", first.id, {"time_s": 12}, "again")
    third = correct(store, "assessor", second.id, {"time_s": ""}, "not measured after all")
    assert third.version == 3
    assert third.scores["time_s"] is None
    assert third.unscorable["time_s"] == "TUG time needs time_s; missing: time_s"
