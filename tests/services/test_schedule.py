"""Where visits stand over time, and the due list per site, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.errors import NotFoundError, PermissionDeniedError
from physiotrial.services.capture import record
from physiotrial.services.safety import record_session, withdraw
from physiotrial.services.schedule import due_visits, participant_visits
from tests.services.helpers_capture import BASELINE, DAY0, arm_of, enrol, make_study

# The reference plan from day 0: BL d0 [0, 0]; T1 d1 [1, 3]; T2 d8 [6, 10]; T3 d15 [13, 17];
# W3 d21 [19, 28]; M3 d90 [76, 104]; M6 d180 [166, 194].
CODES = ("BL", "T1", "T2", "T3", "W3", "M3", "M6")


@pytest.fixture
def study(database_url: str) -> Any:
    store = make_study(database_url)
    yield store
    store.close()


def _statuses(store: Any, code: str, day: int) -> dict[str, str]:
    views = participant_visits(store, "coord", code, DAY0 + timedelta(days=day))
    return {v.code: v.status for v in views}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (-1, dict.fromkeys(CODES, "upcoming")),
        (0, {"BL": "open", "T1": "upcoming", "W3": "upcoming"}),
        (1, {"BL": "missed", "T1": "open", "T2": "upcoming"}),
        (2, {"T1": "late"}),
        (3, {"T1": "late"}),
        (4, {"T1": "missed", "T2": "upcoming"}),
        (6, {"T2": "open"}),
        (8, {"T2": "open"}),
        (9, {"T2": "late", "T3": "upcoming"}),
        (11, {"T2": "missed"}),
        (19, {"W3": "open"}),
        (28, {"W3": "late"}),
        (29, {"W3": "missed", "M3": "upcoming"}),
        (76, {"M3": "open"}),
        (195, dict.fromkeys(CODES, "missed")),
    ],
)
def test_status_of_visits_not_done_follows_the_calendar(
    study: Any, day: int, expected: dict[str, str]
) -> None:
    code = enrol(study)
    statuses = _statuses(study, code, day)
    assert list(statuses) == list(CODES)
    assert {k: statuses[k] for k in expected} == expected


def test_done_visits_are_done_or_out_of_window_and_a_past_day_shows_the_past(study: Any) -> None:
    code = enrol(study)
    record(study, "patient", code, "BL", "womac", BASELINE["womac"], DAY0, today=DAY0)
    late = DAY0 + timedelta(days=30)
    record(study, "patient", code, "W3", "womac", BASELINE["womac"], late, today=late)
    assert _statuses(study, code, 40)["BL"] == "done"
    assert _statuses(study, code, 40)["W3"] == "out_of_window"
    past = participant_visits(study, "coord", code, DAY0 + timedelta(days=20))
    assert (past[4].code, past[4].status, past[4].done_on) == ("W3", "open", None)


def test_each_visit_lists_its_measures_and_which_are_recorded(study: Any) -> None:
    code = enrol(study)
    assert participant_visits(study, "assessor", code, DAY0)[0].outstanding == tuple(BASELINE)
    record(study, "patient", code, "BL", "womac", BASELINE["womac"], DAY0, today=DAY0)
    record(study, "assessor", code, "BL", "rom", BASELINE["rom"], DAY0, today=DAY0)
    baseline = participant_visits(study, "therapist", code, DAY0)[0]
    assert baseline.measures == tuple(BASELINE)
    assert baseline.recorded == ("womac", "rom")
    assert baseline.outstanding == tuple(m for m in BASELINE if m not in ("womac", "rom"))
    assert baseline.done_on == DAY0


def test_a_delivered_session_marks_its_treatment_visit_done(study: Any) -> None:
    code = enrol(study)
    day = DAY0 + timedelta(days=2)
    record_session(study, "therapist", code, "exercise", 1, day, False, {}, today=day)
    assert _statuses(study, code, 2)["T1"] == "late"
    record_session(study, "therapist", code, "needling", 1, day, True, {}, today=day)
    assert _statuses(study, code, 2)["T1"] == "done"
    assert _statuses(study, code, 2)["T2"] == "upcoming"


def test_leaving_stops_the_remaining_visits(study: Any) -> None:
    code = enrol(study)
    record(study, "patient", code, "BL", "womac", BASELINE["womac"], DAY0, today=DAY0)
    left = DAY0 + timedelta(days=9)
    result = withdraw(study, "coord", code, "lost_to_follow_up", left, "no answer", today=left)
    assert result.visits_stopped == ("T2", "T3", "W3", "M3", "M6")
    views = participant_visits(study, "coord", code, DAY0 + timedelta(days=40))
    assert [(v.code, v.status, v.stopped) for v in views][:5] == [
        ("BL", "done", False),
        ("T1", "missed", False),
        ("T2", "missed", True),
        ("T3", "missed", True),
        ("W3", "missed", True),
    ]
    assert due_visits(study, "dm", DAY0 + timedelta(days=40)) == []


def test_the_due_list_is_per_site_late_first_then_open_then_missed(study: Any) -> None:
    first = enrol(study)
    second = enrol(study, day0=DAY0 + timedelta(days=5), sex="male")
    elsewhere = enrol(study, site="UNI")
    day = DAY0 + timedelta(days=7)
    record(study, "patient", second, "BL", "womac", BASELINE["womac"], day - timedelta(days=2))
    due = due_visits(study, "coord", day)
    assert [(d.study_code, d.code, d.status, d.days_left) for d in due] == [
        (second, "T1", "late", 1),
        (first, "T2", "open", 3),
        (first, "BL", "missed", -7),
        (first, "T1", "missed", -4),
    ]
    assert {d.site for d in due} == {"SEV"}
    everyone = due_visits(study, "dm", day)
    assert {d.study_code for d in everyone} == {first, second, elsewhere}
    assert {d.study_code for d in due_visits(study, "dm", day, "UNI")} == {elsewhere}
    assert {d.study_code for d in due_visits(study, "assessor_uni", day)} == {elsewhere}
    assert due_visits(study, "coord", day, "SEV") == due


@pytest.mark.parametrize(
    ("user", "site", "error", "fragment"),
    [
        ("coord", "UNI", PermissionDeniedError, "may list only their own site's visits, not UNI"),
        ("dm", "MAD", NotFoundError, "no site 'MAD'; sites: SEV, UNI"),
        ("patient", None, PermissionDeniedError, "patient (participant) may not visits"),
        ("stats", None, PermissionDeniedError, "stats (statistician) may not visits"),
        ("ghost", None, NotFoundError, "no active user 'ghost'"),
    ],
)
def test_who_may_list_which_visits(
    study: Any, user: str, site: str | None, error: type[Exception], fragment: str
) -> None:
    enrol(study)
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        due_visits(study, user, DAY0, site)


def test_a_participant_at_another_site_is_not_shown(study: Any) -> None:
    code = enrol(study, site="UNI")
    with pytest.raises(PermissionDeniedError, match="works at another site"):
        participant_visits(study, "coord", code, DAY0)
    with pytest.raises(NotFoundError, match="no participant 'SEV-999'"):
        participant_visits(study, "coord", "SEV-999", DAY0)


def test_schedules_carry_no_arm(study: Any) -> None:
    code = enrol(study)
    arm = arm_of(study, code)
    for user in ("coord", "assessor", "therapist", "dm"):
        shown = [asdict(v) for v in participant_visits(study, user, code, DAY0)]
        shown += [asdict(d) for d in due_visits(study, user, DAY0 + timedelta(days=2))]
        assert shown
        for row in shown:
            assert "arm" not in row
            assert arm not in {str(v) for v in row.values()}


def test_the_command_line_end_to_end(database_url: str, tmp_path: Any) -> None:
    """Every capture command once, with the study from the helpers and today as day 0."""
    store = make_study(database_url)
    code = enrol(store, day0=date.today())
    store.close()
    womac = tmp_path / "womac.json"
    womac.write_text(json.dumps(BASELINE["womac"]))

    def run(command: str) -> Any:
        return CliRunner().invoke(app, [*shlex.split(command), "--database", database_url])

    result = run(
        f"record {code} --visit BL --measure womac --answers '{womac}' --answer p1=4 --as patient"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"recorded {code} BL womac (response 1, version 1)\n")
    assert "pain=12, stiffness=4, function=34, total=50" in result.output
    bad = run(f"record {code} --visit BL --measure dn4 --answer burning=maybe --as assessor")
    assert bad.exit_code == 1
    assert bad.output.startswith("error: SEV-001 BL dn4: item burning of dn4: 'maybe' is not")
    assert len(bad.output.strip().splitlines()) == 1
    fixed = run(
        f"correct {code} --visit BL --measure womac --answer p1=2 --reason typo --as coord --json"
    )
    assert fixed.exit_code == 0, fixed.output
    payload = json.loads(fixed.output)
    assert (payload["version"], payload["supersedes_id"], payload["scores"]["total"]) == (2, 1, 48)
    listing = run(f"visits {code} --as coord")
    assert listing.exit_code == 0, listing.output
    assert listing.output.splitlines()[0].startswith("BL   done ")
    assert "recorded 1/11 (to do: vas_max," in listing.output.splitlines()[0]
    later = date.today() + timedelta(days=2)
    due = run(f"visits --due --today {later} --as coord --json")
    assert [(d["study_code"], d["code"], d["status"]) for d in json.loads(due.output)] == [
        (code, "T1", "late")
    ]
    session = run(
        f"session {code} --plan needling --number 1 --detail side=left "
        "--detail local_twitch_responses=1 --as therapist"
    )
    assert session.exit_code == 0, session.output
    assert f"recorded {code} needling session 1 of 3 (delivered)\n  arm " in session.output
    ae = run(
        f"ae {code} --term bruising --severity mild --relatedness probable --action none "
        "--outcome resolved --session needling:1 --as assessor"
    )
    assert ae.exit_code == 0, ae.output
    assert ae.output == f"adverse event 1 (version 1) for {code}: bruising, mild, probable, " + (
        "resolved\n"
    )
    fixed_ae = run("ae --correct 1 --severity significant --reason 'GP seen' --as coord")
    assert "adverse event 2 (version 2)" in fixed_ae.output, fixed_ae.output
    missing = run(f"ae {code} --term bruising --as assessor")
    assert missing.output == (
        "error: an adverse event needs --severity, --relatedness, --action, --outcome\n"
    )
    deviation = run(f"deviation {code} --category visit_window --description late --as coord")
    assert deviation.output == f"recorded deviation 1 for {code}: visit_window\n"
    gone = run(f"withdraw {code} --reason 'moved away' --as coord")
    assert gone.exit_code == 0, gone.output
    assert gone.output.startswith(f"{code}: withdrawn on {date.today()} (was randomised)")
