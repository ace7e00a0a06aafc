"""The account page: changing your password, API tokens, signing out your other sessions.

Run on SQLite and PostgreSQL through the ``site`` fixture. A token made on the page is used
against the JSON API (``GET /api/v1/me``) and refused with 401 once revoked; a password change or
"sign out on all other devices" ends another browser's session and keeps this one.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from physiotrial.services.access import issue_api_token, list_api_tokens, shown
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import PASSWORD, Page, Site, csrf_of, sign_in

NEW_PASSWORD = "a brand new passphrase for the clinic"
_TOKEN = re.compile(r'id="new-token-value" type="text" value="(pt_[A-Za-z0-9_-]+)"')


def _account(client: TestClient, username: str) -> Page:
    assert sign_in(client, username).status_code == 303
    page = client.get("/account")
    assert page.status_code == 200
    return page


def _post(client: TestClient, path: str, page: Page, **form: str) -> Page:
    return client.post(path, data={"csrf_token": csrf_of(page), **form}, follow_redirects=False)


def _me(client: TestClient, token: str) -> Page:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _signed_in(client: TestClient) -> bool:
    return client.get("/account", follow_redirects=False).status_code == 200


def test_the_page_shows_the_user_and_no_tokens(site: Site) -> None:
    page = _account(site.client, "coord")
    assert "coord · coordinator" in page.text
    assert 'id="no-tokens"' in page.text
    for action in ("/account/password", "/account/tokens", "/account/sign-out-others"):
        assert f'action="{action}"' in page.text
    assert not ARM_WORDS.search(page.text)


def test_a_token_is_shown_once_works_and_is_refused_after_revoking(site: Site) -> None:
    page = _account(site.client, "stats")
    made = _post(site.client, "/account/tokens", page, label="R analysis script", expires="30")
    assert made.status_code == 200
    found = _TOKEN.search(made.text)
    assert found, made.text[:600]
    token = found.group(1)
    assert "it is shown only this once" in made.text
    (listed,) = list_api_tokens(site.store, "stats")
    assert (listed.label, listed.expires_at) == ("R analysis script", "2025-04-09T09:00:00.000000Z")
    again = site.client.get("/account")
    assert token not in again.text
    assert "new-token-value" not in again.text
    row = re.search(rf'<tr id="token-{listed.id}">(.*?)</tr>', again.text, re.S)
    assert row is not None
    assert "R analysis script" in row.group(1)
    assert shown(listed.created_at) in row.group(1)
    assert "2025-04-09 09:00:00 UTC" in row.group(1)
    assert ">active<" in row.group(1)

    api = site.browser()
    me = _me(api, token)
    assert me.status_code == 200
    assert me.json() == {"username": "stats", "role": "statistician", "site_id": None}

    revoked = _post(site.client, f"/account/tokens/{listed.id}/revoke", again)
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/account?done=revoked")
    refused = _me(api, token)
    assert refused.status_code == 401
    assert f"API token {listed.id} (R analysis script) was revoked at" in refused.text
    after = site.client.get("/account?done=revoked").text
    assert "The API token is revoked" in after
    assert ">revoked<" in after
    twice = _post(site.client, f"/account/tokens/{listed.id}/revoke", again)
    assert twice.status_code == 409
    assert f"API token {listed.id} was revoked at" in twice.text


def test_a_token_without_expiry_and_a_blank_label(site: Site) -> None:
    page = _account(site.client, "therapist")
    blank = _post(site.client, "/account/tokens", page, label="  ", expires="never")
    assert blank.status_code == 422
    assert "label: a blank label is not allowed" in blank.text
    assert list_api_tokens(site.store, "therapist") == []
    odd = _post(site.client, "/account/tokens", page, label="sync", expires="7")
    assert odd.status_code == 422
    assert "expires: &#39;7&#39; is not offered; allowed: 30, 90, 365, never" in odd.text
    made = _post(site.client, "/account/tokens", page, label="sync", expires="never")
    assert made.status_code == 200
    (listed,) = list_api_tokens(site.store, "therapist")
    assert listed.expires_at is None


def test_someone_elses_token_cannot_be_revoked_and_is_not_listed(site: Site) -> None:
    token = issue_api_token(site.store, "stats", "stats' script")
    (theirs,) = list_api_tokens(site.store, "stats")
    page = _account(site.client, "coord")
    assert "stats&#39; script" not in page.text
    refused = _post(site.client, f"/account/tokens/{theirs.id}/revoke", page)
    assert refused.status_code == 403
    assert _me(site.browser(), token).status_code == 200
    missing = _post(site.client, "/account/tokens/999/revoke", page)
    assert missing.status_code == 404
    assert "no API token 999" in missing.text
    dm_page = _account(site.browser(), "dm")
    assert "stats&#39; script" not in dm_page.text  # the page lists your own tokens only


def test_changing_the_password_signs_out_the_other_sessions(site: Site) -> None:
    other = site.browser()
    assert sign_in(other, "assessor").status_code == 303
    page = _account(site.client, "assessor")
    changed = _post(
        site.client,
        "/account/password",
        page,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert (changed.status_code, changed.headers["location"]) == (303, "/account?done=password")
    assert "Your password is changed" in site.client.get("/account?done=password").text
    assert _signed_in(site.client)  # this browser got a new session
    ended = other.get("/account", follow_redirects=False)
    assert ended.status_code == 303
    assert ended.headers["location"] == "/login?next=%2Faccount&ended=signed-out"
    assert sign_in(site.browser(), "assessor").status_code == 401
    assert sign_in(site.browser(), "assessor", NEW_PASSWORD).status_code == 303


def test_password_form_errors_name_their_field_and_change_nothing(site: Site) -> None:
    page = _account(site.client, "coord")
    cases = {
        ("wrong password here", NEW_PASSWORD, NEW_PASSWORD): (
            422,
            "current_password: this is not your current password",
        ),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x"): (
            422,
            "new_password_again: the two new passwords differ",
        ),
        (PASSWORD, "short", "short"): (
            422,
            "new_password: 5 characters is not allowed; allowed: 10 to 1000 characters",
        ),
    }
    for (current, new, again), (status, message) in cases.items():
        response = _post(
            site.client,
            "/account/password",
            page,
            current_password=current,
            new_password=new,
            new_password_again=again,
        )
        assert response.status_code == status, message
        assert message in response.text
        field = message.split(":")[0]
        assert f'aria-describedby="{field}-error"' in response.text
    assert sign_in(site.browser(), "coord").status_code == 303  # the old password still works


def test_sign_out_on_other_devices_keeps_this_one(site: Site) -> None:
    other = site.browser()
    assert sign_in(other, "dm").status_code == 303
    page = _account(site.client, "dm")
    response = _post(site.client, "/account/sign-out-others", page)
    assert (response.status_code, response.headers["location"]) == (303, "/account?done=signed-out")
    assert _signed_in(site.client)
    assert not _signed_in(other)


def test_account_posts_need_the_csrf_token(site: Site) -> None:
    _account(site.client, "stats")
    for path in ("/account/tokens", "/account/sign-out-others", "/account/password"):
        response = site.client.post(path, data={"label": "x"})
        assert response.status_code == 403, path
        assert "missing or wrong CSRF token" in response.text
    assert list_api_tokens(site.store, "stats") == []
    assert _signed_in(site.client)


def test_the_account_page_needs_sign_in(site: Site) -> None:
    response = site.client.get("/account", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=%2Faccount")
