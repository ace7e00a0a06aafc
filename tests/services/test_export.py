"""Exports on SQLite and PostgreSQL: tidy tables, the data dictionary, the manifest, blinding."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.errors import ConflictError, OutputFileError, PermissionDeniedError
from physiotrial.services import capture, enrolment, randomisation, safety
from physiotrial.services.audit import verify_audit
from physiotrial.services.export import export
from physiotrial.services.locking import lock
from physiotrial.store import schema
from tests.services.helpers_admin import (
    DAY0,
    WOMAC_ITEMS,
    Trial,
    make_study,
    populate,
    unblind_study,
)

TABLES = (
    "participants",
    "visits",
    "scores",
    "item_answers",
    "sessions",
    "adverse_events",
    "dispositions",
    "deviations",
)
ARMS = {"DN", "SHAM"}
RESPONSE = ["study_code", "visit", "visit_date", "done_on", "measure", "instrument"]
COLUMNS = {
    "participants": ["study_code", "site", "status", "sex", "randomised_on", "arm"],
    "visits": ["study_code", "visit", "planned", "opens", "closes", "done_on"],
    "scores": [
        *RESPONSE,
        *("instrument_version", "rater", "score", "value", "label", "unscorable", "version"),
    ],
    "item_answers": [*RESPONSE, "item", "answer", "version"],
    "sessions": [
        *("study_code", "plan", "number", "held_on", "delivered", "version"),
        *("needling_muscle", "needling_side", "needling_insertions"),
        *("needling_local_twitch_responses", "needling_duration_min"),
        *("exercise_completed", "exercise_exercises_done", "exercise_pain_during"),
    ],
    "adverse_events": [
        *("study_code", "term", "onset", "duration_hours", "severity", "relatedness"),
        *("action", "outcome", "session_plan", "session_number", "version"),
    ],
    "dispositions": ["study_code", "kind", "occurred_on", "reason"],
    "deviations": ["study_code", "occurred_on", "category", "description"],
}
BLINDED_OUT = {"participants": ["arm"], "sessions": ["needling_local_twitch_responses"]}


@pytest.fixture
def trial(database_url: str) -> Iterator[Trial]:
    populated = populate(database_url)
    yield populated
    populated.store.close()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The export directory (tmp_path also holds the SQLite database)."""
    return tmp_path / "export"


def _read(directory: Path, table: str, fmt: str = "csv") -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(directory / f"{table}.parquet")
    return pd.read_csv(directory / f"{table}.csv", dtype=str, keep_default_na=False)


def _cells(frame: pd.DataFrame) -> set[str]:
    return {str(v) for v in frame.to_numpy().ravel()}


def test_export_writes_every_table_in_both_formats(trial: Trial, out: Path) -> None:
    result = export(trial.store, "dm", out)
    names = sorted(p.name for p in out.iterdir())
    expected = [f"{t}.{f}" for t in TABLES for f in ("csv", "parquet")]
    assert names == sorted([*expected, "data_dictionary.csv", "manifest.json"])
    assert sorted(p.name for p in result.files) == names
    assert result.blinded is False
    for table in TABLES:
        csv, parquet = _read(out, table), _read(out, table, "parquet")
        assert list(csv.columns) == COLUMNS[table], table
        assert list(parquet.columns) == COLUMNS[table], table
        assert len(csv) == len(parquet) == result.tables[table], table
    assert result.tables == {
        "participants": 3,
        "visits": 14,
        "scores": 16,  # BL: vas 1 + womac 8 + dn4 2; W3: vas 1 + pgic 3; SEV-002 BL vas 1
        "item_answers": 38,  # 1 + 24 + 10 + 1 + 1 + 1
        "sessions": 2,
        "adverse_events": 1,
        "dispositions": 1,
        "deviations": 1,
    }


def test_exported_values(trial: Trial, out: Path) -> None:
    export(trial.store, "dm", out, ["csv", "parquet"])
    first, second = trial.people["SEV-001"], trial.people["SEV-002"]
    people = _read(out, "participants").set_index("study_code")
    assert people.loc["SEV-001"].to_dict() == {
        "site": "SEV",
        "status": "randomised",
        "sex": "female",
        "randomised_on": "2025-03-03",
        "arm": first.arm,
    }
    assert people.loc["SEV-002", "status"] == "withdrawn"
    assert people.loc["SEV-002", "arm"] == second.arm
    assert people.loc["UNI-001"].to_dict() == {
        "site": "UNI",
        "status": "screen_failed",
        "sex": "female",
        "randomised_on": "",
        "arm": "",
    }
    scores = _read(out, "scores", "parquet")
    keyed = scores.set_index(["study_code", "visit", "measure", "score"]).sort_index()
    assert keyed.loc[("SEV-001", "BL", "vas_max", "score"), "value"] == 62.0
    assert keyed.loc[("SEV-001", "W3", "vas_max", "score"), "value"] == 31.5
    assert keyed.loc[("SEV-001", "W3", "vas_max", "score"), "visit_date"] == date(2025, 3, 24)
    assert keyed.loc[("SEV-001", "W3", "vas_max", "score"), "done_on"] == date(2025, 3, 24)
    # the corrected WOMAC (p1 2 → 4): current version only, pain 2*5 + 2 = 12, total 50
    womac = keyed.loc[("SEV-001", "BL", "womac")]
    assert set(womac["version"]) == {2}
    assert womac.loc["pain", "value"] == 12.0
    assert womac.loc["total", "value"] == 50.0
    dn4_total = keyed.loc[("SEV-001", "BL", "dn4", "total")]  # 2 of 10 items answered
    assert math.isnan(dn4_total["value"])
    assert dn4_total["unscorable"].startswith("8 of 10 items missing; at most 0 allowed")
    assert pd.isna(keyed.loc[("SEV-001", "BL", "vas_max", "score"), "label"])
    pgic = keyed.loc[("SEV-001", "W3", "pgic")]
    assert pgic.loc["code", "value"] == 2.0
    assert pd.isna(pgic.loc["label", "value"])
    assert pgic.loc["label", "label"] == "much improved"  # a category score
    assert pgic.loc["improved", "value"] == 1.0  # a flag
    in_order = scores[scores["study_code"] == "SEV-001"].drop_duplicates(["visit", "measure"])
    assert in_order[["visit", "measure"]].values.tolist() == [  # visit, then protocol order
        *(["BL", "vas_max"], ["BL", "womac"], ["BL", "dn4"], ["W3", "vas_max"], ["W3", "pgic"]),
    ]
    answers = _read(out, "item_answers", "parquet")
    items = answers[(answers["measure"] == "womac")].set_index("item")["answer"]
    assert list(items.index) == WOMAC_ITEMS
    assert items["p1"] == 4.0
    assert items["f17"] == 2.0
    dn4 = answers[answers["measure"] == "dn4"].set_index("item")["answer"]
    assert dn4["burning"] == 1.0
    assert math.isnan(dn4["itching"])  # not answered: blank, not 0
    sessions = _read(out, "sessions").set_index("plan")
    assert sessions.loc["needling", "needling_insertions"] == "6"
    assert sessions.loc["needling", "needling_local_twitch_responses"] == "3"
    assert sessions.loc["needling", "exercise_completed"] == ""
    assert sessions.loc["exercise", "exercise_completed"] == "True"
    events = _read(out, "adverse_events")
    assert events.loc[0, ["session_plan", "session_number", "severity"]].tolist() == [
        "needling",
        "1",
        "mild",
    ]
    assert _read(out, "dispositions").loc[0].tolist() == [
        "SEV-002",
        "withdrawn",
        "2025-03-20",
        "moved away",
    ]
    visits = _read(out, "visits")
    assert visits[visits["study_code"] == "SEV-001"]["visit"].tolist() == [
        *("BL", "T1", "T2", "T3", "W3", "M3", "M6"),
    ]


def test_exports_are_pseudonymised(trial: Trial, out: Path) -> None:
    export(trial.store, "dm", out)
    text = "".join(p.read_text() for p in out.glob("*.csv"))
    text += (out / "manifest.json").read_text()
    for secret in ("Ana Torres", "Luis Romero", "Eva Ruiz", "SEV-001@x.es", "Dana Manager"):
        assert secret not in text
    dictionary = _read(out, "data_dictionary")
    assert not {"name", "contact", "entered_by", "participant_id"} & set(dictionary["column"])


@pytest.mark.parametrize(
    ("actor", "site_only"),
    [("coord", True), ("stat", False)],
)
def test_blinded_roles_get_no_arm_at_all(
    trial: Trial, out: Path, actor: str, site_only: bool
) -> None:
    result = export(trial.store, actor, out)
    assert result.blinded is True
    for table in TABLES:
        for fmt in ("csv", "parquet"):
            frame = _read(out, table, fmt)
            expected = [c for c in COLUMNS[table] if c not in BLINDED_OUT.get(table, [])]
            assert list(frame.columns) == expected, (table, fmt)
            assert not _cells(frame) & ARMS, (table, fmt)
    dictionary = _read(out, "data_dictionary")
    assert "arm" not in set(dictionary["column"])
    assert "needling_local_twitch_responses" not in set(dictionary["column"])
    assert "DN (Dry needling" not in (out / "data_dictionary.csv").read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["blinded"], manifest["site_only"], manifest["role"]) == (
        True,
        site_only,
        "coordinator" if actor == "coord" else "statistician",
    )
    codes = set(_read(out, "participants")["study_code"])
    assert codes == ({"SEV-001", "SEV-002"} if site_only else {"SEV-001", "SEV-002", "UNI-001"})


def test_the_statistician_sees_arms_after_unblinding(trial: Trial, out: Path) -> None:
    lock(trial.store, "dm", "final")
    unblind_study(trial.store)
    result = export(trial.store, "stat", out, ["parquet"])
    assert result.blinded is False
    people = _read(out, "participants", "parquet").set_index("study_code")
    assert people.loc["SEV-001", "arm"] == trial.people["SEV-001"].arm
    assert {p.suffix for p in out.iterdir()} == {".parquet", ".csv", ".json"}
    assert [p.name for p in out.glob("*.csv")] == ["data_dictionary.csv"]


def test_the_data_dictionary_describes_every_column(trial: Trial, out: Path) -> None:
    export(trial.store, "dm", out, ["csv"])
    dictionary = _read(out, "data_dictionary")
    assert list(dictionary.columns) == [
        *("table", "column", "type", "meaning", "allowed", "unit", "applies_to"),
    ]
    general = dictionary[dictionary["applies_to"] == ""]
    for table in TABLES:
        described = general[general["table"] == table]["column"].tolist()
        assert described == COLUMNS[table], table
    assert (general["meaning"] != "").all()
    rows = dictionary.set_index(["table", "column", "applies_to"])
    assert rows.loc[("participants", "sex", ""), "allowed"] == "female, male"
    assert rows.loc[("participants", "arm", ""), "allowed"] == (
        "DN (Dry needling + exercise), SHAM (Sham needling + exercise)"
    )
    vas = rows.loc[("scores", "value", "measure=vas_max; score=score")]
    assert (vas["allowed"], vas["unit"], vas["type"]) == ("0 to 100", "mm", "number")
    assert vas["meaning"].endswith("; higher is worse")
    womac = rows.loc[("scores", "value", "measure=womac; score=total")]
    assert womac["allowed"] == "0 to 96"
    assert rows.loc[("scores", "value", "measure=dn4; score=positive"), "allowed"] == (
        "1 (yes), 0 (no)"
    )
    pgic = rows.loc[("scores", "label", "measure=pgic; score=label"), "allowed"]
    assert pgic.startswith("very much improved, much improved")
    item = rows.loc[("item_answers", "answer", "measure=dn4; item=burning")]
    assert item["allowed"] == "0 (no), 1 (yes)"
    needling = rows.loc[("sessions", "needling_insertions", "")]
    assert (needling["type"], needling["allowed"]) == ("integer", "0 to 50")
    assert rows.loc[("sessions", "needling_duration_min", ""), "unit"] == "min"
    assert rows.loc[("sessions", "exercise_completed", ""), "type"] == "boolean"
    assert rows.loc[("adverse_events", "severity", ""), "allowed"] == "mild, significant, serious"


def test_the_manifest_cites_the_lock_and_every_file(trial: Trial, tmp_path: Path) -> None:
    open_export = export(trial.store, "dm", tmp_path / "open", ["csv"])
    assert open_export.data_hash is None
    unlocked = json.loads((tmp_path / "open" / "manifest.json").read_text())
    assert (unlocked["locked"], unlocked["data_hash"]) == (False, None)
    manifest = lock(trial.store, "dm", "final analysis")
    result = export(trial.store, "stat", tmp_path / "locked")
    assert result.data_hash == manifest.data_hash
    payload = json.loads((tmp_path / "locked" / "manifest.json").read_text())
    assert payload["locked"] is True
    assert payload["data_hash"] == manifest.data_hash
    assert payload["lock_id"] == manifest.lock_id
    assert payload["locked_at"] == manifest.locked_at
    assert payload["protocol_hash"] == manifest.protocol_hash
    assert payload["exported_by"] == "stat"
    assert payload["exported_at"] == result.exported_at
    assert payload["blinded"] is True
    assert payload["tables"] == result.tables
    for name, digest in payload["files"].items():
        assert hashlib.sha256((tmp_path / "locked" / name).read_bytes()).hexdigest() == digest
    with trial.store.read() as connection:
        logged = connection.execute(
            select(schema.audit).where(schema.audit.c.action == "export")
        ).mappings()
        assert [(r["actor"], r["reason"], r["changes"]) for r in logged] == [
            ("dm", "76 rows in 8 tables as csv", "[]"),
            ("stat", "76 rows in 8 tables as csv, parquet", "[]"),
        ]
    assert verify_audit(trial.store, "dm").ok


@pytest.mark.parametrize(
    ("actor", "formats", "error", "message"),
    [
        ("therapist", ["csv"], PermissionDeniedError, "therapist (therapist) may not export"),
        ("assessor", ["csv"], PermissionDeniedError, "assessor (assessor) may not export"),
        ("dm", ["xlsx"], ConflictError, "export format 'xlsx' is not known; allowed: csv, parquet"),
        ("dm", [], ConflictError, "export format (none) is not known"),
    ],
)
def test_refused_exports_write_nothing(
    trial: Trial,
    tmp_path: Path,
    actor: str,
    formats: list[str],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as excinfo:
        export(trial.store, actor, tmp_path / "out", formats)
    assert message in str(excinfo.value)
    assert not (tmp_path / "out").exists()


def test_export_of_data_entered_through_the_services(database_url: str, tmp_path: Path) -> None:
    """The same tables from the enrolment, capture and safety services' own rows."""
    store = make_study(database_url)
    try:
        answers: dict[str, Any] = {
            "age": 64,
            "acr_knee_oa": True,
            "pain_months": 24,
            "popliteus_trigger_point": True,
            "needle_phobia": False,
            "anticoagulants": False,
            "recent_knee_procedure": False,
            "other_lower_limb_condition": False,
            "consent_capacity": True,
        }
        screened = enrolment.screen(store, "coord", "SEV", DAY0, answers, {"sex": "male"}, "Jo")
        code = screened.study_code
        enrolment.consent(store, "coord", code, "1.0", DAY0)
        randomisation.randomise(store, "coord", code, DAY0)
        capture.record(store, "coord", code, "BL", "vas_max", {"mm": 48}, DAY0, today=DAY0)
        safety.record_session(
            store,
            "therapist",
            code,
            "needling",
            1,
            date(2025, 3, 4),
            True,
            {"side": "right", "local_twitch_responses": 2},
            today=date(2025, 3, 4),
        )
        export(store, "coord", tmp_path / "blind", ["csv"])
        export(store, "dm", tmp_path / "open", ["csv"])
    finally:
        store.close()
    blind = _read(tmp_path / "blind", "sessions")
    assert "needling_local_twitch_responses" not in blind.columns
    assert blind.loc[0, "needling_side"] == "right"
    opened = _read(tmp_path / "open", "sessions")
    assert opened.loc[0, "needling_local_twitch_responses"] == "2"
    scores = _read(tmp_path / "open", "scores")
    assert scores[["study_code", "visit", "measure", "value"]].values.tolist() == [
        [code, "BL", "vas_max", "48.0"]
    ]
    assert _read(tmp_path / "open", "participants").loc[0, "arm"] in ARMS
    assert "arm" not in _read(tmp_path / "blind", "participants").columns


def test_export_from_the_command_line(trial: Trial, database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["export", str(tmp_path / "out"), "--database", database_url]
    result = runner.invoke(app, [*base, "--as", "stat", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"exported 10 files to {tmp_path / 'out'} (blinded; NOT locked)\n  rows: participants 3,"
    )
    assert not list((tmp_path / "out").glob("*.parquet"))
    result = runner.invoke(app, [*base, "--as", "dm", "--format", "xlsx"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --format: 'xlsx' is not a format; allowed: csv, parquet, both"
    )


def test_an_export_path_that_is_a_file_is_one_clear_error(trial: Trial, tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    with pytest.raises(OutputFileError, match=r"cannot write the export to .*taken"):
        export(trial.store, "dm", blocker)
