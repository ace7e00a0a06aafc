"""Covariance structures of the residuals across visits within one participant.

Each structure maps its natural parameters θ to the t × t covariance Σ over the visits, with the
first and second derivatives of Σ in θ. The parameters are the ones SAS PROC MIXED reports and that
the Kenward–Roger adjustment is defined in (Kenward & Roger 1997; its second-order term depends on
the parameterisation): unstructured = the variances and covariances themselves (linear); compound
symmetry = (τ, σ²) with Σ = τJ + σ²I (linear); heterogeneous compound symmetry = (σ²₁..σ²ₜ, ρ);
AR(1) = (σ², ρ) with σ²ρ^|a−b|; heterogeneous AR(1) = (σ²₁..σ²ₜ, ρ); Toeplitz = the covariance at
each lag γ₀..γₜ₋₁ (linear); random intercept = (τ, σ²) with τ ≥ 0 (Laird & Ware 1982); random
intercept and slope = (g₁₁, g₂₁, g₂₂, σ²) with Σ = ZGZᵀ + σ²I, Z rows (1, time) (linear).

AR(1) distances count visit positions: the visits are taken as equally spaced (as in nlme's
``corAR1(form = ~visit_num | id)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from physiotrial.errors import ModelError

Array = NDArray[np.float64]

STRUCTURES = ("us", "cs", "csh", "ar1", "arh1", "toep", "ri", "rs")
"""Names accepted by :func:`structure`: the SAS/mmrm abbreviations plus ri and rs."""


@dataclass(frozen=True)
class Structure:
    """One covariance structure over ``t`` visits (``times`` only matters for ``rs``)."""

    name: str
    t: int
    times: tuple[float, ...]

    @property
    def size(self) -> int:
        t = self.t
        return {
            "us": t * (t + 1) // 2,
            "cs": 2,
            "ri": 2,
            "csh": t + 1,
            "ar1": 2,
            "arh1": t + 1,
            "toep": t,
            "rs": 4,
        }[self.name]

    @property
    def linear(self) -> bool:
        """Σ linear in θ: Kenward–Roger's second-derivative term vanishes."""
        return self.name in ("us", "cs", "ri", "toep", "rs")

    def names(self, visits: tuple[str, ...]) -> tuple[str, ...]:
        """Parameter names, as the R oracle writes them (``V2:V1`` is Σ[V2, V1])."""
        if self.name == "us":
            return tuple(f"{visits[a]}:{visits[b]}" for a in range(self.t) for b in range(a + 1))
        if self.name in ("cs", "ri"):
            return ("tau", "sigma2")
        if self.name in ("csh", "arh1"):
            return (*(f"{v}:{v}" for v in visits), "rho")
        if self.name == "ar1":
            return ("sigma2", "rho")
        if self.name == "toep":
            return tuple(f"lag{lag}" for lag in range(self.t))
        return ("g11", "g21", "g22", "sigma2")

    # -- Σ(θ) and its derivatives, batched over trials: θ is (B, size) ----------------------

    def sigma(self, theta: Array) -> Array:
        """Σ for each row of θ: (B, t, t)."""
        t, name = self.t, self.name
        batch = theta.shape[0]
        if name == "us":
            out = np.zeros((batch, t, t))
            rows, cols = np.tril_indices(t)
            out[:, rows, cols] = theta
            out[:, cols, rows] = theta
            return out
        if name in ("cs", "ri"):
            return theta[:, 0, None, None] * np.ones((t, t)) + theta[:, 1, None, None] * np.eye(t)
        lag = self._lags()
        if name == "ar1":
            return theta[:, 0, None, None] * _power(theta[:, 1], lag)
        if name in ("csh", "arh1"):
            sd = np.sqrt(theta[:, :t])
            corr = _power(theta[:, t], lag) if name == "arh1" else _cs(theta[:, t], t)
            return np.asarray(sd[:, :, None] * sd[:, None, :] * corr)
        if name == "toep":
            return np.asarray(theta[:, lag])
        return np.asarray(np.einsum("ti,bij,sj->bts", self._z(), _g(theta), self._z())) + theta[
            :, 3, None, None
        ] * np.eye(t)

    def jacobian(self, theta: Array) -> Array:
        """dΣ/dθⱼ for every j and trial: (B, size, t, t)."""
        t, name = self.t, self.name
        batch = theta.shape[0]
        if self.linear:
            return np.broadcast_to(_linear_basis(self), (batch, self.size, t, t))
        out = np.zeros((batch, self.size, t, t))
        lag = self._lags()
        if name == "ar1":
            out[:, 0] = _power(theta[:, 1], lag)
            out[:, 1] = theta[:, 0, None, None] * _power_derivative(theta[:, 1], lag)
            return out
        sd = np.sqrt(theta[:, :t])
        if name == "arh1":
            corr, dcorr = _power(theta[:, t], lag), _power_derivative(theta[:, t], lag)
        else:
            corr, dcorr = _cs(theta[:, t], t), np.broadcast_to(1.0 - np.eye(t), (batch, t, t))
        for a in range(t):
            # d(sd_a sd_b corr_ab)/d(σ²_a) = sd_b corr_ab / (2 sd_a); the diagonal gets 1.
            half = sd * corr[:, a, :] / (2.0 * sd[:, a, None])
            out[:, a, a, :] += half
            out[:, a, :, a] += half
        out[:, t] = sd[:, :, None] * sd[:, None, :] * dcorr
        return out

    def second(self, theta: Array) -> Array | None:
        """d²Σ/dθⱼdθₗ: (B, size, size, t, t); None for the linear structures (all zero)."""
        if self.linear:
            return None
        t = self.t
        out = np.zeros((theta.shape[0], self.size, self.size, t, t))
        for j in range(self.size):
            h = 1e-6 * np.maximum(1.0, np.abs(theta[:, j]))
            up, down = theta.copy(), theta.copy()
            up[:, j] += h
            down[:, j] -= h
            out[:, j] = (self.jacobian(up) - self.jacobian(down)) / (2.0 * h[:, None, None, None])
        return np.asarray(0.5 * (out + out.transpose(0, 2, 1, 3, 4)))

    def _basis(self) -> Array:
        t, name = self.t, self.name
        out = np.zeros((self.size, t, t))
        if name == "us":
            rows, cols = np.tril_indices(t)
            index = np.arange(self.size)
            out[index, rows, cols] = 1.0
            out[index, cols, rows] = 1.0
        elif name in ("cs", "ri"):
            out[0] = 1.0
            out[1] = np.eye(t)
        elif name == "toep":
            for k in range(t):
                out[k] = (self._lags() == k).astype(float)
        else:
            z = self._z()
            for position, (i, j) in enumerate(((0, 0), (1, 0), (1, 1))):
                unit = np.zeros((2, 2))
                unit[i, j] = unit[j, i] = 1.0
                out[position] = z @ unit @ z.T
            out[3] = np.eye(t)
        return out

    # -- validity and start ------------------------------------------------------------------

    def valid(self, theta: Array) -> NDArray[np.bool_]:
        """Rows of θ inside the parameter space (variances > 0, |ρ| < 1, τ ≥ 0 for ri)."""
        t = self.t
        ok = np.all(np.isfinite(theta), axis=1)
        if self.name in ("csh", "arh1"):
            ok &= np.all(theta[:, :t] > 0, axis=1) & (np.abs(theta[:, t]) < 1.0)
        elif self.name == "ar1":
            ok &= (theta[:, 0] > 0) & (np.abs(theta[:, 1]) < 1.0)
        elif self.name == "ri":
            ok &= (theta[:, 0] >= 0) & (theta[:, 1] > 0)
        return np.asarray(ok)

    def start(self, empirical: Array) -> Array:
        """θ close to each trial's t × t empirical covariance (B, t, t) → (B, size)."""
        t = self.t
        var = np.clip(np.diagonal(empirical, axis1=1, axis2=2), 1e-8, None)
        sd = np.sqrt(var)
        corr = empirical / (sd[:, :, None] * sd[:, None, :])
        if t > 1:
            mean_corr = np.clip(corr[:, *np.tril_indices(t, -1)].mean(axis=1), -0.5 / (t - 1), 0.95)
            lag1 = np.clip(np.diagonal(corr, -1, axis1=1, axis2=2).mean(axis=1), -0.9, 0.95)
        else:
            mean_corr = lag1 = np.full(len(var), 0.5)
        mean_var = var.mean(axis=1)
        name = self.name
        if name == "us":
            return np.asarray(empirical[:, *np.tril_indices(t)])
        if name in ("cs", "ri"):
            tau = np.maximum(mean_corr, 0.05) * mean_var
            return np.column_stack([tau, mean_var - tau])
        if name in ("csh", "arh1"):
            return np.column_stack([var, mean_corr if name == "csh" else lag1])
        if name == "ar1":
            return np.column_stack([mean_var, lag1])
        if name == "toep":
            lags = [np.diagonal(empirical, -k, axis1=1, axis2=2).mean(axis=1) for k in range(1, t)]
            return np.column_stack([mean_var, *lags])
        return np.column_stack([0.5 * mean_var, 0 * mean_var, 0.01 * mean_var, 0.5 * mean_var])

    # -- helpers -------------------------------------------------------------------------------

    def _lags(self) -> NDArray[np.int64]:
        index = np.arange(self.t, dtype=np.int64)
        return np.asarray(np.abs(index[:, None] - index[None, :]), dtype=np.int64)

    def _z(self) -> Array:
        return np.column_stack([np.ones(self.t), np.asarray(self.times, dtype=float)])


@lru_cache(maxsize=64)
def _linear_basis(structure: Structure) -> Array:
    """dΣ/dθ of a linear structure: constant, so built once per (structure, t, times)."""
    basis = structure._basis()
    basis.flags.writeable = False
    return basis


def _g(theta: Array) -> Array:
    return np.stack(
        [np.stack([theta[:, 0], theta[:, 1]], -1), np.stack([theta[:, 1], theta[:, 2]], -1)], -2
    )


def _power(rho: Array, lag: NDArray[np.int64]) -> Array:
    return np.asarray(np.power(rho[:, None, None], lag), dtype=float)


def _power_derivative(rho: Array, lag: NDArray[np.int64]) -> Array:
    safe = np.where(lag > 0, lag - 1, 0)
    return np.asarray(np.where(lag > 0, lag * np.power(rho[:, None, None], safe), 0.0))


def _cs(rho: Array, t: int) -> Array:
    return np.asarray(rho[:, None, None] * np.ones((t, t)) + (1.0 - rho[:, None, None]) * np.eye(t))


def structure(name: str, t: int, times: tuple[float, ...] | None = None) -> Structure:
    """The structure called ``name`` over ``t`` visits; ``times`` default 1..t (for ``rs``)."""
    if name not in STRUCTURES:
        raise ModelError(
            f"covariance {name!r} is not known; use one of {', '.join(STRUCTURES)} "
            "(us unstructured, cs compound symmetry, csh heterogeneous cs, ar1, arh1 "
            "heterogeneous AR(1), toep Toeplitz, ri random intercept, rs random intercept "
            "and slope)"
        )
    chosen = tuple(float(v) for v in (times or range(1, t + 1)))
    if len(chosen) != t:
        raise ModelError(f"times has {len(chosen)} values for {t} visits; give one per visit")
    return Structure(name, t, chosen)
