"""A blinded role never receives an allocation: every service result, export, error and log line.

The matrix: each blinded role (coordinator, assessor, participant, statistician before
unblinding) × every call that role can make or try (reads, writes, refused writes, exports, the
CLI with --json). Everything the role receives is turned into text and searched for the arm codes
as whole words, the arm names and what each arm receives; any ``arm`` field must be None. The
same run with an unblinded role (therapist) must find the arm, so the search itself is proven to
work.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.errors import PhysiotrialError
from physiotrial.services import capture, enrolment, randomisation, safety, schedule
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.export import export
from physiotrial.services.study import study_info
from physiotrial.store.store import Store
from tests.services.helpers_capture import (
    BASELINE,
    DAY0,
    ELIGIBLE,
    RATER_OF,
    arm_of,
    enrol,
    make_study,
)

ARM_WORDS = re.compile(
    r"\b(DN|SHAM)\b|Dry needling \+ exercise|Sham needling \+ exercise|"
    r"Retractable non-penetrating|Dry needling of the popliteus trigger point|"
    r"local_twitch_responses"
)
BLINDED = ("coord", "assessor", "patient", "stats")

Call = Callable[[Store, str, str, Path], object]


def _walk_arms(value: Any) -> Iterator[object]:
    """Every value of a field called ``arm`` anywhere inside a result."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            inner = getattr(value, field.name)
            if field.name == "arm":
                yield inner
            yield from _walk_arms(inner)
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key == "arm":
                yield inner
            yield from _walk_arms(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _walk_arms(inner)


def _export_text(store: Store, actor: str, _code: str, folder: Path) -> str:
    target = folder / f"export-{actor}"
    export(store, actor, target)
    return "\n".join(path.read_text() for path in sorted(target.glob("*.csv")))


def _cli(*words: str) -> Call:
    def run(store: Store, actor: str, code: str, folder: Path) -> str:
        args = [w.replace("{code}", code) for w in words]
        result = CliRunner().invoke(app, [*args, "--as", actor, "--database", store.url, "--json"])
        return result.output

    return run


CALLS: dict[str, Call] = {
    "visits": lambda s, a, c, f: schedule.participant_visits(s, a, c, DAY0 + timedelta(days=30)),
    "due": lambda s, a, c, f: schedule.due_visits(s, a, DAY0 + timedelta(days=30)),
    "history": lambda s, a, c, f: capture.response_history(s, a, (c, "BL", "womac")),
    "sessions": lambda s, a, c, f: safety.participant_sessions(s, a, c),
    "randomise again": lambda s, a, c, f: randomisation.randomise(s, a, c, DAY0),
    "randomise": lambda s, a, c, f: randomisation.randomise(s, a, _consented(s), DAY0),
    "unblind": lambda s, a, c, f: randomisation.unblind(s, a, c, "curious"),
    "verify randomisation": lambda s, a, c, f: randomisation.verify_randomisation(s, a),
    "verify audit": lambda s, a, c, f: verify_audit(s, a),
    "audit log": lambda s, a, c, f: audit_log(s, a),
    "export": _export_text,
    "record": lambda s, a, c, f: capture.record(
        s, a, c, "W3", "vas_max", {"mm": 30}, DAY0 + timedelta(days=21), DAY0 + timedelta(days=22)
    ),
    "session": lambda s, a, c, f: safety.record_session(
        s, a, c, "needling", 2, DAY0 + timedelta(days=8), True, {}, DAY0 + timedelta(days=9)
    ),
    "status": lambda s, a, c, f: study_info(s),
    "cli visits": _cli("visits", "{code}", "--today", "2025-04-02"),
    "cli randomise": _cli("randomise", "{code}"),
    "cli unblind": _cli("unblind", "{code}", "--reason", "curious"),
}


def _consented(store: Store) -> str:
    """A new participant, screened and consented by the SEV coordinator, not yet randomised."""
    screened = enrolment.screen(
        store, "coord", "SEV", DAY0 - timedelta(days=7), ELIGIBLE, {"sex": "male"}, "New Person"
    )
    enrolment.consent(store, "coord", screened.study_code, "1.0", DAY0 - timedelta(days=5))
    return screened.study_code


@pytest.fixture
def trial(database_url: str) -> Iterator[tuple[Store, str]]:
    """A randomised participant with a complete baseline, a needling session and an AE."""
    store = make_study(database_url)
    code = enrol(store)
    for measure, answers in BASELINE.items():
        capture.record(store, RATER_OF[measure], code, "BL", measure, answers, DAY0, DAY0)
    details = {
        "muscle": "popliteus",
        "side": "left",
        "insertions": 6,
        "local_twitch_responses": 2,
        "duration_min": 5,
    }
    safety.record_session(
        store,
        "therapist",
        code,
        "needling",
        1,
        DAY0 + timedelta(days=1),
        True,
        details,
        DAY0 + timedelta(days=1),
    )
    safety.record_adverse_event(
        store,
        "therapist",
        code,
        "post-needling soreness",
        DAY0 + timedelta(days=1),
        "mild",
        "probable",
        "none",
        "resolved",
        duration_hours=36,
        session=("needling", 1),
        today=DAY0 + timedelta(days=3),
    )
    yield store, code
    store.close()


def _received(
    store: Store, actor: str, code: str, folder: Path, call: Call
) -> tuple[str, list[object]]:
    try:
        result = call(store, actor, code, folder)
    except PhysiotrialError as error:
        return f"error: {error}", []
    return repr(result), list(_walk_arms(result))


@pytest.mark.parametrize("actor", BLINDED)
def test_blinded_roles_never_receive_an_allocation(
    trial: tuple[Store, str], actor: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, code = trial
    caplog.set_level(logging.DEBUG)
    for name, call in CALLS.items():
        text, arms = _received(store, actor, code, tmp_path, call)
        assert not ARM_WORDS.search(text), (actor, name, text[:400])
        assert all(arm is None for arm in arms), (actor, name, arms)
    for record in caplog.records:
        assert not ARM_WORDS.search(record.getMessage()), record.getMessage()


def test_the_search_finds_the_arm_for_the_therapist(
    trial: tuple[Store, str], tmp_path: Path
) -> None:
    store, code = trial
    arm = arm_of(store, code)
    text, arms = _received(store, "therapist", code, tmp_path, CALLS["sessions"])
    assert ARM_WORDS.search(text)
    assert arm in arms
    fresh, fresh_arms = _received(store, "therapist", code, tmp_path, CALLS["randomise"])
    assert fresh.startswith("RandomisationResult(")
    assert fresh_arms[0] in ("DN", "SHAM")
