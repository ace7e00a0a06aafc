"""``physiotrial mmrm``: the engine on a CSV from the command line, same numbers as from Python."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from physiotrial.analysis.mmrm import fit_mmrm
from physiotrial.cli import app
from tests.analysis.oracle import ORACLE, data

runner = CliRunner()
CSV = str(ORACLE / "data" / "mmrm_dropout.csv")
FORMULA = "y ~ baseline * visit + arm * visit + site"


def test_json_output_is_the_fit() -> None:
    result = runner.invoke(
        app, ["mmrm", CSV, "--formula", FORMULA, "--covariance", "ar1", "--df", "satterthwaite",
              "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    fit = fit_mmrm(data("mmrm_dropout"), FORMULA, covariance="ar1", levels={"arm": ("SHAM", "DN")})
    want = fit.arm_differences(df="satterthwaite").set_index("visit")
    got = {row["visit"]: row for row in out["differences"]}
    assert set(got) == {"V1", "V2", "V3", "V4", "average"}
    for visit, row in got.items():
        for column in ("estimate", "se", "df", "p", "ci_low", "ci_high"):
            assert row[column] == pytest.approx(want.loc[visit, column], rel=1e-10)
    assert out["loglik"] == pytest.approx(fit.loglik, rel=1e-12)
    assert out["diagnostics"]["converged"] is True
    assert out["theta"]["rho"] == pytest.approx(fit.theta["rho"], rel=1e-10)


def test_table_output_and_levels() -> None:
    result = runner.invoke(
        app, ["mmrm", CSV, "--formula", FORMULA, "--experimental", "SHAM", "--control", "DN",
              "--level", "arm=DN,SHAM"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "SHAM − DN" in result.output
    assert "Covariance over visits" in result.output
    assert "converged" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--formula", "y ~ visit + nope"], "the formula uses 'nope'"),
        (["--formula", FORMULA, "--covariance", "un"], "covariance 'un' is not known"),
        (["--formula", FORMULA, "--df", "kr"], "--df 'kr' is not one of"),
        (["--formula", FORMULA, "--level", "arm"], "--level: 'arm' is not NAME=VALUE"),
    ],
)
def test_bad_input_is_one_line(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["mmrm", CSV, *arguments])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_unreadable_file_is_one_line() -> None:
    result = runner.invoke(app, ["mmrm", "/nonexistent/data.csv", "--formula", FORMULA])
    assert result.exit_code == 1
    assert "cannot be read as CSV" in result.output
