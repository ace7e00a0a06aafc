"""Isometric knee strength by hand-held dynamometry (HHD): force, torque and torque per kg.

There is no single governing standard for HHD quantities, so the scores are the definitions
instruments.md §9 records: force in N as read from the device; torque = force × lever arm
(metres from the dynamometer pad to the knee joint line), in N·m; normalised torque = torque ÷
body mass, in N·m/kg. Each score needs only its own items and is null, naming the missing item,
independently of the others (a trial may measure extension only, or not record the lever arm).

HHD results depend on how the test was done, so the conditions are recorded as unscored context
items, as instruments.md §9 asks: side, position (seated or supine), make or break test,
fixation (belt, frame or none, i.e. examiner-resisted), and whether the value is the maximum or
the mean of the trials. Comparing values across conditions is the analyst's decision, not
scoring's.

Reliability: test–retest ICC 0.83–0.96 in older women with knee OA, better for within-subject
change than absolute strength (Chopp-Hurley 2019). MDC95 0.23 N·m/kg for extension and 0.17 for
flexion in knee OA outpatients: the excerpt came without a source, so that citation is
UNVERIFIED; both are stored as measurement error, not as a minimal important difference.
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.library.performance import (
    context,
    labelled,
    measurement,
)
from physiotrial.core.instruments.scoring import Answers, ScoreColumn, needing
from physiotrial.core.instruments.spec import (
    Direction,
    Instrument,
    Mcid,
    Rater,
    ResponseType,
    ScoreSpec,
)

CHOPP_HURLEY_2019 = (
    "Chopp-Hurley 2019, HHD reliability in older women with knee OA, "
    "https://experts.mcmaster.ca/display/publication1660271"
)
PRE_TKA = "HHD pre-TKA, smallest detectable difference 19–58 %, https://www.biomedcentral.com/1471-2474/12/249/email"
MDC_SOURCE = (
    "knee OA outpatients, MDC95 (instruments.md §9: excerpt without a URL; citation UNVERIFIED)"
)

FORCE_N = (0.0, 1500.0)
LEVER_M = (0.1, 0.6)
MASS_KG = (25.0, 300.0)
TORQUE_MAX = FORCE_N[1] * LEVER_M[1]
PER_KG_MAX = TORQUE_MAX / MASS_KG[0]
MOTIONS = ("extension", "flexion")
MDC = {"extension": 0.23, "flexion": 0.17}


def _score(answers: Answers) -> Mapping[str, ScoreColumn]:
    lever = answers.column("lever_arm_m")
    mass = answers.column("body_mass_kg")
    scores: dict[str, ScoreColumn] = {}
    for motion in MOTIONS:
        force_id = f"{motion}_n"
        force = answers.column(force_id)
        torque = force * lever
        scores[f"{motion}_force_n"] = needing(answers, [force_id], force, f"{motion} force")
        scores[f"{motion}_torque_nm"] = needing(
            answers, [force_id, "lever_arm_m"], torque, f"{motion} torque"
        )
        scores[f"{motion}_torque_nm_kg"] = needing(
            answers, [force_id, "lever_arm_m", "body_mass_kg"], torque / mass, f"{motion} N·m/kg"
        )
    return scores


def _specs(motion: str) -> tuple[ScoreSpec, ...]:
    force_id = f"{motion}_n"
    better = Direction.HIGHER_BETTER
    return (
        ScoreSpec(
            key=f"{motion}_force_n",
            label=f"{motion} force",
            minimum=FORCE_N[0],
            maximum=FORCE_N[1],
            unit="N",
            direction=better,
            items=(force_id,),
            item_effect=1,
        ),
        ScoreSpec(
            key=f"{motion}_torque_nm",
            label=f"{motion} torque (force × lever arm)",
            minimum=0,
            maximum=TORQUE_MAX,
            unit="N·m",
            direction=better,
            items=(force_id, "lever_arm_m"),
            item_effect=1,
        ),
        ScoreSpec(
            key=f"{motion}_torque_nm_kg",
            label=f"{motion} torque per kg body mass",
            minimum=0,
            maximum=PER_KG_MAX,
            unit="N·m/kg",
            direction=better,
            mcid=Mcid(
                value=MDC[motion], unit="N·m/kg", source=MDC_SOURCE, note="MDC95, not an MCID"
            ),
            items=(force_id, "lever_arm_m", "body_mass_kg"),
            item_effect=0,  # rises with force and lever arm, falls with body mass
        ),
    )


HHD_KNEE = Instrument(
    name="hhd_knee",
    title="Isometric knee strength by hand-held dynamometer",
    version="HHD, isometric, force in N",
    domain="knee extensor and flexor strength",
    items=(
        measurement("extension_n", "knee extension peak force", "N", *FORCE_N),
        measurement("flexion_n", "knee flexion peak force", "N", *FORCE_N, required=False),
        measurement(
            "lever_arm_m", "lever arm, pad to knee joint line", "m", *LEVER_M, required=False
        ),
        measurement("body_mass_kg", "body mass", "kg", *MASS_KG, required=False),
        context(
            "side", "side tested", response=ResponseType.CHOICE, choices=labelled("left", "right")
        ),
        context(
            "position",
            "test position",
            response=ResponseType.CHOICE,
            choices=labelled("seated", "supine"),
        ),
        context(
            "test_type",
            "make or break test",
            response=ResponseType.CHOICE,
            choices=labelled("make", "break"),
        ),
        context(
            "fixation",
            "dynamometer fixation",
            response=ResponseType.CHOICE,
            choices=labelled("belt", "frame", "none"),
        ),
        context(
            "trial_used",
            "value reported from the trials",
            response=ResponseType.CHOICE,
            choices=labelled("max", "mean"),
        ),
    ),
    scores=tuple(spec for motion in MOTIONS for spec in _specs(motion)),
    raters=(Rater.ASSESSOR,),
    missing_rule="Each score needs only its own items (force; force and lever arm; force, lever "
    "arm and body mass) and is null, naming the missing item, independently of the others.",
    citation=(CHOPP_HURLEY_2019, PRE_TKA, MDC_SOURCE, "instruments.md §9"),
    licence="measurement, no item text to license",
    scorer=_score,
)

INSTRUMENTS = (HHD_KNEE,)
