"""The clinic's own evidence for its pages: sessions to meaningful improvement and safety.

Thin services over the analysis layer (which may not read the store): they read the clinic's
data through :mod:`services.clinic` (``response_data``, ``adverse_event_data``: the
``clinic outcomes`` permission, site-bound roles their own site) and return plain numbers the
web pages lay out.

- :func:`sessions_to_response_curves`: Kaplan–Meier sessions to response
  (:mod:`analysis.time_to_response`: product-limit estimate, Kaplan & Meier 1958; log-log band,
  Kalbfleisch & Prentice 1980; median CI, Brookmeyer & Crowley 1982), overall and by condition
  and joint;
- :func:`clinic_safety`: adverse events per delivered session of the counted component with
  exact (Clopper–Pearson) CIs beside the published rates of Brady 2014 and Boyce 2020
  (:mod:`analysis.clinic_safety`, reference/instruments.md §12);
- :func:`planning_table`: the clinic's observed SDs and baseline–follow-up correlations per
  outcome and visit (:mod:`analysis.planning`), anonymised, for a trial's power calculation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from physiotrial.analysis.clinic_progress import Rule, care_of
from physiotrial.analysis.clinic_safety import (
    PUBLISHED,
    adverse_event_rates,
    against_published,
)
from physiotrial.analysis.planning import VARIABILITY_COLUMNS, observed_variability
from physiotrial.analysis.time_to_response import KaplanMeier, by_group, sessions_to_response
from physiotrial.services.clinic import (
    adverse_event_data,
    clinic_protocol,
    response_data,
    scores_data,
)
from physiotrial.store.store import Store


@dataclass(frozen=True)
class CurveStep:
    """One row of a Kaplan–Meier table: at ``sessions``, the share responded and its band."""

    sessions: int
    at_risk: int
    events: int
    censored: int
    responded: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ResponseCurve:
    """Sessions to response of one group of patients (all of them, or one condition and joint)."""

    label: str
    n: int
    responded: int
    median: float | None
    median_lower: float | None
    median_upper: float | None
    steps: tuple[CurveStep, ...]


@dataclass(frozen=True)
class ResponseCurves:
    rule: Rule
    overall: ResponseCurve | None
    """None when no patient has started care yet."""
    groups: tuple[ResponseCurve, ...]
    alpha: float


def _curve(label: str, km: KaplanMeier) -> ResponseCurve:
    """The estimate in plain numbers; where the band is undefined (every patient still followed
    responded, S = 0) it closes onto the curve."""
    t = km.table
    columns = ("time", "at_risk", "events", "censored")
    counts = [t[c].to_numpy(dtype=float).astype(int).tolist() for c in columns]
    shares = [t[c].to_numpy(dtype=float).tolist() for c in ("responded", "responded_lower")]
    shares.append(t["responded_upper"].to_numpy(dtype=float).tolist())
    steps = [
        CurveStep(
            time,
            at_risk,
            events,
            censored,
            share,
            share if math.isnan(low) else low,
            share if math.isnan(high) else high,
        )
        for time, at_risk, events, censored, share, low, high in zip(*counts, *shares, strict=True)
    ]
    return ResponseCurve(
        label, km.n, km.events, km.median, km.median_lower, km.median_upper, tuple(steps)
    )


def sessions_to_response_curves(
    store: Store, actor: str, rule: Rule = "mcid", alpha: float = 0.05
) -> ResponseCurves:
    """Kaplan–Meier sessions to response (analysis.time_to_response: product-limit estimate,
    log-log band, Brookmeyer–Crowley median CI) of every patient who started care, and by
    condition and joint (a clinic study has one care plan, so one group unless plans are
    pooled). Patients who stopped, or are still in care, before responding are censored."""
    data = response_data(store, actor, rule)
    if data.empty:
        return ResponseCurves(rule, None, (), alpha)
    overall = _curve("All patients", sessions_to_response(data, alpha))
    groups = tuple(
        _curve(" · ".join(str(part) for part in key) if isinstance(key, tuple) else str(key), km)
        for key, km in by_group(data, ["condition", "joint"], alpha).items()
    )
    return ResponseCurves(rule, overall, groups, alpha)


@dataclass(frozen=True)
class PublishedComparison:
    source: str
    citation: str
    rate: float
    comparison: str
    """"above", "below" or "within": where the published rate lies against the clinic's CI."""


@dataclass(frozen=True)
class SafetyLine:
    """Sessions of the counted component followed by an event of one kind (a severity class or
    a term) with the exact CI, the patients who had one, and the published rates it matches."""

    kind: str
    label: str
    sessions_with_event: int
    sessions: int
    rate: float
    ci_low: float
    ci_high: float
    patients_with_event: int
    patients: int
    published: tuple[PublishedComparison, ...]


@dataclass(frozen=True)
class ClinicSafety:
    component: str
    sessions: int
    patients: int
    lines: tuple[SafetyLine, ...]
    sources: dict[str, str]
    """Short name (Brady 2014) → full citation of every published rate."""
    alpha: float


def clinic_safety(store: Store, actor: str, alpha: float = 0.05) -> ClinicSafety:
    """Adverse events per delivered session of the counted component (dry needling) by severity
    and term, with Clopper–Pearson CIs, beside the published rates per treatment of Brady 2014
    and Boyce 2020 (analysis.clinic_safety; terms merged to the published wording)."""
    sessions, events = adverse_event_data(store, actor)
    care = care_of(clinic_protocol(store))
    counted = care.component(care.counted)
    rates = adverse_event_rates(sessions, events, counted.code, alpha, merge_synonyms=True)
    compared = against_published(rates)
    lines = []
    for row in rates.to_dict("records"):
        kind, label = str(row["kind"]), str(row["label"])
        matches = compared[(compared["kind"] == kind) & (compared["label"] == label)]
        published = tuple(
            PublishedComparison(
                str(m["source"]),
                str(m["citation"]),
                float(m["published_rate"]),
                str(m["comparison"]),
            )
            for m in matches.to_dict("records")
            if isinstance(m["source"], str)
        )
        lines.append(
            SafetyLine(
                kind,
                label,
                int(row["sessions_with_event"]),
                int(row["sessions"]),
                float(row["rate"]),
                float(row["ci_low"]),
                float(row["ci_high"]),
                int(row["patients_with_event"]),
                int(row["patients"]),
                published,
            )
        )
    sources = {p.source: p.citation for p in PUBLISHED}
    held = sessions[(sessions["plan"] == counted.code) & sessions["delivered"].astype(bool)]
    return ClinicSafety(
        counted.name, len(held), int(held["patient"].nunique()), tuple(lines), sources, alpha
    )


PLANNING_COLUMNS = ("condition", "joint", *VARIABILITY_COLUMNS)


def planning_table(store: Store, actor: str) -> pd.DataFrame:
    """Per outcome and visit: n, mean, SD, and against baseline the paired n, change mean and
    SD, Pearson correlation and the ANCOVA residual SD σ·sqrt(1 − ρ²) (Borm et al. 2007). No
    patient is named: only these summaries leave the clinic. Empty (the columns only) before any
    outcome is recorded at the first assessment."""
    scores = scores_data(store, actor)
    protocol = clinic_protocol(store)
    baseline = protocol.baseline.code
    scores = scores[scores["outcome"].isin(scores.loc[scores["visit"] == baseline, "outcome"])]
    if scores.empty:
        return pd.DataFrame(columns=list(PLANNING_COLUMNS))
    table = observed_variability(scores[["patient", "visit", "outcome", "value"]], baseline)
    table.insert(0, "joint", care_of(protocol).joint)
    table.insert(0, "condition", protocol.study.condition)
    return table
