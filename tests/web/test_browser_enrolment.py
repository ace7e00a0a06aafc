"""Enrolment in a real browser at tablet width (768 px): a coordinator signs in, screens a person
(a wrong answer first, kept and named beside its field), reads the decision and records consent;
a therapist signs in, randomises and sees the allocation; the coordinator's participant page shows
no arm. Each page is screenshotted into tmp_path and checked for no horizontal scrolling, a
label on every input and touch targets of at least 44 px.

Chromium is Debian's package at /usr/bin/chromium (never a downloaded browser), driven by
Playwright for Python, as in tests/report/test_browser.py: without it the test skips locally and
fails under CI=true. The app runs under uvicorn in a background thread on a free port, on a
SQLite study in tmp_path, with the real clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from physiotrial.services.access import set_password
from physiotrial.services.capture import correct, record
from physiotrial.services.safety import record_session
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import DAY0, ELIGIBLE, arm_of, enrol, make_study
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.browser import WIDTH, check_page, serving
from tests.web.conftest import PASSWORD, SECRET
from tests.web.test_enrolment_pages import ARM_NAMES, NEEDLING, form_answers

TARGETS = (
    ", ".join(
        f"main {kind}"
        for kind in ("button", ".button", "label.choice", "input[type=text]", "input[type=date]")
    )
    + ", main summary"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The app on http://127.0.0.1:<port>, its study holding SEV-001 with a session."""
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    code = enrol(store)
    record_session(store, "therapist", code, "needling", 1, date(2025, 3, 4), True, NEEDLING)
    record(store, "assessor", code, "BL", "tug", {"time_s": 11.2, "walking_aid": "no"}, DAY0, DAY0)
    correct(store, "assessor", (code, "BL", "tug"), {"time_s": 10.9}, "stopwatch misread")
    for username in ("coord", "therapist"):
        set_password(store, "dm", username, PASSWORD)
    app = create_app(tmp_path, url, secret=SECRET)
    try:
        with serving(app) as base:
            yield base, store
    finally:
        store.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_coordinator_screens_and_consents_therapist_randomises(
    served: tuple[str, Any], tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            coordinator = browser.new_page(viewport={"width": WIDTH, "height": 1024})
            coordinator.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(coordinator, base, "coord")
            coordinator.goto(f"{base}/enrolment/screen")
            check(coordinator, shots, "1-screening-form")
            coordinator.get_by_label("Full name").fill("Ana Pérez")
            coordinator.get_by_label("female").check()
            for criterion, answer in form_answers(ELIGIBLE).items():
                if criterion in ("age", "pain_months"):
                    coordinator.locator(f"#q-{criterion}").fill(answer)
                else:
                    coordinator.locator(f'input[name="{criterion}"][value="{answer}"]').check()
            coordinator.locator("#q-age").fill("sixty")
            coordinator.get_by_role("button", name="Screen").click()
            error = coordinator.locator("#age-error")
            assert "age: 'sixty' is not a number" in error.inner_text()
            assert coordinator.locator("#q-age").input_value() == "sixty"
            assert coordinator.get_by_label("Full name").input_value() == "Ana Pérez"
            check(coordinator, shots, "2-screening-error")
            coordinator.locator("#q-age").fill("63")
            coordinator.locator("#q-age").press("Enter")  # submit from the keyboard
            coordinator.wait_for_url(f"{base}/enrolment/SEV-002")
            assert coordinator.locator("#decision").inner_text() == "Eligible"
            check(coordinator, shots, "3-eligible-consent-form")
            coordinator.get_by_label("Consent form version").fill("2.1")
            coordinator.get_by_role("button", name="Record consent").click()
            assert "Consented on" in coordinator.locator("#consent-given").inner_text()
            check(coordinator, shots, "4-consented")

            therapist = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            therapist.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(therapist, base, "therapist")
            therapist.goto(f"{base}/enrolment/SEV-002")
            therapist.get_by_role("button", name="Randomise").focus()
            with therapist.expect_navigation():
                therapist.keyboard.press("Enter")  # keyboard reachable
            arm = arm_of(store, "SEV-002")
            assert ARM_NAMES[arm] in therapist.locator("#allocation").inner_text()
            check(therapist, shots, "5-randomised-therapist")
            therapist.goto(f"{base}/participants/SEV-001")
            check(therapist, shots, "6-participant-therapist")

            coordinator.goto(f"{base}/participants/SEV-002")
            assert "randomised" in coordinator.locator("#status").inner_text()
            assert not ARM_WORDS.search(coordinator.content())
            check(coordinator, shots, "7-participant-coordinator-new")
            coordinator.goto(f"{base}/participants/SEV-001")
            assert not ARM_WORDS.search(coordinator.content())
            check(coordinator, shots, "8-participant-coordinator")
            coordinator.get_by_text("Answers and history (2 versions)").click()
            assert (
                "reason: stopwatch misread" in coordinator.locator("#response-BL-tug").inner_text()
            )
            check(coordinator, shots, "9-participant-history-open")
            coordinator.goto(f"{base}/enrolment/screen")
            coordinator.get_by_label("Full name").fill("Luis Gómez")
            coordinator.get_by_label("male", exact=True).check()
            for criterion, answer in form_answers({**ELIGIBLE, "age": 47}).items():
                if criterion in ("age", "pain_months"):
                    coordinator.locator(f"#q-{criterion}").fill(answer)
                else:
                    coordinator.locator(f'input[name="{criterion}"][value="{answer}"]').check()
            coordinator.locator('input[name="anticoagulants"][value="yes"]').check()
            coordinator.get_by_role("button", name="Screen").click()
            coordinator.wait_for_url(f"{base}/enrolment/SEV-003")
            assert "Not eligible" in coordinator.locator("#decision").inner_text()
            reasons = coordinator.get_by_role("list", name="Reasons").inner_text()
            assert "age 47 years: below the minimum of 50 years" in reasons
            assert "anticoagulants yes: excluded" in reasons
            check(coordinator, shots, "10-ineligible")
        finally:
            browser.close()
    assert errors == []
    assert len(list(shots.glob("*.png"))) == 10


def check(page: Any, shots: Path, name: str) -> None:
    check_page(page, shots, name, TARGETS)
