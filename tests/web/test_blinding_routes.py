"""A blinded role never receives an allocation from the web layer: a role × route matrix.

Every route and API endpoint of this slice is exercised by each role with a randomised
participant in the study — the sign-in page and form (a failure, then success), the dashboard,
sign-in again while signed in (a redirect), an unknown page, a refused POST, sign-out, and the
JSON API with its errors. Everything the role receives — status, every header (the session
cookie decoded), every redirect target and every body — is searched for the reference
protocol's arm codes (whole words), arm names and what each arm receives, with the search of
the services' matrix (tests/services/test_blinding_matrix.py). The therapist and the data
manager must find their arms on the dashboard and in the API, which proves the search works.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.access import issue_api_token
from physiotrial.services.locking import lock
from physiotrial.services.randomisation import unblind_study
from physiotrial.web.sessions import COOKIE, SessionCodec
from tests.services.helpers_capture import arm_of
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import SECRET, Page, Site, csrf_of, sign_in

BLINDED = ("coord", "assessor", "stats")
UNBLINDED = ("therapist", "dm")
_TOKEN_IN_PAGE = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def _header(name: str, value: str) -> str:
    """A header as text; the session cookie decoded, its random id and token left out (a
    random token could spell "DN" by chance)."""
    if name.lower() == "set-cookie" and value.startswith(f"{COOKIE}="):
        raw = value.split(";", 1)[0].split("=", 1)[1].strip('"')
        session = SessionCodec(SECRET).loads(raw)
        shown = session and dataclasses.replace(session, sid="<sid>", csrf="<csrf>")
        return f"{name}: {shown!r}; {value.split(';', 1)[-1]}"
    return f"{name}: {value}"


def _received(response: Page) -> str:
    body = response.text
    for token in set(_TOKEN_IN_PAGE.findall(body)) - {""}:
        body = body.replace(token, "<csrf>")
    headers = [_header(k, v) for k, v in response.headers.multi_items()]
    return "\n".join([str(response.status_code), *headers, body])


def _exchanges(site: Site, username: str) -> dict[str, Page]:
    """Every route and endpoint of the web layer, as ``username`` meets them."""
    browser = TestClient(site.app, follow_redirects=False)
    seen: dict[str, Page] = {"GET /login": browser.get("/login")}
    seen["POST /login wrong"] = sign_in(browser, username, "not my password at all")
    seen["POST /login"] = sign_in(browser, username)
    seen["GET /"] = browser.get("/")
    seen["GET / followed"] = browser.get("/", follow_redirects=True)
    seen["GET /login signed in"] = browser.get("/login?next=/")
    seen["GET unknown page"] = browser.get("/participants/SEV-001")
    seen["POST /logout no csrf"] = browser.post("/logout")
    seen["GET static"] = browser.get("/static/style.css")
    token = issue_api_token(site.store, username, "matrix")
    api = {"Authorization": f"Bearer {token}"}
    for path in (
        "/api/v1/me",
        "/api/v1/study",
        "/api/v1/visits/due",
        "/api/v1/visits/due?today=2025-06-30",
        "/api/v1/visits/due?site=NOPE",
        "/api/v1/visits/due?site=UNI",
        "/api/v1/visits/due?today=tomorrow",
        "/api/v1/unknown",
        "/api/v1/openapi.json",
    ):
        seen[f"API {path}"] = browser.get(path, headers=api)
    seen["API no token"] = browser.get("/api/v1/study")
    csrf = csrf_of(seen["GET / followed"])
    seen["POST /logout"] = browser.post("/logout", data={"csrf_token": csrf})
    seen["GET / after sign-out"] = browser.get("/")
    seen["GET /login after sign-out"] = browser.get("/login?ended=signed-out")
    return seen


@pytest.mark.parametrize("username", BLINDED)
def test_blinded_roles_never_receive_an_allocation(site: Site, username: str) -> None:
    seen = _exchanges(site, username)
    assert 'id="count-randomised">1' in seen["GET / followed"].text  # really signed in
    assert seen["API /api/v1/study"].json()["recruitment"]["randomised"] == 1
    for what, response in seen.items():
        text = _received(response)
        assert response.status_code < 500, (username, what, text[:400])
        assert not ARM_WORDS.search(text), (username, what, ARM_WORDS.search(text), text[:600])


@pytest.mark.parametrize("username", UNBLINDED)
def test_the_therapist_and_data_manager_see_arm_counts(site: Site, username: str) -> None:
    seen = _exchanges(site, username)
    dashboard = seen["GET / followed"].text
    arm = arm_of(site.store, site.participant)
    assert "Randomised per arm" in dashboard
    assert re.search(rf"<td>{arm}</td><td class=\"num\">1</td>", dashboard), dashboard
    assert "Dry needling + exercise" in dashboard
    assert "Sham needling + exercise" in dashboard
    arms = seen["API /api/v1/study"].json()["recruitment"]["arms"]
    assert {a["code"]: a["randomised"] for a in arms} == {"DN": 0, "SHAM": 0} | {arm: 1}


def test_the_statistician_sees_arm_counts_only_after_unblinding(site: Site) -> None:
    sign_in(site.client, "stats")
    assert "Randomised per arm" not in site.client.get("/").text
    lock(site.store, "dm", "final analysis")
    assert "Randomised per arm" not in site.client.get("/").text
    unblind_study(site.store, "dm", "database locked; analysis plan signed")
    assert "Randomised per arm" in site.client.get("/").text
