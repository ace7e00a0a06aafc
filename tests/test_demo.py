"""`make demo`: the reference trial simulated through the services, locked, analysed, reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from physiotrial.demo import clinic_lines, run_clinic_demo, run_demo
from physiotrial.services.audit import verify_audit
from physiotrial.services.session import open_study
from physiotrial.settings import Settings


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("demo") / "study"
    return run_demo(directory, console=Console(quiet=True))


def test_demo_writes_the_study_the_report_and_the_results(outcome) -> None:  # type: ignore[no-untyped-def]
    assert outcome.html.read_text().startswith("<!DOCTYPE html>")
    assert outcome.pdf.read_bytes()[:5] == b"%PDF-"
    assert (outcome.directory / "results" / "ancova.csv").exists()
    assert set(outcome.timings) == {"simulate", "lock and analyse", "report", "total"}


def test_default_seed_estimate_lies_within_the_published_interval(outcome) -> None:  # type: ignore[no-untyped-def]
    published = outcome.results.table("published").set_index("outcome")
    pain = published.loc["pain_max"]
    assert pain["published_ci_low"] <= pain["estimate"] <= pain["published_ci_high"]
    assert bool(pain["within_published_ci"])
    consort = outcome.results.consort
    assert sum(consort.randomised.values()) == 38
    assert consort.assessed > 38


def test_demo_database_is_a_real_locked_audited_study(outcome) -> None:  # type: ignore[no-untyped-def]
    store = open_study(Settings.resolve(Path(outcome.directory)).database_url)
    try:
        report = verify_audit(store, "dm")
    finally:
        store.close()
    assert report.problems == ()
    assert report.audit_rows > 500


def test_clinic_demo_simulates_a_knee_clinic_and_answers_how_many_sessions(
    tmp_path: Path,
) -> None:
    demo = run_clinic_demo(tmp_path / "clinic", 7, Console(quiet=True))
    assert (tmp_path / "clinic" / "physiotrial.sqlite").is_file()
    assert sum(demo.standing.values()) == 53  # 60 came, 7 not suitable for needling
    assert demo.standing["stopped"] > 0
    curve = demo.response
    assert curve is not None
    assert curve.n == 53
    assert 0 < curve.responded < curve.n
    assert curve.median is not None
    assert curve.median_lower is not None
    assert curve.median_lower <= curve.median
    lines = clinic_lines(demo)
    assert lines[0].startswith("clinic: ")
    assert f"by session {curve.median:g}" in lines[1]
