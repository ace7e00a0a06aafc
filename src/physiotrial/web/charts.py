"""Where the clinic pages' small charts put their lines, bands and labels (SVG user units).

The pages draw inline SVG from these numbers, as the dashboard's recruitment chart does
(routes/pages.py): no script, no image files, nothing the content security policy would refuse,
and the same numbers are always given in words or a table beside the chart. Nothing here reads
the store: each function takes what a service returned and only lays it out.

- :func:`outcome_chart`: one outcome at each assessment, the baseline as a line, and the band of
  values at least one MCID better than baseline ("meaningful improvement");
- :func:`exercise_chart`: home-exercise days per week as bars against the prescribed days;
- :func:`km_chart`: the share of patients who reached a meaningful improvement by number of
  sessions (one minus the Kaplan–Meier survival), its pointwise confidence band, and the number
  still followed ("at risk") under each session;
- :func:`forest_chart`: adverse events per session with their exact CIs, each beside the
  published rates (one mark per source).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from physiotrial.services.clinic import Course, Point, WeekOfExercise
from physiotrial.services.clinic_evidence import CurveStep


@dataclass(frozen=True)
class Frame:
    """A chart's viewBox and its plot area (left, top, right, bottom)."""

    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    value: str
    reached: bool | None


@dataclass(frozen=True)
class OutcomeChart:
    frame: Frame
    line: str
    """SVG polyline points through the assessments."""
    dots: tuple[Dot, ...]
    baseline_y: float | None
    threshold_y: float | None
    band: tuple[float, float] | None
    """The meaningful-improvement zone as (y, height), clipped to the plot area."""
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str, str], ...]
    """(x, first line, second line) under each assessment."""
    lower_better: bool


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    days: int
    met: bool


@dataclass(frozen=True)
class ExerciseChart:
    frame: Frame
    bars: tuple[Bar, ...]
    target_y: float
    target: int
    y_ticks: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class KmChart:
    frame: Frame
    curve: str
    """Polyline points of the share responded, a step at each session with an event."""
    band: str
    """Polygon points of its confidence band (upper edge forward, lower edge back)."""
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, int, int], ...]
    """(x, sessions, number still followed at that session) under the axis."""
    median_x: float | None
    half_y: float


def nice_step(span: float, parts: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into about ``parts``."""
    raw = max(span / parts, 1e-9)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(k * power for k in (1, 2, 5, 10) if k * power >= raw - 1e-12)


def shown(value: float) -> str:
    """A score as people read it: whole numbers without decimals, else one decimal."""
    rounded = round(value, 1)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}"


def _ticks(values: Sequence[float], parts: int = 4) -> tuple[float, float, float]:
    """(low, high, step) of a round axis holding ``values`` (from 0 when they are near it)."""
    low, high = min(values), max(values)
    if low >= 0 and low <= 0.6 * high:
        low = 0.0
    if high - low < 1e-9:
        high, low = high + 1, max(low - 1, 0.0) if low >= 0 else low - 1
    step = nice_step(high - low, parts)
    return step * math.floor(low / step + 1e-9), step * math.ceil(high / step - 1e-9), step


def outcome_chart(
    course: Course,
    label: Callable[[Point], tuple[str, str]],
    frame: Frame = Frame(340, 210, 44, 14, 326, 160),
) -> OutcomeChart | None:
    """``course`` at each assessment; ``label`` gives the two lines under each (None: no data)."""
    points = course.points
    if not points:
        return None
    threshold = None
    if course.baseline is not None and course.mcid is not None:
        threshold = (
            course.baseline - course.mcid if course.higher_worse else course.baseline + course.mcid
        )
    extent = [p.value for p in points] + [v for v in (course.baseline, threshold) if v is not None]
    low, high, step = _ticks(extent)
    if threshold is not None and threshold < 0 <= min(p.value for p in points):
        low = min(low, 0.0)

    def x(i: int) -> float:
        share = i / (len(points) - 1) if len(points) > 1 else 0.5
        inset = 18
        return round(frame.left + inset + (frame.right - frame.left - 2 * inset) * share, 1)

    def y(value: float) -> float:
        return round(frame.bottom - (frame.bottom - frame.top) * (value - low) / (high - low), 1)

    band = None
    if threshold is not None:
        edge = high if not course.higher_worse else low
        top, bottom = sorted((y(threshold), y(edge)))
        top, bottom = max(top, frame.top), min(bottom, frame.bottom)
        band = (top, round(bottom - top, 1)) if bottom > top else None
    count = round((high - low) / step)
    return OutcomeChart(
        frame=frame,
        line=" ".join(f"{x(i)},{y(p.value)}" for i, p in enumerate(points)),
        dots=tuple(Dot(x(i), y(p.value), shown(p.value), p.reached) for i, p in enumerate(points)),
        baseline_y=None if course.baseline is None else y(course.baseline),
        threshold_y=None if threshold is None else y(threshold),
        band=band,
        y_ticks=tuple((y(low + k * step), shown(low + k * step)) for k in range(count + 1)),
        x_ticks=tuple((x(i), *label(p)) for i, p in enumerate(points)),
        lower_better=course.higher_worse,
    )


def exercise_chart(
    weeks: Sequence[WeekOfExercise], frame: Frame = Frame(640, 200, 40, 14, 628, 160)
) -> ExerciseChart | None:
    """Days of home exercise in each week of care, against the days prescribed."""
    if not weeks:
        return None
    target = weeks[0].target
    top = max([w.days for w in weeks] + [target, 1])
    step = 1 if top <= 7 else 2
    high = step * math.ceil(top / step)
    slot = (frame.right - frame.left) / len(weeks)
    width = min(slot * 0.6, 48)

    def y(value: float) -> float:
        return round(frame.bottom - (frame.bottom - frame.top) * value / high, 1)

    bars = tuple(
        Bar(
            x=round(frame.left + slot * i + (slot - width) / 2, 1),
            y=y(w.days),
            width=round(width, 1),
            height=round(frame.bottom - y(w.days), 1),
            label=str(w.week),
            days=w.days,
            met=w.days >= w.target,
        )
        for i, w in enumerate(weeks)
    )
    ticks = tuple((y(v), str(v)) for v in range(0, high + 1, step))
    return ExerciseChart(frame, bars, y(target), target, ticks)


def km_chart(
    steps: Sequence[CurveStep],
    median: float | None,
    frame: Frame = Frame(640, 300, 76, 16, 624, 232),
) -> KmChart | None:
    """The share responded by sessions as a step curve from (0, 0), with its band, drawn one
    session past the last follow-up so a step there shows."""
    if not steps:
        return None
    x_max = max(s.sessions for s in steps) + 1  # room to see the last step

    def x(value: float) -> float:
        return round(frame.left + (frame.right - frame.left) * value / x_max, 1)

    def y(share: float) -> float:
        return round(frame.bottom - (frame.bottom - frame.top) * share, 1)

    curve, upper, lower = [(0.0, 0.0)], [(0.0, 0.0)], [(0.0, 0.0)]
    for s in sorted(steps, key=lambda s: s.sessions):
        for edge, value in ((curve, s.responded), (upper, s.upper), (lower, s.lower)):
            edge.append((s.sessions, edge[-1][1]))
            edge.append((s.sessions, value))
    for edge in (curve, upper, lower):
        edge.append((x_max, edge[-1][1]))

    def points(edge: Sequence[tuple[float, float]]) -> str:
        return " ".join(f"{x(a)},{y(b)}" for a, b in edge)

    at_risk = _at_risk_by_session(steps, x_max)
    return KmChart(
        frame=frame,
        curve=points(curve),
        band=points(upper) + " " + points(list(reversed(lower))),
        y_ticks=tuple((y(k / 100), f"{k} %") for k in range(0, 101, 25)),
        x_ticks=tuple((x(n), n, at_risk[n]) for n in range(0, x_max + 1)),
        median_x=None if median is None else x(median),
        half_y=y(0.5),
    )


def _at_risk_by_session(steps: Sequence[CurveStep], x_max: int) -> dict[int, int]:
    """Patients still followed and not yet responded when session ``n`` is reached: the number
    at risk of the first table row at or after ``n`` (nobody after the last row)."""
    ordered = sorted(steps, key=lambda s: s.sessions)
    found: dict[int, int] = {}
    for n in range(0, x_max + 1):
        later = [s.at_risk for s in ordered if s.sessions >= n]
        found[n] = later[0] if later else 0
    return found


@dataclass(frozen=True)
class ForestRow:
    y: float
    label: str
    rate_x: float
    low_x: float
    high_x: float
    published: tuple[tuple[float, str, int], ...]
    """(x, source, marker index) of each published rate."""


@dataclass(frozen=True)
class ForestChart:
    frame: Frame
    rows: tuple[ForestRow, ...]
    x_ticks: tuple[tuple[float, str], ...]
    sources: tuple[str, ...]


def forest_chart(
    rows: Sequence[tuple[str, float, float, float, Sequence[tuple[str, float]]]],
    left: int = 230,
    row_height: int = 36,
) -> ForestChart | None:
    """Rates per session with their CI as dots on lines, and the published rates as marks
    (one shape per source). ``rows``: (label, rate, low, high, [(source, published rate)])."""
    if not rows:
        return None
    top, right, width = 12, 620, 640
    bottom = top + row_height * len(rows)
    frame = Frame(width, bottom + 34, left, top, right, bottom)
    highest = max([high for _, _, _, high, _ in rows] + [p for *_, ps in rows for _, p in ps])
    step = nice_step(max(highest, 0.01) * 100, 4)
    x_max = step * math.ceil(max(highest, 0.01) * 100 / step)
    sources = tuple(dict.fromkeys(s for *_, ps in rows for s, _ in ps))

    def x(share: float) -> float:
        return round(left + (right - left) * share * 100 / x_max, 1)

    laid = tuple(
        ForestRow(
            y=top + row_height * (i + 0.5),
            label=label,
            rate_x=x(rate),
            low_x=x(low),
            high_x=x(high),
            published=tuple((x(p), s, sources.index(s)) for s, p in published),
        )
        for i, (label, rate, low, high, published) in enumerate(rows)
    )
    count = round(x_max / step)
    ticks = tuple((x(k * step / 100), f"{shown(k * step)} %") for k in range(count + 1))
    return ForestChart(frame, laid, ticks, sources)
