"""Constrained longitudinal data analysis (cLDA): baseline as a response, arms equal at baseline.

Liang & Zeger (2000) and Lu (2010): in a randomised trial the arms have the same mean at baseline
by design, so baseline is modelled as the first response (not as a covariate) and the treatment
effect enters only at the post-baseline visits. Participants with a baseline but no follow-up still
contribute, and the estimate is more efficient than ANCOVA when follow-up is missing (Coffman et
al. 2016). The model is fitted by :func:`fit_mmrm` with one treatment indicator per post-baseline
visit, ``{arm}{experimental}_{visit}``, and no arm main effect; each indicator's coefficient is the
arm difference at its visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from physiotrial.analysis.mmrm.fit import DfMethod, MmrmFit, fit_mmrm
from physiotrial.errors import ModelError


@dataclass(frozen=True)
class Clda:
    """The fitted cLDA model and the arm difference at each post-baseline visit and on average."""

    fit: MmrmFit
    differences: pd.DataFrame


def clda_frame(
    data: pd.DataFrame,
    *,
    subject: str,
    visit: str,
    arm: str,
    baseline: str,
    response: str,
    experimental: str,
    baseline_visit: str = "V0",
    keep: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[str]]:
    """Long rows with baseline as visit ``baseline_visit`` and the treatment indicators.

    Returns (frame, indicator names). ``keep`` lists participant-level columns (e.g. site) carried
    onto the baseline row.
    """
    missing = [c for c in (subject, visit, arm, baseline, response, *keep) if c not in data.columns]
    if missing:
        raise ModelError(f"column {missing[0]!r} is not in the data")
    if (data[visit].astype(str) == baseline_visit).any():
        raise ModelError(
            f"{visit} already has rows called {baseline_visit!r}; name the baseline visit "
            "something the follow-up visits do not use"
        )
    people = data.drop_duplicates(subject)[[subject, arm, baseline, *keep]]
    first = people.copy()
    first[visit] = baseline_visit
    first[response] = people[baseline]
    follow = data[[subject, arm, baseline, *keep, visit, response]]
    frame = pd.concat([first, follow], ignore_index=True)
    frame[visit] = frame[visit].astype(str)
    later = [str(v) for v in pd.unique(data[visit].astype(str))]
    names = []
    for name in later:
        column = f"{arm}{experimental}_{name}"
        frame[column] = ((frame[arm] == experimental) & (frame[visit] == name)).astype(float)
        names.append(column)
    return frame.drop(columns=[baseline]), names


def fit_clda(
    data: pd.DataFrame,
    *,
    subject: str = "id",
    visit: str = "visit",
    arm: str = "arm",
    baseline: str = "baseline",
    response: str = "y",
    experimental: str = "DN",
    covariates: Sequence[str] = (),
    visits: Sequence[str] | None = None,
    covariance: str = "us",
    df: DfMethod = "kenward_roger",
    alpha: float = 0.05,
    levels: Mapping[str, Sequence[str]] | None = None,
) -> Clda:
    """cLDA of ``response`` with baseline ``baseline``; ``visits`` orders the follow-up visits."""
    frame, indicators = clda_frame(
        data,
        subject=subject,
        visit=visit,
        arm=arm,
        baseline=baseline,
        response=response,
        experimental=experimental,
        keep=covariates,
    )
    order = list(visits or sorted(set(frame[visit]) - {"V0"}))
    indicators = [f"{arm}{experimental}_{v}" for v in order]
    formula = f"{response} ~ " + " + ".join([visit, *covariates, *indicators])
    chosen = {k: v for k, v in (levels or {}).items() if k != arm}
    chosen[visit] = ("V0", *order)
    fit = fit_mmrm(
        frame, formula, subject=subject, visit=visit, covariance=covariance, levels=chosen
    )
    rows = []
    for name, column in zip(order, indicators, strict=True):
        rows.append({"visit": name, **fit.contrast({column: 1.0}, df, alpha).to_dict()})
    average = {column: 1.0 / len(indicators) for column in indicators}
    rows.append({"visit": "average", **fit.contrast(average, df, alpha).to_dict()})
    table = pd.DataFrame(rows)
    table[["estimate", "se"]] = table[["estimate", "se"]].astype(np.float64)
    return Clda(fit, table)
