"""The MMRM engine against a naive dense implementation of the textbook formulas.

Every covariance structure, REML and ML, one covariance per arm: the log-likelihood at the estimate,
the optimum itself (the dense likelihood's own finite-difference gradient is zero there), the
observed Hessian, the Satterthwaite and Kenward–Roger degrees of freedom and adjusted SE. The R
comparison is in test_oracle.py; this file checks the algebra independently of R.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.mmrm import STRUCTURES, fit_mmrm
from physiotrial.analysis.mmrm.fit import MmrmFit
from physiotrial.analysis.mmrm.inference import difference_rows
from physiotrial.analysis.mmrm.likelihood import gradient
from tests.analysis.mmrm.dense import Dense
from tests.analysis.oracle import data

FORMULA = "y ~ baseline * visit + arm * visit + site"
LEVELS = {"arm": ("SHAM", "DN")}


def _tiny() -> pd.DataFrame:
    return data("mmrm_tiny")


def _dense(fit: MmrmFit) -> Dense:
    frame = fit.frame
    person = pd.factorize(frame[fit.subject], sort=False)[0].astype(np.int64)
    visit = frame[fit.visit].map({v: i for i, v in enumerate(fit.visits)}).to_numpy(np.int64)
    if len(fit.groups) > 1:
        group = frame["arm"].map({g: i for i, g in enumerate(fit.groups)}).to_numpy(np.int64)
    else:
        group = np.zeros(len(frame), dtype=np.int64)
    x = fit.design.encode(frame)
    model = fit.model

    def sigma(theta: np.ndarray) -> np.ndarray:
        return np.asarray(model.sigmas(theta[None])[0])

    return Dense(x, frame["y"].to_numpy(float), person, visit, sigma, group, fit.method == "REML")


def _fit(covariance: str, method: str = "REML", group: str | None = None) -> MmrmFit:
    return fit_mmrm(
        _tiny(),
        FORMULA,
        covariance=covariance,
        method=method,  # type: ignore[arg-type]
        group=group,
        levels=LEVELS,
    )


CASES = [(s, "REML", None) for s in STRUCTURES] + [
    ("us", "ML", None),
    ("ar1", "ML", None),
    ("us", "REML", "arm"),
    ("csh", "REML", "arm"),
]


def _gradient(dense: Dense, theta: np.ndarray) -> np.ndarray:
    out = np.zeros(theta.size)
    for j in range(theta.size):
        h = 1e-5 * max(abs(theta[j]), 1e-2 * np.abs(theta).max())
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        out[j] = (dense.objective(up) - dense.objective(down)) / (2 * h)
    return out


@pytest.mark.parametrize(("covariance", "method", "group"), CASES)
def test_estimate_is_the_optimum_of_the_dense_likelihood(
    covariance: str, method: str, group: str | None
) -> None:
    fit = _fit(covariance, method, group)
    dense = _dense(fit)
    theta = fit.estimate.theta[0]
    assert fit.diagnostics.converged
    assert -2 * fit.loglik == pytest.approx(dense.objective(theta), rel=1e-12)
    gradient = _gradient(dense, theta)
    scale = np.abs(fit.estimate.hessian[0]).max() * np.abs(theta).max()
    assert np.abs(gradient).max() < 1e-6 * scale
    # β̂ and its covariance are GLS at θ̂
    assert np.allclose(fit.vcov, dense.phi(theta), rtol=1e-10)


def _analytic_gradient(fit: MmrmFit, theta: np.ndarray) -> np.ndarray:
    model = fit.model
    state = model.state(theta[None])
    return gradient(state, model.jacobians(theta[None]))[0]


@pytest.mark.parametrize(("covariance", "method", "group"), CASES)
def test_gradient_and_hessian_are_the_derivatives_of_the_likelihood(
    covariance: str, method: str, group: str | None
) -> None:
    fit = _fit(covariance, method, group)
    dense = _dense(fit)
    theta = fit.estimate.theta[0]
    # away from the optimum the gradient is not zero: compare it with the dense likelihood's
    away = theta * np.where(np.arange(theta.size) % 2 == 0, 1.02, 0.99)
    assert np.isfinite(fit.model.state(away[None]).objective[0])
    assert np.allclose(_analytic_gradient(fit, away), _gradient(dense, away), rtol=1e-5, atol=1e-6)
    # the Hessian, there and at the estimate, against differences of the analytic gradient
    for point in (away, theta):
        analytic = fit.model.curvature(point[None])[0][0]
        numeric = np.zeros_like(analytic)
        for j in range(theta.size):
            h = 1e-6 * max(abs(point[j]), 1e-2 * np.abs(point).max())
            up, down = point.copy(), point.copy()
            up[j] += h
            down[j] -= h
            numeric[j] = (_analytic_gradient(fit, up) - _analytic_gradient(fit, down)) / (2 * h)
        assert np.allclose(analytic, numeric, rtol=1e-5, atol=1e-7 * np.abs(analytic).max())


@pytest.mark.parametrize(("covariance", "method", "group"), [c for c in CASES if c[1] == "REML"])
def test_kenward_roger_matches_explicit_matrices(
    covariance: str, method: str, group: str | None
) -> None:
    fit = _fit(covariance, method, group)
    dense = _dense(fit)
    rows, visits = difference_rows(fit.design, fit.frame, fit.visit, "arm", "DN", "SHAM")
    table = fit.arm_differences(df="kenward_roger")
    for index in (len(visits) - 2, len(visits) - 1):  # last visit and the average
        se, df = dense.kenward_roger(fit.estimate.theta[0], rows[index])
        assert table["se"].iloc[index] == pytest.approx(se, rel=1e-7)
        assert table["df"].iloc[index] == pytest.approx(df, rel=1e-6)


def test_satterthwaite_df_from_numeric_derivatives() -> None:
    fit = _fit("us")
    dense = _dense(fit)
    theta = fit.estimate.theta[0]
    rows, _ = difference_rows(fit.design, fit.frame, fit.visit, "arm", "DN", "SHAM")
    row = rows[3]
    variance = float(row @ dense.phi(theta) @ row)
    grad = np.zeros(theta.size)
    for j in range(theta.size):
        h = 1e-5 * max(abs(theta[j]), 1e-2)
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        grad[j] = (row @ dense.phi(up) @ row - row @ dense.phi(down) @ row) / (2 * h)
    cov_theta = 2 * np.linalg.inv(fit.estimate.hessian[0])
    want = 2 * variance**2 / (grad @ cov_theta @ grad)
    got = fit.arm_differences(df="satterthwaite").iloc[3]
    assert got["se"] == pytest.approx(math.sqrt(variance), rel=1e-10)
    assert got["df"] == pytest.approx(want, rel=1e-6)


def test_random_intercept_and_compound_symmetry_agree_when_tau_is_positive() -> None:
    cs, ri = _fit("cs"), _fit("ri")
    assert cs.theta["tau"] > 0
    assert np.allclose(cs.theta.to_numpy(), ri.theta.to_numpy(), rtol=1e-9)
    assert cs.loglik == pytest.approx(ri.loglik, rel=1e-12)


def test_simple_df_methods_follow_their_definitions() -> None:
    fit = _fit("us")
    k = len(fit.coefficients)
    within = [name for name, w in zip(fit.coefficients.index, fit.within, strict=True) if w]
    between = [name for name, w in zip(fit.coefficients.index, fit.within, strict=True) if not w]
    # visit terms vary within a participant; intercept, baseline, arm and site do not
    assert "visitV2" in within
    assert "visitV2:armDN" in within
    assert set(between) == {"(Intercept)", "baseline", "armDN", "siteS2", "siteS3"}
    residual = fit.contrast({"armDN": 1.0}, df="residual")
    assert residual["df"] == fit.n_obs - k
    arm_only = fit.contrast({"armDN": 1.0}, df="between_within")
    assert arm_only["df"] == fit.n_participants - len(between)
    at_v4 = fit.contrast({"armDN": 1.0, "visitV4:armDN": 1.0}, df="between_within")
    assert at_v4["df"] == fit.n_obs - fit.n_participants - len(within)
    # the SE is the model-based one whatever the df method
    assert residual["se"] == pytest.approx(fit.se["armDN"], rel=1e-12)
    assert at_v4["estimate"] == pytest.approx(
        fit.coefficients["armDN"] + fit.coefficients["visitV4:armDN"], rel=1e-12
    )
