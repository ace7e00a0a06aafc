"""The analysis service on a small locked study built through the real services (both backends)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from physiotrial.analysis.results import COLUMNS
from physiotrial.errors import ConflictError, PermissionDeniedError
from physiotrial.services.analysis import analyse, analysis_frames, write_results
from physiotrial.services.capture import record
from physiotrial.services.locking import lock
from physiotrial.services.randomisation import unblind_study
from physiotrial.store.store import Store
from tests.services.helpers_capture import DAY0, arm_of, enrol, make_study

PAIN = {"BL": [72, 65, 80, 58, 77, 69, 61, 74], "M6": [30, 50, 25, 49, 35, 60, 28, 55]}


def build(database_url: str, locked: bool = True) -> tuple[Store, dict[str, str]]:
    """Eight participants with maximum pain at BL and M6, then (by default) the lock."""
    store = make_study(database_url)
    arms: dict[str, str] = {}
    for i in range(8):
        code = enrol(store, sex="female" if i % 3 else "male")
        arms[code] = arm_of(store, code)
        for visit, day in (("BL", 0), ("M6", 180)):
            value = PAIN[visit][i]
            record(store, "patient", code, visit, "vas_max", {"mm": value}, DAY0 + timedelta(day))
    if locked:
        lock(store, "dm", "all data entered for the test")
    return store, arms


@pytest.fixture
def locked(database_url: str) -> Iterator[tuple[Store, dict[str, str]]]:
    store, arms = build(database_url)
    yield store, arms
    store.close()


def test_analyse_refuses_an_unlocked_study(database_url: str) -> None:
    store, _ = build(database_url, locked=False)
    try:
        with pytest.raises(ConflictError, match="the study database is not locked; analyse needs"):
            analyse(store, "stats")
    finally:
        store.close()


def test_only_statistician_and_data_manager_analyse(locked: tuple[Store, dict[str, str]]) -> None:
    store, _ = locked
    with pytest.raises(
        PermissionDeniedError, match=r"coord \(coordinator\) may not analyse; allowed roles: "
    ):
        analyse(store, "coord")


def test_blinded_statistician_sees_a_and_b_with_the_expected_n(
    locked: tuple[Store, dict[str, str]],
) -> None:
    store, arms = locked
    results = analyse(store, "stats")
    assert results.blinded
    assert results.arms == {"A": "A", "B": "B"}
    frames = analysis_frames(store, "stats")
    label = dict(zip(frames.participants["study_code"], frames.participants["arm"], strict=True))
    assert set(label.values()) == {"A", "B"}
    # one letter per arm, consistently
    assert len({(arms[c], label[c]) for c in arms}) == 2
    expected_n = Counter(label.values())
    assert results.consort.randomised == dict(expected_n)
    primary = results.table("ancova")
    primary = primary[primary["primary"].astype(bool)]
    assert primary["n"].tolist() == [8]
    assert results.consort.analysed == dict(expected_n)
    codes = {"DN", "SHAM"}
    for name in COLUMNS:
        table = results.table(name)
        assert tuple(table.columns) == COLUMNS[name]
        if "arm" in table.columns:
            assert not codes & set(table["arm"].astype(str))
    assert not any(code in results.methods for code in ("DN versus", "SHAM"))
    assert not codes & set(results.consort.received)
    assert results.manifest["locked_by"] == "dm"


def test_unblinded_statistician_and_data_manager_see_arm_codes(
    locked: tuple[Store, dict[str, str]],
) -> None:
    store, arms = locked
    assert analyse(store, "dm").arms == {"DN": "DN", "SHAM": "SHAM"}
    unblind_study(store, "dm", "primary analysis plan signed off")
    results = analyse(store, "stats")
    assert not results.blinded
    assert results.consort.randomised == dict(Counter(arms.values()))
    frames = analysis_frames(store, "stats")
    assert (
        dict(zip(frames.participants["study_code"], frames.participants["arm"], strict=True))
        == arms
    )


def test_frames_hold_the_recorded_scores(locked: tuple[Store, dict[str, str]]) -> None:
    store, _ = locked
    scores = analysis_frames(store, "dm").scores
    pain = scores[scores["outcome"] == "pain_max"].sort_values(["visit", "study_code"])
    assert pain.groupby("visit")["value"].apply(list).to_dict() == {
        "BL": [float(v) for v in PAIN["BL"]],
        "M6": [float(v) for v in PAIN["M6"]],
    }


def test_write_results_writes_every_table(
    locked: tuple[Store, dict[str, str]], tmp_path: Path
) -> None:
    store, _ = locked
    paths = write_results(analyse(store, "stats"), tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(f"{name}.csv" for name in COLUMNS)
    header = (tmp_path / "out" / "ancova.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(COLUMNS["ancova"])
