"""The report's figures as inline SVG: outcome means over visits and a forest plot of Hedges' g.

- Means with 95% CIs per arm at each visit, one small panel per outcome (small multiples,
  Tufte 1983), so the course of every outcome is read at a glance; the interval is
  mean +/- t(0.975, n-1) * SD / sqrt(n) from the observed data of ``descriptives``.
- A forest plot of Hedges' g (experimental - control, change from baseline) with its 95% CI at the
  primary visit, one line per outcome (Lewis and Clarke, BMJ 2001;322:1479).

matplotlib is imported inside the functions, with the Agg backend, so importing the report costs
nothing and never needs a display. Text stays text in the SVG (``svg.fonttype = none``), ids are
made unique per figure (several SVGs share one HTML page), the hash salt and the date are fixed so
the same results give the same bytes, and the XML prologue and namespace URLs are removed so the
page references nothing outside itself. Colours are Okabe-Ito (safe for colour-blind readers) and
the arms also differ by marker, for greyscale print.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from typing import Any

import pandas as pd

from physiotrial.analysis.results import AnalysisResults
from physiotrial.report.text import (
    arm_label,
    arm_order,
    contrast_label,
    outcome_name,
    primary_row,
    visit_name,
)

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
MARKERS = ("o", "s", "^", "D")
FONT = ["Liberation Sans", "DejaVu Sans"]
WIDTH_IN = 7.0


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rc() -> dict[str, object]:
    return {
        "svg.fonttype": "none",
        "svg.hashsalt": "physiotrial",
        "font.family": "sans-serif",
        "font.sans-serif": FONT,
        "font.size": 8,
        "axes.titlesize": 8,
        "axes.labelsize": 8,
        "xtick.labelsize": 7.5,
        "ytick.labelsize": 7.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.6,
    }


def _svg(figure: Any, prefix: str, title: str) -> str:
    """The figure as inline SVG without prologue, namespaces or colliding ids."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    text = re.sub(
        r'<svg\s+width="[^"]*"\s+height="[^"]*"', f'<svg class="figure {prefix}"', text, count=1
    )
    return text.replace(">", f' role="img"><title>{title}</title>', 1)


def _ci_half_width(sd: float, n: float) -> float:
    from scipy import stats

    if n < 2 or math.isnan(sd):
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))


def means_figure(results: AnalysisResults) -> str | None:
    """Small multiples: mean and 95% CI per arm at each visit, one panel per outcome."""
    frame = results.table("descriptives")
    if frame.empty:
        return None
    plt = _pyplot()
    outcomes = list(dict.fromkeys(str(o) for o in frame["outcome"]))
    primary = primary_row(results)
    if primary is not None and str(primary["outcome"]) in outcomes:
        outcomes.remove(str(primary["outcome"]))
        outcomes.insert(0, str(primary["outcome"]))
    visits = list(dict.fromkeys(str(v) for v in frame["visit"]))
    arms = arm_order(results)[:2]
    columns = 4
    rows = math.ceil(len(outcomes) / columns)
    with plt.rc_context(_rc()):
        figure, axes = plt.subplots(
            rows, columns, figsize=(WIDTH_IN, 1.75 * rows + 0.5), squeeze=False
        )
        for index, outcome in enumerate(outcomes):
            ax = axes[index // columns][index % columns]
            data = frame[frame["outcome"].astype(str) == outcome]
            for a, code in enumerate(arms):
                rows_arm = data[data["arm"].astype(str) == code]
                xs, ys, errs = [], [], []
                for _, r in rows_arm.iterrows():
                    xs.append(visits.index(str(r["visit"])) + (a - 0.5) * 0.16)
                    ys.append(float(r["mean"]))
                    errs.append(_ci_half_width(float(r["sd"]), float(r["n"])))
                ax.errorbar(
                    xs,
                    ys,
                    yerr=errs,
                    color=COLOURS[a],
                    marker=MARKERS[a],
                    markersize=3.2,
                    linewidth=1.0,
                    elinewidth=0.8,
                    capsize=1.8,
                    label=arm_label(results, code),
                )
            ax.set_title("\n".join(textwrap.wrap(outcome_name(outcome), 24)), loc="left")
            ax.set_xticks(range(len(visits)))
            ax.set_xticklabels([_short_visit(v) for v in visits])
            ax.set_xlim(-0.4, len(visits) - 0.6)
            ax.tick_params(length=2, pad=1.5)
            ax.grid(axis="y", linewidth=0.3, color="#d1d5db")
        for index in range(len(outcomes), rows * columns):
            axes[index // columns][index % columns].set_visible(False)
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(
            handles,
            labels,
            loc="upper center",
            ncol=len(arms),
            frameon=False,
            bbox_to_anchor=(0.5, 1.0),
            fontsize=8,
        )
        figure.tight_layout(rect=(0, 0, 1, 1 - 0.32 / (1.75 * rows + 0.5)), h_pad=1.2, w_pad=0.8)
        svg = _svg(figure, "means", "Mean and 95% CI by arm and visit for each outcome")
        plt.close(figure)
    return svg


def _short_visit(visit: str) -> str:
    return {"Baseline": "BL"}.get(visit_name(visit), visit)


def forest_figure(results: AnalysisResults) -> str | None:
    """Forest plot of Hedges' g with 95% CI at the primary visit, one row per outcome."""
    effects = results.table("effects")
    primary = primary_row(results)
    if effects.empty:
        return None
    visit = str(primary["visit"]) if primary is not None else str(effects["visit"].iloc[-1])
    data = effects[effects["visit"].astype(str) == visit]
    if data.empty:
        return None
    plt = _pyplot()
    from physiotrial.report.text import estimate

    names = [outcome_name(str(o)) for o in data["outcome"]]
    n = len(names)
    with plt.rc_context(_rc()):
        figure, ax = plt.subplots(figsize=(WIDTH_IN, 0.24 * n + 0.9))
        ys = list(range(n))[::-1]
        g = data["hedges_g"].astype(float).to_numpy()
        low = data["ci_low"].astype(float).to_numpy()
        high = data["ci_high"].astype(float).to_numpy()
        ax.hlines(ys, low, high, color="#111827", linewidth=1.0)
        ax.plot(g, ys, "s", color=COLOURS[0], markersize=4)
        ax.axvline(0, color="#6b7280", linewidth=0.7, linestyle="--")
        ax.set_yticks(ys)
        ax.set_yticklabels(names)
        ax.set_ylim(-0.7, n - 0.3)
        limits = pd.Series([*low, *high]).abs().dropna()  # a CI may be NaN (too few data)
        span = max(float(limits.max()) if not limits.empty else 0.0, 0.5)
        ax.set_xlim(-span * 1.1, span * 1.1)
        ax.set_xlabel(
            f"Hedges' g ({contrast_label(results)}), change from baseline at {visit_name(visit)}"
        )
        for y, gi, lo, hi in zip(ys, g, low, high, strict=True):
            ax.annotate(
                estimate(gi, lo, hi, digits=2),
                xy=(1.01, y),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=7.5,
            )
        ax.annotate(
            "g (95% CI)",
            xy=(1.01, n - 0.4),
            xycoords=("axes fraction", "data"),
            fontsize=7.5,
            fontweight="bold",
        )
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        figure.tight_layout(rect=(0, 0, 0.8, 1))
        svg = _svg(figure, "forest", "Forest plot of Hedges' g with 95% CI")
        plt.close(figure)
    return svg
