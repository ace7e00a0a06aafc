"""Pain Self-Efficacy Questionnaire (PSEQ-10): confidence to act despite pain.

Why here: self-efficacy is a target of education and exercise in chronic pain, and one of the
few psychological outcomes where higher is better, so its direction must be declared, not assumed.

Scoring (instruments.md §7):

- 10 items coded 0 (not at all confident) – 6 (completely confident); the form labels only the
  two ends, so codes 1–5 are labelled by their number. Total = sum, 0–60, higher = better
  (https://measurely.com.au/outcome-measures/pain-self-efficacy-questionnaire/; Nicholas 2007,
  https://studylib.net/doc/25456042/nicholas2007).
- MCID: the Dubé 2021 systematic review reports 5.5–8.5 points in chronic low back pain. We
  declare the upper end, 8.5, so that a change counted as important is important under every
  estimate in that range (it is also close to ePPOC's "≥ 7 points plus a change of band"). No
  knee-OA value was found; MDC95 is 11.52, larger than either end, so an individual change of
  8.5 can still be measurement error. Which single study gives 8.5 was not read.
- Missing items: a proration rule is often used but none was verified, so none are allowed
  (UNVERIFIED choice): a blank item leaves the total unscored.
- Severity bands (ePPOC) are not scored: their exact edges are an interpretation (§7).
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.scoring import Answers, ScoreColumn, sum_score
from physiotrial.core.instruments.spec import (
    Choice,
    Direction,
    Instrument,
    Item,
    Mcid,
    Rater,
    ResponseType,
    ScoreSpec,
)

CONFIDENCE = (
    Choice(code=0, label="not at all confident"),
    *(Choice(code=i, label=str(i)) for i in range(1, 6)),
    Choice(code=6, label="completely confident"),
)
ITEMS = tuple(f"q{i}" for i in range(1, 11))
NO_MISSING = "no missing items allowed; proration rule not verified (UNVERIFIED)"

MEASURELY = "https://measurely.com.au/outcome-measures/pain-self-efficacy-questionnaire/"
NICHOLAS_2007 = (
    "Nicholas MK. Eur J Pain 2007;11:153-163, https://studylib.net/doc/25456042/nicholas2007"
)
DUBE_2021 = (
    "Dubé MO, Langevin P, Roy JS. Pain Rep 2021;6:e972 (systematic review; MCID 5.5-8.5 in "
    "CLBP, MDC95 11.52), via https://ichgcp.net/fi/clinical-trials-registry/publications/"
    "259320-measurement-properties-of-the-pain-self-efficacy-questionnaire-in-populations-"
    "with-musculoskeletal"
)


def _score(answers: Answers) -> Mapping[str, ScoreColumn]:
    return {"total": sum_score(answers, ITEMS, rule=NO_MISSING)}


PSEQ = Instrument(
    name="pseq",
    title="Pain Self-Efficacy Questionnaire",
    version="PSEQ-10",
    domain="pain self-efficacy",
    items=tuple(
        Item(
            id=item_id,
            label=f"confidence despite pain: item {item_id[1:]}",
            response=ResponseType.LIKERT,
            choices=CONFIDENCE,
        )
        for item_id in ITEMS
    ),
    scores=(
        ScoreSpec(
            key="total",
            label="pain self-efficacy (sum)",
            minimum=0,
            maximum=60,
            unit="points",
            direction=Direction.HIGHER_BETTER,
            mcid=Mcid(
                value=8.5,
                unit="points",
                source=DUBE_2021,
                note="increase; upper end of the 5.5–8.5 CLBP range; no knee-OA value found",
            ),
            items=ITEMS,
            max_missing=0,
            item_effect=1,
            description="sum of the 10 items, 0–60",
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    missing_rule="No missing items allowed: a blank item leaves the total unscored. A proration "
    "rule is often quoted but was not verified (UNVERIFIED).",
    citation=(MEASURELY, NICHOLAS_2007, DUBE_2021, "instruments.md §7"),
    licence="licence UNVERIFIED; item text is not shipped",
    scorer=_score,
)


INSTRUMENTS = (PSEQ,)
