"""A hand-made AnalysisResults shaped like the reference trial, so the report is tested on its own.

Numbers follow shared/reference/trial.md: n = 18 (DN) and 20 (SHAM) analysed; maximum pain VAS
difference in change about 30 mm (95% CI 18.4 to 42.0) at 6 months and WOMAC total 16.0 (7.9 to
23.9), both favouring dry needling; minor adverse events after about 28% of needling sessions
(instruments.md section 12) and far fewer after sham; no serious events. Raw values carry more
decimals than the report shows, so tests can check the rounding. The differences are
experimental - control of the follow-up value adjusted for baseline (results.py), so a larger pain
reduction with DN is a negative difference.
"""

from __future__ import annotations

import math

import pandas as pd

from physiotrial.analysis.results import COLUMNS, AnalysisResults, Consort

DATA_HASH = "3f9a1c07e4b2d8a65c0e1f7b9d3a2c4e5f60718293a4b5c6d7e8f90123456789"
PROTOCOL_HASH = "b7e2c9d4a1f08e6c3b5d7a9e1c2f4b6d8e0a1c3e5f7b9d1a3c5e7f9b1d3f5a7c"
ARM_NAMES = {"DN": "Dry needling + exercise", "SHAM": "Sham needling + exercise"}
VISITS = ("BL", "W3", "M3", "M6")

# outcome: (baseline mean, SD, change DN at W3/M3/M6, change SHAM at W3/M3/M6)
OUTCOMES: dict[str, tuple[float, float, tuple[float, ...], tuple[float, ...]]] = {
    "pain_max": (71.34, 14.27, (-38.21, -41.06, -43.87), (-15.42, -14.88, -13.91)),
    "womac_total": (52.61, 15.83, (-21.73, -23.08, -24.46), (-7.92, -8.37, -8.51)),
    "womac_pain": (55.17, 17.02, (-24.31, -25.84, -26.12), (-9.04, -9.62, -9.28)),
    "womac_stiffness": (49.38, 21.55, (-18.12, -19.47, -20.06), (-6.21, -6.85, -7.44)),
    "womac_function": (51.92, 15.61, (-21.04, -22.57, -23.93), (-7.66, -8.12, -8.35)),
    "neuropathic": (3.41, 1.72, (-1.38, -1.52, -1.61), (-0.41, -0.47, -0.52)),
    "kinesiophobia": (29.66, 5.81, (-6.12, -6.85, -7.04), (-2.23, -2.41, -2.57)),
    "catastrophizing": (24.83, 10.44, (-10.15, -11.02, -11.36), (-3.87, -4.06, -4.12)),
    "tug": (10.92, 2.63, (-1.84, -1.97, -2.03), (-0.78, -0.81, -0.74)),
    "walk_6min": (402.7, 78.41, (48.62, 52.13, 55.09), (21.35, 22.74, 20.81)),
    "extension_strength": (1.183, 0.362, (0.271, 0.294, 0.302), (0.112, 0.118, 0.109)),
    "flexion_strength": (0.624, 0.211, (0.148, 0.161, 0.158), (0.061, 0.063, 0.058)),
    "knee_flexion": (112.4, 11.86, (8.23, 8.91, 9.37), (3.12, 3.38, 3.05)),
}
N = {"DN": (19, 18, 18, 18), "SHAM": (21, 20, 20, 20)}


def _frame(name: str, rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS[name]))


def _descriptives(codes: dict[str, str]) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for outcome, (base, sd, dn, sham) in OUTCOMES.items():
        for arm, changes in (("DN", dn), ("SHAM", sham)):
            for i, visit in enumerate(VISITS):
                shift = 0.0 if i == 0 else changes[i - 1]
                jitter = 0.013 * base if arm == "SHAM" else 0.0
                rows.append(
                    {
                        "outcome": outcome,
                        "visit": visit,
                        "arm": codes[arm],
                        "n": N[arm][i],
                        "mean": base + jitter + shift,
                        "sd": sd * (1.0 + 0.04 * i),
                    }
                )
    return _frame("descriptives", rows)


def _within(codes: dict[str, str]) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for outcome, (_, sd, dn, sham) in OUTCOMES.items():
        for arm, changes in (("DN", dn), ("SHAM", sham)):
            for i, visit in enumerate(VISITS[1:], start=1):
                n = N[arm][i]
                half = 2.1 * 0.9 * sd / math.sqrt(n)
                rows.append(
                    {
                        "outcome": outcome,
                        "visit": visit,
                        "arm": codes[arm],
                        "n": n,
                        "mean_change": changes[i - 1],
                        "ci_low": changes[i - 1] - half,
                        "ci_high": changes[i - 1] + half,
                    }
                )
    return _frame("within", rows)


def _ancova() -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    secondaries = [o for o in OUTCOMES if o != "pain_max"]
    for outcome, (_, sd, dn, sham) in OUTCOMES.items():
        for i, visit in enumerate(VISITS[1:]):
            difference = dn[i] - sham[i]
            se = 0.33 * sd * (1.02 if outcome != "pain_max" else 1.0)
            if outcome == "pain_max" and visit == "M6":
                difference, se = -30.0371, 5.9235  # CI -41.98 to -18.09, as published
            p = max(2 * (1 - _normal_cdf(abs(difference) / se)), 1e-9)
            rank = secondaries.index(outcome) if outcome in secondaries else 0
            holm = min(1.0, p * (len(secondaries) - rank))
            rows.append(
                {
                    "outcome": outcome,
                    "visit": visit,
                    "population": "itt",
                    "n": 38,
                    "estimate": difference,
                    "se": se,
                    "ci_low": difference - 2.0154 * se,
                    "ci_high": difference + 2.0154 * se,
                    "p": p,
                    "p_holm": float("nan") if outcome == "pain_max" else holm,
                    "primary": outcome == "pain_max" and visit == "M6",
                }
            )
    rows.append(
        {
            "outcome": "pain_max",
            "visit": "M6",
            "population": "per_protocol",
            "n": 36,
            "estimate": -31.2468,
            "se": 6.1842,
            "ci_low": -43.8106,
            "ci_high": -18.6830,
            "p": 0.0000114,
            "p_holm": float("nan"),
            "primary": False,
        }
    )
    return _frame("ancova", rows)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _tables(codes: dict[str, str]) -> dict[str, pd.DataFrame]:
    dn, sham = codes["DN"], codes["SHAM"]
    baseline = _frame(
        "baseline",
        [
            {"characteristic": "Age (years)", "arm": dn, "n": 19, "mean": 66.2632, "sd": 7.4418},
            {"characteristic": "Age (years)", "arm": sham, "n": 21, "mean": 64.8571, "sd": 8.0243},
            {"characteristic": "Women", "arm": dn, "n": 19, "count": 13, "percent": 68.4211},
            {"characteristic": "Women", "arm": sham, "n": 21, "count": 14, "percent": 66.6667},
            {"characteristic": "BMI (kg/m²)", "arm": dn, "n": 19, "mean": 28.9474, "sd": 3.8125},
            {"characteristic": "BMI (kg/m²)", "arm": sham, "n": 21, "mean": 29.3810, "sd": 4.1036},
            {
                "characteristic": "Symptom duration (years)",
                "arm": dn,
                "n": 19,
                "mean": 6.84,
                "sd": 4.27,
            },
            {
                "characteristic": "Symptom duration (years)",
                "arm": sham,
                "n": 21,
                "mean": 7.12,
                "sd": 4.91,
            },
            {
                "characteristic": "Maximum knee pain, VAS (mm)",
                "arm": dn,
                "n": 19,
                "mean": 71.34,
                "sd": 14.27,
            },
            {
                "characteristic": "Maximum knee pain, VAS (mm)",
                "arm": sham,
                "n": 21,
                "mean": 72.27,
                "sd": 14.27,
            },
            {
                "characteristic": "WOMAC total (0-100)",
                "arm": dn,
                "n": 19,
                "mean": 52.61,
                "sd": 15.83,
            },
            {
                "characteristic": "WOMAC total (0-100)",
                "arm": sham,
                "n": 21,
                "mean": 53.29,
                "sd": 15.83,
            },
        ],
    )
    baseline["summary"] = None
    effects = _frame(
        "effects",
        [
            {"outcome": o, "visit": "M6", "hedges_g": g, "ci_low": g - 0.655, "ci_high": g + 0.655}
            for o, g in zip(
                OUTCOMES,
                (
                    -1.6234,
                    -1.0587,
                    -1.0016,
                    -0.6141,
                    -1.0218,
                    -0.6542,
                    -0.8573,
                    -0.7341,
                    -0.4951,
                    0.4083,
                    0.5027,
                    0.4625,
                    0.5211,
                ),
                strict=True,
            )
        ],
    )
    repeated = _frame(
        "repeated",
        [
            {
                "outcome": "pain_max",
                "visit": v,
                "model": "mmrm",
                "estimate": e,
                "se": 5.61,
                "df": 35.2,
                "ci_low": e - 11.39,
                "ci_high": e + 11.39,
                "p": p,
            }
            for v, e, p in (
                ("W3", -22.7413, 0.00034),
                ("M3", -26.1547, 0.000061),
                ("M6", -29.4182, 0.0000083),
            )
        ],
    )
    responders = _frame(
        "responders",
        [
            {
                "definition": "pain_mcid",
                "visit": "M6",
                "responders_exp": 15,
                "n_exp": 18,
                "responders_ctl": 6,
                "n_ctl": 20,
                "risk_difference": 0.5333,
                "rd_ci_low": 0.2685,
                "rd_ci_high": 0.7981,
                "nnt": 1.8750,
                "nnt_ci_low": 1.2530,
                "nnt_ci_high": 3.7244,
            },
            {
                "definition": "pain_30pct",
                "visit": "M6",
                "responders_exp": 16,
                "n_exp": 18,
                "responders_ctl": 8,
                "n_ctl": 20,
                "risk_difference": 0.4889,
                "rd_ci_low": 0.2274,
                "rd_ci_high": 0.7504,
                "nnt": 2.0455,
                "nnt_ci_low": 1.3326,
                "nnt_ci_high": 4.3975,
            },
            {
                "definition": "omeract_oarsi",
                "visit": "M6",
                "responders_exp": 14,
                "n_exp": 18,
                "responders_ctl": 11,
                "n_ctl": 20,
                "risk_difference": 0.2278,
                "rd_ci_low": -0.0604,
                "rd_ci_high": 0.5160,
                "nnt": 4.3902,
                "nnt_ci_low": -16.5563,
                "nnt_ci_high": 1.9380,
            },
        ],
    )
    blinding = _frame(
        "blinding",
        [
            {
                "rater": "participant",
                "arm": dn,
                "n": 18,
                "bang_bi": 0.1667,
                "ci_low": -0.1391,
                "ci_high": 0.4725,
            },
            {
                "rater": "participant",
                "arm": sham,
                "n": 20,
                "bang_bi": -0.0500,
                "ci_low": -0.3284,
                "ci_high": 0.2284,
            },
            {
                "rater": "assessor",
                "arm": dn,
                "n": 18,
                "bang_bi": 0.0556,
                "ci_low": -0.2167,
                "ci_high": 0.3278,
            },
            {
                "rater": "assessor",
                "arm": sham,
                "n": 20,
                "bang_bi": 0.0000,
                "ci_low": -0.2600,
                "ci_high": 0.2600,
            },
        ],
    )
    safety = _frame(
        "safety",
        [
            {
                "arm": dn,
                "unit": "session",
                "denominator": 55,
                "with_event": 15,
                "rate": 0.272727,
                "ci_low": 0.161383,
                "ci_high": 0.409371,
                "serious": 0,
            },
            {
                "arm": dn,
                "unit": "participant",
                "denominator": 19,
                "with_event": 11,
                "rate": 0.578947,
                "ci_low": 0.335008,
                "ci_high": 0.797492,
                "serious": 0,
            },
            {
                "arm": sham,
                "unit": "session",
                "denominator": 61,
                "with_event": 3,
                "rate": 0.049180,
                "ci_low": 0.010268,
                "ci_high": 0.137052,
                "serious": 0,
            },
            {
                "arm": sham,
                "unit": "participant",
                "denominator": 21,
                "with_event": 3,
                "rate": 0.142857,
                "ci_low": 0.030486,
                "ci_high": 0.363422,
                "serious": 0,
            },
        ],
    )
    published = _frame(
        "published",
        [
            {
                "outcome": "pain_max",
                "published_estimate": 30.0,
                "published_ci_low": 18.4,
                "published_ci_high": 42.0,
                "estimate": 30.0371,
                "ci_low": 18.0920,
                "ci_high": 41.9822,
                "within_published_ci": True,
            },
            {
                "outcome": "womac_total",
                "published_estimate": 16.0,
                "published_ci_low": 7.9,
                "published_ci_high": 23.9,
                "estimate": 15.9537,
                "ci_low": 5.6418,
                "ci_high": 26.2656,
                "within_published_ci": True,
            },
        ],
    )
    return {
        "baseline": baseline,
        "descriptives": _descriptives(codes),
        "within": _within(codes),
        "ancova": _ancova(),
        "repeated": repeated,
        "effects": effects,
        "responders": responders,
        "blinding": blinding,
        "safety": safety,
        "published": published,
    }


METHODS = (
    "Adults aged 50 years or over with knee osteoarthritis were randomised 1:1 in permuted blocks "
    "of 2 and 4 stratified by sex to {exp} or {ctl}, with participants and outcome assessors "
    "blinded. The primary outcome was maximum knee pain in the last week on a 100 mm visual "
    "analogue scale at 6 months. Between-group differences in follow-up values were estimated by "
    "ANCOVA adjusted for the baseline value and sex in all randomised participants with a "
    "follow-up value (intention to treat); a repeated-measures model over weeks 3, months 3 and 6 "
    "and a per-protocol analysis were sensitivity analyses. Secondary outcomes were adjusted for "
    "multiplicity by Holm's method; alpha was 0.05, two-sided."
)


def reference_results(blinded: bool = False, codes_in_tables: bool = False) -> AnalysisResults:
    """The reference trial's results; blinded ones label the arms A and B.

    ``codes_in_tables`` keeps the real arm codes inside a blinded result (arms maps DN -> A), to
    check that the report shows only the blinded labels even then.
    """
    if blinded and not codes_in_tables:
        codes = {"DN": "A", "SHAM": "B"}
        arms = {"A": "A", "B": "B"}
    else:
        codes = {"DN": "DN", "SHAM": "SHAM"}
        arms = {"DN": "A", "SHAM": "B"} if blinded else dict(ARM_NAMES)
    dn, sham = codes["DN"], codes["SHAM"]
    exp_text, ctl_text = (
        ("arm A", "arm B")
        if blinded
        else (
            "dry needling of the popliteus plus exercise",
            "sham needling plus the same exercise",
        )
    )
    return AnalysisResults(
        study_id="popliteus-dn-koa",
        title=(
            "Dry needling of the popliteus with therapeutic exercise versus sham needling with "
            "exercise in knee osteoarthritis"
        ),
        arms=arms,
        experimental=dn,
        control=sham,
        blinded=blinded,
        manifest={
            "lock_id": 1,
            "data_hash": DATA_HASH,
            "rows": 4127,
            "protocol_version": "1.0",
            "protocol_hash": PROTOCOL_HASH,
            "software_version": "0.1.0",
            "locked_at": "2025-06-30T14:05:12Z",
            "locked_by": "dm",
        },
        methods=METHODS.format(exp=exp_text, ctl=ctl_text),
        consort=Consort(
            assessed=57,
            excluded=17,
            exclusion_reasons={
                "Not meeting inclusion criteria": 12,
                "Declined to participate": 4,
                "Other reasons": 1,
            },
            randomised={dn: 19, sham: 21},
            received={dn: 19, sham: 21},
            lost={dn: {"Moved away": 1}, sham: {"Illness unrelated to the trial": 1}},
            discontinued={dn: {"Discomfort with needling": 1}, sham: {}},
            analysed={dn: 18, sham: 20},
        ),
        tables=_tables(codes),
    )
