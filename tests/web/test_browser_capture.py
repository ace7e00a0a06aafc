"""Visit capture and the one-time link in a real browser at tablet width (768 px).

An assessor opens SEV-001's baseline visit, gives the participant a one-time link (URL and QR
code), records the assessor-rated tests (a wrong timed-test answer first: named beside its
field, the other answers kept); the participant opens the link in another browser, sends a VAS
untouched (refused: an untouched slider is no answer), then marks the line and fills every
questionnaire; the link is then used up. The whole baseline visit is then recorded. Each page is
screenshotted into tmp_path and checked for no sideways scrolling, a label on every input and
touch targets of at least 44 px, and no arm word.

Chromium is Debian's package at /usr/bin/chromium (never a downloaded browser), driven by
Playwright for Python, as in tests/report/test_browser.py: without it the test skips locally and
fails under CI=true. The app runs under uvicorn in a background thread on a free port, on a
SQLite study in tmp_path, with the real clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from physiotrial.core.instruments import get_instrument
from physiotrial.services.capture import response_history
from physiotrial.services.links import self_report
from physiotrial.services.schedule import participant_visits
from physiotrial.web.app import create_app
from physiotrial.web.forms import measure_form
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import enrol, make_study
from tests.web.browser import WIDTH, check_page, serving
from tests.web.conftest import PASSWORD, SECRET
from tests.web.test_forms import PROTOCOL, valid_text

TARGETS = "main button, main .button, main label.choice, main input[type=text], main summary"
BASELINE = PROTOCOL.visit("BL").measures
PROMS = self_report(PROTOCOL, "BL")
TESTS = tuple(m for m in BASELINE if m not in PROMS)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any, str]]:
    """The app on http://127.0.0.1:<port>, its study holding one randomised participant."""
    from physiotrial.services.access import set_password

    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    code = enrol(store)
    set_password(store, "dm", "assessor", PASSWORD)
    app = create_app(tmp_path, url, secret=SECRET)
    try:
        with serving(app) as base:
            yield base, store, code
    finally:
        store.close()


def _mark_line(page: Any, field_id: str, fraction: float) -> None:
    """Tap the VAS line at ``fraction`` of its length, as a finger would."""
    slider = page.locator(f"#{field_id}")
    box = slider.bounding_box()
    assert box is not None
    slider.click(position={"x": box["width"] * fraction, "y": box["height"] / 2})


def _fill(page: Any, measure: str, skip: frozenset[str] = frozenset()) -> None:
    """Answer every item of ``measure``'s form on the page, by its widget."""
    instrument = get_instrument(PROTOCOL.measure(measure).instrument)
    for field in measure_form(measure, measure, instrument).fields:
        if field.name in skip:
            continue
        if field.widget in ("radios", "scale"):
            page.locator(f'input[name="{field.name}"][value="{valid_text(field)}"]').check()
        elif field.widget == "slider":
            _mark_line(page, field.id, 0.4)
        else:
            page.locator(f"#{field.id}").fill(valid_text(field))


def test_assessor_records_baseline_and_participant_fills_proms_by_link(
    served: tuple[str, Any, str], tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store, code = served
    visit = f"{base}/participants/{code}/visits/BL"
    errors: list[str] = []  # script errors (a refused form's 422 is no error of the page)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            staff = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            staff.on("pageerror", lambda e: errors.append(str(e)))
            staff.goto(f"{base}/login?next=/participants/{code}/visits/BL")
            staff.get_by_label("Username").fill("assessor")
            staff.get_by_label("Password").fill(PASSWORD)
            staff.get_by_role("button", name="Sign in").click()
            staff.wait_for_url(visit)
            check(staff, tmp_path, "01-visit-empty")

            staff.get_by_role("button", name="one-time link").click()
            link = staff.locator("#link-url").get_attribute("href")
            assert link
            assert "/link/" in link
            assert staff.locator(".qr svg").is_visible()
            check(staff, tmp_path, "02-link-given")

            staff.goto(visit)
            _fill(staff, "tug", skip=frozenset({"tug.time_s"}))
            staff.locator("#f-tug-time_s").fill("quick")
            staff.locator("#m-tug").get_by_role("button", name="Save").click()
            error = staff.locator("#f-tug-time_s-field .field-error")
            assert error.inner_text().startswith("item time_s of tug: 'quick' is not allowed")
            assert staff.locator("#f-tug-time_s").input_value() == "quick"
            assert staff.locator('input[name="tug.walking_aid"][value="0"]').is_checked()
            staff.locator("#m-tug").scroll_into_view_if_needed()
            check(staff, tmp_path, "03-visit-error")
            for measure in TESTS:
                _fill(staff, measure)
                staff.locator(f"#m-{measure}").get_by_role("button", name="Save").click()
                staff.wait_for_url(f"{visit}?saved={measure}#m-{measure}")

            participant = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            participant.on("pageerror", lambda e: errors.append(str(e)))
            participant.goto(link)
            assert "Questionnaire 1 of" in participant.content()
            participant.get_by_role("button", name="Next").click()  # the line untouched
            assert "nothing is answered yet" in participant.content()
            check(participant, tmp_path, "04-link-untouched-vas")
            for number, measure in enumerate(PROMS, start=1):
                assert f"Questionnaire {number} of {len(PROMS)}" in participant.content()
                _fill(participant, measure)
                if number == 1:
                    shown = participant.locator(".vas-value").inner_text()
                    assert shown.endswith("mm"), shown
                    check(participant, tmp_path, "05-link-vas-marked")
                if measure == "womac":
                    check(participant, tmp_path, "06-link-womac")
                last = number == len(PROMS)
                participant.get_by_role("button", name="Send" if last else "Next").click()
            assert "Your answers are saved" in participant.content()
            check(participant, tmp_path, "07-link-done")
            participant.goto(link)
            assert "already been used" in participant.content()
            check(participant, tmp_path, "08-link-replay")

            staff.goto(visit)
            assert f"{len(BASELINE)} of {len(BASELINE)} measures recorded" in staff.content()
            check(staff, tmp_path, "09-visit-complete")
        finally:
            browser.close()
    assert errors == []
    views = participant_visits(store, "dm", code)
    assert next(v for v in views if v.code == "BL").recorded == BASELINE
    vas = response_history(store, "dm", (code, "BL", "vas_max"))[-1]
    assert vas.entered_by == "participant-link"
    assert 30 <= vas.answers["mm"] <= 50, vas.answers  # marked at 40 % of the line


def check(page: Any, shots: Path, name: str) -> None:
    check_page(page, shots, name, TARGETS, blinded=True)


def test_without_script_a_vas_is_a_number_box_and_its_answer_is_recorded(
    served: tuple[str, Any, str], tmp_path: Path
) -> None:
    """A tablet with JavaScript off: each VAS is a labelled number box (no slider), a typed
    mark is recorded as the answer, and a blank box is still 'unanswered'."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    from physiotrial.services.links import create_participant_link

    base, store, code = served
    token = create_participant_link(store, "coord", code, "BL", datetime.now(UTC))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(
                viewport={"width": WIDTH, "height": 1024}, java_script_enabled=False
            )
            tablet = context.new_page()
            tablet.goto(f"{base}/link/{token}")
            assert not tablet.locator("input[type=range]").is_visible()
            box = tablet.locator('input[name="vas_max.mm"]')
            assert box.get_attribute("type") == "number"
            assert box.is_visible()
            check_page(tablet, tmp_path, "nojs-01-vas-box", TARGETS, blinded=True)
            tablet.get_by_role("button", name="Next").click()
            assert "nothing is answered yet" in tablet.content()
            tablet.locator('input[name="vas_max.mm"]').fill("63")
            tablet.get_by_role("button", name="Next").click()
            assert "Questionnaire 2 of" in tablet.content()
        finally:
            browser.close()
    (recorded,) = response_history(store, "dm", (code, "BL", "vas_max"))
    assert recorded.answers == {"mm": 63.0}
    assert recorded.done_on == date.today()
