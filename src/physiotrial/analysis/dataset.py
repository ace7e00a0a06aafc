"""The input of an analysis: tidy pandas frames, one kind of observation each.

The services layer builds these from the locked study (``services.analysis.analysis_frames``);
the analysis never sees a database. Arms are whatever the caller may see: the arm codes after
unblinding, "A"/"B" for a blinded statistician. Columns (tests and the simulator rely on them):

- ``participants``: one row per randomised participant — study_code, site, arm, sex, age,
  randomised_on, status, departure (None / withdrawn / lost_to_follow_up), departure_reason,
  itt (bool), per_protocol (bool; see :mod:`populations`);
- ``scores``: study_code, visit, outcome, value (the protocol's outcome ids, current versions);
- ``guesses``: study_code, visit, rater (participant / assessor), category (Bang's five);
- ``adverse_events``: study_code, term, severity, relatedness, session_plan, session_number;
- ``sessions``: study_code, plan, number, held_on, delivered;
- ``visits``: study_code, visit, planned, opens, closes, done_on;
- ``deviations``: study_code, category;
- ``screening``: one row per person screened — study_code, eligible, reasons (tuple of text),
  randomised (bool).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

FRAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "participants": (
        "study_code",
        "site",
        "arm",
        "sex",
        "age",
        "randomised_on",
        "status",
        "departure",
        "departure_reason",
        "itt",
        "per_protocol",
    ),
    "scores": ("study_code", "visit", "outcome", "value"),
    "guesses": ("study_code", "visit", "rater", "category"),
    "adverse_events": (
        "study_code",
        "term",
        "severity",
        "relatedness",
        "session_plan",
        "session_number",
    ),
    "sessions": ("study_code", "plan", "number", "held_on", "delivered"),
    "visits": ("study_code", "visit", "planned", "opens", "closes", "done_on"),
    "deviations": ("study_code", "category"),
    "screening": ("study_code", "eligible", "reasons", "randomised"),
}


def empty(name: str) -> pd.DataFrame:
    """An empty frame with the columns of ``name``."""
    return pd.DataFrame(columns=list(FRAME_COLUMNS[name]))


@dataclass(frozen=True)
class TrialFrames:
    """Everything an analysis reads; each frame has exactly :data:`FRAME_COLUMNS` columns."""

    participants: pd.DataFrame
    scores: pd.DataFrame = field(default_factory=lambda: empty("scores"))
    guesses: pd.DataFrame = field(default_factory=lambda: empty("guesses"))
    adverse_events: pd.DataFrame = field(default_factory=lambda: empty("adverse_events"))
    sessions: pd.DataFrame = field(default_factory=lambda: empty("sessions"))
    visits: pd.DataFrame = field(default_factory=lambda: empty("visits"))
    deviations: pd.DataFrame = field(default_factory=lambda: empty("deviations"))
    screening: pd.DataFrame = field(default_factory=lambda: empty("screening"))

    def __post_init__(self) -> None:
        for name in FRAME_COLUMNS:
            frame: pd.DataFrame = getattr(self, name)
            missing = [c for c in FRAME_COLUMNS[name] if c not in frame.columns]
            if missing:
                raise ValueError(
                    f"frame {name}: columns {missing} missing; required: "
                    f"{', '.join(FRAME_COLUMNS[name])}"
                )


def change_from_baseline(
    scores: pd.DataFrame, participants: pd.DataFrame, outcome: str, baseline_visit: str
) -> pd.DataFrame:
    """One row per participant × post-baseline visit of ``outcome``.

    Columns: study_code, arm, sex, visit, baseline, value, change (value − baseline), joined to
    every participant in ``participants`` (a participant without any value keeps no row).
    """
    mine = scores[scores["outcome"] == outcome]
    base = mine[mine["visit"] == baseline_visit].set_index("study_code")["value"]
    later = mine[mine["visit"] != baseline_visit][["study_code", "visit", "value"]]
    people = participants[["study_code", "arm", "sex"]]
    frame = later.merge(people, on="study_code", how="inner")
    frame["baseline"] = frame["study_code"].map(base).astype(float)
    frame["value"] = frame["value"].astype(float)
    frame["change"] = frame["value"] - frame["baseline"]
    return frame[["study_code", "arm", "sex", "visit", "baseline", "value", "change"]]
