"""The protocol's analysis plan, run on the trial frames: every table of :mod:`results`.

Order of work (SPIRIT 2013 item 20; CONSORT 2010 items 12, 16-19): Table 1, descriptives and
within-arm change; the between-group ANCOVA at every follow-up visit of every outcome in the
primary population and each sensitivity population, with Holm across the secondary outcomes at
the primary visit; the repeated-measures model; Hedges' g of change; responders with RD and NNT;
Bang's blinding index; adverse event rates; the CONSORT counts; a methods paragraph written from
the protocol; and, for the reference protocol, our estimates against the published abstract.

Signs: every between-group estimate is experimental − control in the outcome's own units (for
pain, negative favours the experimental arm). The ``published`` table instead states the
difference as the abstract does, as improvement favouring the experimental arm (control −
experimental for an outcome where higher is worse). Its estimate is the ITT ANCOVA at the primary
visit; the MMRM of :mod:`repeated` is reported beside it.

Blinded analysis: arms are "A" and "B" (the caller's relabelling); A − B is reported, and
nothing that needs to know which arm is sham (the blinding index, the published comparison) is
computed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from physiotrial.analysis.ancova import ancova, holm
from physiotrial.analysis.blinding import bang_index
from physiotrial.analysis.dataset import TrialFrames, change_from_baseline
from physiotrial.analysis.descriptives import baseline_table, descriptives, within_change
from physiotrial.analysis.effects import hedges_g
from physiotrial.analysis.methods import consort_counts, methods_text
from physiotrial.analysis.repeated import repeated_differences
from physiotrial.analysis.responders import (
    mcid_responder,
    omeract_responder,
    percent_responder,
    risk_difference,
)
from physiotrial.analysis.results import COLUMNS, AnalysisResults
from physiotrial.analysis.safety import safety_table
from physiotrial.analysis.sensitivity import missing_data_sensitivity
from physiotrial.core.instruments import Direction, get_instrument
from physiotrial.core.protocol import Outcome, Protocol

REFERENCE_STUDY = "popliteus-dn-koa"
PUBLISHED: dict[str, tuple[float, float, float]] = {
    "pain_max": (30.0, 18.4, 42.0),
    "womac_total": (16.0, 7.9, 23.9),
}
"""Between-group differences at 6 months in the abstract (Sci Rep 2025;15:44117), favouring DN."""
BLINDED_ARMS = ("A", "B")


def higher_worse(protocol: Protocol, outcome: Outcome) -> bool:
    """Whether a higher value is worse: the outcome's direction, else its instrument score's."""
    direction = outcome.direction
    if direction is None:
        instrument = get_instrument(protocol.measure(outcome.measure).instrument)
        direction = instrument.score_spec(outcome.score).direction
    return direction is Direction.HIGHER_WORSE


def analyse_trial(
    frames: TrialFrames, protocol: Protocol, blinded: bool, manifest: Mapping[str, Any]
) -> AnalysisResults:
    """Follow ``protocol.analysis`` on ``frames``; see the module docstring."""
    if blinded:
        experimental, control = BLINDED_ARMS
        arms = {a: a for a in BLINDED_ARMS}
    else:
        experimental, control = protocol.contrast.experimental, protocol.contrast.control
        arms = {a.code: a.code for a in protocol.arms}
    order = [experimental, control]
    people = frames.participants
    populations = {"itt": people[people["itt"].astype(bool)]}
    populations["per_protocol"] = people[people["per_protocol"].astype(bool)]
    baseline = protocol.baseline.code
    primary = protocol.primary_outcome.id
    long = {
        o.id: change_from_baseline(frames.scores, people, o.id, baseline) for o in protocol.outcomes
    }
    itt = populations["itt"]
    scores = frames.scores.merge(itt[["study_code", "arm"]], on="study_code")

    tables: dict[str, pd.DataFrame] = {}
    names = [(o.id, o.name) for o in protocol.outcomes]
    tables["baseline"] = baseline_table(itt, frames.scores, names, baseline, order)
    tables["descriptives"] = descriptives(scores.assign(arm=pd.Categorical(scores["arm"], order)))
    tables["within"] = _within(protocol, long, itt, order)
    ancova_table = _ancova(protocol, long, populations, experimental, control)
    tables["ancova"] = ancova_table
    tables["repeated"] = _repeated(protocol, long, itt, experimental, control)
    tables["sensitivity"] = _missing_data(protocol, long, itt, experimental, control, blinded)
    tables["effects"] = _effects(protocol, long, itt, experimental, control)
    tables["responders"] = _responders(protocol, long, itt, experimental, control)
    tables["blinding"] = pd.DataFrame() if blinded else _blinding(protocol, frames, itt)
    tables["safety"] = _safety(protocol, frames, itt)
    show_published = protocol.study.id == REFERENCE_STUDY and not blinded
    tables["published"] = _published(protocol, ancova_table) if show_published else pd.DataFrame()
    tables = {name: _fixed(name, frame) for name, frame in tables.items()}
    primary_rows = long[primary]
    primary_rows = primary_rows[
        (primary_rows["visit"] == protocol.contrast.visit)
        & primary_rows["study_code"].isin(itt["study_code"])
    ].dropna(subset=["value", "baseline"])
    return AnalysisResults(
        study_id=protocol.study.id,
        title=protocol.study.title,
        arms=arms,
        experimental=experimental,
        control=control,
        blinded=blinded,
        manifest=dict(manifest),
        methods=methods_text(protocol, blinded),
        consort=consort_counts(frames, itt, primary_rows, order, protocol),
        tables=tables,
    )


def _fixed(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table with exactly its fixed columns, in order (an empty frame when not computed)."""
    columns = list(COLUMNS[name])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return frame[columns].reset_index(drop=True)


def _follow_up(outcome: Outcome, baseline: str) -> list[str]:
    return [v for v in outcome.visits if v != baseline]


def _in(data: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``data`` that belong to participants of ``population``."""
    return data[data["study_code"].isin(population["study_code"])]


def _within(
    protocol: Protocol, long: Mapping[str, pd.DataFrame], itt: pd.DataFrame, order: list[str]
) -> pd.DataFrame:
    rows = []
    for outcome in protocol.outcomes:
        data = _in(long[outcome.id], itt)
        for visit in _follow_up(outcome, protocol.baseline.code):
            for arm in order:
                chosen = data[(data["visit"] == visit) & (data["arm"] == arm)]["change"]
                n, mean, low, high = within_change(chosen.to_numpy(float), protocol.analysis.alpha)
                rows.append(
                    {
                        "outcome": outcome.id,
                        "visit": visit,
                        "arm": arm,
                        "n": n,
                        "mean_change": mean,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    return pd.DataFrame(rows)


def _covariates(protocol: Protocol) -> tuple[str, ...]:
    return tuple(protocol.analysis.covariates) or ("baseline",)


def _ancova(
    protocol: Protocol,
    long: Mapping[str, pd.DataFrame],
    populations: Mapping[str, pd.DataFrame],
    experimental: str,
    control: str,
) -> pd.DataFrame:
    plan = protocol.analysis
    rows = []
    for population in dict.fromkeys([plan.population, *plan.sensitivity_populations]):
        codes = set(populations[population]["study_code"])
        for outcome in protocol.outcomes:
            data = long[outcome.id]
            data = data[data["study_code"].isin(codes)]
            for visit in _follow_up(outcome, protocol.baseline.code):
                fit = ancova(
                    data[data["visit"] == visit],
                    experimental,
                    control,
                    _covariates(protocol),
                    plan.alpha,
                )
                rows.append(
                    {
                        "outcome": outcome.id,
                        "visit": visit,
                        "population": population,
                        "n": fit.n,
                        "estimate": fit.estimate,
                        "se": fit.se,
                        "ci_low": fit.ci_low,
                        "ci_high": fit.ci_high,
                        "p": fit.p,
                        "p_holm": math.nan,
                        "primary": bool(
                            outcome.primary
                            and visit == protocol.contrast.visit
                            and population == plan.population
                        ),
                    }
                )
    table = pd.DataFrame(rows)
    if plan.multiplicity == "holm" and not table.empty:
        family = (
            (table["visit"] == protocol.contrast.visit)
            & (table["population"] == plan.population)
            & (table["outcome"] != protocol.primary_outcome.id)
        )
        table.loc[family, "p_holm"] = holm(table.loc[family, "p"].tolist())
    return table


def _repeated(
    protocol: Protocol,
    long: Mapping[str, pd.DataFrame],
    itt: pd.DataFrame,
    experimental: str,
    control: str,
) -> pd.DataFrame:
    frames = []
    for outcome in protocol.outcomes:
        data = _in(long[outcome.id], itt)
        visits = _follow_up(outcome, protocol.baseline.code)
        table = repeated_differences(
            data,
            visits,
            experimental,
            control,
            _covariates(protocol),
            protocol.analysis.alpha,
            protocol.analysis.covariance,
        )
        frames.append(table.assign(outcome=outcome.id))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _missing_data(
    protocol: Protocol,
    long: Mapping[str, pd.DataFrame],
    itt: pd.DataFrame,
    experimental: str,
    control: str,
    blinded: bool,
) -> pd.DataFrame:
    """MI under MAR and, if planned, the tipping point (not blinded: it must know which arm is
    experimental), for the primary outcome; the seed is fixed by the study id (reproducible)."""
    plan = protocol.analysis
    outcome = protocol.primary_outcome
    return missing_data_sensitivity(
        long[outcome.id],
        itt,
        _follow_up(outcome, protocol.baseline.code),
        protocol.contrast.visit,
        experimental,
        control,
        _covariates(protocol),
        imputations=plan.missing_data.imputations,
        seed=zlib.crc32(protocol.study.id.encode()),
        tipping="tipping_point" in plan.missing_data.sensitivity and not blinded,
        covariance=plan.covariance,
        alpha=plan.alpha,
    )


def _effects(
    protocol: Protocol,
    long: Mapping[str, pd.DataFrame],
    itt: pd.DataFrame,
    experimental: str,
    control: str,
) -> pd.DataFrame:
    rows = []
    for outcome in protocol.outcomes:
        data = _in(long[outcome.id], itt)
        for visit in _follow_up(outcome, protocol.baseline.code):
            at = data[data["visit"] == visit]
            g = hedges_g(
                at.loc[at["arm"] == experimental, "change"],
                at.loc[at["arm"] == control, "change"],
                protocol.analysis.alpha,
            )
            rows.append(
                {
                    "outcome": outcome.id,
                    "visit": visit,
                    "hedges_g": g.g,
                    "ci_low": g.ci_low,
                    "ci_high": g.ci_high,
                }
            )
    return pd.DataFrame(rows)


def _responders(
    protocol: Protocol,
    long: Mapping[str, pd.DataFrame],
    itt: pd.DataFrame,
    experimental: str,
    control: str,
) -> pd.DataFrame:
    rows = []
    codes = set(itt["study_code"])
    for rule in protocol.analysis.responders:
        main = rule.outcome if rule.rule != "omeract_oarsi" else rule.pain
        if main is None:
            continue
        outcome = protocol.outcome(main)
        data = long[main]
        data = data[data["study_code"].isin(codes)]
        for visit in _follow_up(outcome, protocol.baseline.code):
            at = data[data["visit"] == visit].reset_index(drop=True)
            base, after = at["baseline"].to_numpy(float), at["value"].to_numpy(float)
            worse = higher_worse(protocol, outcome)
            if rule.rule == "mcid":
                flag = mcid_responder(base, after, float(rule.threshold or 0), worse)
            elif rule.rule == "percent":
                flag = percent_responder(base, after, float(rule.threshold or 0), worse)
            else:
                other = long[rule.function or ""]
                other = other[other["visit"] == visit].set_index("study_code")
                fb = at["study_code"].map(other["baseline"]).to_numpy(float)
                fa = at["study_code"].map(other["value"]).to_numpy(float)
                flag = omeract_responder(base, after, fb, fa)
            known = ~np.isnan(flag)
            arm = at["arm"].to_numpy()
            exp, ctl = known & (arm == experimental), known & (arm == control)
            rd = risk_difference(
                int(flag[exp].sum()),
                int(exp.sum()),
                int(flag[ctl].sum()),
                int(ctl.sum()),
                protocol.analysis.alpha,
            )
            rows.append({"definition": rule.id, "visit": visit, **rd.__dict__})
    return pd.DataFrame(rows)


def _blinding(protocol: Protocol, frames: TrialFrames, itt: pd.DataFrame) -> pd.DataFrame:
    sham = {a.code: a.sham for a in protocol.arms}
    guesses = frames.guesses.merge(itt[["study_code", "arm"]], on="study_code")
    rows = []
    for (rater, arm), group in guesses.groupby(["rater", "arm"]):
        counts = group["category"].value_counts().to_dict()
        bi = bang_index(
            {str(k): int(v) for k, v in counts.items()},
            sham.get(str(arm), False),
            protocol.analysis.alpha,
        )
        rows.append(
            {
                "rater": rater,
                "arm": arm,
                "n": bi.n,
                "bang_bi": bi.bi,
                "ci_low": bi.ci_low,
                "ci_high": bi.ci_high,
            }
        )
    return pd.DataFrame(rows)


def _safety(protocol: Protocol, frames: TrialFrames, itt: pd.DataFrame) -> pd.DataFrame:
    if not protocol.sessions:
        return pd.DataFrame()
    plan = protocol.sessions[0].code
    return safety_table(
        itt[["study_code", "arm"]],
        frames.sessions,
        frames.adverse_events,
        plan,
        protocol.analysis.alpha,
    )


def _published(protocol: Protocol, ancova_table: pd.DataFrame) -> pd.DataFrame:
    plan = protocol.analysis
    rows = []
    for outcome_id, (estimate, low, high) in PUBLISHED.items():
        row = ancova_table[
            (ancova_table["outcome"] == outcome_id)
            & (ancova_table["visit"] == protocol.contrast.visit)
            & (ancova_table["population"] == plan.population)
        ]
        if row.empty:
            continue
        sign = -1.0 if higher_worse(protocol, protocol.outcome(outcome_id)) else 1.0
        ours = sign * float(row["estimate"].iloc[0])
        limits = sorted(sign * float(row[c].iloc[0]) for c in ("ci_low", "ci_high"))
        rows.append(
            {
                "outcome": outcome_id,
                "published_estimate": estimate,
                "published_ci_low": low,
                "published_ci_high": high,
                "estimate": ours,
                "ci_low": limits[0],
                "ci_high": limits[1],
                "within_published_ci": bool(low <= ours <= high),
            }
        )
    return pd.DataFrame(rows)
