"""Multiple imputation (MI) of missing follow-up visits: MAR by arm, and delta-adjusted MNAR.

Why: the primary MMRM is valid when data are missing at random (MAR); regulators ask for
sensitivity analyses that impute the missing visits and then depart from MAR (EMA 2010,
*Guideline on missing data in confirmatory clinical trials*; NRC 2010). The analysis of each
completed data set is the protocol's MMRM (:func:`physiotrial.analysis.mmrm.fit_mmrm`); the m
results are pooled by Rubin's rules (:mod:`physiotrial.analysis.pooling`).

Imputation model (Carpenter & Kenward 2013, *Multiple Imputation and its Application*, ch. 3,
joint multivariate-normal imputation of a longitudinal outcome): separately in each arm, an MMRM
``y ~ covariates + visit`` with unstructured covariance is fitted by REML to that arm's observed
rows, so every arm keeps its own means and covariance (the MAR imputation model is then at least
as rich as the analysis model's arm × visit). For each imputation:

- beta* ~ N(beta_hat, Var(beta_hat)), the model-based covariance of the fixed effects;
- Sigma* ~ inverse-Wishart(nu, (nu - t - 1) Sigma_hat), centred on the REML estimate
  (E Sigma* = Sigma_hat) with nu = the number of the arm's participants who have at least one
  observed visit (those who inform Sigma_hat). This is the large-sample form of the posterior
  draw in C&K's MCMC sampler, used in place of rbmi's MCMC (``method_bayes``) or its bootstrap
  (``method_approxbayes``; Gower-Page, Noci & Wolbers 2022, JOSS 7:4251); beta* and Sigma* are
  drawn independently. nu = n over-states the information a little when many visits are
  missing, and needs nu > t + 1;
- each participant's missing visits ~ the conditional normal given the observed ones, mean
  mu_M + S_MO S_OO^-1 (y_O - mu_O) and covariance S_MM - S_MO S_OO^-1 S_OM with mu = X beta*;
  a participant with no observed follow-up is drawn from N(X beta*, Sigma*) (baseline
  covariates alone).

Delta adjustment (MNAR tipping point; Ratitch, O'Kelly & Tosiello 2013, Pharm Stat 12:337):
after MAR imputation, delta is added to the imputed values of the chosen arm at every visit
after the participant's last observed visit (intermittent gaps stay MAR); the same imputations
serve every delta. The analysis and pooling of completed sets is checked against R (nlme::gls +
emmeans + mice::pool.scalar) in tests/oracle/imputation.R.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from physiotrial.analysis.mmrm import fit_mmrm
from physiotrial.analysis.mmrm.fit import DfMethod
from physiotrial.analysis.pooling import IMPUTATION, check_m, pool_completed
from physiotrial.errors import ModelError

IMPUTED = "imputed"


@dataclass(frozen=True)
class MiResult:
    """Pooled arm differences and the completed data sets they came from."""

    pooled: pd.DataFrame
    completed: pd.DataFrame


@dataclass(frozen=True)
class TippingPoint:
    """Pooled primary contrast per delta, and the delta at which significance is lost.

    ``tipping_point`` is NaN when no delta of the grid in the weakening ``direction`` (+1 or -1)
    reaches p >= alpha; it is 0 when the MAR result (delta 0) is itself not significant.
    """

    table: pd.DataFrame
    tipping_point: float
    direction: float
    shifted_arm: str
    visit: str


def draw_inverse_wishart(df: float, scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from the inverse-Wishart(df, scale), mean scale / (df - p - 1).

    Bartlett's (1933) decomposition of W ~ Wishart(df, scale^-1) (Odell & Feiveson 1966):
    W = L A Aᵀ Lᵀ with L = chol(scale^-1), A lower triangular, A_ii = sqrt(chi²(df - i)),
    A_ij ~ N(0, 1) below the diagonal; the draw is W^-1. Written out so that a seed gives the
    same draws whatever the scipy version.
    """
    p = scale.shape[0]
    if not df > p - 1:
        raise ModelError(f"an inverse-Wishart draw needs df > {p - 1}; got df = {df}")
    lower = np.linalg.cholesky(np.linalg.inv(scale))
    bartlett = np.zeros((p, p))
    bartlett[np.diag_indices(p)] = np.sqrt(rng.chisquare(df - np.arange(p)))
    below = np.tril_indices(p, -1)
    bartlett[below] = rng.standard_normal(len(below[0]))
    factor = lower @ bartlett
    draw = np.linalg.inv(factor @ factor.T)
    return np.asarray((draw + draw.T) / 2)


def conditional_normal(sigma: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, C) with y_M | y_O ~ N(mu_M + A (y_O - mu_O), C) for y ~ N(mu, sigma).

    A = S_MO S_OO^-1, C = S_MM - S_MO S_OO^-1 S_OM (the partitioned normal; Carpenter & Kenward
    2013, ch. 3);
    with nothing observed A has no columns and C = S_MM.
    """
    mask = np.asarray(observed, dtype=bool)
    s_mm = sigma[np.ix_(~mask, ~mask)]
    if not mask.any():
        return np.zeros((int((~mask).sum()), 0)), s_mm
    s_mo = sigma[np.ix_(~mask, mask)]
    regression = np.linalg.solve(sigma[np.ix_(mask, mask)], s_mo.T).T
    return regression, s_mm - regression @ s_mo.T


def impute_mar(
    data: pd.DataFrame,
    *,
    m: int,
    seed: int,
    outcome: str = "y",
    subject: str = "id",
    visit: str = "visit",
    arm: str = "arm",
    covariates: Sequence[str] = ("baseline",),
    levels: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """m completed copies of long ``data`` imputed under MAR by arm, stacked.

    ``data`` has one row per participant and visit; a missing visit is a row with ``outcome``
    empty or no row at all (its participant-level columns are copied from the participant's other
    rows). ``covariates`` are formula terms of the imputation model besides ``visit`` (e.g.
    ``"baseline"``, ``"site"``, ``"baseline:visit"``). Visits are ordered by ``levels[visit]``,
    else sorted. Returns every participant × visit × imputation with columns ``imputation``
    (1..m) and ``imputed`` (True where ``outcome`` was drawn), sorted by imputation, participant
    and visit. The draws come from ``numpy.random.default_rng(seed)`` in a fixed order.
    """
    check_m(m)
    frame, visits = _complete_grid(data, outcome, subject, visit, arm, covariates, levels)
    formula = f"{outcome} ~ {' + '.join([*covariates, visit])}"
    used = _words(formula)
    chosen = {k: v for k, v in {**(levels or {}), visit: visits}.items() if k in used}
    t = len(visits)
    models = []
    for name in pd.unique(frame[arm]):
        rows = frame[frame[arm] == name]
        fit = fit_mmrm(
            rows[rows[outcome].notna()], formula, subject=subject, visit=visit,
            covariance="us", levels=chosen,
        )  # fmt: skip
        nu = float(fit.n_participants)
        if not nu > t + 1:
            raise ModelError(
                f"{arm} {name!r} has {fit.n_participants} participant(s) with an observed "
                f"{outcome}; imputing {t} visits needs more than {t + 1}"
            )
        x = fit.design.encode(rows)
        y = rows[outcome].to_numpy(dtype=float).reshape(-1, t)
        models.append((rows.index.to_numpy(), x, y, fit, nu))
    rng = np.random.default_rng(seed)
    completed = []
    for number in range(1, m + 1):
        values = frame[outcome].to_numpy(dtype=float).copy()
        for index, x, y, fit, nu in models:
            noise = rng.standard_normal(len(fit.coefficients))
            beta = fit.coefficients.to_numpy() + np.linalg.cholesky(fit.vcov) @ noise
            sigma = draw_inverse_wishart(nu, (nu - t - 1) * fit.sigma(), rng)
            filled = _draw_missing(y, (x @ beta).reshape(-1, t), sigma, rng)
            values[index] = filled.ravel()
        done = frame.copy()
        done[outcome] = values
        done[IMPUTATION] = number
        completed.append(done)
    out = pd.concat(completed, ignore_index=True)
    out[IMPUTED] = np.tile(frame[outcome].isna().to_numpy(), m)
    return out[[IMPUTATION, *frame.columns, IMPUTED]]


def shift_imputed(
    completed: pd.DataFrame,
    delta: float,
    *,
    arms: Iterable[str],
    outcome: str = "y",
    subject: str = "id",
    visit: str = "visit",
    arm: str = "arm",
    visits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``completed`` with ``delta`` added to imputed values after dropout in ``arms``.

    After dropout = imputed and later (in ``visits`` order, else sorted) than the participant's
    last observed visit within the imputation; earlier imputed gaps are left as imputed (MAR).
    """
    for column in (IMPUTATION, IMPUTED, outcome, subject, visit, arm):
        if column not in completed.columns:
            raise ModelError(f"column {column!r} is not in the completed data")
    order = list(visits) if visits is not None else sorted(completed[visit].astype(str).unique())
    position = completed[visit].astype(str).map({v: i for i, v in enumerate(order)})
    if position.isna().any():
        raise ModelError(f"{visit}: a value of the completed data is not one of {order}")
    observed_at = position.where(~completed[IMPUTED].astype(bool), -1)
    last = observed_at.groupby([completed[IMPUTATION], completed[subject]]).transform("max")
    wanted = set(arms)
    shift = completed[IMPUTED].astype(bool) & (position > last) & completed[arm].isin(wanted)
    out = completed.copy()
    out.loc[shift, outcome] = out.loc[shift, outcome] + delta
    return out


def mi_analysis(
    data: pd.DataFrame,
    formula: str,
    *,
    m: int,
    seed: int,
    subject: str = "id",
    visit: str = "visit",
    arm: str = "arm",
    experimental: str = "DN",
    control: str = "SHAM",
    covariates: Sequence[str] = ("baseline",),
    levels: Mapping[str, Sequence[str]] | None = None,
    covariance: str = "us",
    group: str | None = None,
    df: DfMethod = "kenward_roger",
    alpha: float = 0.05,
) -> MiResult:
    """MAR multiple imputation (:func:`impute_mar`) + MMRM per completed set + Rubin's rules."""
    outcome = _response(formula)
    _check_arms(data, arm, (experimental, control))
    completed = impute_mar(
        data, m=m, seed=seed, outcome=outcome, subject=subject, visit=visit, arm=arm,
        covariates=covariates, levels=levels,
    )  # fmt: skip
    pooled = pool_completed(
        completed, formula, subject=subject, visit=visit, arm=arm, experimental=experimental,
        control=control, levels=levels, covariance=covariance, group=group, df=df, alpha=alpha,
    )  # fmt: skip
    return MiResult(pooled=pooled, completed=completed)


def tipping_point(
    data: pd.DataFrame,
    formula: str,
    deltas: Sequence[float],
    *,
    m: int,
    seed: int,
    subject: str = "id",
    visit: str = "visit",
    arm: str = "arm",
    experimental: str = "DN",
    control: str = "SHAM",
    shift: str = "experimental",
    primary_visit: str | None = None,
    covariates: Sequence[str] = ("baseline",),
    levels: Mapping[str, Sequence[str]] | None = None,
    covariance: str = "us",
    group: str | None = None,
    df: DfMethod = "kenward_roger",
    alpha: float = 0.05,
) -> TippingPoint:
    """Delta-adjusted MI over a grid of deltas (0 is always added): the pooled primary contrast
    (``primary_visit``, default the last visit) per delta, and the tipping point.

    ``shift`` is ``"experimental"`` or ``"control"``: whose imputed values move. The weakening
    direction is the sign opposite to the MAR estimate when the experimental arm is shifted (the
    same sign for the control arm). The tipping point is the first grid delta in that direction
    with p >= alpha, refined by linear interpolation, between it and the grid point before it, of
    the confidence limit nearest zero: that limit is 0 exactly where p = alpha, and it is nearly
    linear in delta (the estimate moves by a fixed share of delta, the SE hardly changes), which p
    is not. Its accuracy is that of the grid; refine the grid around it to confirm.
    """
    if shift not in ("experimental", "control"):
        raise ModelError(f"shift {shift!r} is not known; use 'experimental' or 'control'")
    outcome = _response(formula)
    _check_arms(data, arm, (experimental, control))
    grid = sorted({0.0, *(float(d) for d in deltas)})
    if not all(math.isfinite(d) for d in grid):
        raise ModelError(f"deltas must be finite numbers; got {list(deltas)}")
    completed = impute_mar(
        data, m=m, seed=seed, outcome=outcome, subject=subject, visit=visit, arm=arm,
        covariates=covariates, levels=levels,
    )  # fmt: skip
    visits = [str(v) for v in pd.unique(completed[visit])]  # participant-major, in visit order
    target = primary_visit if primary_visit is not None else visits[-1]
    moved = experimental if shift == "experimental" else control
    rows = []
    for delta in grid:
        shifted = shift_imputed(
            completed, delta, arms=(moved,), outcome=outcome, subject=subject, visit=visit,
            arm=arm, visits=visits,
        )  # fmt: skip
        pooled = pool_completed(
            shifted, formula, subject=subject, visit=visit, arm=arm, experimental=experimental,
            control=control, levels=levels, covariance=covariance, group=group, df=df, alpha=alpha,
        )  # fmt: skip
        at = pooled[pooled["visit"] == target]
        if at.empty:
            raise ModelError(f"primary visit {target!r} is not one of {list(pooled['visit'])}")
        rows.append({"delta": delta, **at.drop(columns="visit").iloc[0].to_dict()})
    table = pd.DataFrame(rows)
    reference = float(table.loc[table["delta"] == 0.0, "estimate"].iloc[0])
    sign = math.copysign(1.0, reference)
    direction = -sign if shift == "experimental" else sign
    point = tipping_delta(table, direction, alpha)
    return TippingPoint(table, point, direction, moved, target)


def tipping_delta(table: pd.DataFrame, direction: float, alpha: float) -> float:
    """The tipping point of a table of delta, estimate, p, ci_low, ci_high (see
    :func:`tipping_point`): walking from 0 in ``direction``, where the CI limit nearest zero
    reaches 0, by linear interpolation between the last p < alpha and the first p >= alpha."""
    way = table[table["delta"] * direction >= 0].sort_values("delta", key=abs)
    before = None
    for _, row in way.iterrows():
        if row["p"] >= alpha:
            if before is None:
                return float(row["delta"])
            limit = "ci_high" if before["estimate"] < 0 else "ci_low"
            a, b = float(before[limit]), float(row[limit])
            share = a / (a - b) if a != b else 1.0
            return float(before["delta"] + share * (row["delta"] - before["delta"]))
        before = row
    return math.nan


def _draw_missing(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """y with its NaNs drawn from the conditional normal, one missingness pattern at a time."""
    out = y.copy()
    masks = ~np.isnan(y)
    for pattern in np.unique(masks, axis=0):
        if pattern.all():
            continue
        who = np.flatnonzero((masks == pattern).all(axis=1))
        regression, cov = conditional_normal(sigma, pattern)
        mean = (
            mu[np.ix_(who, ~pattern)]
            + (y[np.ix_(who, pattern)] - mu[np.ix_(who, pattern)]) @ regression.T
        )
        noise = rng.standard_normal((who.size, int((~pattern).sum())))
        out[np.ix_(who, ~pattern)] = mean + noise @ np.linalg.cholesky(cov).T
    return out


def _complete_grid(
    data: pd.DataFrame,
    outcome: str,
    subject: str,
    visit: str,
    arm: str,
    covariates: Sequence[str],
    levels: Mapping[str, Sequence[str]] | None,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Every participant × visit, sorted; an absent row takes the columns that are constant
    within its participant (arm, baseline, site) or else within its visit (visit times)."""
    for column in (outcome, subject, visit, arm):
        if column not in data.columns:
            raise ModelError(
                f"column {column!r} is not in the data; columns are {', '.join(map(str, data))}"
            )
    work = data.copy()
    work[visit] = work[visit].astype(str)
    seen = sorted(work[visit].unique())
    visits = tuple(str(v) for v in (levels or {}).get(visit, seen))
    unknown = sorted(set(seen) - set(visits))
    if unknown:
        raise ModelError(f"{visit}: value {unknown[0]!r} is not one of {', '.join(visits)}")
    doubled = work.duplicated([subject, visit])
    if doubled.any():
        row = work[doubled].iloc[0]
        raise ModelError(f"participant {row[subject]!r} has more than one row at {row[visit]!r}")
    arms = work.groupby(subject)[arm].nunique(dropna=False)
    if (arms > 1).any():
        raise ModelError(f"participant {arms[arms > 1].index[0]!r} is in more than one {arm}")
    people = pd.unique(work[subject])
    grid = pd.MultiIndex.from_product([people, visits], names=[subject, visit]).to_frame(False)
    frame = grid.merge(work, on=[subject, visit], how="left")
    for column in work.columns.drop([subject, visit, outcome]):
        for key in (subject, visit):  # participant-level (baseline), else visit-level (times)
            by = work.groupby(key, sort=False)[column]
            if bool((by.nunique(dropna=False) <= 1).all()):
                frame[column] = frame[column].fillna(frame[key].map(by.first()))
                break
    words = _words(" ".join([arm, *covariates]))
    for column in (c for c in work.columns if c in words):
        missing = frame[column].isna()
        if missing.any():
            who = frame.loc[missing, subject].iloc[0]
            raise ModelError(
                f"column {column!r} is missing for participant {who!r} (or varies within "
                f"participants and a visit has no row); imputation needs it at every visit"
            )
    return frame, visits


def _check_arms(data: pd.DataFrame, arm: str, wanted: Sequence[str]) -> None:
    if arm not in data.columns:
        raise ModelError(f"column {arm!r} is not in the data")
    present = sorted(data[arm].dropna().astype(str).unique())
    for name in wanted:
        if name not in present:
            raise ModelError(f"{arm} {name!r} is not in the data; arms are {', '.join(present)}")


def _response(formula: str) -> str:
    left, _, right = formula.partition("~")
    if not right or not re.fullmatch(r"\s*[A-Za-z_.][A-Za-z0-9_.]*\s*", left):
        raise ModelError(f"formula {formula!r} needs one outcome column on the left: 'y ~ terms'")
    return left.strip()


def _words(text: str) -> set[str]:
    """The names in a formula (as fit_mmrm picks the columns a formula uses)."""
    return set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", text))
