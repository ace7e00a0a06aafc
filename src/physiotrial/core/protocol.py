"""The trial protocol as code: a TOML file validated into a frozen :class:`Protocol`.

The model holds only what a protocol states; checks that relate one part to another (an outcome
on a visit that does not capture its instrument, a block size that is not a multiple of the
allocation ratio, overlapping visit windows) live in :mod:`physiotrial.core.protocol_checks`, so
that every problem in a file is reported at once rather than the first one.

Every section maps to a heading of the SPIRIT 2013 checklist (Chan et al., BMJ 2013;346:e7586):
interventions (arms, sessions), outcomes, participant timeline (visits), sample size, allocation
(randomisation, concealment), blinding and statistical methods (analysis).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from physiotrial.core.care import Care
from physiotrial.core.instruments.spec import Direction, Mcid, OptionValue, Rater
from physiotrial.errors import Problem, ProtocolError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_T = TypeVar("_T", bound=BaseModel)


Code = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=40)]
"""Identifiers that appear in exports and URLs: a letter, then letters, digits, _ or -."""


class Role(StrEnum):
    """The people who use the system (DESIGN.md, "Users and what they do")."""

    COORDINATOR = "coordinator"
    ASSESSOR = "assessor"
    THERAPIST = "therapist"
    PARTICIPANT = "participant"
    STATISTICIAN = "statistician"
    DATA_MANAGER = "data_manager"


class Study(_Frozen):
    id: Code
    title: str
    registry_id: str | None = None
    version: str
    condition: str
    sponsor: str | None = None
    sources: tuple[str, ...] = ()
    kind: Literal["trial", "clinic"] = Field(
        default="trial",
        description="A clinic study has one arm, no randomisation and no blinding (care plan).",
    )


class Arm(_Frozen):
    code: Code
    name: str
    description: str
    components: tuple[str, ...] = Field(min_length=1)
    sham: bool = False
    ratio: int = Field(default=1, ge=1, le=10, description="Allocation ratio weight.")


class Factor(_Frozen):
    """A stratification or minimisation factor, answered at screening."""

    id: Code
    label: str
    levels: tuple[str, ...] = Field(min_length=2)


class Minimisation(_Frozen):
    """Pocock–Simon minimisation (Pocock & Simon, Biometrics 1975;31:103-115)."""

    factors: tuple[str, ...] = Field(min_length=1)
    probability: float = Field(
        default=0.8, ge=0.5, le=1.0, description="Chance of the arm that minimises imbalance."
    )
    imbalance: Literal["range", "variance"] = "range"


class Randomisation(_Frozen):
    method: Literal["simple", "permuted_blocks", "minimisation", "none"] = Field(
        description="none: one arm, every participant receives it (a clinic's care plan)."
    )
    block_sizes: tuple[int, ...] = Field(
        default=(), description="Block sizes chosen at random for each new block."
    )
    factors: tuple[Factor, ...] = ()
    strata: tuple[str, ...] = Field(default=(), description="Factor ids stratified on.")
    minimisation: Minimisation | None = None
    concealment: str = ""


class NumericCriterion(_Frozen):
    type: Literal["numeric"]
    id: Code
    sentence: str
    kind: Literal["inclusion", "exclusion"]
    minimum: float | None = Field(default=None, description="Lowest eligible value.")
    maximum: float | None = Field(default=None, description="Highest eligible value.")
    unit: str | None = None


class YesNoCriterion(_Frozen):
    type: Literal["yes_no"]
    id: Code
    sentence: str
    kind: Literal["inclusion", "exclusion"]
    eligible_if: bool = Field(description="The answer that keeps the person eligible.")


class ChoiceCriterion(_Frozen):
    type: Literal["choice"]
    id: Code
    sentence: str
    kind: Literal["inclusion", "exclusion"]
    choices: tuple[str, ...] = Field(min_length=2)
    eligible: tuple[str, ...] = Field(min_length=1)


Criterion = Annotated[
    NumericCriterion | YesNoCriterion | ChoiceCriterion, Field(discriminator="type")
]


class Measure(_Frozen):
    """An instrument as this trial captures it: which rater, with which options."""

    key: Code
    instrument: str
    rater: Rater
    label: str | None = None
    options: dict[str, OptionValue] = Field(default_factory=dict)


class VisitKind(StrEnum):
    SCREENING = "screening"
    BASELINE = "baseline"
    TREATMENT = "treatment"
    ASSESSMENT = "assessment"
    FOLLOW_UP = "follow-up"


class Visit(_Frozen):
    code: Code
    name: str
    kind: VisitKind
    day: int = Field(description="Planned day, counted from day 0 (baseline).")
    window_before: int = Field(default=0, ge=0, description="Days the visit may come early.")
    window_after: int = Field(default=0, ge=0, description="Days the visit may come late.")
    measures: tuple[str, ...] = ()
    after_session: int | None = Field(
        default=None,
        ge=1,
        description="A clinic reassessment: wanted only once this counted session is delivered.",
    )

    @property
    def opens(self) -> int:
        return self.day - self.window_before

    @property
    def closes(self) -> int:
        return self.day + self.window_after


class RecordField(_Frozen):
    """Something that must be recorded for each treatment session."""

    id: Code
    label: str
    type: Literal["integer", "number", "text", "yes_no", "choice"]
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unblinded_only: bool = Field(
        default=False, description="Reveals the arm (e.g. twitch responses): therapist only."
    )


class SessionPlan(_Frozen):
    """A treatment component delivered in sessions: what each arm receives and how often."""

    code: Code
    name: str
    delivered_by: Literal["therapist", "participant"]
    arms: dict[str, str] = Field(description="Arm code → what that arm receives.")
    first_day: int = 0
    per_week: int = Field(ge=1, le=14)
    weeks: int = Field(ge=1, le=104)
    records: tuple[RecordField, ...] = ()

    @property
    def count(self) -> int:
        return self.per_week * self.weeks


class Blinding(_Frozen):
    blinded_roles: tuple[Role, ...]
    sham_procedure: str | None = None
    unblinding_roles: tuple[Role, ...] = (Role.DATA_MANAGER,)


class Outcome(_Frozen):
    id: Code
    name: str
    measure: str
    score: str
    primary: bool = False
    visits: tuple[str, ...] = Field(min_length=1)
    direction: Direction | None = Field(default=None, description="Defaults to the instrument's.")
    mcid: Mcid | None = Field(default=None, description="Defaults to the instrument's.")


class Responder(_Frozen):
    """A responder definition: change reaching an MCID, a percent change, or OMERACT-OARSI."""

    id: Code
    rule: Literal["mcid", "percent", "omeract_oarsi"]
    outcome: str | None = None
    threshold: float | None = None
    pain: str | None = None
    function: str | None = None
    patient_global: str | None = None


class Contrast(_Frozen):
    experimental: str
    control: str
    visit: str


class MissingData(_Frozen):
    strategy: Literal["mmrm_mar", "multiple_imputation", "complete_case"]
    imputations: int = Field(default=50, ge=2, le=1000)
    sensitivity: tuple[Literal["tipping_point", "jump_to_reference", "complete_case"], ...] = ()


class AnalysisPlan(_Frozen):
    population: Literal["itt", "per_protocol"]
    sensitivity_populations: tuple[Literal["itt", "per_protocol"], ...] = ()
    primary_model: Literal["ancova", "mmrm"]
    covariance: Literal["unstructured", "cs", "ar1", "toeplitz"] = "unstructured"
    covariates: tuple[str, ...] = ()
    primary_contrast: Contrast | None = Field(
        default=None, description="Required with two or more arms; a clinic has none."
    )
    alpha: float = Field(default=0.05, gt=0, le=0.2)
    multiplicity: Literal["holm", "hochberg", "bonferroni", "none"] = "holm"
    responders: tuple[Responder, ...] = ()
    missing_data: MissingData


class SampleSize(_Frozen):
    outcome: str
    difference: float = Field(gt=0)
    sd: float = Field(gt=0)
    alpha: float = Field(default=0.05, gt=0, le=0.2)
    power: float = Field(default=0.8, gt=0, lt=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    per_arm: int = Field(ge=1)
    source: str = ""


class Protocol(_Frozen):
    """A validated trial protocol; build it with :func:`protocol_checks.parse_protocol`."""

    study: Study
    arms: tuple[Arm, ...] = Field(min_length=1, description="Two or more unless method none.")
    randomisation: Randomisation
    eligibility: tuple[Criterion, ...] = Field(min_length=1)
    measures: tuple[Measure, ...] = Field(min_length=1)
    visits: tuple[Visit, ...] = Field(min_length=2)
    sessions: tuple[SessionPlan, ...] = ()
    blinding: Blinding
    outcomes: tuple[Outcome, ...] = Field(min_length=1)
    analysis: AnalysisPlan
    sample_size: SampleSize | None = None
    care: Care | None = Field(default=None, description="A clinic study's care plan details.")

    def arm(self, code: str) -> Arm:
        return _find(self.arms, "code", code)

    def visit(self, code: str) -> Visit:
        return _find(self.visits, "code", code)

    def measure(self, key: str) -> Measure:
        return _find(self.measures, "key", key)

    def outcome(self, outcome_id: str) -> Outcome:
        return _find(self.outcomes, "id", outcome_id)

    @property
    def primary_outcome(self) -> Outcome:
        return next(o for o in self.outcomes if o.primary)

    @property
    def contrast(self) -> Contrast:
        """The primary contrast; a clinic study (one arm) has none to compare."""
        if self.analysis.primary_contrast is None:
            raise ProtocolError(
                self.study.id,
                [
                    Problem(
                        "analysis.primary_contrast",
                        "a clinic study has no arms to compare; its analyses are patient "
                        "progress and sessions to response (physiotrial clinic ...)",
                    )
                ],
            )
        return self.analysis.primary_contrast

    @property
    def is_clinic(self) -> bool:
        return self.study.kind == "clinic"

    @property
    def baseline(self) -> Visit:
        return next(v for v in self.visits if v.kind is VisitKind.BASELINE)


def _find(items: tuple[_T, ...], attribute: str, value: str) -> _T:
    for item in items:
        if getattr(item, attribute) == value:
            return item
    known = ", ".join(str(getattr(i, attribute)) for i in items)
    raise ProtocolError("protocol", [Problem("", f"no {attribute} {value!r}; known: {known}")])
