"""The report's numbered tables, built from the tidy frames of :class:`AnalysisResults`.

Which tables and what they hold follow CONSORT 2010 (Moher et al. BMJ 2010;340:c869): baseline
characteristics by arm without p-values (item 15); for each outcome the result per arm and the
between-group estimate with its precision (item 17a); binary outcomes as absolute and relative
effects (17b; here risk difference and NNT); harms by arm (item 19); and the blinding assessment
(Bang's index, Bang et al. Control Clin Trials 2004;25:143). Every number is rounded by
:mod:`physiotrial.report.text`. A table whose frame is empty is left out; the "published vs
reproduced" table appears only when the analysis filled it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from physiotrial.analysis.results import AnalysisResults
from physiotrial.report.text import (
    DASH,
    POPULATION_NAMES,
    RESPONDER_NAMES,
    arm_label,
    arm_order,
    contrast_label,
    count_percent,
    estimate,
    mean_sd,
    model_name,
    nnt,
    num,
    outcome_name,
    primary_row,
    pvalue,
    short_arm,
    visit_name,
)


@dataclass(frozen=True)
class Row:
    """One table row; the first cell spans ``span`` columns (a group heading spans them all)."""

    cells: tuple[str, ...]
    kind: str = "data"  # "data" | "group"
    span: int = 1


@dataclass(frozen=True)
class Table:
    """A table as the template draws it; ``spanners`` are (heading, columns) above the columns."""

    key: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    spanners: tuple[tuple[str, int], ...] = ()
    left: int = 1  # leading columns of text, aligned left (numbers align right)


def _rows(frame: pd.DataFrame, **where: object) -> pd.DataFrame:
    for column, value in where.items():
        frame = frame[frame[column].astype(str) == str(value)]
    return frame


def _first(frame: pd.DataFrame, **where: object) -> pd.Series | None:
    found = _rows(frame, **where)
    return None if found.empty else found.iloc[0]


def _unique(values: pd.Series) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


def _arms(results: AnalysisResults) -> list[str]:
    return arm_order(results)[:2]


def baseline_table(results: AnalysisResults) -> Table | None:
    """Table 1: baseline characteristics by arm, mean (SD) or n (%)."""
    frame = results.table("baseline")
    if frame.empty:
        return None
    arms = _arms(results)
    columns = ["Characteristic"]
    for code in arms:
        n = results.consort.randomised.get(code)
        columns.append(f"{arm_label(results, code)} (n = {n})" if n is not None else code)
    rows = []
    for characteristic in _unique(frame["characteristic"]):
        cells = [characteristic]
        for code in arms:
            row = _first(frame, characteristic=characteristic, arm=code)
            cells.append(DASH if row is None else _baseline_cell(row))
        rows.append(Row(tuple(cells)))
    return Table(
        "baseline",
        "Baseline characteristics by arm",
        tuple(columns),
        tuple(rows),
        ("Mean (SD) for continuous characteristics; n (%) for categories.",),
    )


def _baseline_cell(row: pd.Series) -> str:
    if not pd.isna(row["mean"]):
        return mean_sd(row["mean"], row["sd"])
    if not pd.isna(row["count"]):
        return f"{int(row['count'])} ({num(row['percent'])}%)"
    return str(row["summary"]) if not pd.isna(row["summary"]) else DASH


def primary_table(results: AnalysisResults) -> Table | None:
    """Table 2: the primary outcome at every visit, with the sensitivity analyses below."""
    primary = primary_row(results)
    if primary is None:
        return None
    outcome, main_visit = str(primary["outcome"]), str(primary["visit"])
    descriptives = _rows(results.table("descriptives"), outcome=outcome)
    within = _rows(results.table("within"), outcome=outcome)
    ancova = _rows(results.table("ancova"), outcome=outcome, population=primary["population"])
    arms = _arms(results)
    visits = _unique(pd.concat([descriptives["visit"], ancova["visit"]]))
    rows = []
    for visit in visits:
        cells = [visit_name(visit)]
        for code in arms:
            d = _first(descriptives, visit=visit, arm=code)
            w = _first(within, visit=visit, arm=code)
            cells.append(DASH if d is None else f"{mean_sd(d['mean'], d['sd'])} [{int(d['n'])}]")
            cells.append(
                DASH if w is None else estimate(w["mean_change"], w["ci_low"], w["ci_high"])
            )
        a = _first(ancova, visit=visit)
        cells += (
            [DASH, DASH]
            if a is None
            else [estimate(a["estimate"], a["ci_low"], a["ci_high"]), pvalue(a["p"])]
        )
        rows.append(Row(tuple(cells)))
    sensitivity = _sensitivity_rows(results, outcome, main_visit, str(primary["population"]))
    if sensitivity:
        rows.append(Row((f"Sensitivity analyses at {visit_name(main_visit)}",), "group", 7))
        rows += sensitivity
    spanners = [("", 1)] + [(arm_label(results, c), 2) for c in arms] + [("Between groups", 2)]
    columns = ["Visit"]
    for _ in arms:
        columns += ["Mean (SD) [n]", "Change (95% CI)"]
    columns += [f"Difference ({contrast_label(results)}) (95% CI)", "p"]
    return Table(
        "primary",
        f"Primary outcome: {outcome_name(outcome)}",
        tuple(columns),
        tuple(rows),
        (
            "Change: within-arm mean change from baseline. Difference: between-group difference "
            "adjusted for the baseline value (ANCOVA), "
            f"{POPULATION_NAMES.get(str(primary['population']), str(primary['population']))}; "
            f"primary time point {visit_name(main_visit)}.",
        ),
        tuple(spanners),
    )


def _sensitivity_rows(
    results: AnalysisResults, outcome: str, visit: str, population: str
) -> list[Row]:
    rows: list[Row] = []
    ancova = _rows(results.table("ancova"), outcome=outcome, visit=visit)
    for _, a in ancova[ancova["population"].astype(str) != population].iterrows():
        name = POPULATION_NAMES.get(str(a["population"]), str(a["population"]))
        rows.append(
            Row(
                (
                    f"ANCOVA, {name} (n = {int(a['n'])})",
                    estimate(a["estimate"], a["ci_low"], a["ci_high"]),
                    pvalue(a["p"]),
                ),
                span=5,
            )
        )
    for _, r in _rows(results.table("repeated"), outcome=outcome, visit=visit).iterrows():
        model = model_name(str(r["model"]))
        rows.append(
            Row(
                (
                    f"{model}, repeated measures over follow-up visits",
                    estimate(r["estimate"], r["ci_low"], r["ci_high"]),
                    pvalue(r["p"]),
                ),
                span=5,
            )
        )
    return rows + _missing_data_rows(results, visit)


def _missing_data_rows(results: AnalysisResults, visit: str) -> list[Row]:
    """Multiple imputation under MAR and the tipping point (MNAR), when the plan ran them."""
    table = _rows(results.table("sensitivity"), visit=visit)
    rows = []
    for _, r in table[table["analysis"] == "mi_mar"].iterrows():
        rows.append(
            Row(
                (
                    "Multiple imputation under MAR, MMRM pooled by Rubin's rules",
                    estimate(r["estimate"], r["ci_low"], r["ci_high"]),
                    pvalue(r["p"]),
                ),
                span=5,
            )
        )
    tested = table[table["analysis"] == "delta_adjusted"]["delta"]
    arm = arm_label(results, results.experimental)
    for _, r in table[table["analysis"] == "tipping_point"].iterrows():
        if pd.isna(r["delta"]):
            largest = tested.abs().max()
            way = "added to" if tested.max() > 0 else "subtracted from"
            shift = f"not reached; still p < 0.05 with {num(largest)} {way} {arm}'s imputed values"
        else:
            way = "added to" if r["delta"] > 0 else "subtracted from"
            shift = f"{num(abs(r['delta']))} {way} {arm}'s imputed values"
        rows.append(Row((f"Tipping point (MNAR, delta-adjusted imputation): {shift}",), span=7))
    return rows


def secondary_table(results: AnalysisResults) -> Table | None:
    """Table 3: each secondary outcome at the primary visit, with Holm-adjusted p."""
    primary = primary_row(results)
    ancova = results.table("ancova")
    if primary is None or ancova.empty:
        return None
    visit, population = str(primary["visit"]), str(primary["population"])
    chosen = _rows(ancova, visit=visit, population=population)
    chosen = chosen[~chosen["primary"].fillna(False).astype(bool)]
    if chosen.empty:
        return None
    descriptives = results.table("descriptives")
    arms = _arms(results)
    rows = []
    for _, a in chosen.iterrows():
        cells = [outcome_name(str(a["outcome"]))]
        for code in arms:
            d = _first(descriptives, outcome=a["outcome"], visit=visit, arm=code)
            cells.append(DASH if d is None else mean_sd(d["mean"], d["sd"]))
        cells += [
            estimate(a["estimate"], a["ci_low"], a["ci_high"]),
            pvalue(a["p"]),
            pvalue(a["p_holm"]),
        ]
        rows.append(Row(tuple(cells)))
    columns = ["Outcome"]
    columns += [f"{short_arm(results, c)} mean (SD)" for c in arms]
    columns += [f"Difference ({contrast_label(results)}) (95% CI)", "p", "Holm p"]
    return Table(
        "secondary",
        f"Secondary outcomes at {visit_name(visit)}",
        tuple(columns),
        tuple(rows),
        (
            "Difference adjusted for the baseline value (ANCOVA). Holm p: p adjusted for the "
            "secondary outcomes by Holm's step-down method (Holm, Scand J Stat 1979;6:65).",
        ),
    )


def responders_table(results: AnalysisResults) -> Table | None:
    """Table 4: responders per arm, risk difference and number needed to treat."""
    frame = results.table("responders")
    if frame.empty:
        return None
    exp, ctl = (short_arm(results, c) for c in _arms(results))
    rows = []
    for _, r in frame.iterrows():
        definition = RESPONDER_NAMES.get(str(r["definition"]), str(r["definition"]))
        rows.append(
            Row(
                (
                    f"{definition}, {visit_name(str(r['visit']))}",
                    count_percent(r["responders_exp"], r["n_exp"]),
                    count_percent(r["responders_ctl"], r["n_ctl"]),
                    estimate(
                        100 * r["risk_difference"], 100 * r["rd_ci_low"], 100 * r["rd_ci_high"]
                    ),
                    nnt(r["nnt"], r["nnt_ci_low"], r["nnt_ci_high"]),
                )
            )
        )
    return Table(
        "responders",
        "Responders",
        (
            "Definition",
            f"{exp} n/N (%)",
            f"{ctl} n/N (%)",
            "Risk difference, % (95% CI)",
            "NNT (95% CI)",
        ),
        tuple(rows),
        (
            "NNT: number needed to treat for one more responder; an interval through infinity "
            "is written NNTB ... to \u221e to NNTH ... (Altman, BMJ 1998;317:1309).",
        ),
    )


def safety_table(results: AnalysisResults) -> Table | None:
    """Table 5: adverse events per session and per participant, exact 95% CIs."""
    frame = results.table("safety")
    if frame.empty:
        return None
    rows = []
    for code in _arms(results):
        for _, r in _rows(frame, arm=code).iterrows():
            rows.append(
                Row(
                    (
                        arm_label(results, code),
                        f"per {r['unit']}",
                        f"{int(r['with_event'])}/{int(r['denominator'])}",
                        estimate(100 * r["rate"], 100 * r["ci_low"], 100 * r["ci_high"]),
                        str(int(r["serious"])),
                    )
                )
            )
    return Table(
        "safety",
        "Adverse events",
        ("Arm", "Unit", "With an event", "Rate, % (95% CI)", "Serious"),
        tuple(rows),
        ("Exact (Clopper-Pearson) 95% confidence intervals.",),
        left=2,
    )


def blinding_table(results: AnalysisResults) -> Table | None:
    """Table 6: Bang's blinding index per rater and arm."""
    frame = results.table("blinding")
    if frame.empty:
        return None
    rows = [
        Row(
            (
                str(r["rater"]).capitalize(),
                arm_label(results, r["arm"]),
                str(int(r["n"])),
                estimate(r["bang_bi"], r["ci_low"], r["ci_high"], digits=2),
            )
        )
        for _, r in frame.iterrows()
    ]
    return Table(
        "blinding",
        "Blinding index",
        ("Rater", "Arm", "n", "Bang's index (95% CI)"),
        tuple(rows),
        (
            "Bang's index runs from \u22121 to 1: 0 is consistent with random guessing, 1 with "
            "everyone guessing their arm correctly, \u22121 with everyone guessing the other arm "
            "(Bang et al., Control Clin Trials 2004;25:143).",
        ),
        left=2,
    )


def published_table(results: AnalysisResults) -> Table | None:
    """The reference trial's published estimates against this analysis, when computed.

    Left out of a blinded report: the published differences are signed "favouring dry
    needling", so set beside the A - B differences they would tell which arm is which.
    """
    frame = results.table("published")
    if frame.empty or results.blinded:
        return None
    rows = [
        Row(
            (
                outcome_name(str(r["outcome"])),
                estimate(r["published_estimate"], r["published_ci_low"], r["published_ci_high"]),
                estimate(r["estimate"], r["ci_low"], r["ci_high"]),
                "yes" if bool(r["within_published_ci"]) else "no",
            )
        )
        for _, r in frame.iterrows()
    ]
    return Table(
        "published",
        "Published versus reproduced between-group differences",
        ("Outcome", "Published (95% CI)", "Reproduced (95% CI)", "Within the published CI"),
        tuple(rows),
        ("Published: Sci Rep 2025;15:44117 (abstract), mean difference in change.",),
    )


def check_arms(results: AnalysisResults) -> None:
    """Every arm value of every table and of the flow counts has a label the report may show."""
    for name in ("baseline", "descriptives", "within", "blinding", "safety"):
        for value in results.table(name)["arm"]:
            arm_label(results, value, where=f"table {name}, column arm,")
    consort = results.consort
    for part in ("randomised", "received", "lost", "discontinued", "analysed"):
        for value in getattr(consort, part):
            arm_label(results, value, where=f"consort {part}")


def all_tables(results: AnalysisResults) -> list[Table]:
    """Every table that has data, in the order the report numbers them."""
    check_arms(results)
    builders = (
        baseline_table,
        primary_table,
        secondary_table,
        responders_table,
        safety_table,
        blinding_table,
        published_table,
    )
    return [t for t in (b(results) for b in builders) if t is not None]
