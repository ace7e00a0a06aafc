"""The PDF: made from the same HTML, a real PDF, and page 1 carries the title, hash and result.

pdftoppm and pdftotext come from Debian's poppler-utils; without them the test skips locally
and fails under CI=true, where they must be installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from physiotrial.report.render import write_report
from tests.report.fixtures import DATA_HASH, reference_results


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (Debian package poppler-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_report(reference_results(), tmp_path_factory.mktemp("report"))


def _page_one_text(pdf: Path) -> str:
    out = subprocess.run(
        [_tool("pdftotext"), "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return re.sub(r"\s+", " ", out)


def test_pdf_and_html_are_written_side_by_side(written: tuple[Path, Path]) -> None:
    html, pdf = written
    assert html.name == "report.html"
    assert pdf.name == "report.pdf"
    assert pdf.parent == html.parent
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf.stat().st_size > 20_000


def test_page_one_renders_as_an_image(written: tuple[Path, Path], tmp_path: Path) -> None:
    _, pdf = written
    subprocess.run(
        [
            _tool("pdftoppm"),
            "-png",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            str(pdf),
            str(tmp_path / "p"),
        ],
        check=True,
        capture_output=True,
    )
    (image,) = tmp_path.glob("p-*.png")
    assert image.read_bytes().startswith(b"\x89PNG")
    assert image.stat().st_size > 5_000  # a rendered page, not a blank one


@pytest.mark.parametrize(
    "expected",
    [
        "Dry needling of the popliteus with therapeutic exercise versus sham needling",
        DATA_HASH[:12],
        "Maximum knee pain (VAS, mm) at Month 6: adjusted difference (DN \u2212 SHAM) "
        "\u221230.0 (95% CI \u221242.0 to \u221218.1), p < 0.001",
        "Snapshot manifest",
        "Methods",
        "Page 1 of",
    ],
)
def test_page_one_text(written: tuple[Path, Path], expected: str) -> None:
    assert expected in _page_one_text(written[1])


def test_consort_diagram_is_on_page_two(written: tuple[Path, Path]) -> None:
    out = subprocess.run(
        [_tool("pdftotext"), "-f", "2", "-l", "2", str(written[1]), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "CONSORT 2010 flow diagram" in out
    assert "Assessed for eligibility" in out
