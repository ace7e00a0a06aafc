"""The HTML report in a real browser: it loads with no console errors, asks the network for
nothing, shows the CONSORT diagram and the figures, and no table is wider than the page.

Chromium is Debian's package at /usr/bin/chromium (never a downloaded browser), driven by
Playwright for Python. Without it the test skips locally and fails under CI=true.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from physiotrial.report.render import write_report
from tests.report.fixtures import reference_results

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian package chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)


@pytest.mark.parametrize("blinded", [False, True], ids=["unblinded", "blinded"])
def test_report_opens_in_chromium(tmp_path: Path, blinded: bool) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    html_path, _ = write_report(reference_results(blinded=blinded), tmp_path)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html_path.as_uri(), wait_until="load")
            for selector in ("svg.consort", "svg.means", "svg.forest", "#primary-result"):
                assert page.locator(selector).is_visible(), selector
                box = page.locator(selector).bounding_box()
                assert box is not None, selector
                assert box["width"] > 300, selector
                assert box["height"] > 50, selector
            too_wide = page.evaluate(
                """() => [...document.querySelectorAll('figure.table')]
                     .filter(f => f.querySelector('table').scrollWidth > f.clientWidth + 1)
                     .map(f => f.id)"""
            )
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [html_path.as_uri()]
    assert too_wide == []
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000
