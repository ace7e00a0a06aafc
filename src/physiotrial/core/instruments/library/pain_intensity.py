"""Pain intensity: the 100 mm visual analogue scale and the 0–10 numerical rating scale.

Single-item scales with no licensed text. The score is the raw value; change scores and percent
change are computed by the analysis, not here. Which pain is asked (current, maximum, minimum) and
over what recall period are protocol choices with no single governing source, so they are options
stored with every record (instruments.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.scoring import Answers, ScoreColumn, sum_score
from physiotrial.core.instruments.spec import (
    Direction,
    Instrument,
    Item,
    Mcid,
    Option,
    Rater,
    ResponseType,
    Scorer,
    ScoreSpec,
)

TUBACH_2005 = (
    "Tubach F et al. Ann Rheum Dis 2005;64:29-33 (MCII for knee OA), as applied in "
    "Forestier 2010, https://pmc.ncbi.nlm.nih.gov/articles/PMC2927613/table/T2"
)
FARRAR_2001 = "Farrar JT et al. Pain 2001;94:149-158, https://pubmed.ncbi.nlm.nih.gov/11690728/"

_PAIN_OPTIONS = (
    Option(
        name="pain",
        description="Which pain is rated (a protocol choice; stored with every record).",
        default="current",
        choices=("current", "maximum", "minimum", "average"),
    ),
    Option(
        name="recall",
        description="Recall period the question names (e.g. 'now', 'last 24 hours', 'last week').",
        default="now",
    ),
    Option(
        name="anchors",
        description="Wording of the two end anchors, as shown to the participant.",
        default="no pain | worst imaginable pain",
    ),
)


def _score_single(item_id: str) -> Scorer:
    def score(answers: Answers) -> Mapping[str, ScoreColumn]:
        return {"score": sum_score(answers, [item_id], rule="single item")}

    return score


VAS = Instrument(
    name="vas",
    title="Visual analogue scale for pain intensity (100 mm)",
    version="100 mm line",
    domain="pain intensity",
    items=(
        Item(
            id="mm",
            label="distance in mm from the 'no pain' anchor",
            response=ResponseType.NUMERIC,
            minimum=0,
            maximum=100,
            unit="mm",
        ),
    ),
    scores=(
        ScoreSpec(
            key="score",
            label="pain intensity",
            minimum=0,
            maximum=100,
            unit="mm",
            direction=Direction.HIGHER_WORSE,
            mcid=Mcid(value=19.9, unit="mm", source=TUBACH_2005, note="improvement, knee OA"),
            items=("mm",),
            item_effect=1,
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    recall="protocol option",
    missing_rule="Single item: a blank answer gives no score.",
    citation=(
        "instruments.md §1; anchor and recall conventions have no single governing source "
        "(UNVERIFIED convention), so both are stored as options",
        TUBACH_2005,
    ),
    licence="generic scale, no item text to license",
    options=_PAIN_OPTIONS,
    scorer=_score_single("mm"),
)

NPRS = Instrument(
    name="nprs",
    title="Numerical pain rating scale (0–10)",
    version="11-point PI-NRS",
    domain="pain intensity",
    items=(
        Item(
            id="points",
            label="0 = no pain, 10 = worst possible pain",
            response=ResponseType.NUMERIC,
            minimum=0,
            maximum=10,
            integer=True,
        ),
    ),
    scores=(
        ScoreSpec(
            key="score",
            label="pain intensity",
            minimum=0,
            maximum=10,
            unit="points",
            direction=Direction.HIGHER_WORSE,
            mcid=Mcid(value=2, unit="points", source=FARRAR_2001, note="or a 30 % reduction"),
            items=("points",),
            item_effect=1,
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    recall="protocol option",
    missing_rule="Single item: a blank answer gives no score.",
    citation=(FARRAR_2001, "instruments.md §1"),
    licence="generic scale, no item text to license",
    options=_PAIN_OPTIONS,
    scorer=_score_single("points"),
)

INSTRUMENTS = (VAS, NPRS)
