"""Clinic mode's pages (issue 7): the clinic dashboard, a patient's progress and take-home
summary, sessions to meaningful improvement, safety, and the planning export.

Every number comes from ``services.clinic`` and ``services.clinic_evidence``, which apply the
role and site rules: staff of the patient's site and the data manager follow a patient
(``follow progress``; others get the 403 page, another site's patient too); the clinic's pooled
figures (``clinic outcomes``) are open to every staff role, the statistician included, a
site-bound role seeing its own site's. Each page first asks for the care plan (``clinic_plan``),
so on a trial study every clinic page is the same clear 409 ("... is a trial; clinic pages need
a study started from a care plan"), never a 500.

A clinic has one arm and no allocation: the pages never name either, and they say "in care"
where the stored status says "randomised". Charts are inline SVG laid out by web/charts.py (no
script: the content security policy allows none inline); the words patients read come from
web/clinic_words.py.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from physiotrial.errors import PermissionDeniedError
from physiotrial.services.clinic import (
    FINISHED,
    IN_CARE,
    STOPPED,
    ClinicPlan,
    PatientView,
    clinic_overview,
    clinic_plan,
    patient_progress,
)
from physiotrial.services.clinic_evidence import (
    ResponseCurve,
    clinic_safety,
    planning_table,
    sessions_to_response_curves,
)
from physiotrial.services.progress import completeness, visits_to_act_on
from physiotrial.services.schedule import DEPARTURES
from physiotrial.web import clinic_words as words
from physiotrial.web.charts import exercise_chart, forest_chart, km_chart, outcome_chart
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, web_state
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)

DUE_SHOWN = 20
"""How many due reassessments the dashboard lists (the counts cover all of them)."""
FLAG_WORDS = {
    "no_change": "No meaningful change",
    "worsening": "Worse than at the start",
    "neuropathic": "Nerve-pain screen positive",
    "adverse_event": "Significant adverse event",
}


def _plan(request: Request, actor: CurrentActor) -> ClinicPlan:
    """The care plan (a 409 page on a trial study, for every role)."""
    return clinic_plan(web_state(request).store, actor.username)


@router.get("/clinic")
def clinic_dashboard(request: Request, actor: CurrentActor) -> Response:
    state = web_state(request)
    today = state.today()
    plan = _plan(request, actor)
    try:
        overview = clinic_overview(state.store, actor.username, today)
    except PermissionDeniedError:
        overview = None  # the statistician: the pooled figures only
    acts = visits_to_act_on(state.store, actor.username, today)
    context: dict[str, Any] = {
        "title": "Clinic",
        "plan": plan,
        "today": today,
        "overview": overview,
        "standings": (IN_CARE, FINISHED, STOPPED),
        "flagged": [] if overview is None else [line for line in overview.lines if line.flags],
        "acts": acts,
        "due": None if acts is None else acts.visits[:DUE_SHOWN],
        "completeness": completeness(state.store, actor.username, today),
        "flag_words": FLAG_WORDS,
    }
    return render(request, "clinic/dashboard.html", context)


def _courses(view: PatientView, plan: ClinicPlan, *, patient: bool) -> list[dict[str, Any]]:
    """Each outcome with data: its chart, its names and its change in words."""
    found = []
    for course in view.progress.courses:
        if not course.points:
            continue
        instrument = plan.instruments.get(course.outcome)
        label = words.moment if patient else words.staff_moment
        found.append(
            {
                "course": course,
                "chart": outcome_chart(course, label),
                "plain": words.plain_name(course, instrument, plan.joint),
                "head": words.summary_head(course, instrument, plan.joint),
                "line": words.summary_line(course, instrument, plan.joint),
                "change": words.change_words(course, words.unit_word(instrument)),
                "unit": words.unit_word(instrument),
                "first_reached": next((p for p in course.points if p.reached), None),
                "mcid": None if course.mcid is None else words.mcid_shown(course.mcid),
            }
        )
    return found


def _patient_context(
    request: Request, actor: CurrentActor, study_code: str, *, patient: bool
) -> dict[str, Any]:
    state = web_state(request)
    plan = _plan(request, actor)
    view = patient_progress(state.store, actor.username, study_code)
    courses = _courses(view, plan, patient=patient)
    if patient:  # the summary: outcomes with a meaningful-change value, the response one first
        courses = [c for c in courses if c["course"].mcid is not None]
        courses.sort(key=lambda c: c["course"].outcome != plan.response_outcome)
    weeks = view.progress.exercise
    return {
        "plan": plan,
        "view": view,
        "progress": view.progress,
        "courses": courses,
        "exercise": exercise_chart(weeks),
        "weeks_met": sum(1 for w in weeks if w.days >= w.target),
        "today": state.today(),
        "words": words,
        "flag_words": FLAG_WORDS,
        "stopped": view.status in DEPARTURES,
    }


@router.get("/clinic/patients/{study_code}")
def patient_page(request: Request, actor: CurrentActor, study_code: str) -> Response:
    context = _patient_context(request, actor, study_code, patient=False)
    context["title"] = f"Progress of {study_code}"
    return render(request, "clinic/patient.html", context)


@router.get("/clinic/patients/{study_code}/summary")
def patient_summary(request: Request, actor: CurrentActor, study_code: str) -> Response:
    context = _patient_context(request, actor, study_code, patient=True)
    context["title"] = f"Your progress ({study_code})"
    return render(request, "clinic/summary.html", context)


RULES = {
    "mcid": "Meaningful improvement in pain",
    "omeract_oarsi": "OMERACT-OARSI response",
}
"""The two definitions of response the page offers (``?rule=``), as its tabs name them."""


def _reached(rule: str, plan: ClinicPlan) -> str:
    """What "responded" means under ``rule``, as the page's sentences say it."""
    if rule == "mcid":
        name = re.sub(r"\s*\([^)]*\)\s*$", "", plan.response_outcome_name).lower()
        unit = words.unit_word(plan.instruments.get(plan.response_outcome))
        mcid = plan.response_mcid
        least = "" if mcid is None else f" (at least {words.mcid_shown(mcid)} {unit})"
        return f"a meaningful improvement in {name}{least}"
    return "an OMERACT-OARSI response (meaningful improvement in pain and function together)"


def _interval_words(curve: ResponseCurve, level: int) -> str:
    """The median's confidence interval in words, saying plainly when a limit cannot be given
    yet (the band does not cross one half: too few patients followed long enough)."""
    lower, upper = curve.median_lower, curve.median_upper
    if lower is None and upper is None:
        return f"too few patients yet for a {level} % confidence interval"
    if upper is None:
        return f"{level} % CI from session {words.number(lower or 0)}; no upper limit yet"
    if lower is None:
        return f"{level} % CI up to session {words.number(upper)}"
    return f"{level} % CI {words.number(lower)} to {words.number(upper)}"


def _median_words(curve: ResponseCurve, reached: str, level: int) -> str:
    """The clinic's answer to "how many treatments will I need?" in one sentence."""
    if curve.median is None:
        return (
            f"Fewer than half of our patients have reached {reached} so far ({curve.responded} "
            f"of {curve.n}), so the typical number of sessions cannot be given yet."
        )
    return (
        f"Half of our patients reached {reached} by session {words.number(curve.median)} "
        f"({_interval_words(curve, level)})."
    )


def _median_short(curve: ResponseCurve) -> str:
    """The median and its interval for a table cell: "3 (3 to 6)", "6 (3 to —)"."""
    if curve.median is None:
        return "not reached yet"
    lower = "—" if curve.median_lower is None else words.number(curve.median_lower)
    upper = "—" if curve.median_upper is None else words.number(curve.median_upper)
    return f"{words.number(curve.median)} ({lower} to {upper})"


@router.get("/clinic/response")
def response_page(
    request: Request, actor: CurrentActor, rule: Literal["mcid", "omeract_oarsi"] = "mcid"
) -> Response:
    state = web_state(request)
    plan = _plan(request, actor)
    curves = sessions_to_response_curves(state.store, actor.username, rule)
    level = round(100 * (1 - curves.alpha))
    reached = _reached(rule, plan)
    overall = curves.overall
    context: dict[str, Any] = {
        "title": "Sessions to meaningful improvement",
        "plan": plan,
        "rule": rule,
        "rules": RULES,
        "curves": curves,
        "overall": overall,
        "chart": None if overall is None else km_chart(overall.steps, overall.median),
        "answer": None if overall is None else _median_words(overall, reached, level),
        "groups": [(g, _median_short(g)) for g in curves.groups],
        "reached": reached,
        "level": level,
        "words": words,
    }
    return render(request, "clinic/response.html", context)


COMPARED = {
    "within": "compatible with",
    "above": "higher than",
    "below": "lower than",
}
"""How the clinic's rate stands against a published one (the published rate inside, below or
above the clinic's exact CI)."""
SEVERITY_WORDS = {
    "any": "Any adverse event",
    "mild": "Mild",
    "significant": "Significant",
    "serious": "Serious",
    "significant or serious": "Significant or serious",
}


def percent(share: float) -> str:
    """A share as a percentage with one decimal (two below 1 %)."""
    value = 100 * share
    return f"{value:.2f} %" if 0 < value < 1 else f"{value:.1f} %"


@router.get("/clinic/safety")
def safety_page(request: Request, actor: CurrentActor) -> Response:
    state = web_state(request)
    plan = _plan(request, actor)
    safety = clinic_safety(state.store, actor.username)
    compared = [line for line in safety.lines if line.published]
    rows = [
        (
            SEVERITY_WORDS.get(line.label, line.label.capitalize()),
            line.rate,
            line.ci_low,
            line.ci_high,
            [(p.source, p.rate) for p in line.published],
        )
        for line in compared
    ]
    context: dict[str, Any] = {
        "title": "Side effects per session",
        "plan": plan,
        "safety": safety,
        "severities": [line for line in safety.lines if line.kind in ("any", "severity")],
        "terms": [line for line in safety.lines if line.kind == "term"],
        "chart": forest_chart(rows) if safety.sessions else None,
        "level": round(100 * (1 - safety.alpha)),
        "percent": percent,
        "compared_words": COMPARED,
        "severity_words": SEVERITY_WORDS,
    }
    return render(request, "clinic/safety.html", context)


@router.get("/clinic/planning.csv")
def planning_export(request: Request, actor: CurrentActor) -> Response:
    """The clinic's observed SDs and correlations as CSV, for a trial's sample size."""
    plan = _plan(request, actor)
    table = planning_table(web_state(request).store, actor.username)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{plan.joint}-clinic-variability").strip("-")
    return Response(
        table.to_csv(index=False, float_format="%.6g"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store",
        },
    )
