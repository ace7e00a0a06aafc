"""The results of a trial analysis: the one value that crosses from analysis to report.

Every table is a tidy pandas DataFrame with the fixed columns listed here (tests pin them), so
the report, the CLI and a CSV export read the same thing. Display rounding happens in the report,
never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

COLUMNS: dict[str, tuple[str, ...]] = {
    # Table 1: one row per characteristic × arm; `summary` is display text (e.g. "63.1 (7.2)").
    "baseline": ("characteristic", "arm", "n", "mean", "sd", "count", "percent", "summary"),
    # n, mean (SD) per outcome, visit and arm (observed data).
    "descriptives": ("outcome", "visit", "arm", "n", "mean", "sd"),
    # Within-arm change from baseline with 95% CI.
    "within": ("outcome", "visit", "arm", "n", "mean_change", "ci_low", "ci_high"),
    # Between-group difference (experimental − control) adjusted for baseline (ANCOVA).
    "ancova": (
        "outcome",
        "visit",
        "population",
        "n",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "p",
        "p_holm",
        "primary",
    ),
    # Repeated-measures model across follow-up visits: the difference at each visit.
    "repeated": ("outcome", "visit", "model", "estimate", "se", "df", "ci_low", "ci_high", "p"),
    # Missing-data sensitivity of the primary outcome: MI under MAR, delta-adjusted MI (MNAR) per
    # delta and the tipping point (delta only).
    "sensitivity": ("analysis", "visit", "delta", "estimate", "se", "df", "ci_low", "ci_high", "p"),
    # Standardised effect of the change from baseline (Hedges' g, experimental − control).
    "effects": ("outcome", "visit", "hedges_g", "ci_low", "ci_high"),
    # Responders: proportions per arm, risk difference and NNT with 95% CIs.
    "responders": (
        "definition",
        "visit",
        "responders_exp",
        "n_exp",
        "responders_ctl",
        "n_ctl",
        "risk_difference",
        "rd_ci_low",
        "rd_ci_high",
        "nnt",
        "nnt_ci_low",
        "nnt_ci_high",
    ),
    # Bang's blinding index per rater and arm.
    "blinding": ("rater", "arm", "n", "bang_bi", "ci_low", "ci_high"),
    # Adverse events per session and per participant by arm, exact (Clopper–Pearson) CIs.
    "safety": (
        "arm",
        "unit",
        "denominator",
        "with_event",
        "rate",
        "ci_low",
        "ci_high",
        "serious",
    ),
    # For the reference trial: the abstract's numbers against ours.
    "published": (
        "outcome",
        "published_estimate",
        "published_ci_low",
        "published_ci_high",
        "estimate",
        "ci_low",
        "ci_high",
        "within_published_ci",
    ),
}


@dataclass(frozen=True)
class Consort:
    """Counts for the CONSORT 2010 flow diagram (Schulz et al., BMJ 2010;340:c332), per arm."""

    assessed: int
    excluded: int
    exclusion_reasons: dict[str, int]
    randomised: dict[str, int]
    received: dict[str, int]
    lost: dict[str, dict[str, int]]
    discontinued: dict[str, dict[str, int]]
    analysed: dict[str, int]


@dataclass(frozen=True)
class AnalysisResults:
    """Everything the report shows. ``arms`` maps arm code → label shown (A/B when blinded)."""

    study_id: str
    title: str
    arms: dict[str, str]
    experimental: str
    control: str
    blinded: bool
    manifest: dict[str, object]
    methods: str
    consort: Consort
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """One result table; an empty frame with the fixed columns when it was not computed."""
        if name in self.tables:
            return self.tables[name]
        return pd.DataFrame(columns=list(COLUMNS[name]))
