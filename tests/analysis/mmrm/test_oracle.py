"""The MMRM engine against R: every number tests/oracle/mmrm.R wrote, for every data set.

R references (tests/oracle/MMRM.md): nlme::gls for the structures us, cs, csh, ar1, arh1,
toep (REML, and ML for us); glmmTMB for one unstructured covariance per arm; lme4/lmerTest for
the random intercept (ri) and random slope (rs) models; emmeans for least-squares means and arm
differences; Satterthwaite and Kenward–Roger df from lmerTest/pbkrtest where R has them and from
kr.R (Kenward & Roger 1997, validated there against pbkrtest) elsewhere. Agreement asked:
estimates, SEs, variance parameters and the log-likelihood to 1e-6 relative; df (and p, which
follows them) to 1e-3 relative.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest

from physiotrial.analysis.mmrm import fit_mmrm
from physiotrial.analysis.mmrm.fit import MmrmFit
from tests.analysis.oracle import ORACLE, data, expected

FORMULA = "y ~ baseline * visit + arm * visit + site"
LEVELS = {"arm": ("SHAM", "DN")}
DATASETS = ("balanced", "dropout", "intermittent", "unequal", "tiny", "large")
CLOSE = {"rel": 1e-6, "abs": 1e-9}
DF_CLOSE = {"rel": 1e-3}


def _models(name: str) -> list[tuple[str, str]]:
    table = expected(f"mmrm_{name}")
    pairs = table.loc[table["model"] != "all", ["model", "method"]].drop_duplicates()
    return [(str(m), str(k)) for m, k in pairs.itertuples(index=False)]


CASES = [
    (name, model, method)
    for name in DATASETS
    if (ORACLE / f"mmrm_{name}_expected.csv").exists()
    for model, method in _models(name)
]


@cache
def _fit(name: str, model: str, method: str) -> MmrmFit:
    covariance, group = ("us", "arm") if model == "us_by_arm" else (model, None)
    return fit_mmrm(
        data(f"mmrm_{name}"),
        FORMULA,
        covariance=covariance,
        group=group,
        method=method,  # type: ignore[arg-type]
        levels=LEVELS,
    )


def _wanted(name: str, model: str, method: str) -> pd.DataFrame:
    table = expected(f"mmrm_{name}")
    return table[(table["model"] == model) & (table["method"] == method)]


def _got(fit: MmrmFit) -> dict[tuple[str, str], float]:
    """Every quantity the oracle writes, computed by physiotrial, keyed (quantity, term)."""
    out: dict[tuple[str, str], float] = {("loglik", ""): fit.loglik}
    for term, value in fit.coefficients.items():
        out[("coef", str(term))] = float(value)
        out[("coef_se", str(term))] = float(fit.se[term])
    for term, value in fit.theta.items():
        out[("theta", str(term))] = float(value)
    for index, group in enumerate(fit.groups):
        sigma = fit.sigma(group if len(fit.groups) > 1 else None)
        prefix = f"{group}|" if len(fit.groups) > 1 else ""
        for a, first in enumerate(fit.visits):
            for b in range(a + 1):
                out[("cov", f"{prefix}{first}:{fit.visits[b]}")] = float(sigma[a, b])
        del index
    for df, suffix in (("satterthwaite", "satterthwaite"), ("kenward_roger", "kenward_roger")):
        means = fit.lsmeans(("arm", "visit"), df=df)  # type: ignore[arg-type]
        for row in means.itertuples(index=False):
            term = f"{row.arm}|{row.visit}"
            out[(f"lsmean_df_{suffix}", term)] = float(row.df)
            if df == "satterthwaite":
                out[("lsmean", term)] = float(row.estimate)
                out[("lsmean_se", term)] = float(row.se)
            else:
                out[("lsmean_se_kenward_roger", term)] = float(row.se)
        differences = fit.arm_differences(df=df)  # type: ignore[arg-type]
        for row in differences.itertuples(index=False):
            term = str(row.visit)
            out[(f"diff_df_{suffix}", term)] = float(row.df)
            out[(f"diff_p_{suffix}", term)] = float(row.p)
            if df == "satterthwaite":
                out[("diff", term)] = float(row.estimate)
                out[("diff_se", term)] = float(row.se)
            else:
                out[("diff_se_kenward_roger", term)] = float(row.se)
    return out


@pytest.mark.parametrize(("name", "model", "method"), CASES)
def test_mmrm_matches_r(name: str, model: str, method: str) -> None:
    fit = _fit(name, model, method)
    got = _got(fit)
    wanted = _wanted(name, model, method)
    assert len(wanted) > 50
    failures = []
    for row in wanted.itertuples(index=False):
        key = (str(row.quantity), "" if pd.isna(row.term) else str(row.term))
        assert key in got, f"physiotrial does not compute {key}"
        tolerance = DF_CLOSE if "_df_" in key[0] or "_p_" in key[0] else CLOSE
        if got[key] != pytest.approx(float(row.value), **tolerance):
            failures.append(f"{key}: physiotrial {got[key]!r}, R {row.value!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "name", [c for c in DATASETS if (ORACLE / f"mmrm_{c}_expected.csv").exists()]
)
def test_counts_match_r(name: str) -> None:
    table = expected(f"mmrm_{name}").set_index("quantity")
    fit = _fit(name, "us", "REML")
    assert fit.n_obs == table.loc["n_obs", "value"]
    assert fit.n_participants == table.loc["n_participants", "value"]
