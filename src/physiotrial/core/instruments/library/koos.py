"""KOOS: five knee subscales scored 0–100 (100 = no problems), plus WOMAC derived from its items.

Why: the KOOS extends the WOMAC for younger or more active people with knee injury or OA; a trial
that captures the KOOS gets WOMAC-style scores from the same answers without a second form.

Scoring (KOOS Scoring 2012, https://www.scribd.com/document/404984174/KOOSscoring2012-pdf):
every item is coded 0–4 by box position, left to right ("assign the following scores to the boxes:
None Mild Moderate Severe Extreme, 0 1 2 3 4"), so 0 is always the box with no problem even where
the printed adjective is "always" (S4, S5). Each subscale is scored on its own as
``100 − mean × 25`` over the answered items (the mean ÷ 4 × 100, turned round so 100 = no
problems), and only when at least 50 % of its items are answered: Pain 5 of 9, Symptoms 4 of 7,
ADL 9 of 17, Sport/Rec 3 of 5, QOL 2 of 4 (the 1998 rule of at most 2 missing is superseded). There
is no official total. The choice labels none…extreme name the box position (degree of problem), not
the adjective printed on each item. Item topics follow the S1–S7, P1–P9, A1–A17, SP1–SP5, Q1–Q4
numbering (https://www.thecalculator.co/health/Knee-Injury-And-Osteoarthritis-Outcome-Score-(KOOS)-
Calculator-957.html); no item wording is shipped.

WOMAC from KOOS (instruments.md §3b): WOMAC pain = P5–P9, stiffness = S6–S7, function = A1–A17,
mapped by content (the WOMAC topic list in :mod:`.womac` matches). The ``womac_*`` keys are computed
by :func:`.womac.womac_scores` itself, with the WOMAC missing-item rules (mean substitution; pain
needs 4 of 5, stiffness 1 of 2, function 14 of 17, the total all three) and WOMAC direction
(higher = worse). They are KOOS-derived: the KOOS asks about the last week, WOMAC 3.1 about the
last 48 hours. The developers' KOOS→WOMAC scoring file on koos.nu was not read (its normalisation
and missing-item handling are UNVERIFIED); the scoring here is the WOMAC LK3.1 rule applied to the
mapped items.
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.library.womac import (
    FUNCTION_ITEMS,
    FUNCTION_TOPICS,
    LIKERT,
    PAIN_ITEMS,
    STIFFNESS_ITEMS,
    WOMAC_LK,
    womac_score_specs,
    womac_scores,
)
from physiotrial.core.instruments.scoring import Answers, ScoreColumn, mean_score, rescale
from physiotrial.core.instruments.spec import (
    Direction,
    Instrument,
    Item,
    Rater,
    ResponseType,
    ScoreSpec,
)

KOOS_SCORING_2012 = (
    "KOOS Scoring 2012 (koos.nu), https://www.scribd.com/document/404984174/KOOSscoring2012-pdf "
    "(mirror of https://www.scribd.com/document/227667258/Koos-Scoring-2012)"
)
KOOS_ITEMS_SOURCE = (
    "Item numbering and topics: https://www.thecalculator.co/health/Knee-Injury-And-Osteoarthritis-"
    "Outcome-Score-(KOOS)-Calculator-957.html; developers' FAQ http://www.koos.nu/koosfaq.html "
    "(copy: https://de.scribd.com/document/227667682/KOOS-FAQs)"
)
KOOS_TO_WOMAC = (
    "WOMAC from KOOS: pain = P5–P9, stiffness = S6–S7, function = A1–A17 mapped by item content "
    "(instruments.md §3b) and scored with the WOMAC LK3.1 rules of library/womac.py; KOOS-derived "
    "(KOOS recall last week, WOMAC 3.1 last 48 h); the koos.nu KOOS→WOMAC scoring file was not "
    "read: UNVERIFIED"
)
AWELL = (
    "awell-health/awell-score src/scores/koos (commit c37843e, MIT code only): test vectors and "
    "the 2012 ≥50 % rule, https://github.com/awell-health/awell-score"
)

SYMPTOM_TOPICS = (
    "swelling",
    "grinding, clicking or noise",
    "catching or hanging up",
    "straightening fully",
    "bending fully",
    "stiffness after first waking",
    "stiffness later in the day",
)
PAIN_TOPICS = (
    "how often",
    "twisting or pivoting",
    "straightening fully",
    "bending fully",
    "walking on flat surface",
    "going up or down stairs",
    "in bed at night",
    "sitting or lying",
    "standing upright",
)
SPORT_TOPICS = ("squatting", "running", "jumping", "twisting or pivoting", "kneeling")
QOL_TOPICS = (
    "awareness of knee problem",
    "lifestyle modified",
    "lack of confidence in knee",
    "overall difficulty",
)

SYMPTOM_IDS = tuple(f"s{i}" for i in range(1, 8))
PAIN_IDS = tuple(f"p{i}" for i in range(1, 10))
ADL_IDS = tuple(f"a{i}" for i in range(1, 18))
SPORT_IDS = tuple(f"sp{i}" for i in range(1, 6))
QOL_IDS = tuple(f"q{i}" for i in range(1, 5))

# subscale key → (label, items, topics, fewest answered items that still give a score)
SUBSCALES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], int]] = {
    "symptoms": ("Symptoms", SYMPTOM_IDS, SYMPTOM_TOPICS, 4),
    "pain": ("Pain", PAIN_IDS, PAIN_TOPICS, 5),
    "adl": ("Function in daily living (ADL)", ADL_IDS, FUNCTION_TOPICS, 9),
    "sport_rec": ("Function in sport and recreation", SPORT_IDS, SPORT_TOPICS, 3),
    "qol": ("Knee-related quality of life", QOL_IDS, QOL_TOPICS, 2),
}

WOMAC_FROM_KOOS: dict[str, str] = {
    **dict(zip(PAIN_ITEMS, ("p5", "p6", "p7", "p8", "p9"), strict=True)),
    **dict(zip(STIFFNESS_ITEMS, ("s6", "s7"), strict=True)),
    **dict(zip(FUNCTION_ITEMS, ADL_IDS, strict=True)),
}
"""WOMAC item id → the KOOS item with the same content."""

_DERIVED_NOTE = (
    "KOOS-derived: WOMAC LK3.1 rule on the mapped KOOS items (KOOS recall last week, WOMAC 48 h; "
    "koos.nu KOOS→WOMAC file not read, UNVERIFIED)"
)


def remap_answers(answers: Answers, target: Instrument, mapping: Mapping[str, str]) -> Answers:
    """Answers to ``target`` read from ``answers``: target item ``t`` takes column ``mapping[t]``.

    Lets another instrument's scorer run unchanged on items it shares by content (here WOMAC on
    KOOS items); every target item must be mapped, and the options are the target's defaults.
    """
    matrix = answers.columns([mapping[item_id] for item_id in target.item_ids])
    defaults = {option.name: option.default for option in target.options}
    return Answers(target, matrix, defaults)


def _subscale(answers: Answers, items: tuple[str, ...], minimum: int) -> ScoreColumn:
    rule = f"KOOS Scoring 2012: at least {minimum} of {len(items)} answered"
    mean = mean_score(answers, items, max_missing=len(items) - minimum, rule=rule)
    return rescale(mean, factor=-25.0, offset=100.0)


def score_koos(answers: Answers) -> dict[str, ScoreColumn]:
    """The five KOOS subscales and the eight KOOS-derived WOMAC keys."""
    columns = {
        key: _subscale(answers, items, minimum)
        for key, (_label, items, _topics, minimum) in SUBSCALES.items()
    }
    derived = womac_scores(remap_answers(answers, WOMAC_LK, WOMAC_FROM_KOOS), item_max=4)
    columns.update({f"womac_{key}": column for key, column in derived.items()})
    return columns


def _subscale_specs() -> list[ScoreSpec]:
    return [
        ScoreSpec(
            key=key,
            label=f"KOOS {label} (0–100, 100 = no problems)",
            minimum=0,
            maximum=100,
            unit="points",
            direction=Direction.HIGHER_BETTER,
            items=items,
            max_missing=len(items) - minimum,
            item_effect=-1,
            description=f"100 − 25 × mean of the answered items; needs {minimum} of {len(items)} "
            "answered (KOOS Scoring 2012). MCID not set: the developer-stated 8–10 points is "
            "UNVERIFIED",
        )
        for key, (label, items, _topics, minimum) in SUBSCALES.items()
    ]


def _derived_specs() -> list[ScoreSpec]:
    specs = []
    for spec in womac_score_specs(4, "points"):
        mcid = spec.mcid
        if mcid is not None:
            note = f"{mcid.note}; established on the WOMAC itself, not on KOOS-derived scores"
            mcid = mcid.model_copy(update={"note": note})
        description = f"{spec.description}; {_DERIVED_NOTE}" if spec.description else _DERIVED_NOTE
        specs.append(
            spec.model_copy(
                update={
                    "key": f"womac_{spec.key}",
                    "label": f"WOMAC {spec.label}, derived from KOOS items",
                    "items": tuple(WOMAC_FROM_KOOS[item_id] for item_id in spec.items),
                    "mcid": mcid,
                    "description": description,
                }
            )
        )
    return specs


def _items() -> tuple[Item, ...]:
    return tuple(
        Item(id=item_id, label=f"{key}: {topic}", response=ResponseType.LIKERT, choices=LIKERT)
        for key, (_label, items, topics, _minimum) in SUBSCALES.items()
        for item_id, topic in zip(items, topics, strict=True)
    )


KOOS = Instrument(
    name="koos",
    title="Knee injury and Osteoarthritis Outcome Score (KOOS)",
    version="2012 scoring",
    domain="knee symptoms, pain, function in daily living and in sport/recreation, knee-related "
    "quality of life",
    items=_items(),
    scores=(*_subscale_specs(), *_derived_specs()),
    raters=(Rater.PARTICIPANT,),
    recall="last week",
    missing_rule=(
        "Each KOOS subscale is the mean of its answered items and needs at least 50 % of them "
        "answered: Pain 5 of 9, Symptoms 4 of 7, ADL 9 of 17, Sport/Rec 3 of 5, QOL 2 of 4 (KOOS "
        "Scoring 2012). The womac_* keys follow the WOMAC rules on the mapped items: mean "
        "substitution, pain unscorable with 2+ of P5–P9 missing, stiffness with both S6–S7 "
        "missing, function with 4+ of A1–A17 missing (pain/stiffness thresholds UNVERIFIED), "
        "total needs all three."
    ),
    citation=(KOOS_SCORING_2012, KOOS_ITEMS_SOURCE, KOOS_TO_WOMAC, AWELL, "instruments.md §3"),
    licence=(
        "listed as free (Shirley Ryan AbilityLab, https://www.sralab.org/rehabilitation-measures/"
        "knee-injury-and-osteoarthritis-outcome-score); the developers' terms for electronic "
        "reproduction are UNVERIFIED, so item text is not shipped"
    ),
    scorer=score_koos,
)

INSTRUMENTS = (KOOS,)
