"""The enrolment pages (screen → eligibility → consent → randomise) and the participant page.

Run on SQLite and PostgreSQL (the ``site`` fixture of conftest.py: SEV-001 randomised at SEV on
2025-03-03, the clock at 2025-03-10). Screening goes through the real form; answers are checked
against the reference protocol's criteria (age ≥ 50 years, pain ≥ 3 months, yes/no criteria).
The blinding part extends the role × route search of test_blinding_routes.py to these routes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.access import set_password
from physiotrial.services.capture import correct, record
from physiotrial.services.recruitment import recruitment
from physiotrial.services.safety import record_session
from tests.services.helpers_capture import DAY0, ELIGIBLE, arm_of
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import PASSWORD, Page, Site, csrf_of, sign_in
from tests.web.test_blinding_routes import _received

TODAY = "2025-03-10"
ARM_NAMES = {"DN": "Dry needling + exercise", "SHAM": "Sham needling + exercise"}
NEEDLING = {
    "muscle": "popliteus",
    "side": "left",
    "insertions": 6,
    "local_twitch_responses": 3,
    "duration_min": 10,
}


def form_answers(answers: Mapping[str, object]) -> dict[str, str]:
    """Eligibility answers as the form posts them (yes/no radios, numbers as text)."""
    shown = {True: "yes", False: "no"}
    return {k: shown[v] if isinstance(v, bool) else str(v) for k, v in answers.items()}


def screening_form(
    page: Page, name: str = "Ana Pérez", sex: str = "female", **answers: object
) -> dict[str, str]:
    return {
        "csrf_token": csrf_of(page),
        "name": name,
        "contact": "600 000 000",
        "screened_on": TODAY,
        "factor__sex": sex,
        **form_answers({**ELIGIBLE, **answers}),
    }


def screen_via_page(client: TestClient, **answers: object) -> tuple[str, Page]:
    """Screen one person through the form; returns the study code and the decision page."""
    page = client.get("/enrolment/screen")
    response = client.post(
        "/enrolment/screen",
        data=screening_form(page) | form_answers({**ELIGIBLE, **answers}),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:800]
    location = response.headers["location"]
    code = location.rsplit("/", 1)[1]
    assert re.fullmatch(r"SEV-\d{3}", code)
    return code, client.get(location)


def consent_via_page(client: TestClient, code: str, on: str = TODAY) -> Page:
    page = client.get(f"/enrolment/{code}")
    form = {"csrf_token": csrf_of(page), "form_version": "2.1", "consented_on": on}
    return client.post(f"/enrolment/{code}/consent", data=form, follow_redirects=False)


def randomise_via_page(client: TestClient, code: str) -> Page:
    page = client.get(f"/enrolment/{code}")
    assert 'action="/enrolment/' + code + '/randomise"' in page.text
    form = {"csrf_token": csrf_of(page)}
    return client.post(f"/enrolment/{code}/randomise", data=form, follow_redirects=False)


def consented(site: Site) -> str:
    """A participant screened and consented through the pages by the SEV coordinator."""
    client = site.browser()
    sign_in(client, "coord")
    code, _ = screen_via_page(client)
    assert consent_via_page(client, code).status_code == 303
    return code


# --- screening ---------------------------------------------------------------------------------


def test_the_screening_form_asks_every_criterion_with_a_label(site: Site) -> None:
    sign_in(site.client, "coord")
    page = site.client.get("/enrolment/screen")
    assert page.status_code == 200
    for criterion in ELIGIBLE:
        assert f'name="{criterion}"' in page.text, criterion
    assert '<label for="q-age">Aged 50 years or over' in page.text
    assert '<span class="unit">years</span>' in page.text
    assert "<legend>Fear of needles (needle phobia)" in page.text
    assert 'name="factor__sex" value="male"' in page.text
    ids = re.findall(r'<input id="([^"]+)"', page.text)
    for input_id in ids:  # every text input has its label
        assert f'<label for="{input_id}"' in page.text, input_id


def test_an_eligible_person_is_screened_and_shown_eligible(site: Site) -> None:
    sign_in(site.client, "coord")
    code, page = screen_via_page(site.client)
    assert code == "SEV-002"
    assert '<p class="verdict eligible" id="decision">Eligible</p>' in page.text
    assert 'id="status">eligible<' in page.text
    assert "Record consent" in page.text
    assert recruitment(site.store, "coord").eligible == 2


def test_an_ineligible_person_is_shown_every_reason(site: Site) -> None:
    sign_in(site.client, "coord")
    code, page = screen_via_page(site.client, age=47, needle_phobia=True)
    assert code == "SEV-002"
    assert "Not eligible (screen failed)" in page.text
    assert "<li>age 47 years: below the minimum of 50 years</li>" in page.text
    assert "<li>needle_phobia yes: excluded (Fear of needles (needle phobia))</li>" in page.text
    reasons = page.text.split('aria-label="Reasons"')[1].split("</ul>")[0]
    assert len(re.findall(r"<li>", reasons)) == 2
    assert "Record consent" not in page.text
    assert 'id="status">screen failed<' in page.text
    assert recruitment(site.store, "coord").screened == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("age", "forty", "age: &#39;forty&#39; is not a number; allowed: a number in years"),
        ("pain_months", "-", "pain_months: &#39;-&#39; is not a number"),
        ("name", "  ", "name: &#39;  &#39; is blank; allowed: a non-blank text"),
        ("screened_on", "10/03/2025", "screened_on: &#39;10/03/2025&#39; is not a date"),
    ],
)
def test_a_wrong_answer_is_named_beside_its_field_and_answers_are_kept(
    site: Site, field: str, value: str, message: str
) -> None:
    sign_in(site.client, "coord")
    page = site.client.get("/enrolment/screen")
    form = screening_form(page, name="Ana Pérez", sex="male") | {field: value}
    response = site.client.post("/enrolment/screen", data=form)
    assert response.status_code == 422
    text = response.text
    assert f'<p class="field-error" id="{field}-error">{message}' in text, text
    assert f'aria-describedby="{field}-error"' in text
    assert f'value="{value}"' in text  # the wrong answer is kept to correct it
    if field != "name":
        assert 'value="Ana Pérez"' in text
    assert 'name="factor__sex" value="male" checked' in text
    assert 'name="acr_knee_oa" value="yes" checked' in text
    assert 'name="needle_phobia" value="no" checked' in text
    if field != "age":
        assert 'name="age" type="text" inputmode="decimal" value="63"' in text
    assert recruitment(site.store, "coord").screened == 1  # nothing written


def test_a_missing_factor_is_named(site: Site) -> None:
    sign_in(site.client, "coord")
    form = screening_form(site.client.get("/enrolment/screen"))
    del form["factor__sex"]
    response = site.client.post("/enrolment/screen", data=form)
    assert response.status_code == 422
    assert 'id="factor__sex-error"' in response.text
    assert "allowed levels: female, male" in response.text


def test_only_coordinators_may_screen(site: Site) -> None:
    for username in ("assessor", "therapist", "stats", "dm"):
        client = site.browser()
        sign_in(client, username)
        response = client.get("/enrolment/screen")
        assert response.status_code == 403, username
        assert "may not screen; allowed roles: coordinator" in response.text


# --- consent and randomisation -------------------------------------------------------------------


def test_consent_is_recorded_and_a_wrong_date_is_named_and_kept(site: Site) -> None:
    sign_in(site.client, "coord")
    code, _ = screen_via_page(site.client)
    early = consent_via_page(site.client, code, on="2025-03-01")
    assert early.status_code == 409
    assert "consented_on 2025-03-01 is before the screening on 2025-03-10" in early.text
    assert 'value="2025-03-01"' in early.text
    assert 'value="2.1"' in early.text
    bad = consent_via_page(site.client, code, on="yesterday")
    assert bad.status_code == 422
    assert "consented_on: &#39;yesterday&#39; is not a date" in bad.text
    done = consent_via_page(site.client, code)
    assert (done.status_code, done.headers["location"]) == (303, f"/enrolment/{code}")
    page = site.client.get(f"/enrolment/{code}")
    assert "Consented on 2025-03-10 (form 2.1)." in page.text
    assert 'id="status">consented<' in page.text
    assert ">Randomise</button>" in page.text


def test_a_therapist_randomises_and_sees_the_allocation(site: Site) -> None:
    code = consented(site)
    sign_in(site.client, "therapist")
    assert "Record consent" not in site.client.get(f"/enrolment/{code}").text
    response = randomise_via_page(site.client, code)
    assert response.status_code == 200
    arm = arm_of(site.store, code)
    assert f'{ARM_NAMES[arm]} <span class="code">({arm})</span>' in response.text
    assert "Baseline assessment (BL)" in response.text
    again = site.client.get(f"/enrolment/{code}")
    assert "Randomised." in again.text
    assert ">Randomise</button>" not in again.text
    twice = site.client.post(f"/enrolment/{code}/randomise", data={"csrf_token": csrf_of(again)})
    assert twice.status_code == 409
    assert "is already randomised" in twice.text


def test_a_coordinator_randomises_and_sees_only_randomised(site: Site) -> None:
    code = consented(site)
    sign_in(site.client, "coord")
    response = randomise_via_page(site.client, code)
    assert response.status_code == 200
    assert "Randomised. The allocation is concealed from your role." in response.text
    assert not ARM_WORDS.search(_received(response))
    participant = site.client.get(f"/participants/{code}")
    assert participant.status_code == 200
    assert not ARM_WORDS.search(_received(participant))
    assert arm_of(site.store, code) in ("DN", "SHAM")  # really allocated


@pytest.mark.parametrize("route", ["screen", "consent", "randomise"])
def test_every_post_without_the_csrf_token_is_refused(site: Site, route: str) -> None:
    code = consented(site) if route == "randomise" else None
    if route == "consent":
        sign_in(site.client, "coord")
        code, _ = screen_via_page(site.client)
    sign_in(site.client, "therapist" if route == "randomise" else "coord")
    path = "/enrolment/screen" if route == "screen" else f"/enrolment/{code}/{route}"
    page = site.client.get("/enrolment/screen" if route == "screen" else f"/enrolment/{code}")
    form = (
        screening_form(page) if route == "screen" else {"form_version": "1", "consented_on": TODAY}
    )
    before = recruitment(site.store, "dm")
    for token in (None, "forged"):
        sent = {k: v for k, v in form.items() if k != "csrf_token"}
        if token:
            sent["csrf_token"] = token
        response = site.client.post(path, data=sent, follow_redirects=False)
        assert response.status_code == 403
        assert "missing or wrong CSRF token" in response.text
    assert recruitment(site.store, "dm") == before
    status = site.client.get(f"/enrolment/{code}").text if code else ""
    assert "randomised<" not in status


# --- the participant page ------------------------------------------------------------------------


def _history(site: Site) -> None:
    """A needling session, and a TUG recorded at BL then corrected, for SEV-001."""
    code = site.participant
    record_session(site.store, "therapist", code, "needling", 1, date(2025, 3, 4), True, NEEDLING)
    answers = {"time_s": 11.2, "walking_aid": "no"}
    record(site.store, "assessor", code, "BL", "tug", answers, DAY0, DAY0)
    correct(site.store, "assessor", (code, "BL", "tug"), {"time_s": 10.9}, "stopwatch misread")


def test_the_participant_page_shows_schedule_records_and_history(site: Site) -> None:
    _history(site)
    sign_in(site.client, "assessor")
    page = site.client.get(f"/participants/{site.participant}")
    assert page.status_code == 200
    text = page.text
    visit = '<a href="/participants/SEV-001/visits/BL">Baseline assessment</a>'
    assert f'<td>{visit} <span class="code">(BL)</span></td>' in text
    assert '2025-03-09</span> to <span class="nowrap">2025-03-13' in text  # T2's window
    done = '<span class="badge badge-done">done</span><br><span class="hint nowrap">done'
    assert f"{done} 2025-03-04" in text  # T1, done by the needling session
    assert re.search(r"Treatment session 2</a> .*?badge-open\">open<", text, re.S)
    assert re.search(r"Treatment session 3</a> .*?badge-upcoming\">upcoming<", text, re.S)
    assert "1 of 11" in text  # BL: the TUG of its 11 measures
    assert 'id="response-BL-tug"' in text
    assert "Version 2</strong> (current)" in text
    assert "reason: stopwatch misread" in text
    assert "Version 1</strong> · entered by assessor" in text
    assert "time_s 10.9" in text
    assert "time_s 11.2" in text
    assert 'data-field="insertions">Number of needle insertions: <strong>6' in text
    assert "local_twitch_responses" not in text
    assert not ARM_WORDS.search(_received(page))


def test_the_therapist_sees_the_arm_and_the_revealing_field(site: Site) -> None:
    _history(site)
    sign_in(site.client, "therapist")
    page = site.client.get(f"/participants/{site.participant}")
    assert 'data-field="local_twitch_responses">Local twitch responses elicited' in page.text
    assert ARM_WORDS.search(page.text)  # the search finds the arm when it is there


UNI_USERS = ("coord_uni", "assessor_uni", "therapist_uni")


@pytest.mark.parametrize("username", UNI_USERS)
def test_another_sites_participant_cannot_be_opened(site: Site, username: str) -> None:
    _history(site)
    set_password(site.store, "dm", username, PASSWORD)
    client = site.browser()
    sign_in(client, username)
    page = client.get("/")
    csrf = {"csrf_token": csrf_of(page)}
    code = site.participant
    responses = {
        "participant": client.get(f"/participants/{code}"),
        "enrolment": client.get(f"/enrolment/{code}"),
        "consent": client.post(f"/enrolment/{code}/consent", data=csrf | {"form_version": "1"}),
        "randomise": client.post(f"/enrolment/{code}/randomise", data=csrf),
    }
    for what, response in responses.items():
        assert response.status_code == 403, (what, response.text[:300])
        for secret in ("Test Person", "randomised<", "Baseline", "tug", "stopwatch", "popliteus"):
            assert secret not in response.text, (what, secret)
    unknown = client.get("/participants/SEV-999")
    assert unknown.status_code == 404
    assert "no participant &#39;SEV-999&#39;" in unknown.text


# --- role × route blinding -----------------------------------------------------------------------


def _my_exchanges(site: Site, username: str, code: str) -> dict[str, Page]:
    """Every route of these pages as ``username`` meets them (no redirect followed)."""
    browser = TestClient(site.app, follow_redirects=False)
    sign_in(browser, username)
    seen: dict[str, Page] = {"GET screen": browser.get("/enrolment/screen")}
    token = csrf_of(browser.get("/"))
    seen["GET participant"] = browser.get(f"/participants/{site.participant}")
    seen["GET enrolment randomised"] = browser.get(f"/enrolment/{site.participant}")
    seen["GET enrolment consented"] = browser.get(f"/enrolment/{code}")
    seen["GET unknown participant"] = browser.get("/participants/SEV-999")
    seen["POST screen no csrf"] = browser.post("/enrolment/screen", data={"name": "x"})
    form = {"csrf_token": token, "name": "Luis", "screened_on": TODAY, "factor__sex": "male"}
    seen["POST screen"] = browser.post("/enrolment/screen", data=form | form_answers(ELIGIBLE))
    seen["POST screen wrong"] = browser.post("/enrolment/screen", data=form | {"age": "x"})
    seen["POST consent again"] = browser.post(
        f"/enrolment/{code}/consent", data={"csrf_token": token, "form_version": "1"}
    )
    seen["POST randomise no csrf"] = browser.post(f"/enrolment/{code}/randomise")
    seen["POST randomise"] = browser.post(
        f"/enrolment/{code}/randomise", data={"csrf_token": token}
    )
    seen["POST randomise again"] = browser.post(
        f"/enrolment/{site.participant}/randomise", data={"csrf_token": token}
    )
    seen["GET participant after"] = browser.get(f"/participants/{code}")
    for key in [k for k, v in seen.items() if v.status_code in (302, 303)]:
        seen[f"{key} followed"] = browser.get(seen[key].headers["location"])
    return seen


@pytest.mark.parametrize("username", ["coord", "assessor", "stats"])
def test_blinded_roles_never_receive_an_allocation_from_these_pages(
    site: Site, username: str
) -> None:
    _history(site)
    code = consented(site)
    seen = _my_exchanges(site, username, code)
    if username == "coord":
        assert seen["POST randomise"].status_code == 200  # really randomised, arm concealed
        assert "concealed from your role" in seen["POST randomise"].text
        assert seen["GET participant"].status_code == 200
    for what, response in seen.items():
        text = _received(response)
        assert response.status_code < 500, (username, what, text[:400])
        assert not ARM_WORDS.search(text), (username, what, ARM_WORDS.search(text), text[:600])


def test_the_search_finds_the_arm_the_therapist_receives(site: Site) -> None:
    _history(site)
    code = consented(site)
    seen = _my_exchanges(site, "therapist", code)
    assert seen["POST randomise"].status_code == 200
    assert ARM_WORDS.search(_received(seen["POST randomise"]))
    assert ARM_WORDS.search(_received(seen["GET participant"]))
