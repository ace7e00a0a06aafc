"""CSRF, session fixation, idle and absolute timeouts, sign-out everywhere, security headers."""

from __future__ import annotations

from physiotrial.services.access import set_password
from physiotrial.web.sessions import SessionCodec
from tests.web.conftest import (
    PASSWORD,
    SECRET,
    Site,
    csrf_of,
    session_cookie,
    sign_in,
    use_cookie,
)

CSRF_MESSAGE = "missing or wrong CSRF token"


def _decoded(value: str | None) -> tuple[str, str, str | None]:
    session = SessionCodec(SECRET).loads(value)
    assert session is not None
    return session.sid, session.csrf, session.username


def test_post_logout_without_the_csrf_token_is_refused(site: Site) -> None:
    sign_in(site.client, "coord")
    for sent in ({}, {"csrf_token": "forged"}):
        response = site.client.post("/logout", data=sent, follow_redirects=False)
        assert response.status_code == 403
        assert CSRF_MESSAGE in response.text
        assert "<h1" in response.text  # the error page, not a bare body
    assert site.client.get("/").status_code == 200  # still signed in: nothing happened


def test_post_login_without_the_csrf_token_is_refused(site: Site) -> None:
    site.client.get("/login")
    form = {"username": "coord", "password": PASSWORD}
    assert site.client.post("/login", data=form).status_code == 403
    assert site.client.post("/login", data=form | {"csrf_token": "x" * 43}).status_code == 403
    site.client.cookies.clear()  # a token from the page but no cookie: refused too
    token = csrf_of(site.browser().get("/login"))
    response = site.client.post("/login", data=form | {"csrf_token": token})
    assert response.status_code == 403
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_the_csrf_header_is_accepted_for_htmx(site: Site) -> None:
    sign_in(site.client, "coord")
    token = csrf_of(site.client.get("/"))
    response = site.client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_a_cookie_from_before_sign_in_is_replaced_and_never_signed_in(site: Site) -> None:
    site.client.get("/login")
    before = session_cookie(site.client)
    sid, csrf, username = _decoded(before)
    assert username is None
    assert site.client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(site.client, "coord").status_code == 303
    after = session_cookie(site.client)
    new_sid, new_csrf, new_username = _decoded(after)
    assert after != before
    assert (new_sid != sid, new_csrf != csrf, new_username) == (True, True, "coord")
    use_cookie(site.client, before)  # the attacker's planted cookie
    response = site.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    use_cookie(site.client, after)
    assert site.client.get("/").status_code == 200


def test_a_tampered_cookie_is_not_signed_in(site: Site) -> None:
    sign_in(site.client, "coord")
    value = session_cookie(site.client)
    assert value is not None
    payload, signature = value.rsplit(".", 1)
    use_cookie(site.client, f"{payload}.{signature[:-2]}AA")
    assert site.client.get("/", follow_redirects=False).status_code == 303
    use_cookie(site.client, "not-a-cookie")
    assert site.client.get("/", follow_redirects=False).status_code == 303


def test_thirty_idle_minutes_end_the_session_and_activity_keeps_it(site: Site) -> None:
    sign_in(site.client, "assessor")
    for _ in range(3):  # 87 minutes in all, never 30 idle
        site.clock.advance(minutes=29)
        assert site.client.get("/", follow_redirects=False).status_code == 200
    site.clock.advance(minutes=30, seconds=1)
    response = site.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F&ended=idle"
    assert session_cookie(site.client) is None  # the expired cookie is cleared
    page = site.client.get(response.headers["location"])
    assert "30 minutes without activity" in page.text


def test_twelve_hours_end_the_session_however_active(site: Site) -> None:
    sign_in(site.client, "assessor")
    for _ in range(24):  # 12 h exactly: still in
        site.clock.advance(minutes=30)
        assert site.client.get("/", follow_redirects=False).status_code == 200
    site.clock.advance(seconds=1)
    response = site.client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/login?next=%2F&ended=absolute"


def test_signing_out_invalidates_the_cookie_everywhere(site: Site) -> None:
    sign_in(site.client, "therapist")
    cookie = session_cookie(site.client)
    tablet = site.browser()
    sign_in(tablet, "therapist")
    assert tablet.get("/").status_code == 200
    token = csrf_of(site.client.get("/"))
    site.client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert session_cookie(site.client) is None
    use_cookie(site.client, cookie)  # the same cookie, replayed after sign-out
    replay = site.client.get("/", follow_redirects=False)
    assert replay.headers["location"] == "/login?next=%2F&ended=signed-out"
    assert tablet.get("/", follow_redirects=False).status_code == 303  # the epoch ends all


def test_a_new_password_ends_the_session(site: Site) -> None:
    sign_in(site.client, "coord")
    set_password(site.store, "dm", "coord", "another long password")
    assert site.client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(site.client, "coord", "another long password").status_code == 303


def test_security_headers_and_cookie_flags(site: Site) -> None:
    response = sign_in(site.client, "coord")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    page = site.client.get("/")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    secure = site.client.get("https://testserver/login")
    assert "Secure" in secure.headers["set-cookie"]
