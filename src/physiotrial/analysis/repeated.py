"""Repeated measures over the follow-up visits: a linear mixed model with a random intercept.

The protocol's primary model is an MMRM (unstructured covariance); our own MMRM engine, validated
against R, comes later (DESIGN.md). Until then this module fits the closest model statsmodels
offers: ``MixedLM`` (REML) with a random intercept per participant, fixed effects visit, arm,
arm × visit and the covariates (baseline, sex), and reports the arm difference (experimental −
control) at each visit as the linear combination arm + arm × visit, with Wald z inference (df is
reported as NaN: no small-sample df). A random intercept implies compound symmetry, so its SEs
can differ from the MMRM's when the variance changes across visits; the table's ``model`` column
says which model produced each row.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from physiotrial.analysis.ancova import design

MODEL = "mixedlm_random_intercept"


def repeated_differences(
    data: pd.DataFrame,
    visits: Sequence[str],
    experimental: str,
    control: str,
    covariates: Sequence[str] = ("baseline",),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Rows visit, model, estimate, se, df, ci_low, ci_high, p from long ``data``.

    ``data``: study_code, arm, visit, value and the covariates. Visits not in ``visits`` and rows
    with a missing value are dropped; the first visit is the reference of the visit effects.
    """
    columns = ["visit", "model", "estimate", "se", "df", "ci_low", "ci_high", "p"]
    used = data[data["arm"].isin([experimental, control]) & data["visit"].isin(visits)]
    used = used.dropna(subset=["value", *covariates]).reset_index(drop=True)
    present = [v for v in visits if v in set(used["visit"])]
    if used["arm"].nunique() < 2 or used["study_code"].nunique() < 4 or not present:
        return pd.DataFrame(columns=columns)
    base, names = design(used, experimental, covariates)
    arm = base[:, 1]
    extra = []
    for visit in present[1:]:
        at = (used["visit"] == visit).to_numpy(float)
        extra += [at, at * arm]
    x = np.column_stack([base, *extra]) if extra else base
    model = sm.MixedLM(used["value"].to_numpy(float), x, groups=used["study_code"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(reml=True)
    k = x.shape[1]
    params = np.asarray(fit.fe_params)
    cov = np.asarray(fit.cov_params())[:k, :k]
    z = float(stats.norm.ppf(1 - alpha / 2))
    rows = []
    for index, visit in enumerate(present):
        contrast = np.zeros(k)
        contrast[1] = 1.0
        if index > 0:
            contrast[len(names) + 2 * (index - 1) + 1] = 1.0
        estimate = float(contrast @ params)
        se = math.sqrt(float(contrast @ cov @ contrast))
        p = float(2 * stats.norm.sf(abs(estimate / se))) if se > 0 else math.nan
        rows.append([visit, MODEL, estimate, se, math.nan, estimate - z * se, estimate + z * se, p])
    return pd.DataFrame(rows, columns=columns)
