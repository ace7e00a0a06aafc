"""The clinic pages' words: outcomes, changes, sessions and side effects as patients read them.

The printable summary is taken home by the patient, so it names each outcome in everyday words
(not the instrument's code), says what changed and whether the change is large enough to matter,
and describes side effects by how long they lasted. "Meaningful" is the outcome's minimal
clinically important difference (MCID): the smallest change patients themselves rate as a real
difference (Jaeschke, Singer & Guyatt, Control Clin Trials 1989;10:407-415); the value and its
source come from the care plan or the instrument (shared/reference/instruments.md).

Staff pages use the same sentences with the staff names beside them.
"""

from __future__ import annotations

import re

from physiotrial.services.clinic import Course, Point
from physiotrial.web.charts import shown as number  # re-exported: the templates use it

__all__ = [
    "change_words",
    "component_sentence",
    "duration_words",
    "mcid_shown",
    "moment",
    "number",
    "plain_name",
    "responder_words",
    "staff_moment",
    "summary_head",
    "summary_line",
    "unit_word",
]

PLAIN: dict[tuple[str, str], tuple[str, str]] = {
    ("vas", "score"): ("Your {joint} pain", "points"),
    ("nprs", "score"): ("Your {joint} pain", "points"),
    ("womac", "pain_100"): ("Pain during daily activities", "points"),
    ("womac", "stiffness_100"): ("Stiffness", "points"),
    ("womac", "function_100"): ("Difficulty with daily activities", "points"),
    ("womac", "total_100"): ("Overall joint problems", "points"),
    ("koos", "pain"): ("Your {joint} pain", "points"),
    ("dn4", "total"): ("Signs of nerve-type pain", "points"),
    ("tsk11", "total"): ("Fear of movement", "points"),
    ("pcs", "total"): ("Worry about pain", "points"),
    ("tug", "time_s"): ("Time to stand up, walk 3 metres and sit down", "seconds"),
    ("chair_stand_30s", "stands"): ("Stands from a chair in 30 seconds", "stands"),
    ("six_mwt", "distance_m"): ("Distance walked in 6 minutes", "metres"),
}
"""(instrument, score) → (everyday name, unit word); {joint} is the care plan's joint."""
SAME = 0.5
"""A change smaller than this (in the outcome's units) reads as "about the same"."""
_MONTHS = re.compile(r"^M(\d+)$")


def plain_name(course: Course, instrument: tuple[str, str] | None, joint: str) -> str:
    """The outcome in everyday words (the staff name without its bracket when none is known)."""
    known = PLAIN.get(instrument) if instrument else None
    if known:
        return known[0].format(joint=joint)
    return re.sub(r"\s*\([^)]*\)\s*$", "", course.name)


def unit_word(instrument: tuple[str, str] | None) -> str:
    known = PLAIN.get(instrument) if instrument else None
    return known[1] if known else "points"


def mcid_shown(mcid: float) -> str:
    """The MCID as a round number (19.9 → 20): the sentence promises no false precision."""
    return number(round(mcid)) if mcid >= 10 else number(mcid)


def change_words(course: Course, unit: str) -> str:
    """What happened to the outcome since the start, judged against its MCID."""
    latest = course.latest
    if latest is None or course.baseline is None:
        return "measured at the start only so far"
    gain = latest.improvement
    size = f"{number(abs(gain))} {unit}"
    if course.mcid is None:
        if abs(gain) < SAME:
            return "about the same as at the start"
        return f"{'better' if gain > 0 else 'worse'} by {size}"
    needed = f"{mcid_shown(course.mcid)} {unit}"
    if latest.reached:
        return f"a meaningful improvement (better by {size}; {needed} or more counts)"
    if gain <= -course.mcid:
        return f"worse by {size}, more than the {needed} that counts as meaningful"
    if abs(gain) < SAME:
        return f"about the same as at the start ({needed} would be a meaningful change)"
    if gain > 0:
        return f"better by {size}, not yet the {needed} that counts as meaningful"
    return f"a little worse (by {size}), less than the {needed} that counts as meaningful"


def summary_head(course: Course, instrument: tuple[str, str] | None, joint: str) -> str:
    """E.g. "Your knee pain: 68 → 31" (start, then the latest assessment)."""
    name = plain_name(course, instrument, joint)
    if course.baseline is None:
        return name
    latest = course.latest
    return f"{name}: {number(course.baseline)}" + (
        "" if latest is None else f" → {number(latest.value)}"
    )


def summary_line(course: Course, instrument: tuple[str, str] | None, joint: str) -> str:
    """E.g. "Your knee pain: 68 → 31 — a meaningful improvement (better by 37 points; 20
    points or more counts)"."""
    head = summary_head(course, instrument, joint)
    if course.baseline is None:
        return f"{head}: not measured at the start"
    return f"{head} — {change_words(course, unit_word(instrument))}"


def moment(point: Point) -> tuple[str, str]:
    """When an assessment was, for the patient: "Start", "after session 3", "3 months"."""
    if point.visit == "BL":
        return ("Start", "")
    months = _MONTHS.match(point.visit)
    if months:
        return ("At", f"{months.group(1)} months")
    return ("After", f"session {point.sessions}")


def staff_moment(point: Point) -> tuple[str, str]:
    """When an assessment was, for staff: the visit code and the sessions before it."""
    return (point.visit, f"{point.sessions} sess.")


def duration_words(hours: float | None) -> str:
    """How long a side effect lasted, in hours up to two days, then in days."""
    if hours is None:
        return "how long it lasted was not recorded"
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        whole = round(hours)
        return f"about {whole} hour{'s' if whole != 1 else ''}"
    days = round(hours / 24, 1)
    shown = f"{days:.0f}" if days == int(days) else f"{days:.1f}"
    return f"about {shown} days"


def responder_words(value: bool | None) -> str:
    if value is None:
        return "cannot be decided (an outcome is missing)"
    return "responder" if value else "not a responder"


def component_sentence(name: str, delivered: int, planned: int) -> str:
    """E.g. "Dry needling of the popliteus: 6 sessions (3 planned)"."""
    noun = "session" if delivered == 1 else "sessions"
    return f"{name}: {delivered} {noun} ({planned} planned)"
