"""Performance-based tests of physical function: the OARSI recommended set for hip and knee OA.

OARSI (Dobson 2013) recommends a minimal core set (30 s chair stand, 40 m fast-paced walk, stair
climb) plus the Timed Up and Go and the 6-minute walk (instruments.md §8). Each is an assessor's
measurement, so items are MEASUREMENT with a unit and a physical range that rejects typos (a lost
decimal point, minutes for seconds). Scores are the measurement itself plus derived values:

- ``tug.high_fall_risk`` = time ≥ 13.5 s, the cut-off Barry 2014 pooled in community-dwelling
  older adults (methods: "≥13.5 seconds"; the results write ">13.5 sec", we follow the methods).
  It rules in rather than out (specificity 0.74, sensitivity 0.31), should not be used alone and
  is NOT an OA threshold. Shumway-Cook 2000, the usual original, was not read (UNVERIFIED).
- ``six_mwt.predicted_m``: Enright & Sherrill 1998 (default) or Enright 2003, as tabulated in the
  ERS/ATS 2014 standard, Table 5, which shows no units: cm, kg and years are what secondary
  calculators state and the magnitudes require (UNVERIFIED, primary papers not read).
  ``percent_predicted`` = observed ÷ predicted × 100. Both are null, with the reason, when sex,
  age, height or weight is missing, or when the equation gives ≤ 0 m (inputs far outside the
  healthy adults it was fitted to). The lower limit of normal is not computed (UNVERIFIED).
- ``fast_walk_40m.speed_m_s`` = 40 ÷ time, plain arithmetic; whether the OARSI manual reports
  speed is UNVERIFIED (instruments.md §8).
- ``stair_climb``: OARSI prefers 9 steps with 20 cm risers, otherwise the number of steps is
  recorded: hence the ``steps`` and ``riser_cm`` context items.

MDCs are stored as :class:`Mcid` whose note says they are measurement error, not an MCID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from physiotrial.core.instruments.scoring import (
    Answers,
    FloatArray,
    ScoreColumn,
    needing,
    threshold_flag,
)
from physiotrial.core.instruments.spec import (
    YES_NO_CHOICES,
    Choice,
    Direction,
    Instrument,
    Item,
    Mcid,
    Option,
    Rater,
    ResponseType,
    ScoreKind,
    Scorer,
    ScoreSpec,
)

DOBSON_2013 = (
    "Dobson F et al. 2013, OARSI recommended performance-based tests: "
    "https://www.physiospot.com/2013/08/19/oarsi-recommended-performance-based-tests-to-assess-physical-function-in-people-diagnosed-with-hip-or-knee-osteoarthritis/"
    "; manual https://docslib.org/doc/6672948/recommended-performance-based-tests-to-assess-"
    "physical-function-in-people-diagnosed-with-hip-or-knee-osteoarthritis; protocol summary "
    "https://hcplive.com/view/oarsi-adopts-tests-physical-function-hip-and-knee-oa"
)
BARRY_2014 = (
    "Barry E et al. BMC Geriatr 2014;14:14 (≥13.5 s, community-dwelling older adults), "
    "https://bmcgeriatr.biomedcentral.com/articles/10.1186/1471-2318-14-14, "
    "https://pmc.ncbi.nlm.nih.gov/articles/PMC3924230"
)
ERS_ATS_2014 = (
    "ERS/ATS technical standard: field walking tests (Holland 2014), Table 5, "
    "http://erj.ersjournals.com/highwire/markup/107615/expansion; units cm, kg, years per "
    "secondary calculators (e.g. https://cal91.calculator.city/?p=60), primary papers not read: "
    "UNVERIFIED"
)
ENRIGHT_SHERRILL_1998 = "Enright PL, Sherrill DL. Am J Respir Crit Care Med 1998;158:1384-7"
DOBSON_2017 = (
    "Dobson 2017 reliability, https://www.springermedizin.at/link?doi=10.1016/j.joca.2017.06.006"
)
TUG_MDC = Mcid(
    value=1.10,
    unit="s",
    source="https://bmjopensem.bmj.com/lookup/external-ref?access_num=10.1186/s12891-015-0637-8"
    "&link_type=DOI (via instruments.md §8)",
    note="MDC within rater (1.14 s between raters), grade 1–3 knee OA; not an MCID",
)
CHAIR_STAND_MDC = Mcid(
    value=2.5,
    unit="stands",
    source="Gill, early-stage knee OA, https://dro.deakin.edu.au/articles/journal_contribution/"
    "Thirty_second_chair_stand_test_Test_retest_reliability_agreement_and_minimum_detectable_"
    "change_in_people_with_early-stage_knee_osteoarthritis/20597538",
    note="MDC for an individual (≈ 2.5 stands; 0.3–0.4 for a group); not an MCID",
)

MALE, FEMALE = 1, 2
HEIGHT_CM = (100.0, 230.0)
WEIGHT_KG = (25.0, 300.0)
AGE_YEARS = (18.0, 110.0)
SIX_MWT_CONTEXT = ("sex", "age_years", "height_cm", "weight_kg")
WALK_M = 40.0
WALK_TIME_S = (8.0, 600.0)


def measurement(
    item_id: str, label: str, unit: str, low: float, high: float, **extra: object
) -> Item:
    """A MEASUREMENT item with a unit and a physical range (``extra``: integer, required…)."""
    fields = {"id": item_id, "label": label, "unit": unit, "minimum": low, "maximum": high}
    return Item.model_validate({**fields, "response": ResponseType.MEASUREMENT, **extra})


def context(item_id: str, label: str, **fields: object) -> Item:
    """An unscored, optional item that records how the test was done (side, aid, steps)."""
    return Item.model_validate(
        {"id": item_id, "label": label, "scored": False, "required": False, **fields}
    )


def labelled(*labels: str) -> tuple[Choice, ...]:
    """Choices coded 1, 2, … in the order given."""
    return tuple(Choice(code=code, label=label) for code, label in enumerate(labels, start=1))


def single(
    key: str, label: str, unit: str, low: float, high: float, direction: Direction, **extra: object
) -> ScoreSpec:
    """The score that is one measurement item itself (same key, range and unit)."""
    fields = {"key": key, "label": label, "minimum": low, "maximum": high, "unit": unit}
    return ScoreSpec.model_validate(
        {**fields, "direction": direction, "items": (key,), "item_effect": 1, **extra}
    )


@dataclass(frozen=True)
class Linear:
    """``intercept + height·h + weight·w + age·a`` with h in cm, w in kg, a in years."""

    intercept: float
    height: float
    weight: float
    age: float

    def __call__(self, height: FloatArray, weight: FloatArray, age: FloatArray) -> FloatArray:
        return self.intercept + self.height * height + self.weight * weight + self.age * age

    def highest(self) -> float:
        """The largest value over the items' allowed ranges (a linear form peaks at a corner)."""
        terms = ((self.height, HEIGHT_CM), (self.weight, WEIGHT_KG), (self.age, AGE_YEARS))
        return self.intercept + sum(max(c * low, c * high) for c, (low, high) in terms)


EQUATIONS: dict[str, dict[int, Linear]] = {
    "enright_sherrill_1998": {
        MALE: Linear(intercept=-309, height=7.57, weight=-1.76, age=-5.02),
        FEMALE: Linear(intercept=667, height=2.11, weight=-2.29, age=-5.78),
    },
    "enright_2003": {
        MALE: Linear(intercept=510, height=2.2, weight=-0.93, age=-5.3),
        FEMALE: Linear(intercept=493, height=2.2, weight=-0.93, age=-5.3),
    },
}
PREDICTED_MAX = max(eq.highest() for by_sex in EQUATIONS.values() for eq in by_sex.values())


def _score_tug(answers: Answers) -> Mapping[str, ScoreColumn]:
    time = needing(answers, ["time_s"], answers.column("time_s"), "TUG time")
    return {"time_s": time, "high_fall_risk": threshold_flag(time, 13.5)}


def _score_six_mwt(answers: Answers) -> Mapping[str, ScoreColumn]:
    name = str(answers.option("equation"))
    sex, age, height, weight = (answers.column(i) for i in SIX_MWT_CONTEXT)
    raw = np.full(len(answers), np.nan)
    for code, equation in EQUATIONS[name].items():
        raw = np.where(sex == code, equation(height, weight, age), raw)
    predicted = needing(answers, SIX_MWT_CONTEXT, raw, "predicted distance")
    with np.errstate(invalid="ignore"):
        extrapolated = predicted.values <= 0
    for row in np.flatnonzero(extrapolated):
        predicted.reasons[row] = (
            f"{name} gives {raw[row]:.1f} m (≤ 0) for age {age[row]:g} years, height "
            f"{height[row]:g} cm, weight {weight[row]:g} kg: outside what the equation describes"
        )
    predicted.values[extrapolated] = np.nan
    distance = answers.column("distance_m")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 100.0 * distance / predicted.values
    percent = needing(answers, ("distance_m", *SIX_MWT_CONTEXT), ratio, "percent predicted")
    for row in np.flatnonzero(extrapolated & (percent.reasons == None)):  # noqa: E711
        percent.reasons[row] = predicted.reasons[row]
    distance_col = needing(answers, ["distance_m"], distance, "6MWT distance")
    return {"distance_m": distance_col, "predicted_m": predicted, "percent_predicted": percent}


def _score_fast_walk(answers: Answers) -> Mapping[str, ScoreColumn]:
    time = answers.column("time_s")
    return {
        "time_s": needing(answers, ["time_s"], time, "40 m walk time"),
        "speed_m_s": needing(answers, ["time_s"], WALK_M / time, "40 m walk speed"),
    }


def _score_single(item_id: str, what: str) -> Scorer:
    def score(answers: Answers) -> Mapping[str, ScoreColumn]:
        return {item_id: needing(answers, [item_id], answers.column(item_id), what)}

    return score


def _performance(
    name: str,
    title: str,
    items: tuple[Item, ...],
    scores: tuple[ScoreSpec, ...],
    scorer: Scorer,
    citation: tuple[str, ...],
    missing_rule: str,
    options: tuple[Option, ...] = (),
) -> Instrument:
    return Instrument(
        name=name,
        title=title,
        version="OARSI 2013 recommended protocol",
        domain="physical function (performance-based)",
        items=items,
        scores=scores,
        raters=(Rater.ASSESSOR,),
        missing_rule=missing_rule,
        citation=(*citation, "instruments.md §8"),
        licence="performance test, no item text to license",
        options=options,
        scorer=scorer,
    )


TUG = _performance(
    "tug",
    "Timed Up and Go",
    (
        measurement("time_s", "rise, walk 3 m, turn, walk back, sit", "s", 1, 300),
        context("walking_aid", "walking aid used", response="yes_no", choices=YES_NO_CHOICES),
    ),
    (
        single("time_s", "TUG time", "s", 1, 300, Direction.HIGHER_WORSE, mcid=TUG_MDC),
        ScoreSpec(
            key="high_fall_risk",
            label="time ≥ 13.5 s (fall-risk screen, not OA-specific)",
            kind=ScoreKind.FLAG,
            direction=Direction.HIGHER_WORSE,
            items=("time_s",),
            item_effect=1,
            description="Barry 2014 cut-off in community-dwelling older adults; rules in rather "
            "than out (specificity 0.74, sensitivity 0.31); do not use alone; not OA-specific",
        ),
    ),
    _score_tug,
    (DOBSON_2013, BARRY_2014, "Shumway-Cook 2000 (original cut-off) not read: UNVERIFIED"),
    "Single measurement: a blank time gives no score.",
)

SIX_MWT = _performance(
    "six_mwt",
    "6-minute walk test",
    (
        measurement("distance_m", "distance walked in 6 minutes", "m", 0, 1000),
        Item(
            id="sex",
            label="sex (selects the reference equation)",
            response=ResponseType.CHOICE,
            choices=labelled("male", "female"),
            required=False,
        ),
        measurement("age_years", "age", "years", *AGE_YEARS, required=False),
        measurement("height_cm", "height", "cm", *HEIGHT_CM, required=False),
        measurement("weight_kg", "body mass", "kg", *WEIGHT_KG, required=False),
    ),
    (
        single("distance_m", "6MWT distance", "m", 0, 1000, Direction.HIGHER_BETTER),
        ScoreSpec(
            key="predicted_m",
            label="predicted distance (reference equation chosen by option 'equation')",
            minimum=0,
            maximum=PREDICTED_MAX,
            unit="m",
            items=SIX_MWT_CONTEXT,
            max_missing=None,
            description="needs sex, age, height and weight; null also when the equation gives "
            "≤ 0 m for extreme inputs",
        ),
        ScoreSpec(
            key="percent_predicted",
            label="distance as % of predicted",
            minimum=0,
            unit="%",
            direction=Direction.HIGHER_BETTER,
            items=("distance_m", *SIX_MWT_CONTEXT),
            max_missing=None,
            description="observed ÷ predicted × 100; null whenever predicted_m is null or the "
            "distance is missing",
        ),
    ),
    _score_six_mwt,
    (DOBSON_2013, ERS_ATS_2014, ENRIGHT_SHERRILL_1998, DOBSON_2017),
    "distance_m needs the distance; predicted_m needs sex, age, height and weight and is null "
    "when the equation gives ≤ 0 m; percent_predicted needs all five. Each null names why.",
    (
        Option(
            name="equation",
            description="Reference equation for predicted distance: Enright & Sherrill 1998 "
            "(healthy adults) or Enright 2003 (older adults); both via ERS/ATS 2014 Table 5.",
            default="enright_sherrill_1998",
            choices=tuple(EQUATIONS),
        ),
    ),
)

CHAIR_STAND = _performance(
    "chair_stand_30s",
    "30-second chair stand test",
    (measurement("stands", "full stands in 30 s", "stands", 0, 50, integer=True),),
    (
        single(
            "stands",
            "full stands in 30 s",
            "stands",
            0,
            50,
            Direction.HIGHER_BETTER,
            mcid=CHAIR_STAND_MDC,
        ),
    ),
    _score_single("stands", "stand count"),
    (DOBSON_2013, CHAIR_STAND_MDC.source),
    "Single measurement: a blank count gives no score.",
)

FAST_WALK = _performance(
    "fast_walk_40m",
    "40 m fast-paced walk test (4 × 10 m)",
    (measurement("time_s", "time to walk 4 × 10 m", "s", *WALK_TIME_S),),
    (
        single("time_s", "40 m walk time", "s", *WALK_TIME_S, Direction.HIGHER_WORSE),
        ScoreSpec(
            key="speed_m_s",
            label="walking speed (40 m ÷ time)",
            minimum=WALK_M / WALK_TIME_S[1],
            maximum=WALK_M / WALK_TIME_S[0],
            unit="m/s",
            direction=Direction.HIGHER_BETTER,
            items=("time_s",),
            item_effect=-1,
            description="arithmetic; whether the OARSI manual scores speed is UNVERIFIED",
        ),
    ),
    _score_fast_walk,
    (DOBSON_2013, DOBSON_2017),
    "Single measurement: a blank time gives no score.",
)

STAIR_CLIMB = _performance(
    "stair_climb",
    "Stair climb test",
    (
        measurement("time_s", "time to climb the flight of stairs", "s", 1, 300),
        context(
            "steps",
            "number of steps (OARSI prefers 9)",
            response="measurement",
            minimum=1,
            maximum=50,
            integer=True,
            unit="steps",
        ),
        context(
            "riser_cm",
            "riser height (OARSI prefers 20 cm)",
            response="measurement",
            minimum=5,
            maximum=30,
            unit="cm",
        ),
    ),
    (single("time_s", "time (compare like steps only)", "s", 1, 300, Direction.HIGHER_WORSE),),
    _score_single("time_s", "stair-climb time"),
    (DOBSON_2013, DOBSON_2017),
    "Single measurement: a blank time gives no score; steps and riser height are context.",
)

INSTRUMENTS = (TUG, SIX_MWT, CHAIR_STAND, FAST_WALK, STAIR_CLIMB)
