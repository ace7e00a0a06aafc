"""A deliberately naive MMRM for tests: full N × N matrices, no sufficient statistics.

It evaluates the textbook formulas (Harville 1977; Kenward & Roger 1997) directly, so it checks the
pattern-wise algebra of physiotrial.analysis.mmrm independently of how that algebra is organised.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


class Dense:
    def __init__(
        self,
        x: Array,
        y: Array,
        person: NDArray[np.int64],
        visit: NDArray[np.int64],
        sigma: Callable[[Array], Array],
        group: NDArray[np.int64],
        reml: bool = True,
    ) -> None:
        """``sigma(theta)`` gives (G, t, t): one covariance per group; ``group`` per row."""
        self.x, self.y, self.person, self.visit = x, y, person, visit
        self.sigma, self.group, self.reml = sigma, group, reml

    def v(self, theta: Array) -> Array:
        full = self.sigma(theta)
        same = self.person[:, None] == self.person[None, :]
        values = full[self.group[:, None], self.visit[:, None], self.visit[None, :]]
        return np.where(same, values, 0.0)

    def objective(self, theta: Array) -> float:
        """−2 log-likelihood (REML without a log|XᵀX| term, as nlme and lme4 report)."""
        v = self.v(theta)
        w = np.linalg.inv(v)
        a = self.x.T @ w @ self.x
        beta = np.linalg.solve(a, self.x.T @ w @ self.y)
        r = self.y - self.x @ beta
        n, k = self.x.shape
        value = np.linalg.slogdet(v)[1] + r @ w @ r + n * math.log(2 * math.pi)
        if self.reml:
            value += np.linalg.slogdet(a)[1] - k * math.log(2 * math.pi)
        return float(value)

    def phi(self, theta: Array) -> Array:
        w = np.linalg.inv(self.v(theta))
        return np.asarray(np.linalg.inv(self.x.T @ w @ self.x))

    @staticmethod
    def _step(theta: Array, j: int, relative: float) -> float:
        return relative * max(abs(float(theta[j])), 1e-2 * float(np.abs(theta).max()))

    def derivative(self, theta: Array, j: int) -> Array:
        h = self._step(theta, j, 1e-5)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        return (self.v(up) - self.v(down)) / (2 * h)

    def second(self, theta: Array, j: int, m: int) -> Array:
        """∂²V/∂θⱼ∂θₘ by the four-point formula (steps large enough to keep rounding small)."""
        hj, hm = self._step(theta, j, 1e-3), self._step(theta, m, 1e-3)
        out = np.zeros_like(self.v(theta))
        for sj, sm, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
            point = theta.copy()
            point[j] += sj * hj
            point[m] += sm * hm
            out += sign * self.v(point)
        return out / (4 * hj * hm)

    def kenward_roger(self, theta: Array, row: Array) -> tuple[float, float]:
        """(adjusted SE, df) of row · β by Kenward & Roger (1997) with explicit matrices."""
        v = self.v(theta)
        w = np.linalg.inv(v)
        x = self.x
        phi = np.linalg.inv(x.T @ w @ x)
        p_mat = w - w @ x @ phi @ x.T @ w
        size = len(theta)
        dv = [self.derivative(theta, j) for j in range(size)]
        info = np.array(
            [
                [0.5 * np.trace(p_mat @ dv[j] @ p_mat @ dv[m]) for m in range(size)]
                for j in range(size)
            ]
        )
        cov_theta = np.linalg.inv(info)
        p_j = [-x.T @ w @ dv[j] @ w @ x for j in range(size)]
        total = np.zeros_like(phi)
        for j in range(size):
            for m in range(size):
                q = x.T @ w @ dv[j] @ w @ dv[m] @ w @ x
                r = x.T @ w @ self.second(theta, j, m) @ w @ x
                total += cov_theta[j, m] * (q - p_j[j] @ phi @ p_j[m] - 0.25 * r)
        adjusted = phi + 2 * phi @ total @ phi
        variance = float(row @ adjusted @ row)
        grad = np.array([row @ phi @ p_j[j] @ phi @ row for j in range(size)])
        # pbkrtest's Lb_ddf: Θ = Lᵀ(LΦLᵀ)⁻¹L with the unadjusted Φ; for one row df = 2/A₁
        unadjusted = float(row @ phi @ row)
        return math.sqrt(variance), 2 * unadjusted**2 / float(grad @ cov_theta @ grad)
