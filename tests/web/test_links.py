"""The participant's one-time link through the pages: a coordinator gives it from the visit page
(URL and QR code), the participant fills every self-report form without signing in, and then
the link is used up; replay, expiry and unknown tokens give a page that names nobody; a link for
one participant cannot write another's; no arm word reaches the participant."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.capture import record, response_history
from physiotrial.services.links import self_report
from tests.services.helpers_capture import DAY0, enrol
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import Page, Site, csrf_of, sign_in
from tests.web.test_forms import PROTOCOL, valid_post
from tests.web.test_visit_pages import _recorded, visit_url

PROMS = self_report(PROTOCOL, "BL")
_TOKEN = re.compile(r'(?<=content=")[^"]+(?=">)|(?<="X-CSRF-Token": ")[^"]+')
_LINK = re.compile(r'id="link-url" href="https?://testserver(/link/[A-Za-z0-9_-]+)"')


def give_link(site: Site, code: str, username: str = "coord") -> tuple[str, Page]:
    """Sign ``username`` in on a browser of its own and give a link from the visit page."""
    staff = site.browser()
    sign_in(staff, username)
    page = staff.get(visit_url(code))
    assert "one-time link" in page.text
    given = staff.post(f"{visit_url(code)}/link", data={"csrf_token": csrf_of(page)})
    assert given.status_code == 200, given.text[:600]
    found = _LINK.search(given.text)
    assert found, given.text[:3000]
    return found.group(1), given


def fill(tablet: TestClient, path: str, measure: str, posted: dict[str, str]) -> Page:
    page = tablet.get(path)
    form = {"csrf_token": csrf_of(page), "measure": measure} | posted
    return tablet.post(path, data=form, follow_redirects=False)


def test_the_participant_fills_every_prom_and_the_link_is_then_used_up(site: Site) -> None:
    path, given = give_link(site, site.participant)
    assert "<svg" in given.text  # the QR code, inline
    assert 'class="segno"' in given.text
    tablet = site.browser()
    seen = []
    for number, measure in enumerate(PROMS, start=1):
        page = tablet.get(path)
        assert page.status_code == 200
        assert f"Questionnaire {number} of {len(PROMS)}" in page.text
        assert f'name="measure" value="{measure}"' in page.text
        assert site.participant not in page.text  # the link never shows whose it is
        seen.append(page)
        response = fill(tablet, path, measure, valid_post(measure))
        seen.append(response)
        if number < len(PROMS):
            assert response.status_code == 303
            assert response.headers["location"] == path
    assert "Your answers are saved" in response.text
    assert _recorded(site, site.participant) == PROMS
    history = response_history(site.store, "dm", (site.participant, "BL", "womac"))
    assert history[-1].entered_by == "participant-link"
    replay = tablet.get(path)
    assert replay.status_code == 403
    assert "already been used" in replay.text
    again = tablet.post(path, data={"csrf_token": csrf_of(seen[0]), "measure": "womac"})
    assert again.status_code == 403
    assert "already been used" in again.text
    for page in [given, *seen, replay, again]:
        assert not ARM_WORDS.search(page.text), ARM_WORDS.search(page.text)


def test_a_bad_answer_on_the_link_is_shown_beside_its_field_without_the_study_code(
    site: Site,
) -> None:
    path, _ = give_link(site, site.participant, "assessor")
    tablet = site.browser()
    response = fill(tablet, path, "vas_max", {"vas_max.mm": "140"})
    assert response.status_code == 422
    assert "item mm of vas: 140 is not allowed; allowed: 0 to 100 mm" in response.text
    assert 'name="vas_max.mm" id="f-vas_max-mm-value" value="140"' in response.text  # kept
    assert site.participant not in response.text
    untouched = fill(tablet, path, "vas_max", {"vas_max.mm": ""})
    assert "nothing is answered yet" in untouched.text
    assert _recorded(site, site.participant) == ()


def test_an_expired_link_is_refused(site: Site) -> None:
    path, _ = give_link(site, site.participant)
    tablet = site.browser()
    page = tablet.get(path)
    site.clock.advance(hours=24, seconds=1)
    assert "expired" in tablet.get(path).text
    response = tablet.post(path, data={"csrf_token": csrf_of(page), "measure": "vas_max"})
    assert response.status_code == 403
    assert "expired" in response.text
    assert site.participant not in response.text
    assert _recorded(site, site.participant) == ()


@pytest.mark.parametrize("token", ["nope", "x" * 43, "%2e%2e"])
def test_an_unknown_link_reveals_nothing(site: Site, token: str) -> None:
    response = site.browser().get(f"/link/{token}")
    assert response.status_code in (403, 404)
    text = _TOKEN.sub("<csrf>", response.text)  # a random token may spell BL
    assert site.participant not in text
    assert "BL" not in text


def test_a_link_for_one_participant_cannot_write_another(site: Site) -> None:
    other = enrol(site.store)
    path, _ = give_link(site, site.participant)
    tablet = site.browser()
    page = tablet.get(path)
    token = csrf_of(page)
    for sent in (
        {"measure": "tug"} | valid_post("tug"),  # not a self-report form: refused
        {"measure": "vas_max", "study_code": other} | valid_post("vas_max"),
        {"measure": "pgic"} | valid_post("pgic"),  # not planned at this visit
    ):
        response = tablet.post(path, data={"csrf_token": token} | sent, follow_redirects=False)
        if sent["measure"] != "vas_max":
            assert response.status_code == 403, sent
            assert other not in response.text
    assert _recorded(site, other) == ()
    assert _recorded(site, site.participant) == ("vas_max",)  # the link's own participant


def test_posting_to_a_link_without_the_csrf_token_is_refused(site: Site) -> None:
    path, _ = give_link(site, site.participant)
    tablet = site.browser()
    tablet.get(path)
    response = tablet.post(path, data={"measure": "vas_max"} | valid_post("vas_max"))
    assert response.status_code == 403
    assert "missing or wrong CSRF token" in response.text
    assert _recorded(site, site.participant) == ()


def test_the_participant_may_stop_and_the_link_is_used_up(site: Site) -> None:
    path, _ = give_link(site, site.participant)
    tablet = site.browser()
    assert fill(tablet, path, "vas_max", valid_post("vas_max")).status_code == 303
    page = tablet.get(path)
    stop = tablet.post(f"{path}/finish", data={"csrf_token": csrf_of(page)})
    assert "Your answers are saved" in stop.text
    assert "already been used" in tablet.get(path).text
    assert _recorded(site, site.participant) == ("vas_max",)


def test_only_coordinators_and_assessors_are_offered_a_link(site: Site) -> None:
    for username in ("therapist", "dm"):
        browser = site.browser()
        sign_in(browser, username)
        assert "one-time link" not in browser.get(visit_url(site.participant)).text


def test_the_giver_chooses_how_long_the_link_works(site: Site) -> None:
    staff = site.browser()
    sign_in(staff, "coord")
    page = staff.get(visit_url(site.participant))
    assert '<option value="1440" selected>24 hours</option>' in page.text
    form = {"csrf_token": csrf_of(page), "minutes": "60"}
    too_long = staff.post(f"{visit_url(site.participant)}/link", data=form | {"minutes": "99999"})
    assert too_long.status_code in (409, 422)
    assert "minutes: 99999 is not allowed; allowed: 5 to 20160" in too_long.text
    given = staff.post(f"{visit_url(site.participant)}/link", data=form)
    found = _LINK.search(given.text)
    assert found, given.text[:2000]
    site.clock.advance(minutes=59)
    assert "Questionnaire 1 of" in site.browser().get(found.group(1)).text
    site.clock.advance(minutes=2)
    assert "Questionnaire 1 of" not in site.browser().get(found.group(1)).text


def test_proms_filled_by_link_on_a_later_day_keep_their_own_day(site: Site) -> None:
    """The assessor's test was done on the baseline day; the participant fills the link a week
    later (the clock's today): the answers are kept with the day they were given."""
    code = site.participant
    record(site.store, "assessor", code, "BL", "tug", {"time_s": 9.5, "walking_aid": "no"}, DAY0)
    path, _ = give_link(site, code)
    tablet = site.browser()
    response = fill(tablet, path, "vas_max", {"vas_max.mm": "40"})
    assert response.status_code == 303, response.text[:600]
    (vas,) = response_history(site.store, "dm", (code, "BL", "vas_max"))
    assert vas.done_on == site.clock().date() == date(2025, 3, 10)
    (test,) = response_history(site.store, "dm", (code, "BL", "tug"))
    assert test.done_on == DAY0
