"""Tampa Scale of Kinesiophobia (fear of movement/(re)injury): the TSK-17 and the TSK-11.

Why here: kinesiophobia is a secondary outcome and a moderator in exercise and dry-needling trials
for chronic joint pain, and both lengths are in use, so a trial must say which it collected.

Scoring (instruments.md §5):

- TSK-17: 17 items coded 1 (strongly disagree) – 4 (strongly agree); items 4, 8, 12, 16 are
  reverse-scored (5 − answer); the total is the sum, 17–68, higher = more fear. Source: awell-score
  ``src/scores/tampa/`` README and code (MIT code, commit c37843e5), citing Kori 1990 and
  Vlaeyen 1995.
- ``high`` (TSK-17 only): total > 37 = high kinesiophobia, after Vlaeyen 1995 as quoted by the
  awell README. awell's *code* uses ≥ 37, so a total of exactly 37 is the disputed case; we follow
  the README (> 37). UNVERIFIED: the Vlaeyen 1995 primary text was not read.
- TSK-11 (Woby 2005): the TSK-17 without items 4, 8, 9, 12, 14, 16, i.e. TSK-17 items 1, 2, 3, 5, 6,
  7, 10, 11, 13, 15, 17; no reversed items remain; total 11–44 (physiotutors page; item list from
  the metajournal copy of Woby 2005).
- MCID: a reduction of 4 points on either version best identified important improvement in
  chronic low back pain (Woby 2005; SEM 3.16 for TSK-17, 2.54 for TSK-11). No knee-OA value found.
- Missing items: no published rule was found, so none are allowed (a blank item gives no score).
  UNVERIFIED choice, made so that no total is ever silently short.

Item ids: the TSK-11 items keep their TSK-17 ids (``q5`` is the same statement in both versions),
so that a TSK-17 response can be re-scored as TSK-11 and an id never changes meaning. The TSK-11
form numbers them 1–11; the label gives both numbers. Labels are generic: statement wording is not
shipped (licence UNVERIFIED) and no source for per-item topics was read.
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
    Mcid,
    Rater,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)

AGREEMENT = (
    Choice(code=1, label="strongly disagree"),
    Choice(code=2, label="somewhat disagree"),
    Choice(code=3, label="somewhat agree"),
    Choice(code=4, label="strongly agree"),
)
TSK17_ITEMS = tuple(f"q{i}" for i in range(1, 18))
REVERSED = frozenset({"q4", "q8", "q12", "q16"})
TSK11_ITEMS = tuple(f"q{i}" for i in (1, 2, 3, 5, 6, 7, 10, 11, 13, 15, 17))
HIGH_CUTOFF = 37.0
"""``high`` is set when the TSK-17 total is strictly above this (Vlaeyen 1995, UNVERIFIED)."""

NO_MISSING = "no missing items allowed; no published rule found (UNVERIFIED)"

AWELL = (
    "awell-health/awell-score src/scores/tampa/ (MIT code, commit c37843e5), citing Kori SH et "
    "al. Pain Manage 1990;3:35-43 and Vlaeyen JWS et al. Pain 1995;62:363-372; cut-off > 37 "
    "from its README (its code uses >= 37); Vlaeyen primary not read: UNVERIFIED"
)
WOBY_2005 = (
    "Woby SR et al. Pain 2005;117:137-144 (TSK-11 items, SEM, MCIC), via "
    "https://metajournal.com/articles/309710/psychometric-properties-tsk-11-shortened-version-"
    "tampa-scale-kinesiophobia"
)
PHYSIOTUTORS = "TSK-11 range: https://www.physiotutors.com/questionnaires/tampa-scale-11-tsk-11/"
WOBY_MCID = Mcid(
    value=4,
    unit="points",
    source=WOBY_2005,
    note="reduction (improvement) of 4 points, chronic low back pain; no knee-OA value found",
)
LICENCE = "licence UNVERIFIED; statement wording is not shipped (load it from a local file)"


def _items(item_ids: tuple[str, ...], version: str) -> tuple[Item, ...]:
    items = []
    for position, item_id in enumerate(item_ids, start=1):
        number = item_id[1:]
        where = f"TSK-17 item {number}" if version == "17" else f"item {position} (TSK-17 {number})"
        suffix = ", reverse-scored" if item_id in REVERSED else ""
        items.append(
            Item(
                id=item_id,
                label=f"fear of movement/(re)injury: {where}{suffix}",
                response=ResponseType.LIKERT,
                choices=AGREEMENT,
                reversed=item_id in REVERSED,
            )
        )
    return tuple(items)


def _score_tsk17(answers: Answers) -> Mapping[str, ScoreColumn]:
    total = sum_score(answers, TSK17_ITEMS, rule=NO_MISSING)
    return {"total": total, "high": threshold_flag(total, HIGH_CUTOFF, strict=True)}


def _score_tsk11(answers: Answers) -> Mapping[str, ScoreColumn]:
    return {"total": sum_score(answers, TSK11_ITEMS, rule=NO_MISSING)}


def _total(item_ids: tuple[str, ...], description: str) -> ScoreSpec:
    return ScoreSpec(
        key="total",
        label="kinesiophobia (sum, reversed items reversed)",
        minimum=len(item_ids),
        maximum=4 * len(item_ids),
        unit="points",
        direction=Direction.HIGHER_WORSE,
        mcid=WOBY_MCID,
        items=item_ids,
        max_missing=0,
        item_effect=1,
        description=description,
    )


TSK17 = Instrument(
    name="tsk17",
    title="Tampa Scale of Kinesiophobia (17 items)",
    version="TSK-17",
    domain="fear of movement/(re)injury",
    items=_items(TSK17_ITEMS, "17"),
    scores=(
        _total(TSK17_ITEMS, "items 4, 8, 12, 16 scored 5 − answer; range 17–68"),
        ScoreSpec(
            key="high",
            label="high kinesiophobia (total > 37)",
            kind=ScoreKind.FLAG,
            direction=Direction.HIGHER_WORSE,
            items=TSK17_ITEMS,
            max_missing=0,
            item_effect=1,
            description="total > 37 (Vlaeyen 1995 via awell README; > vs ≥ UNVERIFIED); "
            "null when the total is null",
        ),
    ),
    raters=(Rater.PARTICIPANT,),
    missing_rule="No missing items allowed: a blank item leaves total and high unscored. No "
    "published rule was found (UNVERIFIED).",
    citation=(AWELL, WOBY_2005, "instruments.md §5"),
    licence=LICENCE,
    scorer=_score_tsk17,
)

TSK11 = Instrument(
    name="tsk11",
    title="Tampa Scale of Kinesiophobia, 11-item short form",
    version="TSK-11",
    domain="fear of movement/(re)injury",
    items=_items(TSK11_ITEMS, "11"),
    scores=(_total(TSK11_ITEMS, "TSK-17 items 1, 2, 3, 5, 6, 7, 10, 11, 13, 15, 17; 11–44"),),
    raters=(Rater.PARTICIPANT,),
    missing_rule="No missing items allowed: a blank item leaves the total unscored. No published "
    "rule was found (UNVERIFIED).",
    citation=(WOBY_2005, PHYSIOTUTORS, AWELL, "instruments.md §5"),
    licence=LICENCE,
    scorer=_score_tsk11,
)

INSTRUMENTS = (TSK17, TSK11)
