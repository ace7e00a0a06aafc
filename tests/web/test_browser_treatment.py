"""A treatment session and an adverse event in a real browser at tablet width (768 px).

A therapist randomises a consented participant and sees the allocation, opens the needling
session form from the participant page (it says what the arm receives), enters a wrong number of
insertions first (named beside its field, the other answers kept), records the session, then
records the post-needling soreness that followed it. A coordinator then opens the participant
page (the session without the needling details that reveal the arm, the adverse event, no arm
word) and corrects the adverse event with a reason; the history shows both versions. Each page
is screenshotted into tmp_path and checked for no sideways scrolling, a label on every input
and touch targets of at least 44 px.

Chromium is Debian's package at /usr/bin/chromium (never a downloaded browser), driven by
Playwright for Python, as in tests/report/test_browser.py: without it the test skips locally and
fails under CI=true. The app runs under uvicorn in a background thread on a free port, on a
SQLite study in tmp_path, with the real clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from physiotrial.services.access import set_password
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.events import (
    participant_adverse_events,
    participant_departure,
    participant_deviations,
)
from physiotrial.services.randomisation import randomise
from physiotrial.services.safety import participant_sessions
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import ELIGIBLE, arm_of, make_study
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.services.test_safety import RECEIVES
from tests.web.browser import WIDTH, check_page, serving
from tests.web.conftest import PASSWORD, SECRET
from tests.web.test_enrolment_pages import ARM_NAMES

TARGETS = ", ".join(
    f"main {kind}"
    for kind in (
        "button",
        ".button",
        "label.choice",
        "input[type=text]",
        "input[type=date]",
        "select",
        "textarea",
        "summary",
    )
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any, str]]:
    """The app on http://127.0.0.1:<port>, its study holding one consented participant."""
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    today = date.today()
    screened = screen(
        store, "coord", "SEV", today - timedelta(days=7), ELIGIBLE, {"sex": "female"}, "Ana Ruiz"
    )
    consent(store, "coord", screened.study_code, "1.0", today - timedelta(days=5))
    for username in ("coord", "therapist"):
        set_password(store, "dm", username, PASSWORD)
    app = create_app(tmp_path, url, secret=SECRET)
    try:
        with serving(app) as base:
            yield base, store, screened.study_code
    finally:
        store.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_therapist_records_a_needling_session_and_an_adverse_event(
    served: tuple[str, Any, str], tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store, code = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            therapist = browser.new_page(viewport={"width": WIDTH, "height": 1024})
            therapist.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(therapist, base, "therapist")
            therapist.goto(f"{base}/enrolment/{code}")
            therapist.get_by_role("button", name="Randomise").click()
            arm = arm_of(store, code)
            assert ARM_NAMES[arm] in therapist.locator("#allocation").inner_text()

            therapist.goto(f"{base}/participants/{code}")
            therapist.get_by_role("link", name="Record a session: Dry needling or sham").click()
            assert RECEIVES[arm] in therapist.locator("#treatment").inner_text()
            check(therapist, shots, "1-session-form")
            therapist.get_by_label("Muscle needled").fill("popliteus")
            therapist.get_by_label("right", exact=True).check()
            therapist.get_by_label("Number of needle insertions").fill("six")
            therapist.get_by_label("Local twitch responses elicited").fill("2")
            therapist.get_by_label("Needling duration").fill("5")
            therapist.get_by_role("button", name="Save the session").click()
            error = therapist.locator("#f-detail-insertions-error")
            assert "field insertions: 'six' is not allowed" in error.inner_text()
            assert therapist.get_by_label("Muscle needled").input_value() == "popliteus"
            assert therapist.get_by_label("right", exact=True).is_checked()
            check(therapist, shots, "2-session-error")
            therapist.get_by_label("Number of needle insertions").fill("6")
            therapist.get_by_role("button", name="Save the session").click()
            therapist.wait_for_url(f"{base}/participants/{code}?done=session#sessions")
            assert therapist.locator("#notice").inner_text() == "Session saved."
            session = therapist.locator("#session-needling-1").inner_text()
            assert "Local twitch responses elicited: 2" in session
            check(therapist, shots, "3-session-saved")

            therapist.get_by_role("link", name="Record an adverse event").click()
            therapist.get_by_label("Event (what happened)").fill("post-needling soreness")
            therapist.get_by_label("Duration").fill("24")
            therapist.get_by_label("mild", exact=True).check()
            therapist.get_by_label("Related to the treatment?").select_option("probable")
            therapist.get_by_label("Action taken").fill("ice pack, rest")
            therapist.get_by_label("Outcome").select_option("resolved")
            therapist.get_by_label("Followed the session").select_option("needling:1")
            check(therapist, shots, "4-adverse-event-form")
            therapist.get_by_role("button", name="Record the adverse event").click()
            therapist.wait_for_url(f"{base}/participants/{code}?done=ae")
            assert "post-needling soreness" in therapist.locator("#adverse-events").inner_text()
            check(therapist, shots, "5-adverse-event-saved")

            coordinator = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            coordinator.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(coordinator, base, "coord")
            coordinator.goto(f"{base}/participants/{code}")
            blinded = coordinator.locator("#session-needling-1").inner_text()
            assert "Muscle needled: popliteus" in blinded
            assert "twitch" not in blinded.lower()
            check(coordinator, shots, "6-participant-coordinator", blinded=True)
            coordinator.get_by_role("link", name="Correct this adverse event").click()
            assert coordinator.get_by_label("Event (what happened)").input_value() == (
                "post-needling soreness"
            )
            coordinator.get_by_label("Duration").fill("48")
            coordinator.get_by_role("button", name="Save the correction").click()
            assert "needs a reason" in coordinator.locator("#f-reason-error").inner_text()
            assert coordinator.get_by_label("Duration").input_value() == "48"
            check(coordinator, shots, "7-correction-needs-reason", blinded=True)
            coordinator.get_by_label("Reason for the correction").fill("lasted two days")
            coordinator.get_by_role("button", name="Save the correction").click()
            coordinator.wait_for_url(f"{base}/participants/{code}?done=ae-corrected")
            coordinator.get_by_text("History (2 versions)").click()
            assert "reason: lasted two days" in coordinator.locator("#adverse-events").inner_text()
            check(coordinator, shots, "8-adverse-event-history", blinded=True)
        finally:
            browser.close()
    assert errors == []
    [session] = participant_sessions(store, "therapist", code)
    assert session.details == {
        "muscle": "popliteus",
        "side": "right",
        "insertions": 6,
        "local_twitch_responses": 2,
        "duration_min": 5.0,
    }
    [event] = participant_adverse_events(store, "dm", code)
    assert [v.duration_hours for v in event.versions] == [24.0, 48.0]
    assert event.current.session == ("needling", 1)
    assert not ARM_WORDS.search(repr(event))
    assert len(list(shots.glob("*.png"))) == 8


def test_coordinator_records_a_deviation_and_a_withdrawal(
    served: tuple[str, Any, str], tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store, code = served
    randomise(store, "coord", code, date.today())
    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 1024})
            page.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(page, base, "coord")
            page.goto(f"{base}/participants/{code}")
            page.get_by_role("link", name="Record a protocol deviation").click()
            page.get_by_label("What happened").fill("Baseline questionnaires filled after needling")
            page.get_by_role("button", name="Record the deviation").click()
            assert "category: '' is not allowed" in page.locator("#f-category-error").inner_text()
            assert page.get_by_label("What happened").input_value().startswith("Baseline")
            check(page, shots, "1-deviation-error", blinded=True)
            page.get_by_label("Category").select_option("assessment")
            page.get_by_role("button", name="Record the deviation").click()
            page.wait_for_url(f"{base}/participants/{code}?done=deviation")
            assert "assessment" in page.locator("#deviations").inner_text()

            page.get_by_role("link", name="Record a withdrawal").click()
            assert "it stops: BL, T1, T2" in page.locator("#pending").inner_text()
            check(page, shots, "2-withdrawal-form", blinded=True)
            page.get_by_label("Withdrew from the study").check()
            page.get_by_label("Reason").fill("no longer wishes to take part")
            page.get_by_role("button", name="Record the withdrawal").click()
            page.wait_for_url(f"{base}/participants/{code}?done=withdrawal")
            left = page.locator("#withdrawal").inner_text()
            assert "reason: no longer wishes to take part" in left
            assert "visits stopped: BL, T1" in left
            assert page.get_by_role("link", name="Record a withdrawal").count() == 0
            check(page, shots, "3-withdrawn", blinded=True)
        finally:
            browser.close()
    assert errors == []
    [deviation] = participant_deviations(store, "dm", code)
    assert (deviation.category, deviation.occurred_on) == ("assessment", date.today())
    departure = participant_departure(store, "dm", code)
    assert departure is not None
    assert (departure.kind, departure.occurred_on) == ("withdrawn", date.today())
    assert len(list(shots.glob("*.png"))) == 3


def check(page: Any, shots: Path, name: str, *, blinded: bool = False) -> None:
    check_page(page, shots, name, TARGETS, blinded=blinded)
