"""WOMAC 3.1: pain (5 items), stiffness (2) and physical function (17), in three formats.

Scoring (instruments.md §2): subscale scores are sums of item codes; the total is the sum of the
three subscales; ``*_100`` keys normalise each sum to 0–100 by dividing by the subscale maximum
(higher = worse), the form in which Tubach's MCII for function is expressed. Missing items: the
function subscale is invalid with 4 or more missing items and otherwise each missing item takes
the mean of the answered ones (Whitehouse 2004, the "standard protocol"); for pain (invalid with 2
or more missing) and stiffness (invalid when both are missing) we apply the commonly quoted
User-Guide thresholds with the same mean substitution — UNVERIFIED, the licensed User Guide was
not read. The total is scored only when all three subscales are.

Item order follows the KOOS A1–A17 order for function (the tasks are the same); check the
licensed form before mapping answers by position rather than by id.
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.scoring import (
    Answers,
    ScoreColumn,
    combine_reasons,
    rescale,
    sum_score,
)
from physiotrial.core.instruments.spec import (
    Choice,
    Direction,
    Instrument,
    Item,
    Mcid,
    Rater,
    ResponseType,
    Scorer,
    ScoreSpec,
)

PAIN_TOPICS = ("walking", "stairs", "in bed at night", "sitting or lying", "standing upright")
STIFFNESS_TOPICS = ("after first waking", "later in the day")
FUNCTION_TOPICS = (
    "descending stairs",
    "ascending stairs",
    "rising from sitting",
    "standing",
    "bending to floor",
    "walking on flat surface",
    "getting in or out of car",
    "going shopping",
    "putting on socks",
    "rising from bed",
    "taking off socks",
    "lying in bed",
    "getting in or out of bath",
    "sitting",
    "getting on or off toilet",
    "heavy domestic duties",
    "light domestic duties",
)
PAIN_ITEMS = tuple(f"p{i}" for i in range(1, 6))
STIFFNESS_ITEMS = ("s1", "s2")
FUNCTION_ITEMS = tuple(f"f{i}" for i in range(1, 18))

# subscale key → (items, most missing items still scored, source of that rule)
RULES: dict[str, tuple[tuple[str, ...], int, str]] = {
    "pain": (PAIN_ITEMS, 1, "WOMAC User Guide threshold as commonly quoted, UNVERIFIED"),
    "stiffness": (STIFFNESS_ITEMS, 1, "WOMAC User Guide threshold as commonly quoted, UNVERIFIED"),
    "function": (FUNCTION_ITEMS, 3, "Whitehouse 2004: 4 or more missing invalid"),
}

BELLAMY = (
    "Bellamy N. WOMAC Osteoarthritis Index User Guide (licensed; not read). Item structure: "
    "https://www.scribd.com/document/169956062/Western-Ontario-and-McMaster-Universities-"
    "Osteoarthritis-Index"
)
WHITEHOUSE_2004 = (
    "Whitehouse SL et al. J Bone Joint Surg Br 2004;86-B(S4):469, http://eprints.qut.edu.au/5615/"
)
TUBACH_FUNCTION = Mcid(
    value=9.1,
    unit="points on 0–100",
    source="Tubach F et al. Ann Rheum Dis 2005;64:29-33, via "
    "https://pmc.ncbi.nlm.nih.gov/articles/PMC2927613/table/T2",
    note="MCII, improvement in function normalised 0–100, knee OA",
)
LIKERT = (
    Choice(code=0, label="none"),
    Choice(code=1, label="mild"),
    Choice(code=2, label="moderate"),
    Choice(code=3, label="severe"),
    Choice(code=4, label="extreme"),
)


def womac_scores(answers: Answers, item_max: float) -> dict[str, ScoreColumn]:
    """The eight WOMAC keys from answers whose items are coded 0..``item_max``.

    Shared by the three WOMAC formats and by WOMAC derived from KOOS, whose item columns the
    caller maps onto the same ids.
    """
    sums = {
        key: sum_score(answers, items, max_missing=most, impute_mean=True, rule=rule)
        for key, (items, most, rule) in RULES.items()
    }
    parts = list(sums.values())
    total = ScoreColumn.of(
        parts[0].values + parts[1].values + parts[2].values,  # NaN from any unscorable part
        combine_reasons(*parts, names=list(sums)),
    )
    sums["total"] = total
    normalised = {
        f"{key}_100": rescale(column, 100.0 / (item_max * _n_items(key)))
        for key, column in sums.items()
    }
    return {**sums, **normalised}


def _n_items(key: str) -> int:
    return 24 if key == "total" else len(RULES[key][0])


def _scorer(item_max: float) -> Scorer:
    def score(answers: Answers) -> Mapping[str, ScoreColumn]:
        return womac_scores(answers, item_max)

    return score


def womac_score_specs(item_max: float, unit: str) -> tuple[ScoreSpec, ...]:
    """Score specifications for WOMAC sums and their 0–100 forms (higher = worse)."""
    specs: list[ScoreSpec] = []
    for key, (items, most, _rule) in RULES.items():
        specs.append(
            ScoreSpec(
                key=key,
                label=f"{key} (sum)",
                minimum=0,
                maximum=item_max * len(items),
                unit=unit,
                direction=Direction.HIGHER_WORSE,
                items=items,
                max_missing=most,
                item_effect=1,
            )
        )
    all_items = PAIN_ITEMS + STIFFNESS_ITEMS + FUNCTION_ITEMS
    specs.append(
        ScoreSpec(
            key="total",
            label="total (sum of subscales)",
            minimum=0,
            maximum=item_max * 24,
            unit=unit,
            direction=Direction.HIGHER_WORSE,
            items=all_items,
            max_missing=None,
            item_effect=1,
            description="scored only when pain, stiffness and function are all scored",
        )
    )
    normalised = [
        spec.model_copy(
            update={
                "key": f"{spec.key}_100",
                "label": f"{spec.key} normalised 0–100 (higher = worse)",
                "maximum": 100,
                "unit": "points",
                "mcid": TUBACH_FUNCTION if spec.key == "function" else None,
                "description": "sum ÷ maximum possible sum × 100",
            }
        )
        for spec in specs
    ]
    return (*specs, *normalised)


def _items(response: ResponseType, item_max: float, unit: str | None) -> tuple[Item, ...]:
    topics = (
        [(i, f"pain: {t}") for i, t in zip(PAIN_ITEMS, PAIN_TOPICS, strict=True)]
        + [(i, f"stiffness: {t}") for i, t in zip(STIFFNESS_ITEMS, STIFFNESS_TOPICS, strict=True)]
        + [(i, f"function: {t}") for i, t in zip(FUNCTION_ITEMS, FUNCTION_TOPICS, strict=True)]
    )
    if response is ResponseType.LIKERT:
        return tuple(Item(id=i, label=t, response=response, choices=LIKERT) for i, t in topics)
    integer = unit is None
    return tuple(
        Item(
            id=i,
            label=t,
            response=response,
            minimum=0,
            maximum=item_max,
            integer=integer,
            unit=unit,
        )
        for i, t in topics
    )


def _womac(
    name: str, version: str, response: ResponseType, item_max: float, unit: str | None
) -> Instrument:
    return Instrument(
        name=name,
        title=f"WOMAC Osteoarthritis Index {version}",
        version=version,
        domain="pain, stiffness and physical function in knee or hip OA",
        items=_items(response, item_max, unit),
        scores=womac_score_specs(item_max, unit or "points"),
        raters=(Rater.PARTICIPANT,),
        recall="last 48 hours",
        missing_rule=(
            "Each subscale: missing items take the mean of the answered items of that subscale; "
            "pain is unscorable with 2+ of 5 missing, stiffness with 2 of 2, function with 4+ of "
            "17 (Whitehouse 2004; pain and stiffness thresholds UNVERIFIED). The total needs all "
            "three subscales."
        ),
        citation=(BELLAMY, WHITEHOUSE_2004, "instruments.md §2"),
        licence="© N. Bellamy; item text requires a licence (womac.org) and is not shipped",
        scorer=_scorer(item_max),
    )


WOMAC_LK = _womac("womac", "LK3.1", ResponseType.LIKERT, 4, None)
WOMAC_NRS = _womac("womac_nrs", "NRS3.1", ResponseType.NUMERIC, 10, None)
WOMAC_VA = _womac("womac_va", "VA3.1", ResponseType.NUMERIC, 100, "mm")

INSTRUMENTS = (WOMAC_LK, WOMAC_NRS, WOMAC_VA)
