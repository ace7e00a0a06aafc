"""``physiotrial mmrm``: the MMRM engine on any long CSV, for a statistician without Python.

Reads one row per participant and visit, fits the formula with the chosen covariance structure and
prints the arm difference at each visit and averaged over visits (least-squares means, as emmeans),
the fitted covariance over visits and how the optimisation ended; ``--json`` prints the same as one
JSON object. Errors (an unknown column, a structure the data cannot estimate) are one line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from physiotrial.analysis.mmrm import STRUCTURES, fit_mmrm
from physiotrial.analysis.mmrm.fit import DfMethod, Method, MmrmFit
from physiotrial.analysis.mmrm.inference import DF_METHODS
from physiotrial.cli.common import parse_pairs
from physiotrial.cli.errors import fail, reports_errors
from physiotrial.errors import InputFileError


def register(app: typer.Typer) -> None:
    app.command("mmrm")(mmrm_command)


@reports_errors
def mmrm_command(
    data: Annotated[Path, typer.Argument(help="Long CSV: one row per participant and visit.")],
    formula: Annotated[
        str, typer.Option(help="R formula, e.g. 'y ~ baseline * visit + arm * visit'.")
    ],
    subject: Annotated[str, typer.Option(help="Participant column.")] = "id",
    visit: Annotated[str, typer.Option(help="Visit column (indexes the covariance).")] = "visit",
    covariance: Annotated[str, typer.Option(help=f"One of {', '.join(STRUCTURES)}.")] = "us",
    group: Annotated[str | None, typer.Option(help="One covariance per level (e.g. arm).")] = None,
    method: Annotated[str, typer.Option(help="REML or ML.")] = "REML",
    df: Annotated[str, typer.Option(help=f"One of {', '.join(DF_METHODS)}.")] = "kenward_roger",
    arm: Annotated[str, typer.Option(help="Arm column.")] = "arm",
    experimental: Annotated[str, typer.Option(help="Experimental arm.")] = "DN",
    control: Annotated[str, typer.Option(help="Control (reference) arm.")] = "SHAM",
    level: Annotated[
        list[str] | None,
        typer.Option(help="Factor levels in order, NAME=A,B,C (first is the reference)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fit a mixed model for repeated measures to a CSV and print the arm differences."""
    if df not in DF_METHODS:
        raise fail(f"--df {df!r} is not one of {', '.join(DF_METHODS)}")
    try:
        frame = pd.read_csv(data)
    except (OSError, ValueError) as error:
        raise InputFileError(f"{data}: cannot be read as CSV: {error}") from None
    levels: dict[str, tuple[str, ...]] = {
        name: tuple(v.strip() for v in values.split(","))
        for name, values in parse_pairs(list(level or []), "--level").items()
    }
    levels.setdefault(arm, (control, experimental))
    fit = fit_mmrm(
        frame, formula, subject=subject, visit=visit, covariance=covariance, group=group,
        method=method.upper(),  # type: ignore[arg-type]
        levels=levels,
    )  # fmt: skip
    chosen: DfMethod = df  # type: ignore[assignment]
    table = fit.arm_differences(arm, experimental, control, df=chosen)
    if as_json:
        typer.echo(json.dumps(_as_dict(fit, table, method.upper()), indent=2))
        return
    _show(fit, table, Console(), f"{experimental} − {control}", chosen)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _as_dict(fit: MmrmFit, table: pd.DataFrame, method: Method | str) -> dict[str, Any]:
    return {
        "method": method,
        "covariance": fit.covariance,
        "n_participants": fit.n_participants,
        "n_obs": fit.n_obs,
        "dropped_rows": fit.dropped_rows,
        "loglik": fit.loglik,
        "differences": [
            {k: _clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")
        ],
        "coefficients": {k: float(v) for k, v in fit.coefficients.items()},
        "theta": {k: float(v) for k, v in fit.theta.items()},
        "visits": list(fit.visits),
        "covariance_matrix": {
            group: fit.sigma(group if len(fit.groups) > 1 else None).tolist()
            for group in fit.groups
        },
        "diagnostics": {
            "converged": fit.diagnostics.converged,
            "iterations": fit.diagnostics.iterations,
            "gradient_norm": fit.diagnostics.gradient_norm,
            "hessian_positive_definite": fit.diagnostics.hessian_positive_definite,
        },
    }


def _show(fit: MmrmFit, table: pd.DataFrame, console: Console, label: str, df: str) -> None:
    console.print(
        f"[bold]MMRM[/bold] {fit.covariance} covariance, {fit.method}; "
        f"{fit.n_participants} participants, {fit.n_obs} observations"
        + (f" ({fit.dropped_rows} rows with missing values left out)" if fit.dropped_rows else "")
    )
    out = Table(title=f"{label} (least-squares means, {df.replace('_', '-')} df)")
    for column in ("visit", "estimate", "se", "df", "95% CI", "p"):
        out.add_column(column, justify="left" if column == "visit" else "right")
    for row in table.itertuples(index=False):
        out.add_row(
            str(row.visit), f"{row.estimate:.3f}", f"{row.se:.3f}", f"{row.df:.1f}",
            f"{row.ci_low:.3f} to {row.ci_high:.3f}", f"{row.p:.4f}",
        )  # fmt: skip
    console.print(out)
    for group in fit.groups:
        sigma = fit.sigma(group if len(fit.groups) > 1 else None)
        matrix = Table(
            title="Covariance over visits" + (f" ({group})" if len(fit.groups) > 1 else "")
        )
        matrix.add_column("")
        for name in fit.visits:
            matrix.add_column(name, justify="right")
        for name, values in zip(fit.visits, sigma, strict=True):
            matrix.add_row(name, *(f"{v:.2f}" for v in values))
        console.print(matrix)
    d = fit.diagnostics
    console.print(
        f"log-likelihood {fit.loglik:.4f}; {d.message} after {d.iterations} iterations "
        f"(gradient norm {d.gradient_norm:.2g})"
    )
