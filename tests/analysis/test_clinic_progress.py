"""Clinic progress: courses against MCID, OMERACT-OARSI, flags and sessions to response.

Frames are written out by hand for the knee care plan (knee-oa-clinic: counted component
"needling", 3 sessions planned, VAS max pain MCID 19.9 mm, WOMAC function MCID 9.1, DN4 cutoff 4)
so every expected value below can be checked by eye.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from physiotrial.analysis.clinic_progress import patient_progress, response_times
from physiotrial.analysis.dataset import FRAME_COLUMNS, TrialFrames
from physiotrial.services.protocols import load_protocol

KNEE = load_protocol("knee-oa-clinic")
DAY0 = date(2025, 3, 3)
VISIT_DAY = {"BL": 0, "R1": 15, "R2": 36, "M3": 91}


def _frames(patients: dict[str, dict[str, object]]) -> TrialFrames:
    people, scores, visits, sessions, events = [], [], [], [], []
    for code, p in patients.items():
        people.append(
            dict.fromkeys(FRAME_COLUMNS["participants"])
            | {
                "study_code": code,
                "site": "CLN",
                "arm": "CARE",
                "randomised_on": DAY0,
                "status": "randomised",
                "itt": True,
                "per_protocol": False,
            }
        )
        for visit, values in p["scores"].items():  # type: ignore[attr-defined]
            visits.append(
                {
                    "study_code": code,
                    "visit": visit,
                    "planned": None,
                    "opens": None,
                    "closes": None,
                    "done_on": DAY0 + timedelta(days=VISIT_DAY[visit]),
                }
            )
            for outcome, value in values.items():
                scores.append(
                    {"study_code": code, "visit": visit, "outcome": outcome, "value": float(value)}
                )
        for number in range(1, int(p["needling"]) + 1):  # type: ignore[call-overload]
            sessions.append(
                {
                    "study_code": code,
                    "plan": "needling",
                    "number": number,
                    "held_on": DAY0 + timedelta(days=1 + 7 * (number - 1)),
                    "delivered": True,
                }
            )
        for severity, term in p.get("events", ()):  # type: ignore[attr-defined]
            events.append(
                {
                    "study_code": code,
                    "term": term,
                    "severity": severity,
                    "relatedness": "probable",
                    "session_plan": "needling",
                    "session_number": 1,
                }
            )

    def frame(name: str, rows: list[dict[str, object]]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS[name]))

    return TrialFrames(
        participants=frame("participants", people),
        scores=frame("scores", scores),
        visits=frame("visits", visits),
        sessions=frame("sessions", sessions),
        adverse_events=frame("adverse_events", events),
    )


PATIENTS: dict[str, dict[str, object]] = {
    # responds at R1 on pain (70 → 30: 40 ≥ 19.9) after 3 sessions; OMERACT high pain (57 %, 40)
    "CLN-001": {
        "needling": 3,
        "scores": {
            "BL": {"pain_max": 70, "womac_function": 50, "neuropathic": 2},
            "R1": {"pain_max": 30, "womac_function": 45, "neuropathic": 2},
        },
    },
    # no change at R1 (planned 3 done), extends to 6, responds at R2: 60 → 38 (22)
    "CLN-002": {
        "needling": 6,
        "scores": {
            "BL": {"pain_max": 60, "womac_function": 40, "neuropathic": 1},
            "R1": {"pain_max": 55, "womac_function": 39, "neuropathic": 5},
            "R2": {"pain_max": 38, "womac_function": 28, "neuropathic": 3},
        },
    },
    # stops after 2 sessions without a reassessment: censored at 2; a significant AE
    "CLN-003": {
        "needling": 2,
        "scores": {"BL": {"pain_max": 50, "womac_function": 30}},
        "events": [("significant", "prolonged aggravation of symptoms")],
    },
    # 3 sessions, worse at R1 by more than the MCID on pain and function
    "CLN-004": {
        "needling": 3,
        "scores": {
            "BL": {"pain_max": 40, "womac_function": 30, "neuropathic": 1},
            "R1": {"pain_max": 65, "womac_function": 41, "neuropathic": 1},
        },
    },
    # pain −25 (36 %) reaches the MCID; function −2: OMERACT undecidable without a global
    "CLN-005": {
        "needling": 3,
        "scores": {
            "BL": {"pain_max": 70, "womac_function": 40, "neuropathic": 0},
            "R1": {"pain_max": 45, "womac_function": 38, "neuropathic": 0},
        },
    },
}
FRAMES = _frames(PATIENTS)


@pytest.mark.parametrize(
    ("code", "visit", "improvement", "reached", "sessions"),
    [
        ("CLN-001", "R1", 40.0, True, 3),
        ("CLN-002", "R1", 5.0, False, 3),
        ("CLN-002", "R2", 22.0, True, 6),
        ("CLN-004", "R1", -25.0, False, 3),
    ],
)
def test_pain_course_against_mcid(
    code: str, visit: str, improvement: float, reached: bool, sessions: int
) -> None:
    progress = patient_progress(FRAMES, KNEE, code)
    pain = next(c for c in progress.courses if c.outcome == "pain_max")
    point = next(p for p in pain.points if p.visit == visit)
    assert (point.improvement, point.reached, point.sessions) == (improvement, reached, sessions)
    assert pain.mcid == 19.9
    assert "Tubach" in pain.mcid_source


@pytest.mark.parametrize(
    ("code", "responder"),
    [
        ("CLN-001", {"R1": True}),  # pain −40 points and −57 %: high improvement
        # R1: pain −5, function −1: neither domain can make two of three → False;
        # R2: pain −22 (37 %) and function −12 (30 %): two of three moderate → True
        ("CLN-002", {"R1": False, "R2": True}),
        # pain alone would be one of three; without a patient global the rule cannot decide
        ("CLN-005", {"R1": None}),
        ("CLN-004", {"R1": False}),
    ],
)
def test_omeract_oarsi_by_assessment(code: str, responder: dict[str, bool]) -> None:
    assert patient_progress(FRAMES, KNEE, code).responder == responder


@pytest.mark.parametrize(
    ("code", "kinds"),
    [
        ("CLN-001", []),
        ("CLN-002", ["neuropathic"]),  # DN4 1 → 5 at R1; R2 (after 6) reached the MCID
        ("CLN-003", ["adverse_event"]),
        ("CLN-004", ["no_change", "worsening", "worsening"]),  # pain and function
    ],
)
def test_flags(code: str, kinds: list[str]) -> None:
    flags = patient_progress(FRAMES, KNEE, code).flags
    assert [f.kind for f in flags] == kinds


def test_flag_messages_name_the_numbers() -> None:
    flags = patient_progress(FRAMES, KNEE, "CLN-004").flags
    assert "after 3 sessions" in flags[0].message
    assert "change -25.0" in flags[0].message
    assert "by 25.0 (more than the MCID of 19.9)" in flags[1].message
    neuro = patient_progress(FRAMES, KNEE, "CLN-002").flags[0].message
    assert "turned positive at R1: 5 (was 1; positive from 4)" in neuro


def test_sessions_delivered_against_plan() -> None:
    progress = patient_progress(FRAMES, KNEE, "CLN-002")
    assert progress.sessions["needling"] == (6, 3)
    assert progress.sessions["education"] == (0, 1)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "mcid",
            [
                ("CLN-001", 3, True),
                ("CLN-002", 6, True),
                ("CLN-003", 2, False),
                ("CLN-004", 3, False),
                ("CLN-005", 3, True),
            ],
        ),
        (
            "omeract_oarsi",
            [
                ("CLN-001", 3, True),
                ("CLN-002", 6, True),
                ("CLN-003", 2, False),
                ("CLN-004", 3, False),
                ("CLN-005", 3, False),
            ],
        ),
    ],
)
def test_response_times(rule: str, expected: list[tuple[str, int, bool]]) -> None:
    data = response_times(FRAMES, KNEE, rule)  # type: ignore[arg-type]
    assert list(data.itertuples(index=False, name=None)) == expected


def test_exercise_weeks_count_days_against_prescription() -> None:
    log = pd.DataFrame(
        {
            "held_on": [DAY0 + timedelta(days=d) for d in (1, 2, 4, 8, 9)],
            "exercises_done": [3, 3, 2, 3, 1],
            "pain_during": [4, 2, 3, 1, None],
        }
    )
    weeks = patient_progress(FRAMES, KNEE, "CLN-001", log).exercise
    assert [(w.week, w.days, w.target) for w in weeks] == [(1, 3, 4), (2, 2, 4)]
    assert weeks[0].mean_pain == pytest.approx(3.0)
    assert weeks[1].mean_pain == pytest.approx(1.0)
