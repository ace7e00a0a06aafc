"""Clinic adverse-event rates per needling session, counted by hand, and the published rates."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import binomtest

from physiotrial.analysis import clinic_safety, safety
from physiotrial.analysis.clinic_safety import (
    PUBLISHED,
    RATE_COLUMNS,
    adverse_event_rates,
    against_published,
    canonical_term,
)
from physiotrial.errors import ModelError

# Delivered needling sessions: p1 #1 #2 #3, p2 #1 (#2 not delivered), p3 #1 #2 → 6 sessions,
# 3 patients. p1 also had exercise #1; p4 only exercise.
SESSIONS = pd.DataFrame(
    {
        "patient": ["p1", "p1", "p1", "p1", "p2", "p2", "p3", "p3", "p4"],
        "plan": ["needling"] * 3 + ["exercise"] + ["needling"] * 4 + ["exercise"],
        "number": [1, 2, 3, 1, 1, 2, 1, 2, 1],
        "delivered": [True, True, True, True, True, False, True, True, True],
    }
)
nan = float("nan")
EVENTS = pd.DataFrame(
    {
        "patient": ["p1", "p1", "p1", "p2", "p3", "p3", "p1", "p4"],
        "term": [
            "Bruising",  # a: p1 #1
            "bruise",  # b: p1 #1 again (same session)
            "Post-needling  Soreness",  # c: p1 #2
            "bruising ",  # d: p2 #2, not delivered → per patient only
            "Headache",  # e: p3 #2, significant
            "Fainting",  # f: p3, no session, serious → per patient only
            "Soreness",  # g: after exercise → not needling's
            "bruising",  # h: p4 had no needling → not counted
        ],
        "severity": ["mild", "Mild", "mild", "mild", "significant", "serious", "mild", "mild"],
        "session_plan": ["needling"] * 5 + [None, "exercise", None],
        "session_number": [1, 1, 2, 2, 2, nan, 1, nan],
    }
)

# (kind, label) → events, sessions with an event (of 6), patients with an event (of 3)
BY_HAND = {
    ("any", "any"): (4, 3, 3),  # a b c e; sessions p1#1 p1#2 p3#2; patients p1 p2 p3
    ("severity", "mild"): (3, 2, 2),  # a b c; p1#1 p1#2; p1 (a b c) p2 (d)
    ("severity", "significant"): (1, 1, 1),
    ("severity", "serious"): (0, 0, 1),
    ("severity", "significant or serious"): (1, 1, 1),
    ("term", "bruise"): (1, 1, 1),
    ("term", "bruising"): (1, 1, 2),  # a linked; d per patient; h not a needling patient
    ("term", "fainting"): (0, 0, 1),
    ("term", "headache"): (1, 1, 1),
    ("term", "post-needling soreness"): (1, 1, 1),
    ("term", "soreness"): (0, 0, 0),
}
MERGED = {
    ("term", "bruising"): (2, 1, 2),  # a b at p1#1; patients p1 p2
    ("term", "pain after treatment"): (1, 1, 1),  # c (g follows exercise)
    ("term", "headache"): (1, 1, 1),
    ("term", "fainting"): (0, 0, 1),
}


def _exact(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(method="exact")
    return ci.low, ci.high


@pytest.mark.parametrize(("merge", "wanted"), [(False, BY_HAND), (True, MERGED)])
def test_counts_rates_and_exact_cis(
    merge: bool, wanted: dict[tuple[str, str], tuple[int, int, int]]
) -> None:
    table = adverse_event_rates(SESSIONS, EVENTS, "needling", merge_synonyms=merge)
    assert tuple(table.columns) == RATE_COLUMNS
    rows = {(r["kind"], r["label"]): r for r in table.to_dict("records")}
    if not merge:
        assert set(rows) == set(BY_HAND)
    for key, (events, sessions_with, patients_with) in wanted.items():
        row = rows[key]
        assert (row["events"], row["sessions_with_event"], row["patients_with_event"]) == (
            events,
            sessions_with,
            patients_with,
        ), key
        assert (row["sessions"], row["patients"]) == (6, 3)
        assert row["rate"] == pytest.approx(sessions_with / 6)
        assert row["events_per_session"] == pytest.approx(events / 6)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(_exact(sessions_with, 6))
        assert row["patient_rate"] == pytest.approx(patients_with / 3)
        assert (row["patient_ci_low"], row["patient_ci_high"]) == pytest.approx(
            _exact(patients_with, 3)
        )


def test_reuses_the_trial_clopper_pearson() -> None:
    assert clinic_safety.clopper_pearson is safety.clopper_pearson


def test_no_delivered_sessions_gives_nan_rates() -> None:
    table = adverse_event_rates(SESSIONS, EVENTS, "acupuncture")
    any_row = table.iloc[0]
    assert (any_row["sessions"], any_row["patients"]) == (0, 0)
    assert math.isnan(any_row["rate"])
    assert math.isnan(any_row["ci_low"])
    assert set(against_published(table)["comparison"]) <= {"no sessions", "no published rate"}


@pytest.mark.parametrize(
    ("term", "published"),
    [
        ("Post-needling soreness", "pain after treatment"),
        ("pain after treatment", "pain after treatment"),
        ("SORENESS", "pain after treatment"),
        ("Bruise", "bruising"),
        ("bruising", "bruising"),
        ("bleeding", "bleeding"),
        ("pain during DN", "pain during treatment"),
        ("flare-up", "aggravation of symptoms"),
        ("fainting", "fainting"),
    ],
)
def test_canonical_term(term: str, published: str) -> None:
    assert canonical_term(term) == published


def _observed(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    records = []
    for kind, label, k, n in rows:
        low, high = _exact(k, n)
        records.append(
            {"kind": kind, "label": label, "rate": k / n, "ci_low": low, "ci_high": high}
        )
    return pd.DataFrame(records)


def test_against_published_reads_where_the_published_rate_falls() -> None:
    observed = _observed(
        [
            ("any", "any", 40, 100),  # no published "any": left out
            ("severity", "mild", 25, 100),  # CI 0.169–0.348
            ("severity", "serious", 1, 100),  # compared only as significant or serious
            ("severity", "significant or serious", 2, 100),  # CI 0.0024–0.0704
            ("term", "Bruise", 30, 100),  # CI 0.212–0.400
            ("term", "bleeding", 5, 100),  # CI 0.016–0.113
            ("term", "fainting", 1, 100),
        ]
    )
    table = against_published(observed)
    got = {
        (r["label"], r["source"] if isinstance(r["source"], str) else None): r["comparison"]
        for r in table.to_dict("records")
    }
    assert got == {
        ("mild", "Brady 2014"): "within",  # 19.18 %
        ("mild", "Boyce 2020"): "below",  # 36.7 %
        ("significant or serious", "Brady 2014"): "above",  # 0
        ("significant or serious", "Boyce 2020"): "above",  # 20/20,464 = 0.098 %
        ("Bruise", "Brady 2014"): "above",  # 7.55 %
        ("Bruise", "Boyce 2020"): "above",  # 7.7 %
        ("bleeding", "Brady 2014"): "within",  # 4.65 %
        ("bleeding", "Boyce 2020"): "below",  # 16 %
        ("fainting", None): "no published rate",
    }
    bruise = table[(table["label"] == "Bruise") & (table["source"] == "Brady 2014")].iloc[0]
    assert (bruise["published_term"], bruise["published_rate"]) == ("bruising", 0.0755)
    assert "J Man Manip Ther 2014" in bruise["citation"]


def test_zero_significant_events_are_within_bradys_zero() -> None:
    table = against_published(_observed([("severity", "significant or serious", 0, 200)]))
    assert dict(zip(table["source"], table["comparison"], strict=True)) == {
        "Brady 2014": "within",
        "Boyce 2020": "within",
    }


@pytest.mark.parametrize(
    ("source", "term", "rate"),
    [
        ("Brady 2014", None, 0.1918),
        ("Brady 2014", "bruising", 0.0755),
        ("Brady 2014", "pain after treatment", 0.0219),
        ("Brady 2014", "altered emotions", 0.0004),
        ("Boyce 2020", None, 0.367),
        ("Boyce 2020", "pain during treatment", 0.059),
    ],
)
def test_published_table_holds_the_reference_figures(
    source: str, term: str | None, rate: float
) -> None:
    (match,) = [p for p in PUBLISHED if (p.source, p.term, p.severity) == (source, term, "mild")]
    assert match.rate == pytest.approx(rate, abs=5e-5)
    assert match.citation


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (EVENTS.assign(severity="moderate"), "'severity' is 'moderate' at row 0"),
        (EVENTS.assign(term=[None, *EVENTS["term"][1:]]), "'term' is missing at row 0"),
        (EVENTS.assign(term="  "), "'term' is empty at row 0"),
        (EVENTS.drop(columns="session_plan"), "lacks column.*session_plan"),
    ],
)
def test_bad_events_are_named(events: pd.DataFrame, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        adverse_event_rates(SESSIONS, events, "needling")


def test_against_published_needs_the_ci_columns() -> None:
    with pytest.raises(ModelError, match="lacks column"):
        against_published(pd.DataFrame({"kind": ["term"], "label": ["bruise"]}))


def test_a_clinic_with_no_adverse_event_has_zero_rates_with_exact_upper_limits() -> None:
    sessions = pd.DataFrame(
        {
            "patient": ["a", "a", "b"],
            "plan": ["needling"] * 3,
            "number": [1, 2, 1],
            "delivered": [True, True, True],
        }
    )
    events = pd.DataFrame(columns=["patient", "term", "severity", "session_plan", "session_number"])
    rates = adverse_event_rates(sessions, events, "needling", 0.05)
    assert list(rates["label"]) == [
        "any",
        "mild",
        "significant",
        "serious",
        "significant or serious",
    ]
    assert (rates["sessions_with_event"] == 0).all()
    assert (rates["sessions"] == 3).all()
    # Clopper–Pearson at k = 0: upper limit 1 − (α/2)^(1/n) = 1 − 0.025^(1/3)
    assert rates["ci_high"].iloc[0] == pytest.approx(1 - 0.025 ** (1 / 3))
    assert rates["patients"].iloc[0] == 2
