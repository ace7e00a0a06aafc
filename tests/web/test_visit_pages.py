"""The visit page: an assessor records a whole baseline visit of the reference trial through the
forms; a refused answer comes back beside its field with every answer kept; a correction needs
a reason; CSRF is refused; roles see what the services let them; blinded roles see no arm."""

from __future__ import annotations

import re

import pytest

from physiotrial.services.capture import response_history
from physiotrial.services.schedule import participant_visits
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import Page, Site, csrf_of, sign_in
from tests.web.test_forms import PROTOCOL, valid_post

BASELINE = PROTOCOL.visit("BL").measures


def visit_url(code: str, visit: str = "BL") -> str:
    return f"/participants/{code}/visits/{visit}"


def save(site: Site, code: str, measure: str, posted: dict[str, str], visit: str = "BL") -> Page:
    page = site.client.get(visit_url(code, visit))
    form = {"csrf_token": csrf_of(page), "done_on": "2025-03-10"} | posted
    url = f"{visit_url(code, visit)}/record/{measure}"
    return site.client.post(url, data=form, follow_redirects=False)


def _recorded(site: Site, code: str, visit: str = "BL") -> tuple[str, ...]:
    views = participant_visits(site.store, "dm", code, site.clock().date())
    return next(v.recorded for v in views if v.code == visit)


def test_an_assessor_records_a_complete_baseline_visit(site: Site) -> None:
    code = site.participant
    sign_in(site.client, "assessor")
    page = site.client.get(visit_url(code))
    assert page.status_code == 200
    for measure in BASELINE:
        assert f'id="m-{measure}"' in page.text
        assert f'action="{visit_url(code)}/record/{measure}"' in page.text
    assert page.text.count('type="range"') == 3  # the three VAS
    # the answer: a number box (hidden by the script, blank until the line is moved)
    assert re.search(
        r'<input type="number" [^>]*name="vas_max.mm" id="[^"]+" value=""\s', page.text
    )
    assert 'name="strength.lever_arm_m"' in page.text
    for measure in BASELINE:
        response = save(site, code, measure, valid_post(measure))
        assert response.status_code == 303, (measure, response.text[:800])
        assert response.headers["location"].endswith(f"?saved={measure}#m-{measure}")
    assert _recorded(site, code) == BASELINE
    done = site.client.get(visit_url(code) + "?saved=rom")
    assert "Saved: rom." in done.text
    assert f"{len(BASELINE)} of {len(BASELINE)} measures recorded" in done.text
    assert 'data-score="vas_max.score">50 mm' in done.text  # the slider's middle, 50 mm
    history = response_history(site.store, "dm", (code, "BL", "tug"))
    assert history[-1].answers == {"time_s": 150.5, "walking_aid": 0}
    assert history[-1].entered_by == "assessor"
    assert not ARM_WORDS.search(done.text)


def test_an_untouched_vas_is_not_recorded_as_an_answer(site: Site) -> None:
    sign_in(site.client, "assessor")
    response = save(site, site.participant, "vas_max", {"vas_max.mm": ""})
    assert response.status_code == 422
    assert "no item answered; items: mm" in response.text
    assert _recorded(site, site.participant) == ()


def test_a_bad_answer_is_shown_beside_its_field_and_the_answers_are_kept(site: Site) -> None:
    code = site.participant
    sign_in(site.client, "assessor")
    posted = valid_post("womac") | {"womac.f3": "9", "womac.p2": "3"}
    response = save(site, code, "womac", posted)
    assert response.status_code == 422
    field = re.search(r'id="f-womac-f3-field">(.*?)</fieldset>', response.text, re.S)
    assert field, response.text[:2000]
    assert "item f3 of womac: 9 is not allowed; allowed: 0 (none)" in field.group(1)
    assert 'class="capture-field has-error" id="f-womac-f3-field"' in response.text
    assert response.text.count('class="field-error"') == 1
    assert re.search(r'name="womac.p2" value="3" checked', response.text)
    assert re.search(r'name="womac.p1" value="1" checked', response.text)
    tug = save(site, code, "tug", {"tug.time_s": "quick", "tug.walking_aid": "1"})
    assert tug.status_code == 422
    assert 'id="f-tug-time_s" name="tug.time_s" value="quick"' in tug.text
    assert "item time_s of tug: &#39;quick&#39; is not allowed" in tug.text
    assert re.search(r'name="tug.walking_aid" value="1" checked', tug.text)
    assert _recorded(site, code) == ()


def test_a_correction_asks_for_a_reason(site: Site) -> None:
    code = site.participant
    sign_in(site.client, "assessor")
    assert save(site, code, "tug", valid_post("tug")).status_code == 303
    page = site.client.get(visit_url(code))
    assert "Correct this record" in page.text
    url = f"{visit_url(code)}/correct/tug"
    posted = {"csrf_token": csrf_of(page), "tug.time_s": "12.5", "tug.walking_aid": "0"}
    refused = site.client.post(url, data=posted)
    assert refused.status_code == 422
    assert "reason" in refused.text
    assert re.search(r"<details class=\"correction\" open>", refused.text)
    fixed = site.client.post(url, data=posted | {"reason": "stopwatch misread"})
    assert fixed.status_code == 200  # redirect followed
    history = response_history(site.store, "dm", (code, "BL", "tug"))
    assert [h.version for h in history] == [1, 2]
    assert history[-1].answers["time_s"] == 12.5
    assert history[-1].reason == "stopwatch misread"


def test_posting_a_form_without_the_csrf_token_is_refused(site: Site) -> None:
    sign_in(site.client, "assessor")
    url = f"{visit_url(site.participant)}/record/tug"
    for token in ({}, {"csrf_token": "forged"}):
        response = site.client.post(url, data=token | {"done_on": "2025-03-10"} | valid_post("tug"))
        assert response.status_code == 403
        assert "missing or wrong CSRF token" in response.text
    assert _recorded(site, site.participant) == ()


def test_the_visit_page_needs_a_signed_in_user(site: Site) -> None:
    response = site.client.get(visit_url(site.participant), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("username", "status"), [("stats", 403), ("therapist", 200), ("dm", 200), ("coord", 200)]
)
def test_who_may_open_the_visit_page(site: Site, username: str, status: int) -> None:
    sign_in(site.client, username)
    page = site.client.get(visit_url(site.participant))
    assert page.status_code == status
    if username == "therapist":  # may see the visit, but records none of its measures
        assert "/record/" not in page.text
    if username == "coord":  # enters the participant's own answers, not the assessor's tests
        assert f"{visit_url(site.participant)}/record/womac" in page.text
        assert f"{visit_url(site.participant)}/record/tug" not in page.text


def test_an_unknown_visit_or_measure_is_a_clear_page(site: Site) -> None:
    sign_in(site.client, "assessor")
    assert "has no visit &#39;ZZ&#39;" in site.client.get(visit_url(site.participant, "ZZ")).text
    page = site.client.get(visit_url(site.participant))
    url = f"{visit_url(site.participant)}/record/pgic"
    response = site.client.post(url, data={"csrf_token": csrf_of(page), "done_on": "2025-03-10"})
    assert response.status_code == 404
    assert "not planned at visit BL" in response.text


@pytest.mark.parametrize("username", ["coord", "assessor", "stats"])
def test_blinded_roles_see_no_arm_on_the_visit_page(site: Site, username: str) -> None:
    sign_in(site.client, username)
    code = site.participant
    pages = [site.client.get(visit_url(code, v)) for v in ("BL", "T1", "T3", "W3")]
    if username == "assessor":
        pages.append(save(site, code, "tug", valid_post("tug")))
        pages.append(site.client.get(visit_url(code) + "?saved=tug"))
        pages.append(save(site, code, "womac", valid_post("womac") | {"womac.f1": "8"}))
    for page in pages:
        assert page.status_code < 500
        assert not ARM_WORDS.search(page.text), ARM_WORDS.search(page.text)


def test_the_day_a_visit_was_done_is_chosen_on_the_form_and_kept_on_error(site: Site) -> None:
    code = site.participant
    sign_in(site.client, "assessor")
    page = site.client.get(visit_url(code)).text
    assert re.search(r'<input type="date" id="done-on-tug" name="done_on" value="2025-03-10"', page)
    assert 'max="2025-03-10"' in page
    tomorrow = save(site, code, "tug", valid_post("tug") | {"done_on": "2025-03-11"})
    assert tomorrow.status_code == 422
    assert "2025-03-11" in tomorrow.text
    assert 'name="done_on" value="2025-03-11"' in tomorrow.text  # the posted day is kept
    assert _recorded(site, code) == ()
    done = save(site, code, "tug", valid_post("tug") | {"done_on": "2025-03-07"})
    assert done.status_code == 303, done.text[:600]
    (tug,) = response_history(site.store, "dm", (code, "BL", "tug"))
    assert tug.done_on.isoformat() == "2025-03-07"
    later = site.client.get(visit_url(code)).text
    assert "Done on 2025-03-07" in later
    assert 'name="done_on" value="2025-03-07"' in later  # the visit's day, unless changed
