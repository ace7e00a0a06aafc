"""The trial report: one self-contained HTML file and a PDF made from the very same HTML.

Page 1 carries what a reader needs to trust the rest (DESIGN.md flow 5): the title, the snapshot
manifest of the locked database the numbers come from (data hash, protocol version and hash,
software version, lock time), the methods paragraph and the main result. Then the CONSORT flow
diagram (Schulz et al. BMJ 2010;340:c332), the tables and the figures. The HTML references nothing
outside itself (CSS embedded, figures inline SVG), so it can be mailed or archived as one file; the
PDF is WeasyPrint's rendering of that string, with print CSS for A4 pages, page numbers and page
breaks that keep tables and figures whole. A blinded report shows the arms only as A and B.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from physiotrial.analysis.results import AnalysisResults
from physiotrial.errors import OutputFileError
from physiotrial.report.consort import consort_svg
from physiotrial.report.figures import forest_figure, means_figure
from physiotrial.report.tables import all_tables, check_arms
from physiotrial.report.text import arm_label, arm_order, primary_sentence, visit_name

TEMPLATES = Path(__file__).parent / "templates"

# manifest key → label on page 1, in this order; keys the manifest lacks are left out.
MANIFEST_FIELDS = (
    ("data_hash", "Data hash (SHA-256)"),
    ("rows", "Rows hashed"),
    ("protocol_version", "Protocol version"),
    ("protocol_hash", "Protocol hash"),
    ("sequence_hash", "Randomisation seal"),
    ("software_version", "Software version"),
    ("locked_at", "Database locked (UTC)"),
    ("locked_by", "Locked by"),
    ("lock_id", "Lock"),
)
HASHES = {"data_hash", "protocol_hash", "sequence_hash"}


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _manifest(results: AnalysisResults) -> list[tuple[str, str, bool]]:
    rows = []
    for key, label in MANIFEST_FIELDS:
        value = results.manifest.get(key)
        if value is not None and value != "":
            rows.append((label, str(value), key in HASHES))
    return rows


def _arm_legend(results: AnalysisResults) -> list[str]:
    if results.blinded:
        return []
    roles = {results.experimental: "experimental", results.control: "control"}
    lines = []
    for code in arm_order(results):
        label = arm_label(results, code)
        named = code if label == code else f"{code}: {label}"
        lines.append(f"{named} ({roles.get(code, 'arm')})")
    return lines


def _glance(results: AnalysisResults) -> list[str]:
    """Page 1 facts besides the primary result: how many were randomised and analysed, harms."""
    c = results.consort
    arms = arm_order(results)

    def per_arm(counts: dict[str, int]) -> str:
        return ", ".join(f"{arm_label(results, a)} {counts.get(a, 0)}" for a in arms)

    lines = [
        f"Randomised {sum(c.randomised.values())} ({per_arm(c.randomised)}); analysed "
        f"{sum(c.analysed.values())} ({per_arm(c.analysed)})."
    ]
    safety = results.table("safety")
    if not safety.empty:
        people = safety[safety["unit"].astype(str) == "participant"]
        serious = int((people if not people.empty else safety)["serious"].sum())
        lines.append(f"Serious adverse events: {serious}.")
    return lines


def _consort_notes(results: AnalysisResults) -> list[str]:
    """Counts that do not add up, said under the diagram rather than hidden."""
    c = results.consort
    notes = []
    if c.assessed - c.excluded != sum(c.randomised.values()):
        notes.append(
            f"Assessed minus excluded ({c.assessed - c.excluded}) differs from the number "
            f"randomised ({sum(c.randomised.values())})."
        )
    if c.excluded != sum(c.exclusion_reasons.values()):
        notes.append(
            f"The exclusion reasons add up to {sum(c.exclusion_reasons.values())} for "
            f"{c.excluded} excluded (a person may have more than one reason)."
        )
    return notes


def render_html(results: AnalysisResults) -> str:
    """The whole report as one HTML document with embedded CSS and inline SVG."""
    check_arms(results)  # a blinded report refuses before anything is drawn
    data_hash = str(results.manifest.get("data_hash") or "")
    context = {
        "results": results,
        "manifest": _manifest(results),
        "locked": bool(results.manifest.get("locked_at")),
        "data_hash_short": data_hash[:12],
        "arm_legend": _arm_legend(results),
        "blinded_labels": [arm_label(results, c) for c in arm_order(results)],
        "primary": primary_sentence(results),
        "glance": _glance(results),
        "consort_notes": _consort_notes(results),
        "contrast": [arm_label(results, results.experimental), arm_label(results, results.control)],
        "consort": Markup(consort_svg(results)),
        "means": _markup(means_figure(results)),
        "visit_key": _visit_key(results),
        "forest": _markup(forest_figure(results)),
        "tables": {t.key: t for t in all_tables(results)},
    }
    return _environment().get_template("report.html.j2").render(**context)


def _visit_key(results: AnalysisResults) -> str:
    """``BL: Baseline; W3: Week 3; ...`` for the visit codes under the figure's axes."""
    visits = dict.fromkeys(str(v) for v in results.table("descriptives")["visit"])
    return "; ".join(f"{v}: {visit_name(v)}" for v in visits if visit_name(v) != v)


def _markup(svg: str | None) -> Markup | None:
    return None if svg is None else Markup(svg)


def write_report(results: AnalysisResults, directory: Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.pdf`` into ``directory`` (created if needed)."""
    import weasyprint

    html = render_html(results)
    directory = Path(directory)
    html_path = directory / "report.html"
    pdf_path = directory / "report.pdf"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        html_path.write_text(html, encoding="utf-8")
        weasyprint.HTML(string=html, base_url=str(directory)).write_pdf(pdf_path)
    except OSError as error:
        raise OutputFileError(
            f"report directory {directory}: cannot write the report there "
            f"({error.strerror or error}); allowed: a writable directory"
        ) from None
    return html_path, pdf_path
