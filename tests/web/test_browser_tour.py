"""Every page, as every role meets it, in a real browser at tablet width (768 px).

The pages are the GET routes of the page routers (tests/web/test_route_matrix.py ``routes_of``,
so a page added later is toured without editing this file), their path parameters filled with
the real values of the matrix's seeded study (a needling session with its twitch count, an
adverse event, a recorded measure). Each role signs in and opens each page; every page it may
open (200) must pass the tablet checks of tests/web/browser.py (no sideways scrolling, a label
on every field, touch targets of 44 px, and for blinded roles no arm word), be usable with the
Tab key alone (tests/web/browser.py ``check_keyboard``) and raise no script
or content-security-policy error in the console. A page the role may not open must be a
refusal (403/404) or the sign-in page, never a server error. The screenshots are written to
``tmp_path/<role>/``: look at them when a page changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from physiotrial.services.access import set_password
from physiotrial.store.store import Store
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import enrol, make_study
from tests.web.browser import WIDTH, check_keyboard, check_page, serving
from tests.web.conftest import PASSWORD, SECRET, STAFF
from tests.web.test_route_matrix import BLINDED, paths_of, routes_of, seed

TARGETS = ", ".join(
    f"main {kind}"
    for kind in ("button", ".button", "label.choice", "input[type=text]", "input[type=date]")
)
NOT_PAGES = re.compile(r"^/(api/|link/|login$)")
"""Routes toured elsewhere: the API (JSON), the participant's link (test_browser_capture.py)
and the sign-in page (every tour starts there)."""
QUERIES = {"/participants/{study_code}/sessions/new": "?plan=needling"}
"""Pages that need a query to be a page rather than a refusal."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Store, list[str]]]:
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    code = enrol(store)
    values = seed(store, code)
    for username in STAFF:
        set_password(store, "dm", username, PASSWORD)
    app = create_app(tmp_path, url, secret=SECRET)
    pages = sorted(
        next(paths_of(template, values)) + QUERIES.get(template, "")
        for method, template in routes_of(app)
        if method == "GET" and not NOT_PAGES.match(template)
    )
    try:
        with serving(app) as base:
            yield base, store, pages
    finally:
        store.close()


def _shot_name(path: str) -> str:
    """A file name for a page's screenshot."""
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "dashboard"


def _console(message: Any, problems: list[str]) -> None:
    """A console error is a problem, except the browser's note of a refused page load (the
    page's own status is checked, and failed resources by :func:`_resource`)."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(f"console: {message.text}")


def _resource(response: Any, problems: list[str]) -> None:
    """A stylesheet, script or image a page asks for and does not get is a problem."""
    if response.status >= 400 and response.request.resource_type != "document":
        problems.append(f"{response.status} {response.url}")


@pytest.mark.parametrize("username", STAFF)
def test_every_page_reads_well_at_tablet_width(
    served: tuple[str, Store, list[str]], username: str, tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, _, pages = served
    assert len(pages) >= 8, pages
    shots = tmp_path / username
    shots.mkdir()
    problems: list[str] = []
    opened: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page: Any = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            page.on("pageerror", lambda e: problems.append(f"script: {e}"))
            page.on("console", lambda m: _console(m, problems))
            page.on("response", lambda r: _resource(r, problems))
            page.goto(f"{base}/login")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/")
            for path in pages:
                response = page.goto(base + path)
                assert response is not None
                status = response.status
                assert status < 500, (username, path, status)
                if status != 200 or page.url.startswith(f"{base}/login"):
                    assert status in (200, 403, 404, 409, 422), (username, path, status)
                    continue
                opened.append(path)
                check_page(page, shots, _shot_name(path), TARGETS, blinded=username in BLINDED)
                check_keyboard(page, path)
        finally:
            browser.close()
    assert problems == [], (username, problems)
    assert "/" in opened
    assert len(opened) >= 3, (username, opened)
