"""The treatment-session form: a therapist records a needling session from the form the protocol's
session plan generates; a refused value comes back beside its field with every value kept; only
the therapist of the participant's site may record; blinded roles see the same session record
without the needling details that reveal the arm."""

from __future__ import annotations

import re
from datetime import date

import pytest

from physiotrial.services.access import set_password
from physiotrial.services.locking import lock
from physiotrial.services.safety import participant_sessions
from tests.services.helpers_capture import arm_of
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.services.test_safety import RECEIVES
from tests.web.conftest import PASSWORD, Page, Site, csrf_of, sign_in

TODAY = "2025-03-10"
FORM = "/participants/{code}/sessions/new"
POSTED = {
    "plan": "needling",
    "number": "1",
    "held_on": "2025-03-04",
    "delivered": "yes",
    "detail.muscle": "popliteus",
    "detail.side": "left",
    "detail.insertions": "6",
    "detail.local_twitch_responses": "3",
    "detail.duration_min": "7.5",
}


def form_url(site: Site, plan: str = "needling") -> str:
    return FORM.format(code=site.participant) + f"?plan={plan}"


def post_session(site: Site, changes: dict[str, str] | None = None) -> Page:
    page = site.client.get(form_url(site))
    assert page.status_code == 200, page.text[:500]
    form = {"csrf_token": csrf_of(page)} | POSTED | (changes or {})
    url = FORM.format(code=site.participant)
    return site.client.post(url, data=form, follow_redirects=False)


def _sessions(site: Site) -> list[tuple[str, int]]:
    return [(s.plan, s.number) for s in participant_sessions(site.store, "dm", site.participant)]


def test_the_form_is_built_from_the_session_plan(site: Site) -> None:
    sign_in(site.client, "therapist")
    page = site.client.get(form_url(site))
    assert page.status_code == 200
    text = page.text
    assert "Dry needling or sham needling of the popliteus" in text
    assert RECEIVES[arm_of(site.store, site.participant)] in text  # the therapist must know
    for option in ("Session 1", "Session 2", "Session 3"):
        assert option in text
    assert re.search(r'type="date" id="f-held_on" name="held_on" value="2025-03-10" max=', text)
    assert 'name="detail.muscle"' in text
    assert re.search(r'name="detail.side" value="left"', text)
    assert re.search(r'name="detail.side" value="right"', text)
    assert "Allowed: whole numbers 0 to 50" in text
    assert "Allowed: 0 to 30 min" in text
    assert 'name="detail.local_twitch_responses"' in text
    assert "Therapist only: not shown to blinded staff" in text
    exercise = site.client.get(form_url(site, "exercise"))
    assert re.search(r'name="detail.completed" value="yes"', exercise.text)
    assert "Session 12" in exercise.text


def test_a_therapist_records_a_needling_session(site: Site) -> None:
    sign_in(site.client, "therapist")
    response = post_session(site)
    assert response.status_code == 303, response.text[:800]
    assert response.headers["location"] == f"/participants/{site.participant}?done=session#sessions"
    [session] = participant_sessions(site.store, "therapist", site.participant)
    assert (session.plan, session.number, session.held_on, session.delivered) == (
        "needling",
        1,
        date(2025, 3, 4),
        True,
    )
    assert session.details == {
        "muscle": "popliteus",
        "side": "left",
        "insertions": 6,
        "local_twitch_responses": 3,
        "duration_min": 7.5,
    }
    assert session.entered_by == "therapist"
    page = site.client.get(response.headers["location"])
    assert "Session saved." in page.text
    assert "Local twitch responses elicited: <strong>3</strong>" in page.text
    again = site.client.get(form_url(site))
    assert "Session 1<" not in again.text  # recorded numbers are not offered again
    assert "recorded: 1" in again.text


def test_a_not_delivered_session_with_blank_details(site: Site) -> None:
    sign_in(site.client, "therapist")
    blank = {k: "" for k in POSTED if k.startswith("detail.")}
    response = post_session(site, blank | {"delivered": "no", "number": "2"})
    assert response.status_code == 303
    [session] = participant_sessions(site.store, "dm", site.participant)
    assert (session.number, session.delivered, session.details) == (2, False, {})


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"detail.insertions": "lots"}, "detail-insertions", "field insertions: &#39;lots&#39;"),
        ({"detail.duration_min": "45"}, "detail-duration_min", "0 to 30 min"),
        ({"detail.side": "both"}, "detail-side", "allowed: left, right"),
        ({"held_on": "2025-03-11"}, "held_on", "is after today (2025-03-10)"),
        ({"held_on": "yesterday"}, "held_on", "&#39;yesterday&#39; is not a date"),
        ({"number": "x"}, "number", "allowed: 1 to 3"),
    ],
)
def test_a_refused_value_is_named_beside_its_field_and_values_are_kept(
    site: Site, changes: dict[str, str], field: str, said: str
) -> None:
    sign_in(site.client, "therapist")
    response = post_session(site, changes)
    assert response.status_code == 422
    beside = re.search(rf'id="f-{field}-field">(.*?)</div>', response.text, re.S)
    assert beside, response.text[:3000]
    assert said in beside.group(1)
    assert response.text.count('class="field-error"') == 1
    assert 'name="detail.muscle" value="popliteus"' in response.text
    if field != "detail-side":
        assert re.search(r'name="detail.side" value="left" checked', response.text)
    assert _sessions(site) == []


def test_a_session_recorded_twice_is_a_conflict(site: Site) -> None:
    sign_in(site.client, "therapist")
    assert post_session(site).status_code == 303
    page = site.client.get(form_url(site))
    form = {"csrf_token": csrf_of(page)} | POSTED
    response = site.client.post(FORM.format(code=site.participant), data=form)
    assert response.status_code == 409
    assert "needling session 1 is already recorded" in response.text
    assert _sessions(site) == [("needling", 1)]


@pytest.mark.parametrize("username", ["coord", "assessor", "dm", "stats"])
def test_only_the_therapist_records_sessions(site: Site, username: str) -> None:
    sign_in(site.client, "therapist")
    token = csrf_of(site.client.get(form_url(site)))
    site.client.cookies.clear()
    sign_in(site.client, username)
    assert site.client.get(form_url(site)).status_code == 403
    own = csrf_of(site.client.get("/account"))
    response = site.client.post(
        FORM.format(code=site.participant), data=POSTED | {"csrf_token": own}
    )
    assert response.status_code == 403
    assert "may not session; allowed roles: therapist" in response.text
    assert not ARM_WORDS.search(response.text)
    assert token != own
    assert _sessions(site) == []


def test_another_sites_therapist_is_refused(site: Site) -> None:
    set_password(site.store, "dm", "therapist_uni", PASSWORD)
    sign_in(site.client, "therapist_uni")
    assert site.client.get(form_url(site)).status_code == 403
    token = csrf_of(site.client.get("/account"))
    url = FORM.format(code=site.participant)
    response = site.client.post(url, data=POSTED | {"csrf_token": token})
    assert response.status_code == 403
    assert "another site" in response.text
    assert _sessions(site) == []


def test_unknown_plan_or_participant_is_not_found(site: Site) -> None:
    sign_in(site.client, "therapist")
    assert site.client.get(form_url(site, "cupping")).status_code == 404
    assert site.client.get(FORM.format(code="NOPE-9") + "?plan=needling").status_code == 404


def test_posting_without_the_csrf_token_is_refused(site: Site) -> None:
    sign_in(site.client, "therapist")
    url = FORM.format(code=site.participant)
    for token in ({}, {"csrf_token": "forged"}):
        response = site.client.post(url, data=token | POSTED)
        assert response.status_code == 403
        assert "missing or wrong CSRF token" in response.text
    assert _sessions(site) == []


def test_a_locked_study_takes_no_session(site: Site) -> None:
    sign_in(site.client, "therapist")
    page = site.client.get(form_url(site))
    lock(site.store, "dm", "interim freeze")
    form = {"csrf_token": csrf_of(page)} | POSTED
    response = site.client.post(FORM.format(code=site.participant), data=form)
    assert response.status_code == 409
    assert "locked" in response.text
    assert 'name="detail.muscle" value="popliteus"' in response.text
    assert _sessions(site) == []


def test_blinded_roles_see_the_same_record_without_the_needling_details(site: Site) -> None:
    sign_in(site.client, "therapist")
    assert post_session(site).status_code == 303
    therapist = site.client.get(f"/participants/{site.participant}")
    assert "Local twitch responses elicited" in therapist.text
    assert RECEIVES[arm_of(site.store, site.participant)] in therapist.text
    assert "Record a session: Dry needling or sham needling" in therapist.text
    for username in ("coord", "assessor"):
        site.client.cookies.clear()
        sign_in(site.client, username)
        page = site.client.get(f"/participants/{site.participant}")
        assert page.status_code == 200
        assert 'id="session-needling-1"' in page.text
        assert "Muscle needled: <strong>popliteus</strong>" in page.text
        assert "Number of needle insertions: <strong>6</strong>" in page.text
        assert "Needling duration (min): <strong>7.5</strong>" in page.text
        assert "twitch" not in page.text.lower()
        assert "Record a session" not in page.text
        assert not ARM_WORDS.search(page.text), username
    site.client.cookies.clear()
    sign_in(site.client, "stats")
    page = site.client.get(f"/participants/{site.participant}")
    assert page.status_code == 403
    assert not ARM_WORDS.search(page.text)
