"""Signing in and out, and the dashboard a signed-in user lands on."""

from __future__ import annotations

import re

import pytest

from physiotrial.services.access import WRONG
from tests.web.conftest import PASSWORD, Page, Site, csrf_of, sign_in

TITLE = "Dry needling of the popliteus with therapeutic exercise versus sham needling"


def _count(page: Page, name: str) -> str:
    found = re.search(rf'<dd id="count-{name}">(\d+)', page.text)
    assert found, (name, page.text[:300])
    return found.group(1)


def _error(page: Page) -> str:
    found = re.search(r'<p class="error" role="alert"[^>]*>([^<]*)</p>', page.text)
    assert found, page.text[:500]
    return found.group(1)


def test_sign_in_shows_the_dashboard(site: Site) -> None:
    page = site.client.get("/login")
    assert page.status_code == 200
    assert '<label for="username">Username</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    assert 'class="skip-link" href="#main"' in page.text
    response = sign_in(site.client, "coord")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    dashboard = site.client.get("/")
    assert dashboard.status_code == 200
    assert TITLE in dashboard.text
    assert "coord" in dashboard.text
    assert "(coordinator)" in dashboard.text
    assert (_count(dashboard, "screened"), _count(dashboard, "randomised")) == ("1", "1")
    # NOW0 is day 7 after randomisation: visits in their window are due, later ones not yet.
    assert int(_count(dashboard, "open")) + int(_count(dashboard, "late")) >= 1
    assert dashboard.headers["cache-control"] == "no-store"


def test_a_page_without_sign_in_redirects_to_sign_in_and_back(site: Site) -> None:
    response = site.client.get("/?x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Fx%3D1"
    back = sign_in(site.client, "coord", next_path="/?x=1")
    assert back.headers["location"] == "/?x=1"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", "x"])
def test_sign_in_never_redirects_off_the_site(site: Site, target: str) -> None:
    assert sign_in(site.client, "coord", next_path=target).headers["location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_message(site: Site) -> None:
    wrong = sign_in(site.client, "coord", "not the password at all")
    unknown = sign_in(site.client, "nobody", "not the password at all")
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert _error(wrong) == _error(unknown) == WRONG
    assert 'value="coord"' in wrong.text  # the username is kept, the password never
    assert "not the password" not in wrong.text
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_five_failures_lock_the_account_until_a_named_time(site: Site) -> None:
    for _ in range(4):
        assert _error(sign_in(site.client, "assessor", "wrong password!")) == WRONG
    fifth = _error(sign_in(site.client, "assessor", "wrong password!"))
    assert "locked after 5 failed sign-ins" in fifth
    assert "try again at 2025-03-10 09:15:00 UTC" in fifth
    right = sign_in(site.client, "assessor")  # even the right password waits for the time
    assert right.status_code == 401
    assert "try again at 2025-03-10 09:15:00 UTC" in _error(right)
    site.clock.advance(minutes=15, seconds=1)
    assert sign_in(site.client, "assessor").status_code == 303
    assert site.client.get("/").status_code == 200


def test_sign_out_ends_the_session(site: Site) -> None:
    sign_in(site.client, "therapist")
    page = site.client.get("/")
    response = site.client.post(
        "/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?ended=signed-out"
    assert "You are signed out." in site.client.get(response.headers["location"]).text
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_a_signed_in_user_opening_sign_in_goes_to_the_dashboard(site: Site) -> None:
    sign_in(site.client, "dm")
    response = site.client.get("/login", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_blank_form_fields_get_the_sign_in_message(site: Site) -> None:
    page = site.client.get("/login")
    response = site.client.post("/login", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 401
    assert _error(response) == WRONG
    assert PASSWORD not in response.text
