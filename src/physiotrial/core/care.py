"""What a clinic's care plan adds to a protocol: the joint, the treatment components, the home
exercise programme, the reassessment rhythm and the response definition.

A clinic study runs on the same machinery as a trial (visits, measures, sessions, adverse events,
audit trail) with one arm, no randomisation and no blinding; :mod:`physiotrial.core.care_plan`
compiles a care-plan file into such a :class:`~physiotrial.core.protocol.Protocol` and keeps the
clinic's own words here, in ``Protocol.care``, for the pages and analyses that speak to patients.

The components follow the TIDieR checklist (Hoffmann et al., BMJ 2014;348:g1687): what is given
(items 3-4), by whom (5), how often and how much (8), and how it may be tailored (9). An exercise
is prescribed by sets, repetitions, load and frequency, the FITT-VP variables of the ACSM
guidelines (Garber et al., Med Sci Sports Exerc 2011;43:1334-1359).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from physiotrial.errors import Problem, ProtocolError

Code = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=40)]

Joint = Literal["knee", "hip", "ankle", "shoulder", "elbow", "wrist", "hand", "spine"]
"""The joints a care plan may treat; the condition names the diagnosis in words."""

HOME_EXERCISE = "home_exercise"
"""The session plan code of the home exercise log that a patient keeps through their link."""

REASSESSMENT = "reassessment"
"""The code prefix of the visits planned every N sessions (R1, R2, ...)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Component(_Frozen):
    """One treatment component (TIDieR items 3-9): dry needling, exercise, education."""

    code: Code
    kind: Literal["dry_needling", "exercise", "education", "manual_therapy", "other"]
    name: str
    description: str = ""
    target_muscles: tuple[str, ...] = Field(
        default=(), description="Muscles needled (dry needling only), e.g. popliteus."
    )
    per_week: int = Field(ge=1, le=14, description="Sessions a week.")
    weeks: int = Field(ge=1, le=52, description="Weeks planned.")
    up_to_weeks: int | None = Field(
        default=None, ge=1, le=52, description="Weeks the therapist may extend to (tailoring)."
    )

    @property
    def planned_sessions(self) -> int:
        return self.per_week * self.weeks

    @property
    def most_sessions(self) -> int:
        return self.per_week * (self.up_to_weeks or self.weeks)


class Exercise(_Frozen):
    """One exercise of the home programme, prescribed by sets, repetitions, load and frequency."""

    code: Code
    name: str
    sets: int = Field(ge=1, le=20)
    repetitions: int = Field(ge=1, le=200, description="Repetitions (or seconds held) per set.")
    load: str = Field(default="body weight", description="e.g. body weight, 2 kg ankle weight.")
    instructions: str = ""


class HomeProgramme(_Frozen):
    """The home exercise programme; the patient logs each day they did it through their link."""

    per_week: int = Field(ge=1, le=14, description="Days a week the programme is done.")
    weeks: int = Field(ge=1, le=52)
    exercises: tuple[Exercise, ...] = Field(min_length=1)


class Response(_Frozen):
    """What counts as meaningful improvement for this clinic's patients.

    ``pain`` and ``function`` (and optionally ``patient_global``) are outcome ids on 0-100 scales
    for the OMERACT-OARSI responder criteria (Pham et al., Osteoarthritis Cartilage
    2004;12:389-399); ``mcid_outcome`` is the outcome whose MCID marks "reached a meaningful
    change" on the sessions-to-response curve.
    """

    mcid_outcome: str
    pain: str
    function: str
    patient_global: str | None = None
    neuropathic: str | None = Field(
        default=None, description="Outcome whose positive screen the therapist is told about."
    )
    neuropathic_cutoff: float | None = Field(
        default=None, description="Score at or above which the screen is positive (DN4: 4)."
    )


class Care(_Frozen):
    """The clinic's own words kept beside the compiled protocol (``Protocol.care``)."""

    joint: Joint
    components: tuple[Component, ...] = Field(min_length=1)
    counted: Code = Field(description="The component whose sessions are counted: R every N.")
    reassess_every: int = Field(ge=1, le=52, description="Reassess every N counted sessions.")
    follow_up_months: tuple[int, ...] = ()
    home: HomeProgramme | None = None
    response: Response

    def component(self, code: str) -> Component:
        for item in self.components:
            if item.code == code:
                return item
        known = ", ".join(c.code for c in self.components)
        raise ProtocolError("care plan", [Problem("components", f"no {code!r}; known: {known}")])
