"""The (restricted) likelihood of a model for repeated measures, from sufficient statistics.

Participants who share a covariance group (e.g. an arm, when each arm has its own covariance) and a
pattern of observed visits share the covariance V_p = Σ[S, S] of their observations. Everything the
likelihood needs is then a sum over patterns of per-visit-pair cross-products, computed once:
XXₚ[a, b] = Σᵢ xᵢₐxᵢ_bᵀ, XYₚ[a, b] = Σᵢ xᵢₐyᵢ_b and YYₚ[a, b] = Σᵢ yᵢₐyᵢ_b. An evaluation then costs
O(patterns × t² × k²), whatever the number of participants (memory is linear in participants only
while the cross-products are formed). This is how the fit stays fast at 100,000 participants.

With W_p = V_p⁻¹ (embedded in t × t with zeros off the pattern), A = Σ W ⊙ XX = XᵀV⁻¹X,
β̂ = A⁻¹ Σ W ⊙ XY and the residual cross-products RRₚ:

    −2ℓ_ML   = Σₚ nₚ log|Vₚ| + Σₚ ⟨Wₚ, RRₚ⟩ + N log 2π
    −2ℓ_REML = −2ℓ_ML + log|A| − k log 2π     (Harville 1977; Patterson & Thompson 1971)

and the gradient in Σ itself is E = Σₚ (nₚWₚ − WₚGₚWₚ) with Gₚ = RRₚ (+ Ãₚ for REML, Ãₚ[a, b] =
tr(A⁻¹XXₚ[a, b])); the gradient in θ is ⟨dΣ/dθⱼ, E⟩ (chain rule). The expected information uses
tr(P Vⱼ P Vₗ) expanded over the blocks (Harville 1977, eq. 4.8). The log-likelihood printed is
R's: ``nlme::gls`` and ``lme4`` report the REML criterion without a log|XᵀX| term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from physiotrial.analysis.mmrm.covariance import Array

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Patterns:
    """Cross-products by (covariance group, pattern of observed visits), for B response vectors.

    The design (and so ``xx``) is shared by every trial of a batch; ``xy`` and ``yy`` have a
    leading trial axis. A single fit is a batch of one.
    """

    mask: NDArray[np.bool_]  # (P, t) visits observed in the pattern
    group: NDArray[np.int64]  # (P,) covariance group of the pattern
    count: Array  # (P,) participants with the pattern
    xx: Array  # (P, t, t, k, k)
    xy: Array  # (B, P, t, t, k)
    yy: Array  # (B, P, t, t)
    n_obs: int
    n_groups: int

    @property
    def k(self) -> int:
        return int(self.xx.shape[-1])

    @property
    def t(self) -> int:
        return int(self.mask.shape[1])

    @cached_property
    def flat(self) -> Array:
        """XX as a (P·t·t, k·k) matrix: contractions with it are matrix products (BLAS)."""
        p, t, k = self.xx.shape[0], self.t, self.k
        return self.xx.reshape(p * t * t, k * k)

    def take(self, trials: NDArray[np.int64]) -> Patterns:
        if len(trials) == self.xy.shape[0] and np.all(trials == np.arange(len(trials))):
            return self
        return replace(self, xy=self.xy[trials], yy=self.yy[trials])

    @cached_property
    def outer(self) -> NDArray[np.bool_]:
        return self.mask[:, :, None] & self.mask[:, None, :]


def patterns(
    x: Array,
    y: Array,
    participant: NDArray[np.int64],
    visit: NDArray[np.int64],
    group: NDArray[np.int64],
    t: int,
    n_groups: int,
) -> Patterns:
    """Cross-products from rows; ``y`` is (rows,) or (B, rows) for a batch of trials.

    Each participant is laid on a t-slot grid (zeros where not observed), so the sums are dense
    products over the participants of one pattern.
    """
    ys = np.atleast_2d(y)
    n = int(participant.max()) + 1 if participant.size else 0
    k = x.shape[1]
    grid_x = np.zeros((n, t, k))
    grid_y = np.zeros((ys.shape[0], n, t))
    seen = np.zeros((n, t), dtype=bool)
    grid_x[participant, visit] = x
    grid_y[:, participant, visit] = ys
    seen[participant, visit] = True
    person_group = np.zeros(n, dtype=np.int64)
    person_group[participant] = group
    codes = seen @ (1 << np.arange(t)) + person_group * (1 << t)
    keys, inverse = np.unique(codes, return_inverse=True)
    size = len(keys)
    xx = np.zeros((size, t, t, k, k))
    xy = np.zeros((ys.shape[0], size, t, t, k))
    yy = np.zeros((ys.shape[0], size, t, t))
    mask = np.zeros((size, t), dtype=bool)
    groups = np.zeros(size, dtype=np.int64)
    count = np.zeros(size)
    for index in range(size):
        members = np.flatnonzero(inverse == index)
        gx, gy = grid_x[members], grid_y[:, members]
        flat = gx.reshape(len(members), t * k)
        xx[index] = (flat.T @ flat).reshape(t, k, t, k).transpose(0, 2, 1, 3)
        xy[:, index] = np.einsum("nak,bnc->back", gx, gy)
        yy[:, index] = gy.transpose(0, 2, 1) @ gy
        mask[index] = seen[members[0]]
        groups[index] = person_group[members[0]]
        count[index] = len(members)
    return Patterns(mask, groups, count, xx, xy, yy, int(seen.sum()), n_groups)


@dataclass(frozen=True)
class State:
    """Everything one evaluation at θ produces for each trial, reused by derivatives."""

    objective: Array  # (B,) −2 log-likelihood (ML or REML); inf outside the parameter space
    w: Array  # (B, P, t, t) embedded inverses
    a_inv: Array  # (B, k, k) Φ = (XᵀV⁻¹X)⁻¹
    beta: Array  # (B, k)
    rr: Array  # (B, P, t, t) residual cross-products at β̂
    e: Array  # (B, G, t, t) gradient of −2ℓ in each group's Σ


def evaluate(data: Patterns, sigmas: Array, reml: bool, ok: NDArray[np.bool_]) -> State:
    """The state at the group covariances ``sigmas`` (B, G, t, t); ``ok`` marks valid θ rows."""
    batch, t, k = sigmas.shape[0], data.t, data.k
    outer = data.outer
    eye = np.eye(t)
    safe = np.where(ok[:, None, None, None], sigmas, eye)
    v = np.where(outer, safe[:, data.group], 0.0) + (~data.mask)[:, :, None] * eye
    chol, good = _cholesky(v.reshape(-1, t, t))
    good = good.reshape(batch, -1).all(axis=1) & ok
    logdet = 2.0 * np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(axis=1)
    w = np.where(outer, np.linalg.inv(_usable(v, good)), 0.0)
    a = (w.reshape(batch, -1) @ data.flat).reshape(batch, k, k)
    a_chol, good_a = _cholesky(a)
    good &= good_a
    a = np.where(good[:, None, None], a, np.eye(k))
    a_inv = np.asarray(np.linalg.inv(a), dtype=float)
    xy = data.xy.reshape(batch, -1, k)  # (B, P·t·t, k)
    weighted = (w.reshape(batch, 1, -1) @ xy)[:, 0]
    beta = (a_inv @ weighted[:, :, None])[:, :, 0]
    cross = (xy @ beta[:, :, None]).reshape(w.shape)
    outer_beta = (beta[:, :, None] * beta[:, None, :]).reshape(batch, k * k)
    quad = (outer_beta @ data.flat.T).reshape(cross.shape)
    rr = data.yy - cross - cross.transpose(0, 1, 3, 2) + quad
    objective = logdet.reshape(batch, -1) @ data.count + (w * rr).reshape(batch, -1).sum(axis=1)
    objective += data.n_obs * LOG_2PI
    g = rr
    if reml:
        objective += 2.0 * np.log(np.diagonal(a_chol, axis1=1, axis2=2)).sum(axis=1)
        objective -= k * LOG_2PI
        g = rr + (a_inv.reshape(batch, k * k) @ data.flat.T).reshape(rr.shape)
    per = data.count[:, None, None] * w - w @ g @ w
    onehot = (data.group[None, :] == np.arange(data.n_groups)[:, None]).astype(float)
    e = (onehot @ per.reshape(batch, len(data.group), t * t)).reshape(batch, -1, t, t)
    objective = np.where(good, objective, np.inf)
    return State(np.asarray(objective, dtype=float), w, a_inv, beta, rr, e)


def _usable(v: Array, good: NDArray[np.bool_]) -> Array:
    """V with the trials that failed replaced by identities (their results are discarded)."""
    return np.where(good[:, None, None, None], v, np.eye(v.shape[-1]))


def _cholesky(m: Array) -> tuple[Array, NDArray[np.bool_]]:
    """Batched Cholesky that marks, rather than raises on, matrices not positive definite."""
    try:
        return np.asarray(np.linalg.cholesky(m), dtype=float), np.ones(m.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        good = np.asarray(np.linalg.eigvalsh(m)[:, 0] > 0, dtype=bool)
        fixed = np.where(good[:, None, None], m, np.eye(m.shape[-1]))
        return np.asarray(np.linalg.cholesky(fixed), dtype=float), good


def gradient(state: State, jacobians: list[Array]) -> Array:
    """d(−2ℓ)/dθ (B, m): each group's Σ-gradient contracted with its dΣ/dθ (B, s, t, t)."""
    return np.concatenate(
        [_pair(d, state.e[:, g, None])[:, :, 0] for g, d in enumerate(jacobians)], axis=1
    )


def _pair(left: Array, right: Array) -> Array:
    """Σ over all trailing axes of left[b, j, ...] · right[b, l, ...]: (B, J, L), as one matmul."""
    batch, rows, cols = left.shape[0], left.shape[1], right.shape[1]
    flat_right = right.reshape(batch, cols, -1).transpose(0, 2, 1)
    return np.asarray(left.reshape(batch, rows, -1) @ flat_right)


def _swap(blocks: Array) -> Array:
    """Transpose the last two axes (so that ⟨A, Bᵀ⟩ = tr(AB) becomes a :func:`_pair`)."""
    return np.swapaxes(blocks, -1, -2)


def _restricted(data: Patterns, jacobians: list[Array]) -> Array:
    """dΣ/dθⱼ restricted to each pattern's visits and group: (B, m, P, t, t)."""
    parts = []
    for g, d in enumerate(jacobians):
        keep = ((data.group == g)[:, None, None] & data.outer)[None, None]
        parts.append(np.where(keep, d[:, :, None], 0.0))
    return np.concatenate(parts, axis=1)


def _products(data: Patterns, blocks: Array) -> Array:
    """Σₚ Σ_ab blocks[..., p, a, b] XXₚ[a, b] for a stack of pattern blocks: (..., k, k)."""
    lead = blocks.shape[:-3]
    flat = blocks.reshape(-1, data.flat.shape[0]) @ data.flat
    return flat.reshape(*lead, data.k, data.k)


def sandwich(data: Patterns, state: State, jacobians: list[Array]) -> Array:
    """B_j = XᵀWVⱼWX for every θⱼ: (B, m, k, k). dΦ/dθⱼ = ΦBⱼΦ; Kenward–Roger's Pⱼ = −Bⱼ."""
    w = state.w[:, None]
    return _products(data, w @ _restricted(data, jacobians) @ w)


def information(data: Patterns, state: State, jacobians: list[Array], reml: bool) -> Array:
    """Expected information of −2ℓ: T_jl = tr(P Vⱼ P Vₗ) (twice Fisher's), (B, m, m).

    P = V⁻¹ − V⁻¹XΦXᵀV⁻¹ for REML and V⁻¹ for ML. Expanded over blocks:
    tr(WVⱼWVₗ) − tr(ΦCⱼₗ) − tr(ΦCₗⱼ) + tr(ΦBⱼΦBₗ), with Cⱼₗ = XᵀWVⱼWVₗWX.
    """
    w = state.w[:, None]
    vj = _restricted(data, jacobians)
    return _information(data, state, w @ vj @ w, vj, reml)


def _information(data: Patterns, state: State, blocks: Array, vj: Array, reml: bool) -> Array:
    first = _pair(blocks * data.count[:, None, None], _swap(vj))
    if reml:
        batch, k = state.beta.shape
        phi = state.a_inv
        b = _products(data, blocks)
        atilde = (phi.reshape(batch, k * k) @ data.flat.T).reshape(state.w.shape)
        cross = _pair(blocks, _swap(vj @ (state.w @ atilde)[:, None]))
        pb = phi[:, None] @ b
        third = _pair(pb, _swap(pb))
        first = first - cross - cross.transpose(0, 2, 1) + third
    return np.asarray(0.5 * (first + first.transpose(0, 2, 1)))


def hessian(
    data: Patterns, state: State, jacobians: list[Array], seconds: list[Array | None], reml: bool
) -> tuple[Array, Array]:
    """(observed Hessian, expected information) of −2ℓ in θ, analytically: (B, m, m) each.

    With P as in :func:`information` and Py = W r̂ per participant:
    ∂²(−2ℓ)/∂θⱼ∂θₗ = −tr(PVⱼPVₗ) + 2 yᵀPVⱼPVₗPy + tr(PVⱼₗ) − yᵀPVⱼₗPy
    (Jennrich & Schluchter 1986; the ML form has V⁻¹ in the traces), where
    yᵀPVⱼPVₗPy = Σₚ tr(WVⱼWVₗW RRₚ) − uⱼᵀΦuₗ with uⱼ = XᵀWVⱼW r̂, and the last two terms are
    ⟨E, ∂²Σ/∂θⱼ∂θₗ⟩ with E the Σ-gradient (zero for linear structures).
    """
    w = state.w[:, None]
    vj = _restricted(data, jacobians)
    blocks = w @ vj @ w
    expected = _information(data, state, blocks, vj, reml)
    batch, k = state.beta.shape
    s1 = _pair(blocks, _swap(vj @ (state.w @ state.rr)[:, None]))
    p, t = data.mask.shape
    fitted = (data.xx.reshape(p * t * t * k, k) @ state.beta.T).T.reshape(data.xy.shape)
    u = blocks.reshape(*blocks.shape[:2], -1) @ (data.xy - fitted).reshape(batch, -1, k)
    uphiu = u @ state.a_inv @ u.transpose(0, 2, 1)
    observed = -expected + 2.0 * (s1 - uphiu)
    offset = 0
    for g, (second, jac) in enumerate(zip(seconds, jacobians, strict=True)):
        size = jac.shape[1]
        if second is not None:
            block = np.einsum("bjlik,bik->bjl", second, state.e[:, g])
            observed[:, offset : offset + size, offset : offset + size] += block
        offset += size
    return np.asarray(0.5 * (observed + observed.transpose(0, 2, 1))), expected


def kenward_roger_middle(
    data: Patterns,
    state: State,
    jacobians: list[Array],
    seconds: list[Array | None],
    weights: Array,
) -> Array:
    """Σⱼₗ Wⱼₗ (Qⱼₗ − PⱼΦPₗ − ¼Rⱼₗ) of Kenward & Roger (1997, eq. 4), (B, k, k).

    Pⱼ = Xᵀ(∂V⁻¹/∂θⱼ)X = −Bⱼ, Qⱼₗ = XᵀWVⱼWVₗWX and Rⱼₗ = XᵀW(∂²V/∂θⱼ∂θₗ)WX; the sums over
    (j, l) are taken on the t × t pattern blocks before the one contraction with the
    cross-products, so no m × m stack of k × k matrices is ever formed.
    """
    w = state.w[:, None]
    vj = _restricted(data, jacobians)
    blocks = w @ vj @ w
    right = vj @ w  # Vₗ W
    batch, m = weights.shape[:2]
    mixed = (weights @ right.reshape(batch, m, -1)).reshape(right.shape)  # Σₗ Wⱼₗ VₗW
    q_blocks = (blocks @ mixed).sum(axis=1)  # Σⱼₗ Wⱼₗ WVⱼW VₗW
    b = _products(data, blocks)
    phi = state.a_inv
    weighted_b = (weights @ b.reshape(batch, m, -1)).reshape(b.shape)
    bpb = (b @ phi[:, None] @ weighted_b).sum(axis=1)
    middle = _products(data, q_blocks) - bpb
    offset = 0
    for g, (second, jac) in enumerate(zip(seconds, jacobians, strict=True)):
        size = jac.shape[1]
        if second is not None:
            part = weights[:, offset : offset + size, offset : offset + size]
            combined = np.einsum("bjl,bjlik->bik", part, second)  # Σⱼₗ Wⱼₗ ∂²Σ/∂θⱼ∂θₗ
            keep = (data.group == g)[:, None, None] & data.outer
            inner = np.where(keep[None], combined[:, None], 0.0)
            middle -= 0.25 * _products(data, state.w @ inner @ state.w)
        offset += size
    return np.asarray(middle)
