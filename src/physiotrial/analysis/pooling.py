"""Rubin's rules: one pooled estimate from the m analyses of multiply imputed data sets.

Rubin (1987), *Multiple Imputation for Nonresponse in Surveys*, ch. 3: with estimates Q_l and
their complete-data variances U_l (l = 1..m),

- Qbar = mean Q_l, Ubar = mean U_l (within-imputation variance), B = var(Q_l) with m - 1 in the
  denominator (between-imputation variance);
- T = Ubar + (1 + 1/m) B, the total variance; the pooled SE is sqrt(T);
- riv = (1 + 1/m) B / Ubar, the relative increase in variance due to non-response;
- lambda = (1 + 1/m) B / T, the proportion of the variance due to missingness;
- df: Barnard & Rubin (1999), "Small-sample degrees of freedom with multiple imputation",
  Biometrika 86:948-955: nu_old = (m - 1) / lambda^2 (Rubin's 1987 df), nu_obs = (dfcom + 1) /
  (dfcom + 3) * dfcom * (1 - lambda), nu = nu_old nu_obs / (nu_old + nu_obs); with an infinite
  complete-data df (dfcom) nu = nu_old;
- fmi = (riv + 2 / (nu + 3)) / (riv + 1), the fraction of missing information.

Every definition is the one of R's mice 3.15 (``mice:::pool.scalar``, ``mice:::barnard.rubin``,
``mice:::pool.fitlist``, ``summary.mipo``), including its two guards: lambda is floored at 1e-4
inside the df formula only (so B = 0 gives a finite df), and the p-value uses max(df, 0.001).
The reported lambda is the unfloored one, as ``mice::pool`` reports it. Checked against
tests/oracle/imputation.R to 1e-10.

:func:`pool_completed` applies them to the protocol's MMRM (:mod:`physiotrial.analysis.mmrm`)
fitted to each of m completed data sets (stacked, numbered in the ``imputation`` column): the
arm difference at each visit and on average, as R's ``with(imp, gls(...))`` + emmeans +
``pool.scalar`` (checked against the same oracle). Imputation itself is in
:mod:`physiotrial.analysis.imputation`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from physiotrial.analysis.mmrm import fit_batch, fit_mmrm
from physiotrial.analysis.mmrm.fit import DfMethod
from physiotrial.errors import ModelError

IMPUTATION = "imputation"
"""The column numbering the completed data sets 1..m in a stacked frame."""

POOLED_COLUMNS = [
    "visit", "estimate", "se", "df", "t", "p", "ci_low", "ci_high",
    "m", "dfcom", "ubar", "b", "total_variance", "riv", "lambda", "fmi",
]  # fmt: skip
"""One row per visit and ``average``: the pooled test, then Rubin's quantities (T as
``total_variance``; ``t`` is the test statistic, as in ``arm_differences``)."""


LAMBDA_FLOOR = 1e-4
"""mice's floor on lambda inside the Barnard-Rubin df (``lambda[lambda < 1e-04] <- 1e-04``)."""


@dataclass(frozen=True)
class Pooled:
    """Rubin's rules applied to one scalar: the fields of ``mice::pool`` plus the test and CI."""

    m: int
    estimate: float
    ubar: float
    b: float
    t: float
    dfcom: float
    df: float
    riv: float
    lambda_: float
    fmi: float
    se: float
    statistic: float
    p: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain mapping (``lambda_`` spelled ``lambda``), for one table row."""
        row = {key: float(value) for key, value in asdict(self).items()}
        row["lambda"] = row.pop("lambda_")
        return row


def barnard_rubin_df(m: int, b: float, t: float, dfcom: float) -> float:
    """Barnard & Rubin (1999) small-sample df, as ``mice:::barnard.rubin`` (lambda floored at
    1e-4); ``dfcom = inf`` gives Rubin's (1987) (m - 1) / lambda^2."""
    lam = max((1 + 1 / m) * b / t, LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    if math.isinf(dfcom):
        return df_old
    df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return df_old * df_obs / (df_old + df_obs)


def rubin(
    estimates: Sequence[float] | np.ndarray,
    variances: Sequence[float] | np.ndarray,
    dfcom: float = math.inf,
    alpha: float = 0.05,
) -> Pooled:
    """Pool m >= 2 estimates and their complete-data variances (squared SEs) by Rubin's rules.

    ``dfcom`` is the complete-data df of the estimate (for a mixed-model contrast, its df in the
    analysis of one completed data set); ``inf`` gives Rubin's (1987) large-sample df. The test
    is t = Qbar / sqrt(T) on df, two-sided; the CI is Qbar ± t_{df, 1 - alpha/2} sqrt(T).
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = q.size
    if q.ndim != 1 or u.shape != q.shape:
        raise ModelError(
            f"Rubin's rules need one variance per estimate: got {q.size} estimates and "
            f"{u.size} variances"
        )
    if m < 2:
        raise ModelError(f"Rubin's rules need m >= 2 imputations; got m = {m}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u))):
        raise ModelError("Rubin's rules need finite estimates and variances; got NaN or inf")
    if np.any(u < 0) or not float(u.mean()) > 0:
        raise ModelError(
            "Rubin's rules need complete-data variances >= 0 with a positive mean; got "
            f"{u.tolist()}"
        )
    if not (dfcom > 0):
        raise ModelError(f"the complete-data df (dfcom) must be > 0 or inf; got {dfcom}")
    if not 0 < alpha < 1:
        raise ModelError(f"alpha must be between 0 and 1; got {alpha}")
    # Shifted by the first value (like R's refined mean): equal estimates give B = 0 exactly.
    shifted = q - q[0]
    qbar = float(q[0] + shifted.mean())
    ubar = float(u[0] + (u - u[0]).mean())
    b = float(shifted.var(ddof=1))
    riv = (1 + 1 / m) * b / ubar
    t = ubar + (m + 1) * b / m
    df = barnard_rubin_df(m, b, t, dfcom)
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = math.sqrt(t)
    statistic = qbar / se
    p = float(2 * stats.t.sf(abs(statistic), max(df, 0.001)))
    return Pooled(
        m=m,
        estimate=qbar,
        ubar=ubar,
        b=b,
        t=t,
        dfcom=float(dfcom),
        df=df,
        riv=riv,
        lambda_=(1 + 1 / m) * b / t,
        fmi=fmi,
        se=se,
        statistic=statistic,
        p=p,
        ci_low=qbar + float(stats.t.ppf(alpha / 2, df)) * se,
        ci_high=qbar + float(stats.t.ppf(1 - alpha / 2, df)) * se,
    )


def pool_completed(
    completed: pd.DataFrame,
    formula: str,
    *,
    subject: str = "id",
    visit: str = "visit",
    arm: str = "arm",
    experimental: str = "DN",
    control: str = "SHAM",
    levels: Mapping[str, Sequence[str]] | None = None,
    covariance: str = "us",
    group: str | None = None,
    df: DfMethod = "kenward_roger",
    dfcom: Mapping[str, float] | float | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fit the MMRM ``formula`` (``covariance``, one per ``group`` level if given) to each
    imputation and pool each visit's arm difference.

    The complete-data df (``dfcom``) of each contrast is, unless given (one number, or one per
    visit), its ``df`` in the fit of the first imputation (as mice takes ``df.residual`` of the
    first fit). Columns: :data:`POOLED_COLUMNS`.
    """
    numbers = sorted(completed[IMPUTATION].unique()) if IMPUTATION in completed else []
    check_m(len(numbers))
    sets = [completed[completed[IMPUTATION] == number] for number in numbers]
    results = None if group else _batched(
        sets, formula, subject, visit, arm, experimental, control, levels, covariance, df, alpha
    )  # fmt: skip
    if results is None:
        results = []
        for one in sets:
            fit = fit_mmrm(
                one, formula, subject=subject, visit=visit, covariance=covariance, group=group,
                levels=levels,
            )  # fmt: skip
            results.append(fit.arm_differences(arm, experimental, control, df=df, alpha=alpha))
    rows = []
    for label in results[0]["visit"]:
        per = pd.concat([r[r["visit"] == label] for r in results])
        if isinstance(dfcom, Mapping):
            complete_df = float(dfcom[label])
        else:
            complete_df = float(per["df"].iloc[0]) if dfcom is None else float(dfcom)
        pooled = rubin(per["estimate"], per["se"] ** 2, complete_df, alpha).as_dict()
        pooled["total_variance"] = pooled.pop("t")
        pooled["t"] = pooled.pop("statistic")
        rows.append({"visit": label, **pooled})
    return pd.DataFrame(rows)[POOLED_COLUMNS]


def _batched(
    sets: list[pd.DataFrame],
    formula: str,
    subject: str,
    visit: str,
    arm: str,
    experimental: str,
    control: str,
    levels: Mapping[str, Sequence[str]] | None,
    covariance: str,
    df: DfMethod,
    alpha: float,
) -> list[pd.DataFrame] | None:
    """Every completed set in one :func:`fit_batch` call when they share their design rows
    (they do when imputation fills one participant × visit grid): the same numbers as one fit
    per set, much faster. None when the designs differ."""
    outcome = formula.split("~", 1)[0].strip()
    design = sets[0].drop(columns=[IMPUTATION, outcome]).reset_index(drop=True)
    for one in sets[1:]:
        if not one.drop(columns=[IMPUTATION, outcome]).reset_index(drop=True).equals(design):
            return None
    responses = np.vstack([one[outcome].to_numpy(float) for one in sets])
    if not np.all(np.isfinite(responses)):
        return None
    chosen = (levels or {}).get(visit) or sorted(design[visit].astype(str).unique())
    labels = [str(v) for v in chosen] + (["average"] if len(chosen) > 1 else [])
    table = fit_batch(
        sets[0].drop(columns=[IMPUTATION]).reset_index(drop=True), responses, formula,
        subject=subject, visit=visit, covariance=covariance, levels=levels, arm=arm,
        experimental=experimental, control=control, at=labels, df=df, alpha=alpha,
    )  # fmt: skip
    if not table["converged"].all():
        return None
    return [part.drop(columns=["trial", "converged"]) for _, part in table.groupby("trial")]


def check_m(m: int) -> None:
    """Rubin's rules need a between-imputation variance, so at least two imputations."""
    if not isinstance(m, int | np.integer) or m < 2:
        raise ModelError(f"multiple imputation needs m >= 2 imputations; got m = {m!r}")
