"""analyse_trial on a synthetic reference trial: every table, its fixed columns, the signs."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import physiotrial
from physiotrial.analysis.dataset import TrialFrames
from physiotrial.analysis.plan import analyse_trial
from physiotrial.analysis.populations import per_protocol
from physiotrial.analysis.results import COLUMNS, AnalysisResults
from physiotrial.core.protocol import Protocol
from physiotrial.core.protocol_checks import parse_protocol

PROTOCOL_FILE = Path(physiotrial.__file__).parent / "protocols" / "popliteus-dn-koa.toml"
EFFECT = {"pain_max": 30.0, "womac_total": 16.0}
"""Improvement of DN over sham built into the synthetic data (published values)."""


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return parse_protocol(PROTOCOL_FILE.read_text(encoding="utf-8"), str(PROTOCOL_FILE))


def synthetic(
    protocol: Protocol, labels: tuple[str, str] = ("DN", "SHAM"), seed: int = 7
) -> TrialFrames:
    """A trial of 40 randomised (plus 6 screen failures) with a large effect on every outcome."""
    rng = np.random.default_rng(seed)
    n = 40
    codes = [f"SEV-{i:03d}" for i in range(1, n + 1)]
    arm = np.array([labels[i % 2] for i in range(n)])
    dn = arm == labels[0]
    people = pd.DataFrame(
        {
            "study_code": codes,
            "site": "SEV",
            "arm": arm,
            "sex": rng.choice(["female", "male"], n),
            "age": rng.normal(66, 7, n).round(),
            "randomised_on": date(2025, 1, 6),
            "status": "randomised",
            "departure": [None] * (n - 2) + ["withdrawn", "lost_to_follow_up"],
            "departure_reason": [None] * (n - 2) + ["moved away", "no reply"],
            "itt": True,
            "per_protocol": True,
        }
    )
    rows = []
    for outcome in protocol.outcomes:
        base = rng.normal(60, 12, n)
        effect = EFFECT.get(outcome.id, 10.0)
        for visit in outcome.visits:
            value = base if visit == "BL" else base - 15 - effect * dn + rng.normal(0, 10, n)
            for code, v in zip(codes, value, strict=True):
                if not (visit == "M6" and code in codes[-2:]):
                    rows.append((code, visit, outcome.id, float(v)))
    scores = pd.DataFrame(rows, columns=["study_code", "visit", "outcome", "value"])
    sessions = pd.DataFrame(
        [
            (c, "needling", k, date(2025, 1, 7), k < 3 or i % 5)
            for i, c in enumerate(codes)
            for k in (1, 2, 3)
        ]
        + [(c, "exercise", k, date(2025, 1, 7), True) for c in codes for k in range(1, 13)],
        columns=["study_code", "plan", "number", "held_on", "delivered"],
    )
    sessions["delivered"] = sessions["delivered"].astype(bool)
    events = pd.DataFrame(
        [(c, "needling soreness", "mild", "probable", "needling", 1) for c in codes[:12:2]],
        columns=["study_code", "term", "severity", "relatedness", "session_plan", "session_number"],
    )
    guesses = pd.DataFrame(
        [
            (c, "T3", "participant", "somewhat_active" if d else "dont_know")
            for c, d in zip(codes, dn, strict=True)
        ],
        columns=["study_code", "visit", "rater", "category"],
    )
    day0 = date(2025, 1, 6)
    visits = pd.DataFrame(
        [
            (
                c,
                "M6",
                day0 + timedelta(180),
                day0 + timedelta(166),
                day0 + timedelta(194),
                day0 + timedelta(180 + 20 * (i == 0)),
            )
            for i, c in enumerate(codes)
        ],
        columns=["study_code", "visit", "planned", "opens", "closes", "done_on"],
    )
    screening = pd.DataFrame(
        [(c, True, (), True) for c in codes]
        + [
            (f"SEV-9{i}", False, ("age 47 years: below the minimum of 50 years",), False)
            for i in range(5)
        ]
        + [("SEV-999", True, (), False)],
        columns=["study_code", "eligible", "reasons", "randomised"],
    )
    deviations = pd.DataFrame([(codes[1], "intervention")], columns=["study_code", "category"])
    people["per_protocol"] = people["study_code"].map(
        per_protocol(protocol, people["study_code"], sessions, deviations, visits)
    )
    return TrialFrames(people, scores, guesses, events, sessions, visits, deviations, screening)


@pytest.fixture(scope="module")
def results(protocol: Protocol) -> AnalysisResults:
    return analyse_trial(
        synthetic(protocol), protocol, blinded=False, manifest={"data_hash": "abc"}
    )


@pytest.mark.parametrize("name", list(COLUMNS))
def test_every_table_is_filled_with_exactly_its_columns(
    results: AnalysisResults, name: str
) -> None:
    table = results.table(name)
    assert tuple(table.columns) == COLUMNS[name]
    assert len(table) > 0


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("ancova", 13 * 3 * 2),  # 13 outcomes × 3 follow-up visits × (ITT, per protocol)
        ("repeated", 13 * 3),
        ("effects", 13 * 3),
        ("responders", 3 * 3),
        ("within", 13 * 3 * 2),
        ("safety", 4),
        ("blinding", 2),
        ("published", 2),
    ],
)
def test_table_sizes(results: AnalysisResults, name: str, rows: int) -> None:
    assert len(results.table(name)) == rows


def test_primary_row_and_holm_family(results: AnalysisResults) -> None:
    table = results.table("ancova")
    primary = table[table["primary"]]
    assert primary[["outcome", "visit", "population"]].values.tolist() == [
        ["pain_max", "M6", "itt"]
    ]
    assert primary["n"].item() == 38  # two participants miss M6
    assert primary["estimate"].item() < -20  # DN − SHAM on pain: negative favours DN
    family = table[table["p_holm"].notna()]
    assert set(family["outcome"]) == {o for o in set(table["outcome"]) if o != "pain_max"}
    assert set(family["visit"]) == {"M6"}
    assert set(family["population"]) == {"itt"}
    assert (family["p_holm"] >= family["p"]).all()


def test_published_comparison_is_signed_as_the_abstract(results: AnalysisResults) -> None:
    published = results.table("published").set_index("outcome")
    assert published.loc["pain_max", "published_estimate"] == 30.0
    assert published.loc["womac_total", "published_ci_low"] == 7.9
    for outcome in ("pain_max", "womac_total"):
        row = published.loc[outcome]
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
        assert row["estimate"] > 0  # improvement favouring DN
        assert row["within_published_ci"] == (
            row["published_ci_low"] <= row["estimate"] <= row["published_ci_high"]
        )


def test_repeated_model_is_the_unstructured_mmrm_and_agrees_with_ancova(
    results: AnalysisResults,
) -> None:
    table = results.table("repeated")
    m6 = table[(table["outcome"] == "pain_max") & (table["visit"] == "M6")].iloc[0]
    assert m6["model"] == "mmrm_us"
    assert -45 < m6["estimate"] < -15
    ancova = results.table("ancova")
    itt = ancova[(ancova["outcome"] == "pain_max") & (ancova["population"] == "itt")]
    same = itt[itt["visit"] == "M6"].iloc[0]
    # Kenward–Roger df: positive, below the number of participants with any follow-up
    assert 10 < m6["df"] < itt["n"].max()
    # MAR likelihood vs available cases: close, not identical (within half a standard error)
    assert abs(m6["estimate"] - same["estimate"]) < 0.5 * same["se"]


def test_consort_counts(results: AnalysisResults) -> None:
    consort = results.consort
    assert (consort.assessed, consort.excluded) == (46, 6)
    assert consort.exclusion_reasons == {
        "Not meeting inclusion: Aged 50 years or over": 5,
        "Eligible but not randomised": 1,
    }
    assert consort.randomised == {"DN": 20, "SHAM": 20}
    assert consort.discontinued == {"DN": {"moved away": 1}, "SHAM": {}}
    assert consort.lost == {"DN": {}, "SHAM": {"no reply": 1}}
    assert consort.analysed == {"DN": 19, "SHAM": 19}


def test_per_protocol_rule(protocol: Protocol) -> None:
    frames = synthetic(protocol)
    excluded = set(frames.participants.loc[~frames.participants["per_protocol"], "study_code"])
    # SEV-001: M6 out of window; SEV-002: a major deviation. Those who missed the 3rd needling
    # (every 5th) still had 2 of 3 and stay in.
    assert excluded == {"SEV-001", "SEV-002"}


def test_blinding_and_safety_tables(results: AnalysisResults) -> None:
    blinding = results.table("blinding").set_index("arm")
    assert blinding.loc["DN", "bang_bi"] == pytest.approx(0.5)
    assert blinding.loc["SHAM", "bang_bi"] == pytest.approx(0.0)
    safety = results.table("safety").set_index(["arm", "unit"])
    assert safety.loc[("DN", "session"), "with_event"] == 6
    assert safety.loc[("SHAM", "participant"), "with_event"] == 0


def test_blinded_analysis_shows_a_and_b_only(protocol: Protocol) -> None:
    blinded = analyse_trial(synthetic(protocol, ("A", "B")), protocol, blinded=True, manifest={})
    assert blinded.arms == {"A": "A", "B": "B"}
    assert (blinded.experimental, blinded.control) == (
        "A",
        "B",
    )
    for name in ("blinding", "published"):
        assert blinded.table(name).empty
        assert tuple(blinded.table(name).columns) == COLUMNS[name]
    arms = {a for n in COLUMNS if "arm" in COLUMNS[n] for a in blinded.table(n)["arm"]}
    assert arms == {"A", "B", "All"}
    assert "DN" not in str(blinded.consort)
    assert "SHAM" not in str(blinded.consort)
    assert "A versus B" not in blinded.methods
    assert "arms labelled A and B" in blinded.methods
    assert set(blinded.table("within")["arm"]) == {"A", "B"}


def test_missing_data_sensitivity_of_the_primary_outcome(results: AnalysisResults) -> None:
    table = results.table("sensitivity")
    mi = table[table["analysis"] == "mi_mar"].iloc[0]
    repeated = results.table("repeated")
    mmrm = repeated[(repeated["outcome"] == "pain_max") & (repeated["visit"] == "M6")].iloc[0]
    assert mi["visit"] == "M6"
    # MI under MAR estimates what the MAR likelihood does: close to the MMRM, wider interval
    assert abs(mi["estimate"] - mmrm["estimate"]) < 0.5 * mmrm["se"]
    assert mi["se"] > 0.8 * mmrm["se"]
    shifted = table[table["analysis"] == "delta_adjusted"].sort_values("delta")
    assert len(shifted) == 12
    assert (shifted["delta"] > 0).all()  # pain: DN lower, so DN's imputed values are raised
    assert (shifted["estimate"].diff().dropna() > 0).all()  # each penalty weakens the effect
    point = table[table["analysis"] == "tipping_point"].iloc[0]["delta"]
    if not math.isnan(point):
        before = shifted[shifted["delta"] < point]
        after = shifted[shifted["delta"] > point]
        assert (before["p"] < 0.05).all()
        assert after.empty or after.iloc[0]["p"] >= 0.05


def test_blinded_analysis_has_no_tipping_point(protocol: Protocol) -> None:
    frames = synthetic(protocol)
    frames.participants["arm"] = frames.participants["arm"].map({"DN": "A", "SHAM": "B"})
    blinded = analyse_trial(frames, protocol, blinded=True, manifest={"data_hash": "abc"})
    table = blinded.table("sensitivity")
    assert list(table["analysis"]) == ["mi_mar"]
