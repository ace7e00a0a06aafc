"""Missing-data sensitivity analyses of the primary outcome, as the protocol's plan lists them.

The primary repeated-measures model is valid under missing at random (MAR). The protocol's
``missing_data`` section asks for multiple imputation under MAR (``imputations`` completed data
sets, imputed by arm from a multivariate-normal model, each analysed by the same MMRM and pooled by
Rubin's rules with Barnard–Rubin df; :mod:`imputation`) and, when it lists ``tipping_point``, a
delta-adjusted analysis departing from MAR: the experimental arm's imputed values are made worse by
δ, over a grid of δ in steps of an eighth of the outcome's baseline SD up to 1.5 SD, and the
tipping point is the δ at which the primary difference stops being significant (Ratitch, O'Kelly &
Tosiello 2013; EMA 2010 guideline on missing data).

Every randomised participant with a baseline value is analysed (ITT), including those with no
follow-up at all, whom the imputation draws from their baseline covariates. The imputation seed is
fixed by the caller (the plan derives it from the study id), so a report is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from physiotrial.analysis.imputation import mi_analysis, tipping_point
from physiotrial.analysis.repeated import PROTOCOL_NAMES, mmrm_formula
from physiotrial.analysis.results import COLUMNS as RESULT_COLUMNS
from physiotrial.errors import ModelError

COLUMNS = RESULT_COLUMNS["sensitivity"]
STEPS = tuple(k / 8 for k in range(1, 13))
"""Tipping-point grid, in baseline SDs of the outcome."""


def missing_data_sensitivity(
    data: pd.DataFrame,
    participants: pd.DataFrame,
    visits: Sequence[str],
    primary_visit: str,
    experimental: str,
    control: str,
    covariates: Sequence[str],
    *,
    imputations: int,
    seed: int,
    tipping: bool,
    covariance: str = "unstructured",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Rows ``mi_mar``, ``delta_adjusted`` (one per δ) and ``tipping_point`` (its δ).

    ``data``: the outcome's long rows (study_code, arm, visit, baseline, value, covariates);
    ``participants``: study_code, arm and the covariates of everyone analysed (their baseline is
    looked up in ``data`` or must be a column). An empty table when there is too little data.
    """
    grid = _grid(data, participants, visits, covariates)
    if grid is None:
        return pd.DataFrame(columns=list(COLUMNS))
    options = {
        "subject": "study_code",
        "visit": "visit",
        "arm": "arm",
        "experimental": experimental,
        "control": control,
        "covariates": tuple(covariates),
        "levels": {"arm": (control, experimental), "visit": tuple(visits)},
        "covariance": PROTOCOL_NAMES.get(covariance, covariance),
        "alpha": alpha,
    }
    formula = mmrm_formula(covariates, len(visits) > 1)
    try:
        mar = mi_analysis(grid, formula, m=imputations, seed=seed, **options)  # type: ignore[arg-type]
    except ModelError:
        return pd.DataFrame(columns=list(COLUMNS))
    at_primary = mar.pooled[mar.pooled["visit"] == primary_visit]
    if at_primary.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    primary = at_primary.iloc[0]
    rows = [{"analysis": "mi_mar", "visit": primary_visit, "delta": 0.0,
             **_numbers(primary)}]  # fmt: skip
    if tipping:
        estimate = float(primary["estimate"])
        spread = float(grid.drop_duplicates("study_code")["baseline"].std())
        worse = -math.copysign(1.0, estimate)  # adding this direction to DN's values weakens it
        deltas = [worse * spread * step for step in STEPS]
        result = tipping_point(
            grid, formula, deltas, m=imputations, seed=seed, primary_visit=primary_visit,
            **options,  # type: ignore[arg-type]
        )  # fmt: skip
        for _, row in result.table.iterrows():
            if row["delta"] != 0:
                rows.append({"analysis": "delta_adjusted", "visit": primary_visit,
                             "delta": float(row["delta"]), **_numbers(row)})  # fmt: skip
        rows.append({"analysis": "tipping_point", "visit": primary_visit,
                     "delta": result.tipping_point})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _numbers(row: pd.Series) -> dict[str, float]:
    return {key: float(row[key]) for key in ("estimate", "se", "df", "ci_low", "ci_high", "p")}


def _grid(
    data: pd.DataFrame,
    participants: pd.DataFrame,
    visits: Sequence[str],
    covariates: Sequence[str],
) -> pd.DataFrame | None:
    """One row per analysed participant × follow-up visit, value missing where not observed."""
    known = data.dropna(subset=["baseline"]).drop_duplicates("study_code")
    baseline = known.set_index("study_code")["baseline"]
    people = participants[participants["study_code"].isin(baseline.index)]
    people = people[["study_code", "arm", *[c for c in covariates if c != "baseline"]]]
    if people["arm"].nunique() < 2 or len(people) < 8:
        return None
    frame = people.merge(pd.DataFrame({"visit": list(visits)}), how="cross")
    frame["baseline"] = frame["study_code"].map(baseline).astype(float)
    observed = data[data["visit"].isin(visits)][["study_code", "visit", "value"]]
    return frame.merge(observed, on=["study_code", "visit"], how="left")
