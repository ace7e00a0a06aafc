"""The HTML report: every section, the rounding rules, the blind kept, nothing from outside."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from physiotrial.errors import ConflictError, OutputFileError
from physiotrial.report import text
from physiotrial.report.render import render_html, write_report
from tests.report.fixtures import ARM_NAMES, DATA_HASH, reference_results

M = "\u2212"  # the minus sign the report prints
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def html() -> str:
    return render_html(reference_results())


@pytest.fixture(
    scope="module", params=["labels", "codes"], ids=["labels-in-tables", "codes-in-tables"]
)
def blinded_html(request: pytest.FixtureRequest) -> str:
    return render_html(reference_results(blinded=True, codes_in_tables=request.param == "codes"))


@pytest.mark.parametrize(
    "element_id",
    [
        "manifest",
        "primary-result",
        "methods",
        "figure-consort",
        "table-baseline",
        "table-primary",
        "figure-means",
        "table-secondary",
        "figure-forest",
        "table-responders",
        "table-safety",
        "table-blinding",
        "table-published",
    ],
)
def test_every_section_is_present(html: str, element_id: str) -> None:
    assert f'id="{element_id}"' in html


def _section(html: str, element_id: str) -> str:
    """The HTML of one table, figure or the primary result box."""
    start = html.index(f'id="{element_id}"')
    return html[
        start : html.index("</div>" if element_id == "primary-result" else "</figure>", start)
    ]


@pytest.mark.parametrize(
    ("element_id", "shown"),
    [
        # primary: estimate and CI to 1 decimal, "to" between the limits, p below 0.001
        ("primary-result", f"{M}30.0 (95% CI {M}42.0 to {M}18.1), p &lt; 0.001"),
        ("table-primary", f"<td>{M}30.0 ({M}42.0 to {M}18.1)</td>"),
        ("table-primary", f"<td>{M}43.9 ({M}50.2 to {M}37.5)</td>"),
        ("table-primary", "<td>27.5 (16.0) [18]</td>"),
        ("table-primary", f"<td>{M}31.2 ({M}43.8 to {M}18.7)</td>"),
        ("table-baseline", "<td>66.3 (7.4)</td>"),
        ("table-baseline", "<td>13 (68.4%)</td>"),
        ("table-baseline", "Dry needling + exercise (n = 19)"),
        ("table-secondary", f"<td>{M}16.0 ({M}26.7 to {M}5.2)</td>"),
        ("table-secondary", "<td>0.003</td>"),
        ("table-secondary", "<td>0.033</td>"),
        ("table-responders", "<td>15/18 (83.3%)</td>"),
        ("table-responders", "<td>53.3 (26.9 to 79.8)</td>"),
        ("table-responders", "<td>1.9 (1.3 to 3.7)</td>"),
        ("table-responders", "<td>4.4 (NNTB 1.9 to \u221e to NNTH 16.6)</td>"),
        ("table-safety", "<td>27.3 (16.1 to 40.9)</td>"),
        ("table-blinding", f"<td>0.17 ({M}0.14 to 0.47)</td>"),
        ("table-blinding", f"<td>0.00 ({M}0.26 to 0.26)</td>"),
        ("table-published", "<td>30.0 (18.4 to 42.0)</td>"),
        ("table-published", "<td>16.0 (5.6 to 26.3)</td>"),
    ],
)
def test_numbers_are_rounded_as_specified(html: str, element_id: str, shown: str) -> None:
    assert shown in _section(html, element_id)


@pytest.mark.parametrize("raw", ["30.0371", "41.9822", "0.272727", "68.4211", "0.1667", "1.6234"])
def test_no_unrounded_number_reaches_the_page(html: str, raw: str) -> None:
    assert raw not in html


def test_forest_plot_shows_hedges_g_with_two_decimals(html: str) -> None:
    assert f"{M}1.62 ({M}2.28 to {M}0.97)" in _section(html, "figure-forest")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (-30.0371, f"{M}30.0"),
        (-0.04, "0.0"),
        (2.25, "2.2"),
        (float("nan"), "\u2013"),
        (None, "\u2013"),
        (float("inf"), "\u221e"),
    ],
)
def test_num(value: float | None, shown: str) -> None:
    assert text.num(value) == shown


@pytest.mark.parametrize(
    ("p", "shown"),
    [
        (0.0000083, "<0.001"),
        (0.000999, "<0.001"),
        (0.001, "0.001"),
        (0.04951, "0.050"),
        (1.0, "1.000"),
        (float("nan"), "\u2013"),
    ],
)
def test_pvalue(p: float, shown: str) -> None:
    assert text.pvalue(p) == shown


@pytest.mark.parametrize(
    ("value", "low", "high", "shown"),
    [
        (1.875, 1.253, 3.7244, "1.9 (1.3 to 3.7)"),
        (1.875, 3.7244, 1.253, "1.9 (1.3 to 3.7)"),
        (4.3902, -16.5563, 1.938, "4.4 (NNTB 1.9 to \u221e to NNTH 16.6)"),
        (4.3902, float("inf"), 1.938, "4.4 (NNTB 1.9 to \u221e)"),
    ],
)
def test_nnt(value: float, low: float, high: float, shown: str) -> None:
    assert text.nnt(value, low, high) == shown


def _consort(html: str) -> str:
    match = re.search(r'<svg class="consort".*?</svg>', html, flags=re.S)
    assert match is not None
    return match.group(0)


@pytest.mark.parametrize(
    "count",
    [
        "Assessed for eligibility (n = 57)",
        "Excluded (n = 17)",
        "Not meeting inclusion criteria (n = 12)",
        "Declined to participate (n = 4)",
        "Randomised (n = 40)",
        "Allocated to Dry needling + exercise (DN) (n = 19)",
        "Allocated to Sham needling + exercise (SHAM) (n = 21)",
        "Received allocated intervention (n = 19)",
        "Received allocated intervention (n = 21)",
        "Moved away (n = 1)",
        "Illness unrelated to the trial (n = 1)",
        "Discontinued intervention (n = 1)",
        "Discontinued intervention (n = 0)",
        "Discomfort with needling (n = 1)",
        "Analysed (n = 18)",
        "Analysed (n = 20)",
        "Excluded from analysis (n = 1)",
    ],
)
def test_consort_counts_are_in_the_svg(html: str, count: str) -> None:
    svg = re.sub(r"</text>\s*<text[^>]*>(\u2003)?", " ", _consort(html))  # join wrapped lines
    svg = svg.replace(NBSP, " ").replace("&amp;", "&")
    assert count in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", svg))


def test_consort_says_when_counts_do_not_add_up() -> None:
    results = reference_results()
    results = replace(results, consort=replace(results.consort, assessed=60))
    assert "Assessed minus excluded (43) differs from the number randomised (40)" in render_html(
        results
    )


def test_blinded_report_labels_arms_a_and_b(blinded_html: str) -> None:
    assert f"Allocated to arm A (n{NBSP}={NBSP}19)" in blinded_html
    assert f"Allocated to arm B (n{NBSP}={NBSP}21)" in blinded_html
    assert f"Difference (A {M} B) (95% CI)" in blinded_html
    assert "Blinded report: the arms are labelled A and B" in blinded_html


@pytest.mark.parametrize(
    "leak",
    [*(re.escape(name) for name in ARM_NAMES.values()), r"\bDN\b", r"\bSHAM\b", "needling \\+"],
)
def test_blinded_report_never_shows_an_arm(blinded_html: str, leak: str) -> None:
    assert re.search(leak, blinded_html) is None


def test_blinded_report_leaves_out_the_published_comparison(blinded_html: str) -> None:
    # signed "favouring DN", it would tell which of A and B is which
    assert 'id="table-published"' not in blinded_html


def test_blinded_report_refuses_an_arm_it_cannot_label() -> None:
    results = reference_results(blinded=True)
    safety = results.table("safety").copy()
    safety.loc[0, "arm"] = "DN"
    blinded = replace(results, tables={**results.tables, "safety": safety})
    with pytest.raises(
        ConflictError,
        match="table safety, column arm, holds a value outside the blinded labels; allowed: A, B",
    ) as error:
        render_html(blinded)
    assert "DN" not in str(error.value)


@pytest.mark.parametrize(
    "pattern", [r"https?://", r"\bsrc=", r"<link\b", r"<script\b", r"@import", r"url\((?!#)"]
)
def test_html_is_self_contained(html: str, pattern: str) -> None:
    assert re.search(pattern, html) is None


def test_only_in_page_links(html: str) -> None:
    assert set(re.findall(r'href="(.)', html)) <= {"#"}


def test_page_one_cites_the_manifest_and_methods(html: str) -> None:
    page_one = html[: html.index('id="flow"')]
    assert DATA_HASH in page_one
    assert "Protocol version" in page_one
    assert "Software version" in page_one
    assert "2025-06-30T14:05:12Z" in page_one
    assert "ANCOVA adjusted for the baseline value" in page_one
    assert "Draft" not in page_one


def test_an_unlocked_snapshot_is_marked_draft() -> None:
    results = reference_results()
    manifest = {k: v for k, v in results.manifest.items() if k != "locked_at"}
    assert "Draft: the database was not locked" in render_html(replace(results, manifest=manifest))


def test_tables_left_empty_are_left_out() -> None:
    results = replace(reference_results(), tables={})
    html = render_html(results)
    assert 'id="table-primary"' not in html
    assert 'id="figure-means"' not in html
    assert "The primary analysis was not computed." in html
    assert 'id="figure-consort"' in html


def test_write_report_refuses_a_file_where_the_folder_goes(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    with pytest.raises(OutputFileError, match=r"report directory .*taken: cannot write the report"):
        write_report(reference_results(), blocker)


def test_same_results_give_the_same_html() -> None:
    assert render_html(reference_results()) == render_html(reference_results())


def test_fixture_tables_keep_the_contract_columns() -> None:
    from physiotrial.analysis.results import COLUMNS

    for name, frame in reference_results().tables.items():
        assert tuple(frame.columns) == COLUMNS[name], name
        assert isinstance(frame, pd.DataFrame)


def test_a_forest_plot_with_undefined_intervals_is_still_drawn() -> None:
    """A study with almost no follow-up gives effect sizes without a CI (NaN): the forest plot
    draws the estimates it has instead of failing on an axis limit of NaN."""
    from physiotrial.report.figures import forest_figure

    results = reference_results()
    effects = results.table("effects").copy()
    effects["ci_low"] = float("nan")
    effects["ci_high"] = float("nan")
    svg = forest_figure(replace(results, tables={**results.tables, "effects": effects}))
    assert svg is not None
    assert "<svg" in svg
