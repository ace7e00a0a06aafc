"""A clinic's adverse events per session of one plan (dry needling, say) against published rates.

Both large dry-needling surveys report adverse events per treatment (reference/instruments.md
§12), so the clinic's rate is per delivered session of the plan: the share of sessions followed
by at least one event of a term or severity class, with the exact CI of Clopper & Pearson
(Biometrika 1934;26:404-413; ``physiotrial.analysis.safety.clopper_pearson``). Per patient: the
share of patients who had at least one delivered session of the plan and at least one such
event (events tied to the plan or to no session; events after another plan's session are not
this plan's). Severity follows White et al. as carried over to dry needling: mild, significant,
serious; the published "significant" (Brady) and "major" (Boyce) are compared with the clinic's
significant-or-serious class.

The papers count events per treatment (1,463 mild AEs / 7,629 treatments); the clinic's rate
counts sessions with at least one event, which is the same when a session has at most one event
of the kind and lower otherwise (``events_per_session`` shows the difference).

``against_published`` reads "above" when the published rate lies below the clinic's exact CI,
"below" when above it and "within" otherwise: a statement that the clinic's data are or are not
compatible with the published rate at level 1 − α, not a test of equivalence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from physiotrial.analysis.safety import clopper_pearson
from physiotrial.errors import ModelError

SEVERITIES = ("mild", "significant", "serious")
SIGNIFICANT_OR_SERIOUS = "significant or serious"
RATE_COLUMNS = (
    "kind",
    "label",
    "events",
    "sessions",
    "sessions_with_event",
    "rate",
    "ci_low",
    "ci_high",
    "events_per_session",
    "patients",
    "patients_with_event",
    "patient_rate",
    "patient_ci_low",
    "patient_ci_high",
)
COMPARISON_COLUMNS = (
    "kind",
    "label",
    "published_term",
    "source",
    "citation",
    "published_rate",
    "rate",
    "ci_low",
    "ci_high",
    "comparison",
)


@dataclass(frozen=True)
class PublishedRate:
    """One published rate per treatment. ``term`` None: the whole severity class."""

    source: str
    citation: str
    treatments: int
    term: str | None
    severity: str
    rate: float
    events: int | None = None
    note: str = ""


BRADY = (
    "Brady S, et al. Adverse events following trigger point dry needling: a prospective survey of "
    "chartered physiotherapists. J Man Manip Ther 2014;22(3):134-140"
)
BOYCE = (
    "Boyce D, et al. Adverse events associated with therapeutic dry needling. "
    "Int J Sports Phys Ther 2020;15(1):103-113"
)
_BRADY_TERMS = (
    ("bruising", 7.55),
    ("bleeding", 4.65),
    ("pain during treatment", 3.01),
    ("pain after treatment", 2.19),
    ("aggravation of symptoms", 0.88),
    ("drowsiness", 0.26),
    ("headache", 0.14),
    ("nausea", 0.13),
    ("fatigue", 0.04),
    ("altered emotions", 0.04),
    ("shaking", 0.01),
    ("itching", 0.01),
    ("claustrophobia", 0.01),
    ("numbness", 0.01),
)
PUBLISHED: tuple[PublishedRate, ...] = (
    PublishedRate("Brady 2014", BRADY, 7629, None, "mild", 1463 / 7629, 1463, "19.18 %"),
    PublishedRate(
        "Brady 2014",
        BRADY,
        7629,
        None,
        SIGNIFICANT_OR_SERIOUS,
        0.0,
        0,
        "no significant AEs; upper risk bound ≤0.04 %",
    ),
    *(
        PublishedRate("Brady 2014", BRADY, 7629, term, "mild", percent / 100)
        for term, percent in _BRADY_TERMS
    ),
    PublishedRate(
        "Boyce 2020",
        BOYCE,
        20464,
        None,
        "mild",
        0.367,
        7531,
        "minor AEs 36.7 %; the abstract also gives 20,494 treatments",
    ),
    PublishedRate("Boyce 2020", BOYCE, 20464, "bleeding", "mild", 0.16),
    PublishedRate("Boyce 2020", BOYCE, 20464, "bruising", "mild", 0.077),
    PublishedRate("Boyce 2020", BOYCE, 20464, "pain during treatment", "mild", 0.059),
    PublishedRate(
        "Boyce 2020",
        BOYCE,
        20464,
        None,
        SIGNIFICANT_OR_SERIOUS,
        20 / 20464,
        20,
        "major AEs (pneumothorax, excessive bleeding, prolonged aggravation) <0.1 %",
    ),
)
"""Rates per treatment from reference/instruments.md §12 (Brady 2014 table; Boyce 2020 abstract)."""

SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("bruise", "bruised", "bruising", "haematoma", "hematoma"), "bruising"),
    **dict.fromkeys(("bleed", "bleeding", "minor bleeding"), "bleeding"),
    **dict.fromkeys(
        (
            "pain during treatment",
            "pain during needling",
            "pain during dry needling",
            "pain during dn",
            "needling pain",
        ),
        "pain during treatment",
    ),
    **dict.fromkeys(
        (
            "pain after treatment",
            "pain after needling",
            "post-needling soreness",
            "post needling soreness",
            "post-needling pain",
            "post-treatment soreness",
            "post-treatment pain",
            "soreness",
            "muscle soreness",
        ),
        "pain after treatment",
    ),
    **dict.fromkeys(
        (
            "aggravation of symptoms",
            "aggravation",
            "symptom aggravation",
            "worsening of symptoms",
            "flare-up",
            "flare up",
        ),
        "aggravation of symptoms",
    ),
    **dict.fromkeys(("drowsiness", "drowsy", "sleepiness"), "drowsiness"),
    **dict.fromkeys(("fatigue", "tiredness", "tired"), "fatigue"),
    **dict.fromkeys(("altered emotions", "emotional reaction", "tearfulness"), "altered emotions"),
    **dict.fromkeys(("shaking", "trembling"), "shaking"),
    **dict.fromkeys(("itching", "itch", "itchiness"), "itching"),
    **{term: term for term in ("headache", "nausea", "claustrophobia", "numbness")},
}
"""Clinic wording → the published term; anything not here has no published rate."""


def normalise_term(term: str) -> str:
    """Lowercase, trimmed, single-spaced: "  Post-needling  Soreness" → "post-needling soreness"."""
    return re.sub(r"\s+", " ", term.strip().lower())


def canonical_term(term: str) -> str:
    """The published term a clinic's wording means, else the normalised wording."""
    normal = normalise_term(term)
    return SYNONYMS.get(normal, normal)


def adverse_event_rates(
    sessions: pd.DataFrame,
    adverse_events: pd.DataFrame,
    plan: str,
    alpha: float = 0.05,
    merge_synonyms: bool = False,
) -> pd.DataFrame:
    """Rows (``RATE_COLUMNS``) for any AE, each severity class, significant-or-serious and each
    term (normalised; mapped to the published term first when ``merge_synonyms``).

    ``sessions``: patient, plan, number, delivered; ``adverse_events``: patient, term, severity,
    session_plan, session_number (the session the event followed; may be missing).
    """
    _require(sessions, "sessions", ("patient", "plan", "number", "delivered"))
    _require(
        adverse_events,
        "adverse_events",
        ("patient", "term", "severity", "session_plan", "session_number"),
    )
    held = sessions[(sessions["plan"] == plan) & sessions["delivered"].astype(bool)]
    keys = set(zip(held["patient"], held["number"].astype(float), strict=True))
    patients = set(held["patient"])
    events = _checked_events(adverse_events, merge_synonyms)
    number = pd.to_numeric(events["session_number"], errors="coerce").astype(float)
    event_keys = list(zip(events["patient"], number, strict=True))
    on_plan = (events["session_plan"] == plan).to_numpy()
    linked = pd.Series(
        [bool(p) and key in keys for p, key in zip(on_plan, event_keys, strict=True)],
        index=events.index,
        dtype=bool,  # an empty list would give an object Series, which selects columns
    )
    mine = (
        events["patient"].isin(patients)
        & (events["session_plan"].isna() | (events["session_plan"] == plan))
    ).astype(bool)
    events = events.assign(
        _key=pd.Series(event_keys, index=events.index, dtype=object), _linked=linked, _mine=mine
    )

    subsets: list[tuple[str, str, pd.Series]] = [
        ("any", "any", pd.Series(True, index=events.index, dtype=bool))
    ]
    subsets += [("severity", s, events["severity"] == s) for s in SEVERITIES]
    subsets.append(("severity", SIGNIFICANT_OR_SERIOUS, events["severity"].isin(SEVERITIES[1:])))
    subsets += [("term", t, events["term"] == t) for t in sorted(set(events["term"]))]
    rows = [
        _rate_row(kind, label, events[mask], len(keys), len(patients), alpha)
        for kind, label, mask in subsets
    ]
    return pd.DataFrame(rows, columns=list(RATE_COLUMNS))


def _rate_row(
    kind: str, label: str, events: pd.DataFrame, n_sessions: int, n_patients: int, alpha: float
) -> dict[str, object]:
    linked = events[events["_linked"]]
    with_event = len(set(linked["_key"]))
    people = len(set(events.loc[events["_mine"], "patient"]))
    low, high = clopper_pearson(with_event, n_sessions, alpha)
    p_low, p_high = clopper_pearson(people, n_patients, alpha)
    nan = float("nan")
    return {
        "kind": kind,
        "label": label,
        "events": len(linked),
        "sessions": n_sessions,
        "sessions_with_event": with_event,
        "rate": with_event / n_sessions if n_sessions else nan,
        "ci_low": low,
        "ci_high": high,
        "events_per_session": len(linked) / n_sessions if n_sessions else nan,
        "patients": n_patients,
        "patients_with_event": people,
        "patient_rate": people / n_patients if n_patients else nan,
        "patient_ci_low": p_low,
        "patient_ci_high": p_high,
    }


def against_published(observed_rows: pd.DataFrame) -> pd.DataFrame:
    """Each clinic row (from ``adverse_event_rates``) against every published rate it matches.

    Matches: the mild class to the published mild/minor totals; significant-or-serious to
    Brady's significant and Boyce's major; a term through ``canonical_term``. A term with no
    published rate gets one row saying so; other unmatched rows are left out.
    """
    _require(observed_rows, "observed_rows", ("kind", "label", "rate", "ci_low", "ci_high"))
    rows: list[dict[str, object]] = []
    for row in observed_rows.to_dict("records"):
        kind, label = str(row["kind"]), str(row["label"])
        if kind == "term":
            term: str | None = canonical_term(label)
            matches = [p for p in PUBLISHED if p.term == term]
        elif kind == "severity" and label in ("mild", SIGNIFICANT_OR_SERIOUS):
            term = None
            matches = [p for p in PUBLISHED if p.term is None and p.severity == label]
        else:
            continue
        base = {
            "kind": kind,
            "label": label,
            "rate": row["rate"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
        }
        if not matches:
            rows.append(
                {
                    **base,
                    "published_term": term,
                    "source": None,
                    "citation": None,
                    "published_rate": float("nan"),
                    "comparison": "no published rate",
                }
            )
        for published in matches:
            rows.append(
                {
                    **base,
                    "published_term": published.term,
                    "source": published.source,
                    "citation": published.citation,
                    "published_rate": published.rate,
                    "comparison": _compare(
                        published.rate, float(row["ci_low"]), float(row["ci_high"])
                    ),
                }
            )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def _compare(published: float, low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):  # no delivered sessions to compare
        return "no sessions"
    if published < low:
        return "above"
    if published > high:
        return "below"
    return "within"


def _checked_events(adverse_events: pd.DataFrame, merge_synonyms: bool) -> pd.DataFrame:
    events = adverse_events.copy()
    for column in ("patient", "term", "severity"):
        missing = events[column].isna()
        if missing.any():
            row = events.index[missing][0]
            raise ModelError(f"adverse_events column {column!r} is missing at row {row}")
    severity = events["severity"].astype(str).map(normalise_term)
    bad = ~severity.isin(SEVERITIES)
    if bad.any():
        row = events.index[bad.to_numpy()][0]
        raise ModelError(
            f"adverse_events column 'severity' is {events['severity'].loc[row]!r} at row {row}; "
            f"allowed: {', '.join(SEVERITIES)}"
        )
    terms = events["term"].astype(str)
    named = terms.map(canonical_term if merge_synonyms else normalise_term)
    if (named == "").any():
        row = events.index[(named == "").to_numpy()][0]
        raise ModelError(f"adverse_events column 'term' is empty at row {row}; name the event")
    return events.assign(severity=severity, term=named)


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ModelError(
            f"{name} lacks column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, frame.columns))})"
        )
