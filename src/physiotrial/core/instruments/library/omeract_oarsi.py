"""OMERACT-OARSI responder criteria (Pham et al. 2004) as a vectorised rule and an instrument.

Why here: the OMERACT-OARSI set is the standard responder definition for symptom-modifying OA
trials. The analysis layer needs it as a pure function on arrays of before/after scores
(:func:`omeract_oarsi_responder`); the instrument lets a site record the six values directly.

Rule (Pham T et al. Osteoarthritis Cartilage 2004;12:389-399; instruments.md §11). Every domain is
on 0–100, higher = worse (e.g. WOMAC ``pain_100``/``function_100``, a 100 mm global VAS);
improvement = before − after, relative improvement = improvement ÷ before. A patient responds if

1. pain **or** function improves by ≥ 50 % **and** by ≥ 20 points ("high" improvement), or
2. at least two of pain, function and patient global assessment improve by ≥ 20 % **and** by ≥ 10
   points each.

What is verified: the three domains, and that each domain response needs both a relative and an
absolute change (Pham 2004 abstract, https://tokyo-2-qrcode.vukou.com/15094138; Pham 2003,
J Rheumatol 30:1648, http://www.jrheum.org/highwire/citation/8738/endnote-tagged). Pathway 2 with
"≥ 20 % and ≥ 10 mm in ≥ 2 of 3" is stated in those words in the OMERACT-OARSI footnote of a
trial report (Arthritis Rheumatol 2021;73:1646-1655, table 2,
https://pmc.ncbi.nlm.nih.gov/articles/PMC8456865/table/art41725-tbl-0002). The thresholds of
pathway 1 (≥ 50 % and ≥ 20) and the use of ≥ rather than > there are UNVERIFIED: the Pham 2004
full text was not read.

Missing values: the rule is applied with three-valued logic. A missing domain is "unknown", and the
responder flag is null only when the known domains cannot decide it (e.g. pain and function known,
one of them meeting pathway 2, global missing). Patient global is optional: without it a patient
can still respond through pathway 1 or through pain *and* function. A domain whose baseline is 0
cannot improve, so it never meets a criterion.

``pathway`` names the first criterion shown to be met, in the order high_pain, high_function,
two_of_three; ``none`` for a non-responder; null when the responder flag is null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from physiotrial.core.instruments.scoring import (
    Answers,
    FloatArray,
    ObjectArray,
    ScoreColumn,
)
from physiotrial.core.instruments.spec import (
    Direction,
    Instrument,
    Item,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

HIGH_PERCENT, HIGH_POINTS = 50.0, 20.0
"""Pathway 1: relative improvement ≥ 50 % and absolute ≥ 20 points (UNVERIFIED, see module)."""
MODERATE_PERCENT, MODERATE_POINTS = 20.0, 10.0
"""Pathway 2: relative improvement ≥ 20 % and absolute ≥ 10 points, in ≥ 2 of 3 domains."""
_EPS = 1e-9
"""Absorbs binary rounding only (e.g. 50.5 − 40.4); inputs are never finer than 0.01 points."""

PATHWAYS = ("high_pain", "high_function", "two_of_three", "none")
DOMAINS = ("pain", "function", "global")

PHAM_2004 = (
    "Pham T et al. OMERACT-OARSI initiative. Osteoarthritis Cartilage 2004;12:389-399; "
    "abstract https://tokyo-2-qrcode.vukou.com/15094138 (domains; relative and absolute change); "
    "full text not read, so the pathway-1 thresholds (>= 50 % and >= 20) are UNVERIFIED"
)
PHAM_2003 = (
    "Pham T et al. J Rheumatol 2003;30:1648-1654, "
    "http://www.jrheum.org/highwire/citation/8738/endnote-tagged"
)
TRIAL_2021 = (
    "Pathway 2 (>= 20 % and >= 10 mm in >= 2 of 3) as worded in Arthritis Rheumatol "
    "2021;73:1646-1655, https://pmc.ncbi.nlm.nih.gov/articles/PMC8456865/table/art41725-tbl-0002"
)


@dataclass(frozen=True)
class OmeractOarsiResult:
    """Per row: ``responder`` 1.0 / 0.0 / NaN (undecidable) and ``pathway`` (str or None)."""

    responder: FloatArray
    pathway: ObjectArray


def _meets(before: FloatArray, after: FloatArray, percent: float, points: float) -> FloatArray:
    """1.0 / 0.0 where the improvement meets both thresholds, NaN where a value is missing."""
    improvement = before - after
    with np.errstate(invalid="ignore"):
        met = (improvement >= points - _EPS) & (100.0 * improvement >= percent * before - _EPS)
    result: FloatArray = np.where(np.isnan(improvement), np.nan, met.astype(float))
    return result


def _any(*flags: FloatArray) -> FloatArray:
    """Three-valued OR: 1 if any is 1, 0 if all are 0, else NaN."""
    stacked = np.vstack(flags)
    known_true = np.any(stacked == 1.0, axis=0)
    all_false = np.all(stacked == 0.0, axis=0)
    result: FloatArray = np.where(known_true, 1.0, np.where(all_false, 0.0, np.nan))
    return result


def _array(values: Any, n: int | None = None) -> FloatArray:
    if values is None:
        return np.full(0 if n is None else n, np.nan)
    array: FloatArray = np.atleast_1d(np.asarray(values, dtype=float))
    return array


def omeract_oarsi_responder(
    pain_before: Any,
    pain_after: Any,
    function_before: Any,
    function_after: Any,
    global_before: Any = None,
    global_after: Any = None,
) -> OmeractOarsiResult:
    """Apply the OMERACT-OARSI responder rule to arrays of 0–100 scores (higher = worse).

    All arguments are array-likes of one length (NaN = missing); ``global_before`` and
    ``global_after`` may be omitted, which treats patient global as missing for every row.
    """
    pain_b, pain_a = _array(pain_before), _array(pain_after)
    n = len(pain_b)
    fun_b, fun_a = _array(function_before), _array(function_after)
    glob_b, glob_a = _array(global_before, n), _array(global_after, n)
    if any(len(a) != n for a in (pain_a, fun_b, fun_a, glob_b, glob_a)):
        raise ValueError("omeract_oarsi_responder: every array must have the same length")

    high_pain = _meets(pain_b, pain_a, HIGH_PERCENT, HIGH_POINTS)
    high_function = _meets(fun_b, fun_a, HIGH_PERCENT, HIGH_POINTS)
    moderate = np.vstack(
        [
            _meets(b, a, MODERATE_PERCENT, MODERATE_POINTS)
            for b, a in ((pain_b, pain_a), (fun_b, fun_a), (glob_b, glob_a))
        ]
    )
    n_met = np.sum(moderate == 1.0, axis=0)
    n_unknown = np.sum(np.isnan(moderate), axis=0)
    two_of_three: FloatArray = np.where(
        n_met >= 2, 1.0, np.where(n_met + n_unknown < 2, 0.0, np.nan)
    )
    responder = _any(high_pain, high_function, two_of_three)

    pathway = np.full(n, None, dtype=object)
    pathway[responder == 0.0] = "none"
    pathway[two_of_three == 1.0] = "two_of_three"
    pathway[high_function == 1.0] = "high_function"
    pathway[high_pain == 1.0] = "high_pain"
    return OmeractOarsiResult(responder=responder, pathway=pathway)


# --- the instrument -------------------------------------------------------------------------

ITEM_IDS = (
    "pain_before",
    "pain_after",
    "function_before",
    "function_after",
    "global_before",
    "global_after",
)
_LABELS = {
    "pain": "pain",
    "function": "physical function (e.g. WOMAC function normalised)",
    "global": "patient global assessment",
}


def _item(item_id: str) -> Item:
    domain, when = item_id.split("_")
    return Item(
        id=item_id,
        label=f"{_LABELS[domain]} {when} treatment, 0–100, higher = worse",
        response=ResponseType.NUMERIC,
        minimum=0,
        maximum=100,
        unit="points",
        required=domain != "global",
    )


def _score(answers: Answers) -> Mapping[str, ScoreColumn]:
    columns = [answers.column(i) for i in ITEM_IDS]
    result = omeract_oarsi_responder(*columns)
    reasons = np.full(len(answers), None, dtype=object)
    for row in np.flatnonzero(np.isnan(result.responder)):
        missing = [i for i, col in zip(ITEM_IDS, columns, strict=True) if np.isnan(col[row])]
        reasons[row] = (
            f"undecidable with {', '.join(missing)} missing: the known domains neither meet "
            "nor rule out the responder criteria"
        )
    return {
        "responder": ScoreColumn.of(result.responder, reasons),
        "pathway": ScoreColumn.of(result.pathway, reasons),
    }


OMERACT_OARSI = Instrument(
    name="omeract_oarsi",
    title="OMERACT-OARSI responder criteria",
    version="Pham 2004 simplified set",
    domain="responder status from pain, function and patient global in OA",
    items=tuple(_item(i) for i in ITEM_IDS),
    scores=(
        ScoreSpec(
            key="responder",
            label="OMERACT-OARSI responder",
            kind=ScoreKind.FLAG,
            direction=Direction.HIGHER_BETTER,
            items=ITEM_IDS,
            max_missing=None,
            description="pain or function ≥ 50 % and ≥ 20 points better, or ≥ 2 of pain, "
            "function, global ≥ 20 % and ≥ 10 points better",
        ),
        ScoreSpec(
            key="pathway",
            label="criterion met (first of high_pain, high_function, two_of_three)",
            kind=ScoreKind.CATEGORY,
            categories=PATHWAYS,
            items=ITEM_IDS,
            max_missing=None,
        ),
    ),
    raters=(Rater.ASSESSOR,),
    recall="values as recorded at the two visits compared",
    missing_rule="Three-valued: a missing domain is unknown; the flag and pathway are null only "
    "when the known domains cannot decide them. Patient global is optional.",
    citation=(PHAM_2004, PHAM_2003, TRIAL_2021, "instruments.md §11"),
    licence="published criteria, no item text",
    scorer=_score,
)

INSTRUMENTS = (OMERACT_OARSI,)
