"""A clinic patient's first weeks of care in a real browser, then their progress and summary.

On a knee clinic (knee-oa-clinic): a coordinator screens a patient and records consent; the
therapist starts care (the button says "Start care"; no page says arm, randomised or
allocation); the assessor records the first assessment (VAS line marked near 70 % and every
WOMAC item 3); the therapist records needling sessions 1-3 a week apart on the session form; the
assessor records the reassessment after session 3 (R1: VAS near 30 %, WOMAC items 1). The
therapist records post-needling soreness after session 1 (mild, 30 hours) on the adverse-event
form, then opens the progress page (pain improved by more than its MCID at R1 after 3
sessions; an OMERACT-OARSI responder), the printable summary, which prints on one A4 page,
and the clinic's sessions-to-improvement and safety pages.

The app's clock starts 30 days ago and moves a week between sessions (every date is in the
past of the real clock too); each move ends the sessions (12 hours at most), so each day's work
signs in again. Each page is checked at 768 px as the browser tour checks pages
(tests/web/browser.py: no sideways scrolling, labelled fields, 44 px targets, Tab reaches every
control) and screenshotted at 768 and 1280 px into tmp_path/clinic, or PHYSIOTRIAL_SHOTS/clinic
when set; the summary is also printed to PDF and rendered with pdftoppm when installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from physiotrial.core.protocol import Role
from physiotrial.services.access import set_password
from physiotrial.services.capture import response_history
from physiotrial.services.clinic import patient_progress
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.web.browser import WIDTH, check_keyboard, check_page, serving
from tests.web.clinic_helpers import NOT_A_CLINIC_WORD
from tests.web.conftest import PASSWORD, SECRET, Clock

TARGETS = ", ".join(
    f"main {kind}"
    for kind in ("button", ".button", "label.choice", "input[type=text]", "select", "summary")
)
DAY0 = date.today() - timedelta(days=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Store, Clock]]:
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    init_study(url, "knee-oa-clinic", admin="dm", admin_name="Data Manager", seed="browser")
    store = Store(url)
    add_site(store, "dm", "CLN", "Knee clinic")
    for username, role in (
        ("coord", Role.COORDINATOR),
        ("assessor", Role.ASSESSOR),
        ("therapist", Role.THERAPIST),
    ):
        add_user(store, "dm", username, username.title(), role, "CLN")
        set_password(store, "dm", username, PASSWORD)
    clock = Clock(datetime.combine(DAY0, time(9), tzinfo=UTC))
    app = create_app(tmp_path, url, secret=SECRET, now=clock)
    try:
        with serving(app) as base:
            yield base, store, clock
    finally:
        store.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PHYSIOTRIAL_SHOTS", tmp_path)) / "clinic"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(browser: Any, base: str, username: str, errors: list[str]) -> Any:
    page = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
    page.on("pageerror", lambda e: errors.append(f"{username}: {e}"))
    page.on("console", lambda m: _console(m, username, errors))
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/clinic")
    return page


def _console(message: Any, username: str, errors: list[str]) -> None:
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(f"{username} console: {message.text}")


def _check(page: Any, shots: Path, name: str) -> None:
    """The tour's checks at 768 px, then a second screenshot at 1280 px."""
    check_page(page, shots, f"{name}-768", TARGETS)
    check_keyboard(page, name)
    assert not NOT_A_CLINIC_WORD.search(page.inner_text("body")), name
    page.set_viewport_size({"width": 1280, "height": 1024})
    page.screenshot(path=str(shots / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": 1024})


def _mark_line(page: Any, field_id: str, fraction: float) -> None:
    slider = page.locator(f"#{field_id}")
    box = slider.bounding_box()
    assert box is not None
    slider.click(position={"x": box["width"] * fraction, "y": box["height"] / 2})


def _assess(page: Any, base: str, code: str, visit: str, line: float, womac: int) -> None:
    """The assessor records the VAS (marked at ``line`` of its length) and every WOMAC item."""
    url = f"{base}/participants/{code}/visits/{visit}"
    page.goto(url)
    _mark_line(page, "f-vas_max-mm", line)
    page.locator("#m-vas_max").get_by_role("button", name="Save").click()
    page.wait_for_url(f"{url}?saved=vas_max#m-vas_max")
    for radio in page.locator('#m-womac input[type="radio"]').all():
        if radio.get_attribute("value") == str(womac):
            radio.check()
    page.locator("#m-womac").get_by_role("button", name="Save").click()
    page.wait_for_url(f"{url}?saved=womac#m-womac")


def _needling(page: Any, base: str, code: str, number: int) -> None:
    page.goto(f"{base}/participants/{code}")
    page.get_by_role("link", name="Record a session: Dry needling of the popliteus").click()
    assert page.locator("#f-number").input_value() == str(number)
    page.get_by_label("popliteus", exact=True).check()
    page.get_by_label("left", exact=True).check()
    page.get_by_label("Number of needle insertions").fill("6")
    page.get_by_label("Local twitch responses elicited").fill("2")
    page.get_by_role("button", name="Save the session").click()
    page.wait_for_url(f"{base}/participants/{code}?done=session#sessions")


def _soreness(page: Any, base: str, code: str) -> None:
    """Post-needling soreness after session 1, gone after 30 hours."""
    page.get_by_role("link", name="Record an adverse event").click()
    page.get_by_label("Event (what happened)").fill("post-needling soreness")
    page.get_by_label("Duration").fill("30")
    page.get_by_label("mild", exact=True).check()
    page.get_by_label("Related to the treatment?").select_option("probable")
    page.get_by_label("Action taken").fill("none; advice")
    page.get_by_label("Outcome").select_option("resolved")
    page.get_by_label("Followed the session").select_option("needling:1")
    page.get_by_role("button", name="Record the adverse event").click()
    page.wait_for_url(f"{base}/participants/{code}?done=ae")


def test_a_patients_first_three_sessions_and_reassessment(
    served: tuple[str, Store, Clock], tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store, clock = served
    shots = _shots(tmp_path)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            coordinator = _sign_in(browser, base, "coord", errors)
            _check(coordinator, shots, "01-dashboard-empty")
            coordinator.get_by_role("link", name="Screen").click()
            coordinator.get_by_label("Full name").fill("Rosa Marín")
            for question, answer in (
                ("Fear of needles", "no"),
                ("Takes anticoagulant", "no"),
                ("Active myofascial trigger point", "yes"),
            ):
                group = coordinator.get_by_role("group", name=re.compile(question))
                group.get_by_label(answer, exact=True).check()
            coordinator.get_by_role("button", name=re.compile("Screen")).click()
            coordinator.wait_for_url(re.compile(r".*/enrolment/CLN-001$"))
            coordinator.get_by_label("Consent form version").fill("1.0")
            coordinator.get_by_role("button", name="Record consent").click()
            assert "Waiting for a coordinator or therapist to start care" not in (
                coordinator.content()
            )
            code = "CLN-001"

            therapist = _sign_in(browser, base, "therapist", errors)
            therapist.goto(f"{base}/enrolment/{code}")
            _check(therapist, shots, "02-enrolment-start-care")
            therapist.get_by_role("button", name="Start care").click()
            assert therapist.locator("h1").inner_text() == f"{code}: care started"
            _check(therapist, shots, "03-care-started")

            assessor = _sign_in(browser, base, "assessor", errors)
            _assess(assessor, base, code, "BL", 0.7, 3)

            for number in (1, 2, 3):  # a week apart: each day is a new signed-in session
                clock.advance(days=1 if number == 1 else 7)
                therapist = _sign_in(browser, base, "therapist", errors)
                _needling(therapist, base, code, number)
                if number == 1:
                    _soreness(therapist, base, code)
            therapist.goto(f"{base}/participants/{code}")  # Tab starts at the top, not #sessions
            _check(therapist, shots, "04-participant-after-3-sessions")

            assert clock().date() == DAY0 + timedelta(days=15)  # session 3; R1 is due
            assessor = _sign_in(browser, base, "assessor", errors)
            _assess(assessor, base, code, "R1", 0.3, 1)

            therapist.goto(f"{base}/clinic")
            assert therapist.locator("#count-in-care").inner_text() == "1"
            _check(therapist, shots, "05-dashboard")

            therapist.get_by_role("link", name=code).first.click()
            therapist.wait_for_url(f"{base}/clinic/patients/{code}")
            verdict = therapist.locator("#verdict-pain_max").inner_text()
            assert "Meaningful improvement reached at R1 (after 3 sessions)" in verdict
            assert "R1: responder" in therapist.locator("#responder").inner_text()
            sessions = therapist.locator("#sessions-needling").inner_text()
            assert sessions.split()[-2:] == ["3", "3"]
            assert "about 30 hours" in therapist.locator("#adverse-events").inner_text()
            _check(therapist, shots, "06-progress")

            therapist.get_by_role("link", name="Printable summary for the patient").click()
            therapist.wait_for_url(f"{base}/clinic/patients/{code}/summary")
            pain = therapist.locator("#summary-pain_max").inner_text()
            assert re.search(r"Your knee pain: \d+ → \d+ — a meaningful improvement", pain), pain
            assert therapist.locator("#print").is_visible()
            side = therapist.locator("#side-effects").inner_text()
            assert side == (
                "Post-needling soreness (mild) after dry needling of the popliteus session 1:"
                " went away after about 30 hours."
            )
            _check(therapist, shots, "07-summary")
            therapist.emulate_media(media="print")
            assert not therapist.locator(".site-header").is_visible()
            assert not therapist.locator("#print").is_visible()
            therapist.pdf(path=str(shots / "08-summary.pdf"), format="A4", print_background=True)
            therapist.emulate_media(media="screen")

            therapist.goto(f"{base}/clinic")
            therapist.get_by_role("link", name="How many sessions until patients improve?").click()
            answer = therapist.locator("#answer").inner_text()
            assert answer.startswith("Half of our patients reached a meaningful improvement in")
            # one patient: the band cannot cross one half, so no interval yet
            assert answer.endswith(
                "by session 3 (too few patients yet for a 95 % confidence interval)."
            )
            _check(therapist, shots, "09-response")
            therapist.get_by_role("link", name="Safety").click()
            assert "1 of 3 sessions" in therapist.locator("#safety-answer").inner_text()
            assert "Brady 2014" in therapist.locator("#rate-pain-after-treatment").inner_text()
            _check(therapist, shots, "10-safety")
        finally:
            browser.close()
    assert errors == []
    pages = _pdf_pages(shots / "08-summary.pdf")
    assert pages in (None, 1), f"the summary prints on {pages} pages"
    view = patient_progress(store, "therapist", "CLN-001")
    pain = next(c for c in view.progress.courses if c.outcome == "pain_max")
    assert [p.visit for p in pain.points] == ["BL", "R1"]
    assert pain.baseline is not None
    assert 60 <= pain.baseline <= 80, pain.baseline
    assert pain.points[1].sessions == 3
    assert pain.points[1].reached
    assert view.progress.responder == {"R1": True}
    (vas,) = response_history(store, "dm", ("CLN-001", "R1", "vas_max"))
    assert vas.entered_by == "assessor"


def _pdf_pages(pdf: Path) -> int | None:
    """Pages of ``pdf`` (pdfinfo), rendering page 1 to PNG beside it; None without poppler."""
    if shutil.which("pdfinfo") is None or shutil.which("pdftoppm") is None:
        return None
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", str(pdf), str(pdf.with_suffix(""))],
        check=True,
        capture_output=True,
    )
    found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    return int(found.group(1)) if found else None
