"""Knee range of motion by long-arm goniometer: flexion, extension deficit and their arc.

Conventions (instruments.md §9): flexion in degrees from full extension; the extension deficit
is a positive number of degrees short of full extension (0 = full extension), negative for
hyperextension. The sign convention is a protocol choice; this is the one we adopt, and the
ranges (flexion 0–170°, deficit −20…60°) reject typos and a flipped sign on large deficits. The
arc of motion is flexion − extension deficit (e.g. flexion 120°, deficit 10° → arc 110°;
hyperextension of 5° → deficit −5° → arc 125°).

An arc below 0° (flexion less than the extension deficit) is physically impossible, usually a
sign-convention error; it is reported null with that reason rather than as a number, so its
score cannot follow a pure count rule (``max_missing=None``).

Measurement error: the minimum significant difference of a long-arm goniometer is 10° (Hancock
2018; 14° short-arm, 12° smartphone, 6° digital inclinometer), stored as an :class:`Mcid` whose
note says it is measurement error, not a minimal important difference. The arc combines two
readings, so its error is larger; no value is given for it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from physiotrial.core.instruments.library.performance import (
    context,
    labelled,
    measurement,
    single,
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

HANCOCK_2018 = (
    "Hancock GE et al. 2018, knee ROM measurement methods, "
    "https://doi.org/10.1186/s40634-018-0161-5"
)
MSD = Mcid(
    value=10,
    unit="degrees",
    source=HANCOCK_2018,
    note="minimum significant difference, long-arm goniometer; measurement error, not an MCID",
)
FLEXION = (0.0, 170.0)
DEFICIT = (-20.0, 60.0)


def _score(answers: Answers) -> Mapping[str, ScoreColumn]:
    flexion = answers.column("flexion_deg")
    deficit = answers.column("extension_deficit_deg")
    arc = needing(answers, ["flexion_deg", "extension_deficit_deg"], flexion - deficit, "arc")
    with np.errstate(invalid="ignore"):
        impossible = arc.values < 0
    for row in np.flatnonzero(impossible):
        arc.reasons[row] = (
            f"flexion {flexion[row]:g}° is less than the extension deficit {deficit[row]:g}°: "
            "impossible; check the sign convention (deficit positive, hyperextension negative)"
        )
    arc.values[impossible] = np.nan
    return {
        "flexion_deg": needing(answers, ["flexion_deg"], flexion, "flexion"),
        "extension_deficit_deg": needing(
            answers, ["extension_deficit_deg"], deficit, "extension deficit"
        ),
        "arc_deg": arc,
    }


KNEE_ROM = Instrument(
    name="knee_rom",
    title="Knee range of motion (long-arm goniometer)",
    version="long-arm goniometer; deficit positive, hyperextension negative",
    domain="knee range of motion",
    items=(
        measurement("flexion_deg", "maximal knee flexion", "degrees", *FLEXION),
        measurement(
            "extension_deficit_deg", "degrees short of full extension", "degrees", *DEFICIT
        ),
        context(
            "side", "side measured", response=ResponseType.CHOICE, choices=labelled("left", "right")
        ),
    ),
    scores=(
        single("flexion_deg", "flexion", "degrees", *FLEXION, Direction.HIGHER_BETTER, mcid=MSD),
        single(
            "extension_deficit_deg",
            "extension deficit (negative = hyperextension)",
            "degrees",
            *DEFICIT,
            Direction.HIGHER_WORSE,
            mcid=MSD,
        ),
        ScoreSpec(
            key="arc_deg",
            label="arc of motion (flexion − extension deficit)",
            minimum=0,
            maximum=FLEXION[1] - DEFICIT[0],
            unit="degrees",
            direction=Direction.HIGHER_BETTER,
            items=("flexion_deg", "extension_deficit_deg"),
            max_missing=None,
            item_effect=0,  # rises with flexion, falls with the deficit
            description="needs both readings; null when flexion < extension deficit (impossible)",
        ),
    ),
    raters=(Rater.ASSESSOR,),
    missing_rule="flexion and extension deficit are single readings; the arc needs both and is "
    "null when flexion is less than the deficit. Each null names why.",
    citation=(HANCOCK_2018, "instruments.md §9"),
    licence="measurement, no item text to license",
    scorer=_score,
)

INSTRUMENTS = (KNEE_ROM,)
