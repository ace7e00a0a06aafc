"""Inference from a fitted MMRM: contrasts, least-squares means and their degrees of freedom.

Degrees of freedom for a contrast L β̂ (one row):

- ``satterthwaite``: ν = 2v² / (gᵀ Cov(θ̂) g) with v = LΦLᵀ, gⱼ = ∂v/∂θⱼ = LΦBⱼΦLᵀ and Cov(θ̂) the
  inverse observed information (Satterthwaite 1946; Giesbrecht & Burns 1985; as lmerTest and
  the R ``mmrm`` package compute it). The SE is the model-based √v.
- ``kenward_roger``: the SE from the adjusted covariance Φ_A = Φ + 2Λ, Λ = Φ{Σⱼₗ Wⱼₗ(Qⱼₗ −
  PⱼΦPₗ − ¼Rⱼₗ)}Φ with W the inverse expected information (Kenward & Roger 1997, eqs. 2–5),
  and the df of their F-approximation with r = 1, where the scale factor λ is exactly 1 and
  ν = 2/A₁ = 2(LΦLᵀ)² / (gᵀWg). Θ in A₁ is built from the unadjusted Φ, as pbkrtest's
  ``Lb_ddf`` does (R's emmeans with mode "kenward-roger"); building it from Φ_A instead gives
  df up to a few per cent higher at small n.
- ``residual``: N − k; ``between_within``: SAS DDFM=BETWITHIN — participants − between-participant
  columns for contrasts of effects constant within a participant, N − participants − within
  columns otherwise.

Least-squares means follow emmeans' default reference grid (Lenth 2016): every factor of the
model at each level, numeric covariates at their mean over the rows fitted, and the factors not
asked for averaged with equal weights.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from physiotrial.analysis.formula import Design
from physiotrial.analysis.mmrm.covariance import Array
from physiotrial.analysis.mmrm.estimation import Estimate, Model
from physiotrial.analysis.mmrm.likelihood import information, kenward_roger_middle, sandwich
from physiotrial.errors import ModelError

if TYPE_CHECKING:
    from physiotrial.analysis.mmrm.fit import DfMethod, MmrmFit

DF_METHODS = ("kenward_roger", "satterthwaite", "residual", "between_within")


class Terms:
    """The matrices the df methods need for a batch of fits of one design, computed once."""

    def __init__(self, model: Model, estimate: Estimate) -> None:
        self.model = model
        self.estimate = estimate
        self.jac = model.jacobians(estimate.theta)
        self.phi = estimate.state.a_inv
        self.b = sandwich(model.data, estimate.state, self.jac)
        self.observed = 2.0 * np.linalg.inv(estimate.hessian)
        self._kr: tuple[Array, Array] | None = None

    def kenward_roger(self) -> tuple[Array, Array]:
        """(Φ_A, W) per trial: the adjusted covariance and the inverse expected information."""
        if self._kr is None:
            model, estimate = self.model, self.estimate
            state = estimate.state
            expected = np.asarray(
                2.0 * np.linalg.inv(information(model.data, state, self.jac, model.reml)),
                dtype=float,
            )
            middle = kenward_roger_middle(
                model.data, state, self.jac, model.seconds(estimate.theta), expected
            )
            phi = self.phi
            self._kr = (np.asarray(phi + 2.0 * phi @ middle @ phi, dtype=float), expected)
        assert self._kr is not None
        return self._kr


@dataclass(frozen=True)
class Counts:
    """What the simple df methods need: observations, participants, within-participant columns."""

    n_obs: int
    n_participants: int
    within: tuple[bool, ...]


def estimate_rows(
    terms: Terms, beta: Array, counts: Counts, rows: Array, df: DfMethod
) -> tuple[Array, Array, Array]:
    """(estimate, se, df) of each contrast row (r, k) · β for every trial: (B, r) each."""
    if df not in DF_METHODS:
        raise ModelError(f"df {df!r} is not known; use one of {', '.join(DF_METHODS)}")
    value = beta @ rows.T
    phi_rows = terms.phi @ rows.T  # (B, k, r)
    variance = np.einsum("bkr,rk->br", phi_rows, rows)
    if df in ("residual", "between_within"):
        nu = np.array([_simple_df(counts, row, df) for row in rows])
        return value, np.sqrt(variance), np.broadcast_to(nu, value.shape)
    grad = np.einsum("bjur,bur->brj", terms.b @ phi_rows[:, None], phi_rows)
    if df == "satterthwaite":
        nu = 2.0 * variance**2 / np.einsum("brj,bjl,brl->br", grad, terms.observed, grad)
        return value, np.sqrt(variance), nu
    adjusted, expected = terms.kenward_roger()
    adjusted_variance = np.einsum("rk,bkl,rl->br", rows, adjusted, rows)
    nu = 2.0 * variance**2 / np.einsum("brj,bjl,brl->br", grad, expected, grad)
    return value, np.sqrt(adjusted_variance), nu


def terms_of(fit: MmrmFit) -> Terms:
    """The fit's :class:`Terms`, computed on first use and kept on the fit."""
    cached = fit.__dict__.get("_inference_terms")
    if not isinstance(cached, Terms):
        cached = Terms(fit.model, fit.estimate)
        fit.__dict__["_inference_terms"] = cached
    return cached


def estimate_table(fit: MmrmFit, rows: Array, df: DfMethod, alpha: float) -> pd.DataFrame:
    """Estimate, se, df, t, p, ci_low, ci_high of each contrast row (r, k) of one fit."""
    counts = Counts(fit.n_obs, fit.n_participants, fit.within)
    beta = fit.coefficients.to_numpy()[None]
    value, se, nu = estimate_rows(terms_of(fit), beta, counts, np.atleast_2d(rows), df)
    return summarise(value[0], se[0], nu[0], alpha)


def summarise(value: Array, se: Array, nu: Array, alpha: float) -> pd.DataFrame:
    """t, two-sided p and the (1 − alpha) CI from estimates, SEs and df (arrays of one shape)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t_value = np.where(se > 0, value / se, np.nan)
    # Student t tail and quantile straight from scipy.special (what scipy.stats.t calls, without
    # its per-call argument handling, which costs more than the arithmetic here)
    p = 2.0 * special.stdtr(nu, -np.abs(t_value))
    half = special.stdtrit(nu, 1.0 - alpha / 2.0) * se
    return pd.DataFrame(
        {
            "estimate": value,
            "se": se,
            "df": nu,
            "t": t_value,
            "p": p,
            "ci_low": value - half,
            "ci_high": value + half,
        }
    )


def _simple_df(counts: Counts, row: Array, df: str) -> float:
    k = len(counts.within)
    if df == "residual":
        return float(counts.n_obs - k)
    within = np.array(counts.within, dtype=bool)
    if np.any(np.abs(row[within]) > 0):
        return float(counts.n_obs - counts.n_participants - int(within.sum()))
    return float(counts.n_participants - int((~within).sum()))


def contrast(
    fit: MmrmFit, weights: Mapping[str, float] | Array, df: DfMethod, alpha: float = 0.05
) -> pd.Series:
    """Estimate, SE, df, t, p and CI of Σ wⱼβⱼ (weights by coefficient name or a vector)."""
    names = list(fit.coefficients.index)
    if isinstance(weights, Mapping):
        unknown = [n for n in weights if n not in names]
        if unknown:
            raise ModelError(
                f"coefficient {unknown[0]!r} is not in the model; coefficients are "
                f"{', '.join(names)}"
            )
        row = np.array([float(weights.get(n, 0.0)) for n in names])
    else:
        row = np.asarray(weights, dtype=float)
        if row.shape != (len(names),):
            raise ModelError(f"a contrast needs {len(names)} weights, got {row.size}")
    return estimate_table(fit, row, df, alpha).iloc[0]


def grid_rows(design: Design, frame: pd.DataFrame, by: Sequence[str]) -> tuple[pd.DataFrame, Array]:
    """emmeans' reference grid collapsed over the factors not in ``by``: (levels, L rows).

    ``frame`` holds the rows fitted (numeric covariates are set at their mean over them).
    """
    rows = grid_matrix(design, frame, by)
    levels = design.levels
    order = list(itertools.product(*(levels[b] for b in by)))
    return pd.DataFrame(order, columns=list(by)), rows


def grid_matrix(design: Design, frame: pd.DataFrame, by: Sequence[str]) -> Array:
    """The L rows of :func:`grid_rows`, one per combination of ``by`` (last factor fastest)."""
    levels = dict(design.levels)
    missing = [b for b in by if b not in levels]
    if missing:
        raise ModelError(
            f"{missing[0]!r} is not a factor of the model; factors are "
            f"{', '.join(levels) or 'none'}"
        )
    variables = {v for term in design.terms for v in term.split(":")}
    numeric = sorted(v for v in variables if v not in levels)
    factors = list(levels)
    codes = np.array(list(itertools.product(*(range(len(levels[f])) for f in factors))))
    columns: dict[str, Any] = {
        f: np.asarray(levels[f], dtype=object)[codes[:, i]] for i, f in enumerate(factors)
    }
    for name in numeric:
        columns[name] = np.full(len(codes), frame[name].to_numpy(dtype=float).mean())
    encoded = design.encode(pd.DataFrame(columns))
    positions = [factors.index(b) for b in by]
    sizes = [len(levels[b]) for b in by]
    cell = np.ravel_multi_index(tuple(codes[:, i] for i in positions), sizes)
    total = np.zeros((int(np.prod(sizes)), encoded.shape[1]))
    np.add.at(total, cell, encoded)
    return np.asarray(total / np.bincount(cell, minlength=total.shape[0])[:, None])


def lsmeans(fit: MmrmFit, by: Sequence[str], df: DfMethod, alpha: float = 0.05) -> pd.DataFrame:
    """Least-squares means for every combination of the factors ``by`` (emmeans' default)."""
    labels, rows = grid_rows(fit.design, fit.frame, by)
    return pd.concat([labels, estimate_table(fit, rows, df, alpha)], axis=1)


def arm_differences(
    fit: MmrmFit, arm: str, experimental: str, control: str, df: DfMethod, alpha: float = 0.05
) -> pd.DataFrame:
    """Experimental − control at each visit and averaged over visits (equal weights)."""
    rows, visits = difference_rows(fit.design, fit.frame, fit.visit, arm, experimental, control)
    table = estimate_table(fit, rows, df, alpha)
    table.insert(0, "visit", visits)
    return table


def difference_rows(
    design: Design, frame: pd.DataFrame, visit: str, arm: str, experimental: str, control: str
) -> tuple[Array, list[str]]:
    """Contrast rows experimental − control per visit, plus their average when several."""
    levels = design.levels
    if arm not in levels:
        raise ModelError(f"{arm!r} is not a factor of the model; add it to the formula")
    for name in (experimental, control):
        if name not in levels[arm]:
            raise ModelError(f"{arm} {name!r} is not one of {', '.join(levels[arm])}")
    by = [arm, visit] if visit in levels else [arm]
    rows = grid_matrix(design, frame, by)
    arms = list(levels[arm])
    n_visits = len(levels[visit]) if visit in levels else 1
    grid = rows.reshape(len(arms), n_visits, -1)
    differences = grid[arms.index(experimental)] - grid[arms.index(control)]
    visits = list(levels[visit]) if visit in levels else ["all"]
    if n_visits > 1:
        differences = np.vstack([differences, differences.mean(axis=0)])
        visits.append("average")
    return differences, visits
