"""Pain Catastrophizing Scale (PCS): 13 items, total and three subscales.

Why here: catastrophizing predicts pain and disability outcomes and is a common moderator and
secondary outcome in physiotherapy trials for chronic joint pain.

Scoring (instruments.md §6):

- 13 items coded 0 (not at all) – 4 (all the time); every score is a plain sum, higher = worse.
- Subscales: rumination = items 8–11 (0–16), magnification = items 6, 7, 13 (0–12), helplessness =
  items 1–5 and 12 (0–24); total = all 13 items (0–52). Sources: the SRALab RehabMeasures entry
  (mirror http://semestadata.com/rehabilitation-measures/pain-catastrophizing-scale) and
  awell-score ``src/scores/pcs/`` (MIT code, commit c37843e5), whose test vectors we reproduce.
- ``clinically_relevant``: total > 30 (same RehabMeasures page and
  https://kandelscreen.com/questionnaire/rating-scale/pcs). The percentile table in the user
  manual (Sullivan 2009) was not read.
- The end labels (0 not at all, 4 all the time) are sourced; the three middle labels (to a slight,
  moderate, great degree) are the commonly printed ones, UNVERIFIED against the manual.
- Missing items: no rule was found (UNVERIFIED), so none are allowed; the total and each subscale
  are unscored when any of their items is blank. MCID: none found, none declared.
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.scoring import (
    Answers,
    ScoreColumn,
    sum_score,
    threshold_flag,
)
from physiotrial.core.instruments.spec import (
    Choice,
    Direction,
    Instrument,
    Item,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

FREQUENCY = (
    Choice(code=0, label="not at all"),
    Choice(code=1, label="to a slight degree"),
    Choice(code=2, label="to a moderate degree"),
    Choice(code=3, label="to a great degree"),
    Choice(code=4, label="all the time"),
)
ITEMS = tuple(f"q{i}" for i in range(1, 14))
SUBSCALES: dict[str, tuple[str, ...]] = {
    "rumination": ("q8", "q9", "q10", "q11"),
    "magnification": ("q6", "q7", "q13"),
    "helplessness": ("q1", "q2", "q3", "q4", "q5", "q12"),
}
RELEVANT_CUTOFF = 30.0
"""``clinically_relevant`` is set when the total is strictly greater than this."""

NO_MISSING = "no missing items allowed; no published rule found (UNVERIFIED)"

REHABMEASURES = (
    "SRALab RehabMeasures: Pain Catastrophizing Scale (subscales; cut-off > 30), mirror "
    "http://semestadata.com/rehabilitation-measures/pain-catastrophizing-scale"
)
KANDEL = "Cut-off > 30: https://kandelscreen.com/questionnaire/rating-scale/pcs"
AWELL = "awell-health/awell-score src/scores/pcs/ (MIT code, commit c37843e5): subscales, tests"
SULLIVAN = (
    "Sullivan MJL, Bishop SR, Pivik J. Psychol Assess 1995;7:524-532; PCS User Manual 2009, "
    "https://vdocument.in/pain-catastrophizing-scale-manual-sullivan.html (not read)"
)


def _subscale_of(item_id: str) -> str:
    return next(name for name, items in SUBSCALES.items() if item_id in items)


def _score(answers: Answers) -> Mapping[str, ScoreColumn]:
    total = sum_score(answers, ITEMS, rule=NO_MISSING)
    scores = {"total": total}
    for name, items in SUBSCALES.items():
        scores[name] = sum_score(answers, items, rule=NO_MISSING)
    scores["clinically_relevant"] = threshold_flag(total, RELEVANT_CUTOFF, strict=True)
    return scores


def _sum_spec(key: str, items: tuple[str, ...], label: str) -> ScoreSpec:
    return ScoreSpec(
        key=key,
        label=label,
        minimum=0,
        maximum=4 * len(items),
        unit="points",
        direction=Direction.HIGHER_WORSE,
        items=items,
        max_missing=0,
        item_effect=1,
        description="sum of items " + ", ".join(i[1:] for i in items),
    )


PCS = Instrument(
    name="pcs",
    title="Pain Catastrophizing Scale",
    version="PCS-13",
    domain="pain catastrophizing",
    items=tuple(
        Item(
            id=item_id,
            label=f"catastrophizing, {_subscale_of(item_id)}: item {item_id[1:]}",
            response=ResponseType.LIKERT,
            choices=FREQUENCY,
        )
        for item_id in ITEMS
    ),
    scores=(
        _sum_spec("total", ITEMS, "catastrophizing total"),
        *(_sum_spec(name, items, name) for name, items in SUBSCALES.items()),
        ScoreSpec(
            key="clinically_relevant",
            label="clinically relevant catastrophizing (total > 30)",
            kind=ScoreKind.FLAG,
            direction=Direction.HIGHER_WORSE,
            items=ITEMS,
            max_missing=0,
            item_effect=1,
            description="total > 30 (RehabMeasures); null when the total is null",
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    missing_rule="No missing items allowed: a blank item leaves the total, its subscale and the "
    "flag unscored. No published rule was found (UNVERIFIED).",
    citation=(REHABMEASURES, KANDEL, AWELL, SULLIVAN, "instruments.md §6"),
    licence="listed free ($0.00, RehabMeasures); © M.J.L. Sullivan 1995-2009; permission for "
    "electronic distribution UNVERIFIED; item text is not shipped",
    scorer=_score,
)

INSTRUMENTS = (PCS,)
