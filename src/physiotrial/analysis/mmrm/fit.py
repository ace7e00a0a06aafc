"""``fit_mmrm``: a long data frame and a formula in, a fitted model for repeated measures out.

The model is the one trial statisticians fit with SAS PROC MIXED (REPEATED / TYPE=UN), R
``nlme::gls(correlation = corSymm, weights = varIdent)`` or the ``mmrm`` package: fixed effects from
an R formula, errors correlated across the visits of one participant with a chosen structure,
optionally one covariance per group (e.g. per arm), by REML (default) or ML. Missing visits are
simply absent rows (ignorable under missing at random; Mallinckrodt et al. 2008). Rows with a
missing value in any variable of the model are left out and counted in ``dropped_rows``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from physiotrial.analysis.formula import Design, design, variables
from physiotrial.analysis.mmrm.covariance import Array, Structure, structure
from physiotrial.analysis.mmrm.estimation import Diagnostics, Estimate, Model, fit
from physiotrial.analysis.mmrm.likelihood import Patterns, patterns
from physiotrial.errors import ModelError

Method = Literal["REML", "ML"]
DfMethod = Literal["kenward_roger", "satterthwaite", "residual", "between_within"]


@dataclass
class MmrmFit:
    """A fitted MMRM. Inference (least-squares means, contrasts, df) is in :mod:`inference`."""

    design: Design
    coefficients: pd.Series
    vcov: Array
    theta: pd.Series
    covariance: str
    groups: tuple[str, ...]
    visits: tuple[str, ...]
    method: Method
    loglik: float
    n_participants: int
    n_obs: int
    dropped_rows: int
    diagnostics: Diagnostics
    frame: pd.DataFrame = field(repr=False)
    model: Model = field(repr=False)
    estimate: Estimate = field(repr=False)
    subject: str = "id"
    visit: str = "visit"
    within: tuple[bool, ...] = ()

    def sigma(self, group: str | None = None) -> Array:
        """The fitted t × t covariance over :attr:`visits` (of ``group`` when grouped)."""
        index = 0 if group is None else self._group_index(group)
        return np.asarray(self.model.sigmas(self.estimate.theta)[0, index], dtype=float)

    def _group_index(self, group: str) -> int:
        if group not in self.groups:
            raise ModelError(f"group {group!r} is not one of {', '.join(self.groups)}")
        return self.groups.index(group)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov)), index=self.coefficients.index)

    # Inference lives in inference.py; these delegate so a caller needs only the fit.
    def lsmeans(self, by: Sequence[str], df: DfMethod = "kenward_roger") -> pd.DataFrame:
        from physiotrial.analysis.mmrm.inference import lsmeans

        return lsmeans(self, by, df)

    def arm_differences(
        self,
        arm: str = "arm",
        experimental: str = "DN",
        control: str = "SHAM",
        df: DfMethod = "kenward_roger",
        alpha: float = 0.05,
    ) -> pd.DataFrame:
        from physiotrial.analysis.mmrm.inference import arm_differences

        return arm_differences(self, arm, experimental, control, df, alpha)

    def contrast(
        self,
        weights: Mapping[str, float] | Array,
        df: DfMethod = "kenward_roger",
        alpha: float = 0.05,
    ) -> pd.Series:
        from physiotrial.analysis.mmrm.inference import contrast

        return contrast(self, weights, df, alpha)


def fit_mmrm(
    data: pd.DataFrame,
    formula: str,
    *,
    subject: str = "id",
    visit: str = "visit",
    covariance: str = "us",
    group: str | None = None,
    method: Method = "REML",
    levels: Mapping[str, Sequence[str]] | None = None,
    times: Sequence[float] | None = None,
) -> MmrmFit:
    """Fit ``formula`` to long ``data`` (one row per participant and observed visit).

    ``visit`` names the column whose levels index the covariance (its order: ``levels[visit]``, else
    sorted); ``group`` a column with one covariance per level (e.g. the arm); ``times`` the visit
    times of the random-slope structure ``rs`` (default 1..t).
    """
    if method not in ("REML", "ML"):
        raise ModelError(f"method {method!r} is not known; use REML or ML")
    prepared = prepare(data, formula, subject, visit, group, levels)
    t = len(prepared.visits)
    data_patterns = patterns(
        prepared.x,
        prepared.y,
        prepared.person,
        prepared.visit_index,
        prepared.group_index,
        t,
        len(prepared.groups),
    )
    structures = [
        structure(covariance, t, tuple(times) if times is not None else None)
        for _ in prepared.groups
    ]
    _check_estimable(
        data_patterns, structures, prepared.visits, prepared.groups, prepared.x.shape[1]
    )
    model = Model(data_patterns, structures, method == "REML")
    estimate = fit(model, start(data_patterns, structures))
    diagnostics = estimate.diagnostics[0]
    if not diagnostics.converged:
        raise ModelError(
            f"the {covariance} covariance could not be estimated from these data "
            f"({diagnostics.message}; gradient norm {diagnostics.gradient_norm:.3g}); try a "
            "structure with fewer parameters (e.g. cs, ar1 or toep) or check visits with few "
            "participants"
        )
    names = [
        f"{g}|{n}" if group else n
        for g, s in zip(prepared.groups, structures, strict=True)
        for n in s.names(prepared.visits)
    ]
    state = estimate.state
    return MmrmFit(
        design=prepared.design,
        coefficients=pd.Series(state.beta[0], index=list(prepared.design.columns)),
        vcov=state.a_inv[0],
        theta=pd.Series(estimate.theta[0], index=names),
        covariance=covariance,
        groups=prepared.groups,
        visits=prepared.visits,
        method=method,
        loglik=-0.5 * float(state.objective[0]),
        n_participants=prepared.n_participants,
        n_obs=len(prepared.frame),
        dropped_rows=prepared.dropped,
        diagnostics=diagnostics,
        frame=prepared.frame,
        model=model,
        estimate=estimate,
        subject=subject,
        visit=visit,
        within=prepared.within,
    )


@dataclass(frozen=True)
class Prepared:
    """The rows of a model and their codes: what a fit, or a batch of fits, is built from."""

    frame: pd.DataFrame
    design: Design
    x: Array
    y: Array
    person: np.ndarray
    visit_index: np.ndarray
    group_index: np.ndarray
    visits: tuple[str, ...]
    groups: tuple[str, ...]
    n_participants: int
    dropped: int
    within: tuple[bool, ...]


def prepare(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    visit: str,
    group: str | None,
    levels: Mapping[str, Sequence[str]] | None,
) -> Prepared:
    """Check and code the rows: complete cases, one row per participant and visit, full rank."""
    chosen = dict(levels or {})
    frame, dropped = _rows(data, formula, subject, visit, group)
    raw = frame[visit].to_numpy()
    text = raw.astype(str)
    if not np.array_equal(raw, text):  # e.g. numeric visit codes: the formula sees text levels
        frame[visit] = text
    seen, codes = np.unique(text, return_inverse=True)
    visits = tuple(str(v) for v in chosen.get(visit, seen))
    chosen.setdefault(visit, visits)
    unknown = sorted(set(seen) - set(visits))
    if unknown:
        raise ModelError(f"{visit}: value {unknown[0]!r} is not one of {', '.join(visits)}")
    visit_codes = np.array([visits.index(v) for v in seen], dtype=np.int64)[codes]
    built, x, y = design(formula, frame, {k: v for k, v in chosen.items() if k in frame.columns})
    if y is None:
        raise ModelError(f"formula {formula!r} has no response; write it as 'y ~ terms'")
    _check_rank(x, built.columns)
    person_codes, people = pd.factorize(frame[subject], sort=False)
    person = person_codes.astype(np.int64)
    _check_one_row_each(frame, subject, visit, person, visit_codes, len(visits))
    groups, group_codes = _groups(frame, subject, group, chosen)
    within = _varies_within(x, person)
    return Prepared(
        frame,
        built,
        x,
        y,
        person,
        visit_codes,
        group_codes,
        visits,
        groups,
        len(people),
        dropped,
        within,
    )


def start(data: Patterns, structures: list[Structure]) -> Array:
    """Each trial's starting θ (B, m) from its pairwise-complete OLS residual covariance."""
    empirical = _empirical(data)
    return np.concatenate([s.start(empirical[:, g]) for g, s in enumerate(structures)], axis=1)


def _rows(
    data: pd.DataFrame, formula: str, subject: str, visit: str, group: str | None
) -> tuple[pd.DataFrame, int]:
    needed = [subject, visit, *([group] if group else [])]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ModelError(
            f"column {missing[0]!r} is not in the data; columns are "
            f"{', '.join(map(str, data.columns))}"
        )
    named = variables(formula)
    unknown = [v for v in named if v not in data.columns]
    if unknown:
        raise ModelError(
            f"the formula uses {unknown[0]!r}, which is not a column of the data; columns are "
            f"{', '.join(map(str, data.columns))}"
        )
    used = [c for c in data.columns if c in named or c in needed]
    selected: pd.DataFrame = data[used]  # a new frame: writing to it leaves ``data`` alone
    complete = ~selected.isna().to_numpy().any(axis=1)
    frame = selected if complete.all() else selected.iloc[np.flatnonzero(complete)]
    frame.index = pd.RangeIndex(len(frame))
    return frame, len(data) - len(frame)


def _check_one_row_each(
    frame: pd.DataFrame,
    subject: str,
    visit: str,
    person: np.ndarray,
    visit_codes: np.ndarray,
    t: int,
) -> None:
    cell = person * t + visit_codes
    if len(np.unique(cell)) < len(cell):
        doubled = pd.Series(cell).duplicated().to_numpy()
        row = frame[doubled].iloc[0]
        raise ModelError(
            f"participant {row[subject]!r} has more than one row at {visit} {row[visit]!r}; "
            "give one row per participant and visit"
        )


def _groups(
    frame: pd.DataFrame, subject: str, group: str | None, levels: Mapping[str, Sequence[str]]
) -> tuple[tuple[str, ...], np.ndarray]:
    if group is None:
        return ("all",), np.zeros(len(frame), dtype=np.int64)
    values = frame[group].astype(str)
    names = tuple(str(v) for v in levels.get(group, sorted(values.unique())))
    per_person = values.groupby(frame[subject]).nunique()
    if (per_person > 1).any():
        raise ModelError(
            f"participant {per_person[per_person > 1].index[0]!r} is in more than one {group}; "
            "a covariance group must be constant within a participant"
        )
    codes = np.array([names.index(v) for v in values], dtype=np.int64)
    return names, codes


def _check_rank(x: Array, columns: Sequence[str]) -> None:
    """Name the columns that are linear combinations of earlier ones (not estimable)."""
    gram = x.T @ x
    if np.linalg.matrix_rank(gram) == gram.shape[0]:
        return
    kept: list[int] = []
    aliased: list[str] = []
    for j in range(gram.shape[0]):
        if gram[j, j] <= 0:
            aliased.append(columns[j])
            continue
        if kept:
            sub = gram[np.ix_(kept, kept)]
            coef = np.linalg.solve(sub, gram[kept, j])
            residual = gram[j, j] - gram[j, kept] @ coef
        else:
            residual = gram[j, j]
        if residual <= 1e-9 * gram[j, j]:
            aliased.append(columns[j])
        else:
            kept.append(j)
    if aliased:
        raise ModelError(
            f"the fixed effects {', '.join(aliased)} cannot be estimated from these data "
            "(no observations for that level or combination, or collinear with other terms)"
        )


def _check_estimable(
    data: Patterns,
    structures: list[Structure],
    visits: tuple[str, ...],
    groups: tuple[str, ...],
    k: int,
) -> None:
    size = sum(s.size for s in structures)
    if data.n_obs - k <= size:
        raise ModelError(
            f"{data.n_obs} observations cannot estimate {k} fixed effects and {size} covariance "
            f"parameters ({structures[0].name}); use a structure with fewer parameters"
        )
    for g, (name, s) in enumerate(zip(groups, structures, strict=True)):
        members = data.group == g
        pair = np.einsum("p,pa,pb->ab", data.count[members], data.mask[members], data.mask[members])
        where = f" in group {name}" if len(groups) > 1 else ""
        for a, label in enumerate(visits):
            if pair[a, a] < 2 and s.name in ("us", "csh", "arh1"):
                raise ModelError(
                    f"visit {label}{where} has {int(pair[a, a])} participant(s); the {s.name} "
                    "covariance needs at least 2 at every visit (use cs, ar1 or toep, or drop "
                    "the visit)"
                )
        if s.name == "us":
            for a in range(len(visits)):
                for b in range(a):
                    if pair[a, b] < 2:
                        raise ModelError(
                            f"visits {visits[b]} and {visits[a]}{where} are observed together "
                            f"in {int(pair[a, b])} participant(s); the unstructured covariance "
                            "needs at least 2 (use toep or ar1)"
                        )


def _empirical(data: Patterns) -> Array:
    """Pairwise-complete covariance of OLS residuals per trial and group: (B, G, t, t)."""
    xx = np.einsum("paauv->uv", data.xx)
    xy = np.einsum("bpaau->bu", data.xy)
    beta = np.linalg.lstsq(xx, xy.T, rcond=None)[0].T
    batch, k = beta.shape
    cross = np.einsum("bpiju,bu->bpij", data.xy, beta)
    quad = ((beta[:, :, None] * beta[:, None, :]).reshape(batch, k * k) @ data.flat.T).reshape(
        cross.shape
    )
    rr = data.yy - cross - cross.transpose(0, 1, 3, 2) + quad
    out = np.zeros((batch, data.n_groups, data.t, data.t))
    for g in range(data.n_groups):
        members = data.group == g
        counts = np.einsum(
            "p,pa,pb->ab", data.count[members], data.mask[members], data.mask[members]
        )
        # OLS residuals are short of the errors by the k fitted effects: rescale by N / (N − k)
        # (the REML correction of a residual variance) so the start is nearer the optimum.
        inflate = data.n_obs / max(data.n_obs - data.k, 1)
        cov = inflate * rr[:, members].sum(axis=1) / np.maximum(counts, 1.0)
        values, vectors = np.linalg.eigh(cov)
        floor = np.maximum(values.max(axis=1, keepdims=True) * 1e-3, 1e-8)
        out[:, g] = (vectors * np.maximum(values, floor)[:, None, :]) @ vectors.transpose(0, 2, 1)
    return out


def _varies_within(x: Array, person: np.ndarray) -> tuple[bool, ...]:
    """For each fixed-effect column: does it take more than one value within some participant?"""
    first = np.full(int(person.max()) + 1, -1, dtype=np.int64)
    first[person[::-1]] = np.arange(len(person))[::-1]
    return tuple(bool(v) for v in np.any(x != x[first[person]], axis=0))
