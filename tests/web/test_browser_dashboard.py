"""The dashboard and the participant list in a real browser at tablet width (768 px).

A coordinator (blinded, site SEV) and the data manager open the dashboard and the participant
list of tests/services/test_progress.py's study on its TODAY; the coordinator types in the
list's filter, and htmx fetches only the results and puts the filter into the address bar. Each
page is screenshotted into tmp_path and checked for no sideways scrolling, a label on every
field, touch targets of at least 44 px and (for the coordinator) no arm word; the navigation
bar must keep its links on one line beside the brand.

Chromium is Debian's package at /usr/bin/chromium (never a downloaded browser), driven by
Playwright for Python: without it the test skips locally and fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from physiotrial.services.access import set_password
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import enrol, make_study
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.services.test_progress import TODAY, populate
from tests.web.browser import WIDTH, check_page, serving
from tests.web.conftest import PASSWORD, SECRET, Clock

TARGETS = (
    "main button, main .button, main input[type=text], main select, main summary, "
    "main td a, main th a, .nav a"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    populate(store, enrol(store))
    for username in ("coord", "dm"):
        set_password(store, "dm", username, PASSWORD)
    clock = Clock(datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC))
    app = create_app(tmp_path, url, secret=SECRET, now=clock)
    try:
        with serving(app) as base:
            yield base
    finally:
        store.close()


def _sign_in(browser: Any, base: str, username: str) -> Any:
    page = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    return page


def _nav_on_one_line(page: Any) -> None:
    """Every navigation link on the same line (at 768 px the line may sit below the brand)."""
    tops = page.evaluate(
        """() => [...document.querySelectorAll('.nav a')]
             .map(e => Math.round(e.getBoundingClientRect().top))"""
    )
    assert len(set(tops)) == 1, tops


def test_dashboard_and_participant_list_at_tablet_width(served: str, tmp_path: Path) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base = served
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            coord = _sign_in(browser, base, "coord")
            coord.on("pageerror", lambda e: errors.append(str(e)))
            assert coord.locator("#count-late").inner_text() == "1"
            assert coord.locator("#recruitment-chart svg polyline").count() == 2
            coord.locator(".chart-table summary").click()
            assert coord.locator("#recruitment-table tbody tr").count() == 5
            check_page(coord, tmp_path, "01-coord-dashboard", TARGETS, blinded=True)
            _nav_on_one_line(coord)

            coord.get_by_role("link", name="Participants").click()
            coord.wait_for_url(f"{base}/participants")
            assert coord.locator("table.participants tbody tr").count() == 3
            check_page(coord, tmp_path, "02-coord-list", TARGETS, blinded=True)
            _nav_on_one_line(coord)

            coord.get_by_label("Study code contains").press_sequentially("002", delay=50)
            coord.wait_for_url(f"{base}/participants?code=002&status=")
            rows = coord.locator("table.participants tbody tr")
            rows.first.wait_for()
            assert rows.count() == 1
            assert rows.first.locator("th").inner_text() == "SEV-002"
            check_page(coord, tmp_path, "03-coord-list-filtered", TARGETS, blinded=True)
            coord.get_by_label("Status").select_option("withdrawn")
            coord.wait_for_url(f"{base}/participants?code=002&status=withdrawn")
            coord.get_by_text("No participant matches this filter.").wait_for()
            coord.go_back()
            coord.wait_for_url(f"{base}/participants?code=002&status=")
            coord.get_by_role("link", name="SEV-002", exact=True).click()
            coord.wait_for_url(f"{base}/participants/SEV-002")
            assert not ARM_WORDS.search(coord.content())

            manager = _sign_in(browser, base, "dm")
            manager.on("pageerror", lambda e: errors.append(str(e)))
            assert manager.locator("#count-missed").inner_text() == "9"
            assert "Target 38" in manager.locator("#recruitment-chart").inner_html()
            check_page(manager, tmp_path, "04-dm-dashboard", TARGETS)
            _nav_on_one_line(manager)
            manager.goto(f"{base}/participants")
            assert manager.locator("table.participants tbody tr").count() == 6
            check_page(manager, tmp_path, "05-dm-list", TARGETS)
            _nav_on_one_line(manager)
            # base.html has seven links; no role gets all seven, but all seven must still fit
            manager.evaluate(
                """() => document.querySelector('.nav').insertAdjacentHTML('beforeend',
                     '<li><a href="/enrolment/screen">Screen</a></li>')"""
            )
            assert manager.locator(".nav a").count() == 7
            check_page(manager, tmp_path, "06-seven-links", TARGETS)
            _nav_on_one_line(manager)
        finally:
            browser.close()
    assert errors == []
