"""How the report writes numbers, names and arms: every rounding of the report goes through here.

Display rules (journal style; CONSORT 2010 items 15-19, Moher et al. BMJ 2010;340:c869):

- estimates in the outcome's units with 1 decimal, confidence intervals written "low to high"
  (a hyphen between two negative numbers misreads), negative numbers with a true minus sign;
- dimensionless indices (Hedges' g, Bang's blinding index) with 2 decimals, as usual for a
  standardised mean difference, since 1 decimal would hide differences of 0.05 on a -1..1 scale;
- p as "<0.001" or with 3 decimals; no p-values in Table 1 (CONSORT explanation, item 15);
- a number needed to treat whose interval crosses "no effect" written as Altman's "NNTB a to
  infinity to NNTH b" (Altman, BMJ 1998;317:1309).

Arms are shown only through :func:`arm_label` and in the order experimental, control; a blinded
report refuses any arm value that is not one of its blinded labels, so an arm code can never reach
the page.
"""

from __future__ import annotations

import math

import pandas as pd

from physiotrial.analysis.results import AnalysisResults
from physiotrial.errors import ConflictError

MINUS = "\u2212"
DASH = "\u2013"  # shown for a value that was not estimated

# Display names for the built-in reference protocol's ids (popliteus-dn-koa.toml). AnalysisResults
# carries ids only; any other id is shown humanised. See the report notes: the results could carry
# the protocol's names instead.
OUTCOME_NAMES = {
    "pain_max": "Maximum knee pain (VAS, mm)",
    "womac_total": "WOMAC total (0-100)",
    "womac_pain": "WOMAC pain (0-100)",
    "womac_stiffness": "WOMAC stiffness (0-100)",
    "womac_function": "WOMAC physical function (0-100)",
    "neuropathic": "Neuropathic pain (DN4, 0-10)",
    "kinesiophobia": "Kinesiophobia (TSK-11)",
    "catastrophizing": "Pain catastrophizing (PCS)",
    "tug": "Timed Up and Go (s)",
    "walk_6min": "Six-minute walk distance (m)",
    "extension_strength": "Knee extension torque (N·m/kg)",
    "flexion_strength": "Knee flexion torque (N·m/kg)",
    "knee_flexion": "Knee flexion range (degrees)",
}
VISIT_NAMES = {
    "SCR": "Screening",
    "BL": "Baseline",
    "W3": "Week 3",
    "M3": "Month 3",
    "M6": "Month 6",
}
POPULATION_NAMES = {"itt": "intention to treat", "per_protocol": "per protocol"}
RESPONDER_NAMES = {
    "pain_mcid": "Pain improved by at least 19.9 mm (MCII)",
    "pain_30pct": "Pain reduced by at least 30%",
    "omeract_oarsi": "OMERACT-OARSI responder",
}
MODEL_NAMES = {
    "mmrm": "MMRM",
    "ancova": "ANCOVA",
    "mmrm_us": "MMRM (unstructured covariance)",
    "mmrm_toep": "MMRM (Toeplitz covariance)",
    "mmrm_ar1": "MMRM (AR(1) covariance)",
    "mmrm_cs": "MMRM (compound symmetry)",
}


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model.replace("_", " "))


# ---------------------------------------------------------------- formatting


def number(value: object) -> float | None:
    """``value`` as a float, or None when it is missing (None, NaN, pd.NA) or not a number."""
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def num(value: object, digits: int = 1) -> str:
    """A number rounded for display, with a true minus sign; an en dash when missing."""
    x = number(value)
    if x is None:
        return DASH
    if math.isinf(x):
        return "\u221e" if x > 0 else MINUS + "\u221e"
    text = f"{x:.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    return text


def interval(low: object, high: object, digits: int = 1) -> str:
    return f"{num(low, digits)} to {num(high, digits)}"


def estimate(value: object, low: object, high: object, digits: int = 1) -> str:
    """``-30.0 (-42.0 to -18.4)``; the estimate alone when the interval is missing."""
    if number(low) is None and number(high) is None:
        return num(value, digits)
    return f"{num(value, digits)} ({interval(low, high, digits)})"


def pvalue(value: object) -> str:
    """``<0.001`` or 3 decimals."""
    p = number(value)
    if p is None:
        return DASH
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def mean_sd(mean: object, sd: object) -> str:
    return DASH if number(mean) is None else f"{num(mean)} ({num(sd)})"


def count_percent(count: object, total: object) -> str:
    c, n = number(count), number(total)
    if c is None or n is None or n == 0:
        return DASH
    return f"{int(c)}/{int(n)} ({num(100 * c / n)}%)"


def nnt(value: object, low: object, high: object) -> str:
    """NNT with its interval; Altman's wording when the interval passes through infinity."""
    lo, hi = number(low), number(high)
    if number(value) is None or lo is None or hi is None:
        return num(value)
    if lo * hi < 0 or math.isinf(lo) or math.isinf(hi):
        benefit = next((b for b in (lo, hi) if b > 0 and not math.isinf(b)), None)
        harm = next((-b for b in (lo, hi) if b < 0 and not math.isinf(b)), None)
        parts = [
            f"NNTB {num(benefit)}" if benefit else "",
            "\u221e",
            f"NNTH {num(harm)}" if harm else "",
        ]
        return f"{num(value)} ({' to '.join(p for p in parts if p)})"
    return f"{num(value)} ({interval(min(lo, hi), max(lo, hi))})"


def outcome_name(outcome: str) -> str:
    return OUTCOME_NAMES.get(outcome, outcome.replace("_", " ").capitalize())


def visit_name(visit: str) -> str:
    return VISIT_NAMES.get(visit, visit)


# ---------------------------------------------------------------- arms


def arm_order(results: AnalysisResults) -> list[str]:
    """Arm codes, experimental first, as the tables list them."""
    order = [results.experimental, results.control]
    return order + [code for code in results.arms if code not in order]


ALL_ARMS = "All"
"""Table 1's column of every participant, which is not an arm."""


def arm_label(results: AnalysisResults, code: object, where: str = "an arm value") -> str:
    """The label a reader sees; in a blinded report only a blinded label, never the code.

    The refusal names where the value was found and the labels allowed, never the value itself.
    """
    key = str(code)
    if key in results.arms:
        return results.arms[key]
    if key == ALL_ARMS:
        return key
    if results.blinded:
        if key in results.arms.values():
            return key
        allowed = ", ".join(sorted(results.arms.values()))
        raise ConflictError(
            f"blinded report: {where} holds a value outside the blinded labels; allowed: {allowed}"
        )
    return key


def contrast_label(results: AnalysisResults) -> str:
    exp, ctl = arm_label(results, results.experimental), arm_label(results, results.control)
    if results.blinded:
        return f"{exp} {MINUS} {ctl}"
    return f"{results.experimental} {MINUS} {results.control}"


def short_arm(results: AnalysisResults, code: str) -> str:
    """Column heading for an arm: the code when unblinded (names go in the legend), else A/B."""
    return arm_label(results, code) if results.blinded else code


# ---------------------------------------------------------------- primary result


def primary_row(results: AnalysisResults) -> pd.Series | None:
    """The ANCOVA row flagged primary (intention to treat first)."""
    ancova = results.table("ancova")
    if ancova.empty:
        return None
    flagged = ancova[ancova["primary"].fillna(False).astype(bool)]
    if flagged.empty:
        return None
    itt = flagged[flagged["population"] == "itt"]
    return (itt if not itt.empty else flagged).iloc[0]


def primary_sentence(results: AnalysisResults) -> str:
    """The one-line main result for page 1."""
    row = primary_row(results)
    if row is None:
        return "The primary analysis was not computed."
    return (
        f"{outcome_name(str(row['outcome']))} at {visit_name(str(row['visit']))}: adjusted "
        f"difference ({contrast_label(results)}) {num(row['estimate'])} "
        f"(95% CI {interval(row['ci_low'], row['ci_high'])}), p {_p_phrase(row['p'])}, "
        f"n = {int(row['n'])} ({POPULATION_NAMES.get(str(row['population']), row['population'])})."
    )


def _p_phrase(value: object) -> str:
    text = pvalue(value)
    return text.replace("<", "< ") if text.startswith("<") else f"= {text}"
