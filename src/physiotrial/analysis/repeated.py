"""Repeated measures over the follow-up visits: the protocol's primary model, an MMRM.

Each outcome's follow-up values are modelled by :func:`physiotrial.analysis.mmrm.fit_mmrm` with
fixed effects baseline × visit, arm × visit and the other covariates, the protocol's covariance
structure (unstructured in the reference protocol) fitted by REML, and Kenward–Roger degrees of
freedom; the arm difference (experimental − control) at each visit is the least-squares-mean
contrast (Mallinckrodt et al. 2008; the FDA/EMA standard for continuous repeated outcomes).

When the chosen structure cannot be estimated (too few participants at a visit, no convergence)
the next simpler structure in the usual pre-specified order is used — unstructured, Toeplitz,
AR(1), compound symmetry — and the table's ``model`` column says which one produced each row.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from physiotrial.analysis.mmrm import fit_mmrm
from physiotrial.errors import ModelError

COLUMNS = ["visit", "model", "estimate", "se", "df", "ci_low", "ci_high", "p"]
FALLBACK = ("us", "toep", "ar1", "cs")
"""Structures tried in order, starting at the protocol's, when one cannot be estimated."""
PROTOCOL_NAMES = {"unstructured": "us", "toeplitz": "toep", "ar1": "ar1", "cs": "cs"}


def repeated_differences(
    data: pd.DataFrame,
    visits: Sequence[str],
    experimental: str,
    control: str,
    covariates: Sequence[str] = ("baseline",),
    alpha: float = 0.05,
    covariance: str = "unstructured",
) -> pd.DataFrame:
    """Rows visit, model, estimate, se, df, ci_low, ci_high, p from long ``data``.

    ``data``: study_code, arm, visit, value and the covariates. Visits not in ``visits`` and rows
    with a missing value are dropped. An empty table when there is too little to fit any model.
    """
    used = data[data["arm"].isin([experimental, control]) & data["visit"].isin(visits)]
    used = used.dropna(subset=["value", *covariates]).reset_index(drop=True)
    present = [v for v in visits if v in set(used["visit"])]
    if used["arm"].nunique() < 2 or used["study_code"].nunique() < 4 or not present:
        return pd.DataFrame(columns=COLUMNS)
    formula = mmrm_formula(covariates, len(present) > 1)
    levels = {"arm": (control, experimental), "visit": tuple(present)}
    start = FALLBACK.index(PROTOCOL_NAMES.get(covariance, covariance))
    for structure in FALLBACK[start:]:
        try:
            fit = fit_mmrm(
                used,
                formula,
                subject="study_code",
                visit="visit",
                covariance=structure,
                levels=levels,
            )
        except ModelError:
            continue
        table = fit.arm_differences("arm", experimental, control, "kenward_roger", alpha)
        table = table[table["visit"].isin(present)].assign(model=f"mmrm_{structure}")
        return table[COLUMNS].reset_index(drop=True)
    return pd.DataFrame(columns=COLUMNS)


def mmrm_formula(covariates: Sequence[str], several_visits: bool) -> str:
    """value ~ baseline * visit + arm * visit + other covariates (no visit terms at one visit)."""
    terms = []
    for name in covariates:
        terms.append(f"{name} * visit" if name == "baseline" and several_visits else name)
    terms.append("arm * visit" if several_visits else "arm")
    return "value ~ " + " + ".join(terms)
