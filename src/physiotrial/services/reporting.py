"""The trial report as a use case: analyse the locked study as the actor may see it, then render.

The web layer may not import ``report`` (DESIGN.md layers; tests/test_architecture.py), so the
data page's report download comes through here. Analysis is :func:`analysis.analyse` (refused
before lock; arms A/B for a blinded role; audited), rendering is ``report.render``; both report
imports are inside the function because WeasyPrint and matplotlib are heavy to import.

A figure that the results cannot fill (e.g. no follow-up in one arm, so an axis would span NaN)
makes matplotlib raise a bare ``ValueError``; it is turned into a :class:`ModelError` that says
what is missing, so callers get a message to show and not a crash.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from physiotrial.errors import ModelError, PhysiotrialError
from physiotrial.services.analysis import analyse
from physiotrial.store.store import Store

ReportFormat = Literal["html", "pdf"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("html", "pdf")
LOG = logging.getLogger("physiotrial.services")


def trial_report(store: Store, actor: str, directory: Path, fmt: ReportFormat) -> Path:
    """Write the report of the locked study, as ``actor`` may see it, into ``directory``;
    returns ``report.html`` or ``report.pdf`` (the PDF is made from the same HTML)."""
    from physiotrial.report.render import render_html, write_report

    results = analyse(store, actor)
    try:
        if fmt == "html":
            path = directory / "report.html"
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(render_html(results), encoding="utf-8")
            return path
        return write_report(results, directory)[1]
    except PhysiotrialError:
        raise
    except ValueError:
        LOG.exception("the report could not be drawn from the analysis results")
        raise ModelError(
            "report: the analysis ran, but its results are too thin to draw the report (a "
            "figure has no finite values: too few participants with follow-up in each arm); "
            "allowed: a locked study with follow-up data in every arm"
        ) from None
