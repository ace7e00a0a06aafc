"""A clinic patient logs their home exercise programme through their link, in a real browser.

The therapist signs in on a tablet (768 px), opens a knee-OA clinic patient and makes an
exercise-log link (URL and QR code). The patient opens it on a phone (390 px) in a browser of
their own: the programme with each exercise's sets × repetitions and load; they save with
nothing ticked (refused beside the field, nothing written), tick two exercises, choose pain 3 and
save ("1 of 4 days this week"), log yesterday too ("2 of 4"), press "I am done", and the link then
refuses. Every page is screenshotted at 390 and 768 px and checked: no sideways scrolling, a label
on every input, touch targets of at least 44 px, and no study code on the patient's pages; the
log form is reached with the Tab key alone. Refusals the walk does not reach (a bad date, no
pain chosen, an unknown exercise, a missing CSRF token) and the trial's participant page (no
home programme: no button) are checked without a browser at the end.

Screenshots go to tmp_path, or to $PHYSIOTRIAL_SHOTS when set (e.g. /tmp/shots, to look at
them). Chromium is Debian's /usr/bin/chromium driven by Playwright (tests/report/test_browser.py);
the app runs under uvicorn on a free port with the real clock, on a SQLite clinic study.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from physiotrial.core.protocol import Role
from physiotrial.services import enrolment, randomisation
from physiotrial.services.access import set_password
from physiotrial.services.exercise_log import create_exercise_log_link
from physiotrial.services.safety import participant_sessions
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.web.browser import WIDTH, check_keyboard, check_page, serving
from tests.web.conftest import PASSWORD, SECRET, Site, csrf_of, sign_in

PHONE = 390
TARGETS = "main button, main .button, main label.choice, main input[type=date], main select"
SUITABLE = {"needle_phobia": False, "anticoagulants": False, "popliteus_trigger_point": True}


@dataclass
class Clinic:
    app: FastAPI
    store: Store
    code: str


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    """A knee-OA clinic whose one patient started care ten days ago, and its app (real clock)."""
    url = f"sqlite:///{tmp_path / 'clinic.sqlite'}"
    init_study(url, "knee-oa-clinic", admin="dm", admin_name="Data Manager")
    store = Store(url)
    add_site(store, "dm", "CLN", "Knee clinic")
    add_user(store, "dm", "coord", "Coordinator", Role.COORDINATOR, "CLN")
    add_user(store, "dm", "therapist", "Therapist", Role.THERAPIST, "CLN")
    set_password(store, "dm", "therapist", PASSWORD)
    started = datetime.now(UTC).date() - timedelta(days=10)  # the app's clock is UTC
    screened = enrolment.screen(
        store, "coord", "CLN", started, SUITABLE, {}, "Ana Patient", "ana@example.org"
    )
    enrolment.consent(store, "coord", screened.study_code, "1.0", started)
    randomisation.randomise(store, "therapist", screened.study_code, started)
    try:
        yield Clinic(create_app(tmp_path, url, secret=SECRET), store, screened.study_code)
    finally:
        store.close()


@pytest.fixture
def served(clinic: Clinic) -> Iterator[tuple[str, Store, str]]:
    """The clinic's app under uvicorn on a free port."""
    with serving(clinic.app) as base:
        yield base, clinic.store, clinic.code


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PHYSIOTRIAL_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check(page: Any, shots: Path, name: str, code: str | None = None) -> None:
    """A patient's page (``code``: their study code, which must not appear) at phone and tablet
    width, a staff page at tablet width (staff pages are made for the clinic's tablet; DESIGN.md),
    each screenshotted and given the checks of tests/web/browser.py."""
    widths = (PHONE, WIDTH) if code is not None else (WIDTH,)
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        check_page(page, shots, f"{name}-{width}", TARGETS)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    if code is not None:
        assert code not in page.content(), name
    page.set_viewport_size({"width": widths[0], "height": 900})


def _pain(page: Any, level: int) -> None:
    """Tap the pain scale's number ``level`` (the whole box is the target; the radio inside is
    visually hidden) and see it chosen."""
    radio = f'input[name="pain_during"][value="{level}"]'
    page.locator(f"label.choice:has({radio})").click()
    assert page.locator(radio).is_checked()


def test_a_patient_logs_home_exercise_through_the_link_the_therapist_gave(
    served: tuple[str, Store, str], tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store, code = served
    shots = _shots(tmp_path)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            staff = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            staff.on("pageerror", lambda e: errors.append(str(e)))
            staff.goto(f"{base}/login?next=/participants/{code}")
            staff.get_by_label("Username").fill("therapist")
            staff.get_by_label("Password").fill(PASSWORD)
            staff.get_by_role("button", name="Sign in").click()
            staff.wait_for_url(f"{base}/participants/{code}")
            _check(staff, shots, "01-participant")
            staff.get_by_role("button", name="Exercise log link").click()
            link = staff.locator("#link-url").get_attribute("href")
            assert link
            assert "/link/" in link
            assert staff.locator("#exercise-log-link .qr svg").is_visible()
            _check(staff, shots, "02-link-given")

            phone = browser.new_context(viewport={"width": PHONE, "height": 900}).new_page()
            phone.on("pageerror", lambda e: errors.append(str(e)))
            phone.goto(link)
            text = phone.locator("main").inner_text()
            for shown in ("Sit to stand from a chair", "3 sets × 10 repetitions", "1 kg ankle"):
                assert shown in text, shown
            assert "0 of 4 days" in text
            assert phone.locator("#log-day").input_value() == today.isoformat()
            _check(phone, shots, "03-log-empty", code)
            check_keyboard(phone, "03-log-empty")

            _pain(phone, 3)
            phone.get_by_role("button", name="Save").click()
            error = phone.locator(".field-error")
            assert error.inner_text().startswith("Exercises: nothing is ticked"), error.inner_text()
            assert phone.locator('input[name="pain_during"][value="3"]').is_checked()
            _check(phone, shots, "04-log-nothing-ticked", code)

            phone.get_by_label("Sit to stand from a chair").check()
            phone.get_by_label("Step up onto a low step").check()
            phone.get_by_role("button", name="Save").click()
            assert "— 1 of 4 days this week" in phone.locator("#saved").inner_text()
            assert "2 of 3 exercises, pain 3 of 10" in phone.locator(".logged").inner_text()
            _check(phone, shots, "05-log-saved", code)

            phone.get_by_label("Straight leg raise").check()
            _pain(phone, 2)
            phone.locator("#log-day").fill(yesterday.isoformat())
            phone.get_by_role("button", name="Save").click()
            assert "— 2 of 4 days this week" in phone.locator("#saved").inner_text()
            assert phone.locator(".logged li").count() == 2
            _check(phone, shots, "06-log-second-day", code)

            phone.get_by_role("button", name="I am done").click()
            assert "this link is now closed" in phone.content()
            _check(phone, shots, "07-done", code)
            phone.goto(link)
            assert "already been used" in phone.content()
            _check(phone, shots, "08-replay", code)
        finally:
            browser.close()
    assert errors == []
    logged = [s for s in participant_sessions(store, "dm", code) if s.plan == "home_exercise"]
    assert [(s.number, s.held_on, s.details) for s in logged] == [
        (2, yesterday, {"exercises_done": 1, "pain_during": 2}),
        (1, today, {"exercises_done": 2, "pain_during": 3}),
    ]
    assert {s.entered_by for s in logged} == {"participant-link"}


# --- the same pages without a browser: refusals the browser walk does not reach -----------------


def _refused(tablet: TestClient, path: str, posted: dict[str, object]) -> str:
    page = tablet.get(path)
    response = tablet.post(f"{path}/log", data={"csrf_token": csrf_of(page)} | posted)
    assert response.status_code == 422, response.text[:400]
    return response.text


@pytest.mark.parametrize(
    ("posted", "shown"),
    [
        ({"day": "31/02/2025"}, "Day: &#39;31/02/2025&#39; is not a date; allowed: a date such as"),
        ({"pain_during": ""}, "Pain during the exercises: nothing is chosen; choose a number"),
        ({"pain_during": "ten"}, "from 0 (no pain) to 10 (worst pain), not &#39;ten&#39;"),
        ({"pain_during": "11"}, "Pain during the exercises: 11 is not allowed; allowed: whole"),
        ({"exercise": ["jumping"]}, "Exercises: &#39;jumping&#39; is not allowed; allowed: the"),
        ({"day": "2099-01-01"}, "Day: &#39;2099-01-01&#39; is not allowed; allowed: "),
    ],
)
def test_a_refused_day_is_shown_beside_its_field_with_what_was_posted_kept(
    clinic: Clinic, posted: dict[str, object], shown: str
) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.code, datetime.now(UTC))
    today = datetime.now(UTC).date().isoformat()
    form = {"day": today, "exercise": ["step_up", "sit_to_stand"], "pain_during": "4"} | posted
    with TestClient(clinic.app) as tablet:
        body = _refused(tablet, f"/link/{token}", form)
    assert shown in body
    assert 'class="field-error"' in body
    assert clinic.code not in body
    if "exercise" not in posted:
        assert 'value="step_up" checked' in body
        assert 'value="straight_leg_raise">' in body
    assert participant_sessions(clinic.store, "dm", clinic.code) == []


def test_logging_without_the_csrf_token_is_refused(clinic: Clinic) -> None:
    token = create_exercise_log_link(clinic.store, "therapist", clinic.code, datetime.now(UTC))
    today = datetime.now(UTC).date().isoformat()
    with TestClient(clinic.app) as tablet:
        tablet.get(f"/link/{token}")
        posted = {"day": today, "exercise": ["step_up"], "pain_during": "2"}
        response = tablet.post(f"/link/{token}/log", data=posted)
    assert response.status_code == 403
    assert participant_sessions(clinic.store, "dm", clinic.code) == []


def test_a_trial_participant_page_offers_no_exercise_log_link(site: Site) -> None:
    """The reference trial has no home programme: no button, and the route refuses."""
    staff = site.browser()
    sign_in(staff, "therapist")
    page = staff.get(f"/participants/{site.participant}")
    assert page.status_code == 200
    assert "Exercise log link" not in page.text
    response = staff.post(
        f"/participants/{site.participant}/exercise-log-link",
        data={"csrf_token": csrf_of(page)},
    )
    assert response.status_code == 409
    assert "no home exercise programme (not a clinic study)" in response.text
