"""Global rating of change: the 15-point GRC (−7…+7) and the 7-point PGIC.

Why here: a single-item global rating is the usual anchor for MCIDs and a patient-centred
secondary outcome; PGIC "much or very much improved" is the standard responder definition for
clinically important improvement in chronic pain trials (Farrar 2001).

Rules (instruments.md §10):

- GRC: one item rating change since a reference time point. Formats vary (11-point, 15-point, VAS;
  Kamper 2009, https://pmc.ncbi.nlm.nih.gov/articles/pmid/20046623); this is the 15-point format,
  −7 = very much worse, 0 = unchanged, +7 = very much better, so higher = better. The score is the
  answer itself. The anchor wording and the reference time point are protocol options stored with
  every record. No dichotomisation is scored: "≥ +3 = important improvement" is UNVERIFIED.
- PGIC: 7 ordered categories from very much improved to very much worse. Numeric coding varies
  between studies (1 = very much improved … 7 = very much worse, or the reverse), so we fix
  1 = very much improved … 7 = very much worse, store the labels as choices, accept them as
  answers, and also return the label as a score, so that a record never depends on the coding.
  ``improved`` = much or very much improved (codes 1–2), Farrar 2001,
  https://pubmed.ncbi.nlm.nih.gov/11690728/. The three middle-step labels (minimally improved, no
  change, minimally worse) are the usual CGI-I/PGIC labels, UNVERIFIED against Farrar's form.
- Both are single items: a blank answer gives no score.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from physiotrial.core.instruments.scoring import Answers, ScoreColumn, sum_score
from physiotrial.core.instruments.spec import (
    Choice,
    Direction,
    Instrument,
    Item,
    Option,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

KAMPER_2009 = (
    "Kamper SJ, Maher CG, Mackay G. J Man Manip Ther 2009;17:163-170 (GRC formats review), "
    "https://pmc.ncbi.nlm.nih.gov/articles/pmid/20046623"
)
CAREPATRON = (
    "GRC formats (secondary): https://www.carepatron.com/templates/global-rating-of-change-scale"
)
FARRAR_2001 = "Farrar JT et al. Pain 2001;94:149-158, https://pubmed.ncbi.nlm.nih.gov/11690728/"
SINGLE = "single item"

PGIC_CHOICES = (
    Choice(code=1, label="very much improved"),
    Choice(code=2, label="much improved"),
    Choice(code=3, label="minimally improved"),
    Choice(code=4, label="no change"),
    Choice(code=5, label="minimally worse"),
    Choice(code=6, label="much worse"),
    Choice(code=7, label="very much worse"),
)
PGIC_LABELS = tuple(c.label for c in PGIC_CHOICES)
IMPROVED_MAX_CODE = 2
"""PGIC codes 1 (very much improved) and 2 (much improved) count as ``improved``."""

_REFERENCE = Option(
    name="reference",
    description="The time point change is rated against, as the question names it "
    "(e.g. 'start of treatment', 'baseline visit'); stored with every record.",
    default="start of treatment",
)


def _score_grc(answers: Answers) -> Mapping[str, ScoreColumn]:
    return {"score": sum_score(answers, ["change"], rule=SINGLE)}


def _score_pgic(answers: Answers) -> Mapping[str, ScoreColumn]:
    code = sum_score(answers, ["impression"], rule=SINGLE)
    values = code.values
    answered = ~np.isnan(values)
    labels = np.full(len(values), None, dtype=object)
    for row in np.flatnonzero(answered):
        labels[row] = PGIC_LABELS[int(values[row]) - 1]
    with np.errstate(invalid="ignore"):
        improved = np.where(answered, (values <= IMPROVED_MAX_CODE).astype(float), np.nan)
    return {
        "code": code,
        "label": ScoreColumn.of(labels, code.reasons),
        "improved": ScoreColumn.of(improved, code.reasons),
    }


GRC = Instrument(
    name="grc",
    title="Global Rating of Change, 15-point (−7 to +7)",
    version="15-point",
    domain="global change since a reference time point",
    items=(
        Item(
            id="change",
            label="rated change since the reference time point (−7 worse … +7 better)",
            response=ResponseType.NUMERIC,
            minimum=-7,
            maximum=7,
            integer=True,
        ),
    ),
    scores=(
        ScoreSpec(
            key="score",
            label="global rating of change",
            minimum=-7,
            maximum=7,
            unit="points",
            direction=Direction.HIGHER_BETTER,
            items=("change",),
            max_missing=0,
            item_effect=1,
            description="the answer itself; no dichotomisation (≥ +3 rule UNVERIFIED)",
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    recall="since the reference time point (option 'reference')",
    missing_rule="Single item: a blank answer gives no score.",
    citation=(KAMPER_2009, CAREPATRON, "instruments.md §10"),
    licence="generic scale, no item text to license",
    options=(
        Option(
            name="anchors",
            description="Wording of the −7, 0 and +7 anchors as shown to the participant; "
            "formats vary (Kamper 2009), so the wording used is stored with every record.",
            default="very much worse | unchanged | very much better",
        ),
        _REFERENCE,
    ),
    scorer=_score_grc,
)

PGIC = Instrument(
    name="pgic",
    title="Patient Global Impression of Change (7-point)",
    version="7-point, 1 = very much improved",
    domain="global change since a reference time point",
    items=(
        Item(
            id="impression",
            label="impression of change since the reference time point",
            response=ResponseType.LIKERT,
            choices=PGIC_CHOICES,
        ),
    ),
    scores=(
        ScoreSpec(
            key="code",
            label="PGIC code (1 very much improved … 7 very much worse)",
            minimum=1,
            maximum=7,
            direction=Direction.HIGHER_WORSE,
            items=("impression",),
            max_missing=0,
            item_effect=1,
        ),
        ScoreSpec(
            key="label",
            label="PGIC answer as its label (independent of numeric coding)",
            kind=ScoreKind.CATEGORY,
            categories=PGIC_LABELS,
            items=("impression",),
            max_missing=0,
        ),
        ScoreSpec(
            key="improved",
            label="much or very much improved",
            kind=ScoreKind.FLAG,
            direction=Direction.HIGHER_BETTER,
            items=("impression",),
            max_missing=0,
            item_effect=-1,
            description="codes 1–2 (Farrar 2001)",
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    recall="since the reference time point (option 'reference')",
    missing_rule="Single item: a blank answer gives no score.",
    citation=(FARRAR_2001, "instruments.md §10"),
    licence="generic scale, no item text to license",
    options=(_REFERENCE,),
    scorer=_score_pgic,
)

INSTRUMENTS = (GRC, PGIC)
