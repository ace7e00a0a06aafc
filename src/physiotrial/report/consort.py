"""The CONSORT 2010 flow diagram as inline SVG, drawn from :class:`Consort` counts.

The boxes and their wording follow the CONSORT 2010 flow diagram template (Schulz, Altman and
Moher, BMJ 2010;340:c332, figure): Enrollment (assessed for eligibility, excluded with reasons,
randomised), Allocation (allocated, received the allocated intervention, did not), Follow-Up
(lost to follow-up and discontinued intervention, with reasons) and Analysis (analysed, excluded
from analysis), one column per arm. It is plain SVG written here rather than a matplotlib figure
so that every count is real text a reader can select and a test can find, and so that it prints
sharply in the PDF. Box heights come from the wrapped text; arrowheads are polygons (no SVG
markers) so every renderer draws them alike.
"""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import dataclass
from html import escape

from physiotrial.analysis.results import AnalysisResults
from physiotrial.report.text import arm_label, arm_order

WIDTH = 760
LINE = 15  # px between text baselines at 12 px type
PAD = 8
CHAR = 6.4  # average advance of 12 px sans-serif, for wrapping
GAP = 34  # vertical space between box rows (holds a phase banner)
STROKE = "#1f2937"
BANNER = "#dbeafe"


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    w: float
    lines: tuple[tuple[str, bool], ...]  # (text, bold)

    @property
    def h(self) -> float:
        return len(self.lines) * LINE + 2 * PAD - 3

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _lines(head: str, items: list[str], width: float) -> tuple[tuple[str, bool], ...]:
    chars = max(int((width - 2 * PAD) / CHAR), 10)
    bold_chars = max(int((width - 2 * PAD) / (CHAR * 1.1)), 10)
    out = [(t, True) for t in textwrap.wrap(head, bold_chars)]
    for item in items:
        wrapped = textwrap.wrap(item, chars - 2)
        out += [(("\u2022 " if i == 0 else "\u2003") + t, False) for i, t in enumerate(wrapped)]
    return tuple(out)


def _count(n: int) -> str:
    """``(n = 12)`` held together by no-break spaces so wrapping never splits it."""
    return f"(n\u00a0=\u00a0{n})"


def _reasons(reasons: dict[str, int]) -> list[str]:
    return [f"{reason} {_count(n)}" for reason, n in reasons.items()]


def _draw_box(box: _Box) -> list[str]:
    parts = [
        f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" '
        f'fill="#ffffff" stroke="{STROKE}" stroke-width="1.2"/>'
    ]
    for i, (text, bold) in enumerate(box.lines):
        weight = ' font-weight="bold"' if bold else ""
        parts.append(
            f'<text x="{box.x + PAD:.0f}" y="{box.y + PAD + 11 + i * LINE:.0f}"{weight}>'
            f"{escape(text)}</text>"
        )
    return parts


def _arrow(x1: float, y1: float, x2: float, y2: float) -> list[str]:
    """A line ending in a filled arrowhead pointing along the (vertical or horizontal) line."""
    head = 6.0
    line = f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{STROKE}"/>'
    if x1 == x2:
        d = 1 if y2 > y1 else -1
        pts = f"{x2 - 4:.0f},{y2 - d * head:.0f} {x2 + 4:.0f},{y2 - d * head:.0f} {x2:.0f},{y2:.0f}"
    else:
        d = 1 if x2 > x1 else -1
        pts = f"{x2 - d * head:.0f},{y2 - 4:.0f} {x2 - d * head:.0f},{y2 + 4:.0f} {x2:.0f},{y2:.0f}"
    return [line, f'<polygon points="{pts}" fill="{STROKE}"/>']


def _banner(text: str, y: float) -> list[str]:
    w = 130
    x = WIDTH / 2 - w / 2
    return [
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w}" height="20" rx="6" fill="{BANNER}" '
        f'stroke="#93c5fd"/>',
        f'<text x="{WIDTH / 2:.0f}" y="{y + 14:.0f}" text-anchor="middle" '
        f'font-weight="bold">{escape(text)}</text>',
    ]


def consort_svg(results: AnalysisResults) -> str:
    """The flow diagram, one column per arm (experimental left, control right)."""
    c = results.consort
    arms = arm_order(results)[:2]
    parts: list[str] = []

    top = _Box(250, 28, 260, _lines(f"Assessed for eligibility {_count(c.assessed)}", [], 260))
    excluded = _Box(
        540,
        top.bottom + 14,
        210,
        _lines(f"Excluded {_count(c.excluded)}", _reasons(c.exclusion_reasons), 210),
    )
    randomised_total = sum(c.randomised.values())
    rand = _Box(
        250,
        max(excluded.bottom, top.bottom + 40) + 18,
        260,
        _lines(f"Randomised {_count(randomised_total)}", [], 260),
    )
    parts += _draw_box(top) + _draw_box(excluded) + _draw_box(rand)
    parts += [
        '<text x="16" y="18" font-weight="bold" fill="#1e3a8a">Enrollment</text>',
    ]
    trunk_y = excluded.y + excluded.h / 2
    parts.append(
        f'<line x1="{top.cx:.0f}" y1="{top.bottom:.0f}" x2="{top.cx:.0f}" y2="{trunk_y:.0f}" '
        f'stroke="{STROKE}"/>'
    )
    parts += _arrow(top.cx, trunk_y, excluded.x, trunk_y)
    parts += _arrow(top.cx, trunk_y, rand.cx, rand.y)

    col_x = (20.0, 400.0)
    col_w = 340.0
    rows: list[list[_Box]] = [[], [], []]
    y = rand.bottom + GAP + 8
    for i, code in enumerate(arms):
        label = arm_label(results, code)
        named = f"arm {label}" if results.blinded or label == code else f"{label} ({code})"
        n = c.randomised.get(code, 0)
        received = c.received.get(code, 0)
        rows[0].append(
            _Box(
                col_x[i],
                y,
                col_w,
                _lines(
                    f"Allocated to {named} {_count(n)}",
                    [
                        f"Received allocated intervention {_count(received)}",
                        f"Did not receive allocated intervention {_count(n - received)}",
                    ],
                    col_w,
                ),
            )
        )
    y = max(b.bottom for b in rows[0]) + GAP
    for i, code in enumerate(arms):
        lost = c.lost.get(code, {})
        stopped = c.discontinued.get(code, {})
        lines = _lines(f"Lost to follow-up {_count(sum(lost.values()))}", _reasons(lost), col_w)
        lines += _lines(
            f"Discontinued intervention {_count(sum(stopped.values()))}", _reasons(stopped), col_w
        )
        rows[1].append(_Box(col_x[i], y, col_w, lines))
    y = max(b.bottom for b in rows[1]) + GAP
    for i, code in enumerate(arms):
        analysed = c.analysed.get(code, 0)
        rows[2].append(
            _Box(
                col_x[i],
                y,
                col_w,
                _lines(
                    f"Analysed {_count(analysed)}",
                    [f"Excluded from analysis {_count(c.randomised.get(code, 0) - analysed)}"],
                    col_w,
                ),
            )
        )
    # Randomised splits into the two allocation boxes.
    split_y = rand.bottom + 8
    parts.append(
        f'<line x1="{rand.cx:.0f}" y1="{rand.bottom:.0f}" x2="{rand.cx:.0f}" y2="{split_y:.0f}" '
        f'stroke="{STROKE}"/>'
    )
    parts.append(
        f'<line x1="{rows[0][0].cx:.0f}" y1="{split_y:.0f}" x2="{rows[0][-1].cx:.0f}" '
        f'y2="{split_y:.0f}" stroke="{STROKE}"/>'
    )
    for box in rows[0]:
        parts += _arrow(box.cx, split_y, box.cx, box.y)
    for upper, lower in itertools.pairwise(rows):
        for a, b in zip(upper, lower, strict=True):
            parts += _arrow(a.cx, a.bottom, b.cx, b.y)
    for name, row in zip(("Allocation", "Follow-Up", "Analysis"), rows, strict=True):
        parts += _banner(name, row[0].y - GAP + 6 if name != "Allocation" else row[0].y - 26)
        for box in row:
            parts += _draw_box(box)
    height = max(b.bottom for b in rows[2]) + 10
    body = "\n".join(parts)
    return (
        f'<svg class="consort" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" role="img" aria-labelledby="consort-title" '
        'font-family="Liberation Sans, Arial, Helvetica, sans-serif" font-size="12" '
        'fill="#111827">'
        f'<title id="consort-title">CONSORT 2010 flow diagram</title>\n{body}\n</svg>'
    )
