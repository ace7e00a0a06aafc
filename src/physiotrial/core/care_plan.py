"""A clinic's care-plan file (TOML) validated and compiled into a one-arm :class:`Protocol`.

Why compile rather than keep a second model: a clinic measures what the reference trial measured,
with the same instruments, sessions, adverse events, visits and audit trail. Compiling the care
plan into a protocol with one arm, ``randomisation.method = "none"`` and no blinded role lets every
service (screening, capture, sessions, links, export, locking) serve a clinic unchanged, and the
clinic's own words stay in ``Protocol.care`` (:mod:`physiotrial.core.care`).

The timeline: baseline on day 0 (the first treatment day), a reassessment after every
``reassess_every`` sessions of the counted component, planned on the day that session is due at
the prescribed frequency, and follow-ups at the months given (30.4 days a month). A care plan is
checked twice: its own shape here, then the compiled protocol's cross-checks
(:func:`~physiotrial.core.protocol_checks.check_protocol`), so every problem is reported at once,
located in the care plan's own keys where they are the same.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field, ValidationError

from physiotrial.core.care import (
    HOME_EXERCISE,
    Care,
    Code,
    Component,
    HomeProgramme,
    Joint,
    Response,
    _Frozen,
)
from physiotrial.core.instruments.catalogue import catalogue
from physiotrial.core.instruments.spec import Direction, Mcid
from physiotrial.core.protocol import (
    AnalysisPlan,
    Arm,
    Blinding,
    Criterion,
    Measure,
    MissingData,
    Outcome,
    Protocol,
    Randomisation,
    RecordField,
    Responder,
    SessionPlan,
    Study,
    Visit,
    VisitKind,
)
from physiotrial.core.protocol_checks import (
    check_protocol,
    protocol_from_mapping,
    structural_problems,
)
from physiotrial.errors import Problem, ProtocolError

ARM = "CARE"
"""The one arm of a clinic study: everyone receives the care plan."""

DAYS_PER_MONTH = 30.4375
"""365.25 / 12: a follow-up "at 3 months" is day 91."""


class Plan(_Frozen):
    id: Code
    title: str
    version: str
    condition: str
    joint: Joint
    sources: tuple[str, ...] = ()


class ComponentPlan(Component):
    """A component as written in the file, with what each session records."""

    records: tuple[RecordField, ...] = ()


class Assessments(_Frozen):
    """The outcome set and the reassessment rhythm."""

    measures: tuple[str, ...] = Field(min_length=1, description="Measured at every assessment.")
    follow_up_measures: tuple[str, ...] = Field(
        default=(), description="Measured at reassessments and follow-ups only (e.g. PGIC)."
    )
    counted: str = Field(description="The component whose sessions are counted.")
    every_sessions: int = Field(ge=1, le=52)
    months: tuple[int, ...] = Field(default=(3, 6))
    window_days: int = Field(default=7, ge=0, le=28, description="Reassessment window, each side.")
    follow_up_window_days: int = Field(default=14, ge=0, le=60)


class OutcomePlan(_Frozen):
    """An outcome as written in a care plan: its visits follow from the assessment rhythm."""

    id: Code
    name: str
    measure: str
    score: str
    direction: Direction | None = None
    mcid: Mcid | None = Field(default=None, description="Defaults to the instrument's.")


class CarePlan(_Frozen):
    """The care-plan file: see src/physiotrial/protocols/knee-oa-clinic.toml for a full example."""

    care_plan: Plan
    components: tuple[ComponentPlan, ...] = Field(min_length=1)
    home_exercise: HomeProgramme | None = None
    suitability: tuple[Criterion, ...] = Field(
        min_length=1, description="Contraindications and indications checked before care."
    )
    measures: tuple[Measure, ...] = Field(min_length=1)
    assessments: Assessments
    outcomes: tuple[OutcomePlan, ...] = Field(min_length=1)
    response: Response


def parse_study_file(text: str, source: str) -> Protocol:
    """A trial protocol or a clinic care plan, told apart by its [study] or [care_plan] table."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(source, [Problem("", f"not valid TOML: {error}")]) from None
    if is_care_plan(data):
        return care_plan_from_mapping(data, source)
    return protocol_from_mapping(data, source)


def parse_care_plan(text: str, source: str = "care plan") -> Protocol:
    """The compiled protocol of a care-plan TOML text; :class:`ProtocolError` lists problems."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(source, [Problem("", f"not valid TOML: {error}")]) from None
    return care_plan_from_mapping(data, source)


def is_care_plan(data: Mapping[str, Any]) -> bool:
    """A study file is a care plan when it has a ``[care_plan]`` table."""
    return "care_plan" in data


def care_plan_from_mapping(data: Mapping[str, Any], source: str = "care plan") -> Protocol:
    try:
        plan = CarePlan.model_validate(data)
    except ValidationError as error:
        raise ProtocolError(source, list(structural_problems(error, CarePlan))) from None
    problems = list(_check_plan(plan))
    if problems:
        raise ProtocolError(source, problems)
    try:
        protocol = compile_care_plan(plan)
    except ValidationError as error:
        raise ProtocolError(source, list(structural_problems(error, Protocol))) from None
    problems = check_protocol(protocol)
    if problems:
        raise ProtocolError(source, problems)
    return protocol


def _check_plan(plan: CarePlan) -> Iterator[Problem]:
    codes = [c.code for c in plan.components]
    if plan.assessments.counted not in codes:
        yield Problem(
            "assessments.counted",
            f"unknown component {plan.assessments.counted!r}; allowed: {', '.join(codes)}",
        )
    if HOME_EXERCISE in codes:
        yield Problem("components", f"{HOME_EXERCISE!r} is the home log's code; choose another")
    for c in plan.components:
        if c.up_to_weeks is not None and c.up_to_weeks < c.weeks:
            yield Problem(
                f"components[{c.code}].up_to_weeks",
                f"{c.up_to_weeks} is below weeks {c.weeks}; allowed: {c.weeks} or more",
            )
        if c.target_muscles and c.kind != "dry_needling":
            yield Problem(f"components[{c.code}].target_muscles", "only for dry_needling")
    keys = {m.key for m in plan.measures}
    for field in ("measures", "follow_up_measures"):
        for key in getattr(plan.assessments, field):
            if key not in keys:
                yield Problem(
                    f"assessments.{field}", f"unknown measure {key!r}; allowed: {sorted(keys)}"
                )
    outcomes = {o.id for o in plan.outcomes}
    r = plan.response
    for field in ("mcid_outcome", "pain", "function", "patient_global", "neuropathic"):
        value = getattr(r, field)
        if value is not None and value not in outcomes:
            yield Problem(
                f"response.{field}", f"unknown outcome {value!r}; allowed: {sorted(outcomes)}"
            )
    if (r.neuropathic is None) != (r.neuropathic_cutoff is None):
        yield Problem(
            "response.neuropathic_cutoff", "give both neuropathic and its cutoff, or neither"
        )


def _visits(plan: CarePlan) -> list[Visit]:
    a = plan.assessments
    counted = next(c for c in plan.components if c.code == a.counted)
    every_measure = a.measures + tuple(k for k in a.follow_up_measures if k not in a.measures)
    visits = [
        Visit(
            code="BL", name="First assessment", kind=VisitKind.BASELINE, day=0, measures=a.measures
        )
    ]
    gap = 7 / counted.per_week
    for number, session in enumerate(
        range(a.every_sessions, counted.most_sessions + 1, a.every_sessions), start=1
    ):
        day = round((session - 1) * gap) + 1
        visits.append(
            Visit(
                code=f"R{number}",
                name=f"Reassessment after session {session}",
                after_session=session,
                kind=VisitKind.ASSESSMENT,
                day=day,
                window_before=min(a.window_days, max(0, day - visits[-1].closes - 1)),
                window_after=a.window_days,
                measures=every_measure,
            )
        )
    for months in a.months:
        day = round(months * DAYS_PER_MONTH)
        visits.append(
            Visit(
                code=f"M{months}",
                name=f"Follow-up at {months} months",
                kind=VisitKind.FOLLOW_UP,
                day=day,
                window_before=min(a.follow_up_window_days, max(0, day - visits[-1].closes - 1)),
                window_after=a.follow_up_window_days,
                measures=every_measure,
            )
        )
    return visits


def _sessions(plan: CarePlan) -> list[SessionPlan]:
    sessions = [
        SessionPlan(
            code=c.code,
            name=c.name,
            delivered_by="therapist",
            arms={ARM: c.name},
            first_day=1,
            per_week=c.per_week,
            weeks=c.up_to_weeks or c.weeks,
            records=c.records,
        )
        for c in plan.components
    ]
    home = plan.home_exercise
    if home is not None:
        sessions.append(
            SessionPlan(
                code=HOME_EXERCISE,
                name="Home exercise programme",
                delivered_by="participant",
                arms={ARM: ", ".join(e.name for e in home.exercises)},
                first_day=1,
                per_week=home.per_week,
                weeks=home.weeks,
                records=(
                    RecordField(
                        id="exercises_done",
                        label="Exercises done today",
                        type="integer",
                        minimum=0,
                        maximum=len(home.exercises),
                    ),
                    RecordField(
                        id="pain_during",
                        label="Pain during the exercises (0-10)",
                        type="integer",
                        minimum=0,
                        maximum=10,
                    ),
                ),
            )
        )
    return sessions


def _outcome(plan: CarePlan, o: OutcomePlan, visits: list[Visit]) -> Outcome:
    """The outcome at every assessment that measures it, with the instrument's MCID by default."""
    mcid = o.mcid
    if mcid is None:
        measure = next((m for m in plan.measures if m.key == o.measure), None)
        instrument = catalogue().get(measure.instrument) if measure else None
        if instrument is not None and o.score in instrument.score_keys:
            mcid = instrument.score_spec(o.score).mcid
    return Outcome(
        id=o.id,
        name=o.name,
        measure=o.measure,
        score=o.score,
        primary=o.id == plan.response.mcid_outcome,
        visits=tuple(v.code for v in visits if o.measure in v.measures) or ("BL",),
        direction=o.direction,
        mcid=mcid,
    )


def compile_care_plan(plan: CarePlan) -> Protocol:
    """The one-arm, unrandomised, unblinded protocol that runs ``plan``."""
    p, visits = plan.care_plan, _visits(plan)
    outcomes = tuple(_outcome(plan, o, visits) for o in plan.outcomes)
    r = plan.response
    responders = [
        Responder(
            id="omeract_oarsi",
            rule="omeract_oarsi",
            pain=r.pain,
            function=r.function,
            patient_global=r.patient_global,
        )
    ]
    responders += [
        Responder(id=f"{o.id}_mcid", rule="mcid", outcome=o.id, threshold=o.mcid.value)
        for o in outcomes
        if o.mcid is not None
    ]
    care = Care(
        joint=p.joint,
        components=tuple(
            Component.model_validate(c.model_dump(exclude={"records"})) for c in plan.components
        ),
        counted=plan.assessments.counted,
        reassess_every=plan.assessments.every_sessions,
        follow_up_months=plan.assessments.months,
        home=plan.home_exercise,
        response=r,
    )
    return Protocol(
        study=Study(
            id=p.id,
            title=p.title,
            version=p.version,
            condition=p.condition,
            sources=p.sources,
            kind="clinic",
        ),
        arms=(
            Arm(
                code=ARM,
                name=p.title,
                description=p.title,
                components=tuple(c.kind for c in plan.components),
            ),
        ),
        randomisation=Randomisation(method="none", concealment="not randomised"),
        eligibility=plan.suitability,
        measures=plan.measures,
        visits=tuple(visits),
        sessions=tuple(_sessions(plan)),
        blinding=Blinding(blinded_roles=()),
        outcomes=outcomes,
        analysis=AnalysisPlan(
            population="itt",
            primary_model="mmrm",
            responders=tuple(responders),
            missing_data=MissingData(strategy="complete_case"),
        ),
        care=care,
    )
