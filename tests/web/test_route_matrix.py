"""Every route and API endpoint × every blinded role: no allocation in anything received.

The routes are read from the app itself (``app.routes``), so a route added later is walked
without editing this file, unless it has a path parameter this file cannot fill: then the test
fails and names the parameter (add it to :data:`PATH_VALUES`). Each path parameter is tried with
a real value and with values that must be refused (unknown, another site's participant), so
error pages are walked as well as pages.

The study is seeded with everything that could carry an allocation: the therapist's needling
session with its unblinded-only twitch count, an exercise session, an adverse event after the
needling, a recorded baseline measure and a participant's one-time link. Each blinded role
(coordinator, assessor, statistician; and the participant, who has only the link) then makes
every request: each GET, each GET with a query of plausible filter values, each POST with the
session's CSRF token and an empty form and with a form of plausible values, and every API
endpoint with the role's bearer token (GET, and POST with an empty and a plausible JSON body).
Everything received is searched — status, headers (the session cookie decoded), redirect
targets, bodies, and the files inside a downloaded zip — for the reference protocol's arm codes,
names and what each arm receives (tests/services/test_blinding_matrix.py ``ARM_WORDS``). The
therapist's and the data manager's walks must find their arm words, which proves the search
and the seeding work.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
import zipfile
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from physiotrial.services.access import issue_api_token
from physiotrial.services.capture import record
from physiotrial.services.links import create_participant_link
from physiotrial.services.safety import record_adverse_event, record_session
from physiotrial.store.store import Store
from physiotrial.web import routes as web_routes
from tests.services.helpers_capture import enrol
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import NOW0, Page, Site, csrf_of, sign_in
from tests.web.test_blinding_routes import _received

BLINDED = ("coord", "assessor", "stats")
UNBLINDED = ("therapist", "dm")
SKIPPED = {("POST", "/logout"), ("POST", "/login")}
"""Routes the walk leaves to tests/web/test_blinding_routes.py, which follows them through
sign-in and sign-out (walking them here would sign the walker out)."""

FORM = {
    "reason": "matrix walk",
    "format": "csv",
    "participant": "SEV-001",
    "confirm": "on",
    "term": "post-needling soreness",
    "severity": "mild",
    "relatedness": "probable",
    "outcome": "ongoing",
    "action": "none",
    "onset": "2025-03-05",
    "held_on": "2025-03-05",
    "occurred_on": "2025-03-05",
    "done_on": "2025-03-05",
    "category": "other",
    "description": "matrix walk",
    "plan": "needling",
    "number": "2",
    "delivered": "yes",
    "name": "matrix",
    "kind": "withdrawal",
}
"""Plausible values for the fields the pages' forms use: a POST walked with them gets past
'field missing' into the services, where blinding decisions are made."""

QUERY = "?participant=SEV-001&user=therapist&action=randomise&format=csv&status=randomised&q=SEV"


def seed(store: Store, code: str) -> dict[str, list[str]]:
    """Records that could reveal ``code``'s arm, and the values that fill each path parameter
    (the first value of each is real)."""
    day = date(2025, 3, 5)
    details = {"muscle": "popliteus", "side": "left", "insertions": 6}
    details |= {"local_twitch_responses": 3, "duration_min": 10}
    record_session(store, "therapist", code, "needling", 1, day, True, details, today=day)
    exercise = {"completed": True, "exercises_done": 8, "pain_during": 3}
    record_session(store, "therapist", code, "exercise", 1, day, True, exercise, today=day)
    record_adverse_event(
        store,
        "therapist",
        code,
        "post-needling soreness",
        day,
        "mild",
        "probable",
        "none",
        "resolved",
        duration_hours=24,
        session=("needling", 1),
        today=day,
    )
    record(store, "assessor", code, "BL", "vas_current", {"mm": 55}, date(2025, 3, 3))
    other = enrol(store, site="UNI")
    token = create_participant_link(store, "coord", code, "BL", NOW0)
    return {
        "study_code": [code, other, "SEV-999"],
        "visit_code": ["BL", "T1", "NOPE"],
        "visit": ["BL", "T1", "NOPE"],
        "measure": ["vas_current", "womac", "nope"],
        "token": [token, "not-a-real-token"],
        "plan": ["needling", "exercise", "nope"],
        "number": ["1", "2", "99"],
        "event_id": ["1", "999"],
        "request_id": ["1", "999"],
        "token_id": ["1", "999"],
    }


def paths_of(template: str, values: dict[str, list[str]]) -> Iterator[str]:
    """The route with its real values, then each parameter in turn given each other value."""
    names = re.findall(r"{(\w+)(?::\w+)?}", template)
    missing = [n for n in names if n not in values]
    assert not missing, f"{template}: add values for path parameter(s) {missing} to seed"
    real = {n: values[n][0] for n in names}
    combos = [real] + [real | {name: other} for name in names for other in values[name][1:]]
    for combo in combos:
        path = template
        for name, value in combo.items():
            path = re.sub(r"{" + name + r"(?::\w+)?}", value, path)
        yield path


def routes_of(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves: the API's from its OpenAPI document, the pages'
    from the router of every module under ``physiotrial.web.routes`` (their routers carry no
    prefix; FastAPI 0.165 wraps included routers in private classes, so ``app.routes`` does not
    list them), and the OpenAPI document itself."""
    found = {("GET", app.openapi_url or "")}
    for path, operations in app.openapi()["paths"].items():
        found |= {(method.upper(), path) for method in operations}
    for module in pkgutil.iter_modules(web_routes.__path__):
        if module.name.startswith("api"):
            continue
        router = importlib.import_module(f"{web_routes.__name__}.{module.name}").router
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            found |= {(method, route.path) for method in route.methods - {"HEAD"}}
    return sorted(found - SKIPPED)


def _texts(response: Page) -> str:
    """What a response carries, a zip's members included."""
    text = _received(response)
    if response.content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            for name in archive.namelist():
                text += f"\n--- {name}\n" + archive.read(name).decode("utf-8", "replace")
    return text


def _walk(site: Site, username: str | None, values: dict[str, list[str]]) -> dict[str, Page]:
    """Every route as ``username`` meets it (None: the participant, holding only the link)."""
    browser = TestClient(site.app, follow_redirects=False)
    seen: dict[str, Page] = {}
    headers: dict[str, str] = {}
    if username is None:
        page = browser.get(f"/link/{values['token'][0]}")
        assert page.status_code == 200, page.text[:400]
        csrf = csrf_of(page)
    else:
        assert sign_in(browser, username).status_code == 303
        csrf = csrf_of(browser.get("/", follow_redirects=True))
        token = issue_api_token(site.store, username, f"matrix-{username}")
        headers = {"Authorization": f"Bearer {token}"}
    routes = routes_of(site.app)
    ordered = [r for r in routes if r[0] == "GET"] + [r for r in routes if r[0] != "GET"]
    for method, template in ordered:
        api = template.startswith("/api/")
        for path in paths_of(template, values):
            key = f"{method} {path}"
            if method == "GET":
                seen[key] = browser.get(path, headers=headers)
                seen[key + QUERY] = browser.get(path + QUERY, headers=headers)
            elif api:
                seen[key + " {}"] = browser.request(method, path, headers=headers, json={})
                body = {"answers": {"mm": 40}, "reason": "matrix walk", **FORM}
                seen[key + " body"] = browser.request(method, path, headers=headers, json=body)
            else:
                seen[key + " empty"] = browser.request(method, path, data={"csrf_token": csrf})
                form = {"csrf_token": csrf, **FORM}
                seen[key + " form"] = browser.request(method, path, data=form)
    return seen


@pytest.fixture
def seeded(site: Site) -> tuple[Site, dict[str, list[str]]]:
    return site, seed(site.store, site.participant)


@pytest.mark.parametrize("username", [*BLINDED, None], ids=[*BLINDED, "participant"])
def test_no_route_gives_a_blinded_role_an_allocation(
    seeded: tuple[Site, dict[str, list[str]]], username: str | None
) -> None:
    site, values = seeded
    seen = _walk(site, username, values)
    assert len(seen) > 100, sorted(seen)
    ok = [what for what, response in seen.items() if response.status_code == 200]
    assert len(ok) > (10 if username else 2), ok  # it reached pages, not only refusals
    if username is None:
        assert f"GET /link/{values['token'][0]}" in ok
    for what, response in seen.items():
        text = _texts(response)
        assert response.status_code < 500, (username, what, text[:600])
        found = ARM_WORDS.search(text)
        assert not found, (username, what, found, text[max(0, found.start() - 300) :][:600])


@pytest.mark.parametrize("username", UNBLINDED)
def test_the_walk_finds_the_arm_for_roles_that_see_it(
    seeded: tuple[Site, dict[str, list[str]]], username: str
) -> None:
    site, values = seeded
    seen = _walk(site, username, values)
    revealing = [what for what, r in seen.items() if ARM_WORDS.search(_texts(r))]
    assert f"GET /participants/{site.participant}" in revealing, revealing
    for what, response in seen.items():
        assert response.status_code < 500, (username, what, _texts(response)[:600])


def test_every_path_parameter_has_values(seeded: tuple[Site, dict[str, list[str]]]) -> None:
    site, values = seeded
    templates = {template for _, template in routes_of(site.app)}
    for template in templates:
        paths = list(paths_of(template, values))
        assert paths, template
        assert all("{" not in p for p in paths), (template, paths)
    assert len(templates) >= 10
