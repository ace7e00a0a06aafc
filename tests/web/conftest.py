"""A reference-trial study served by the web app, with passwords, a movable clock and helpers.

The study is the services tests' one (tests/services/helpers_capture.py: sites SEV and UNI, a
user of every role, one participant screened, consented and randomised at SEV on DAY0), so the
web tests run on SQLite and PostgreSQL through the ``database_url`` fixture. The app's clock is
:class:`Clock`: tests move it to cross the idle and absolute timeouts and the lockout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from physiotrial.services.access import set_password
from physiotrial.store.store import Store
from physiotrial.web.app import create_app
from physiotrial.web.sessions import COOKIE
from tests.services.helpers_capture import enrol, make_study

PASSWORD = "correct horse battery staple"
SECRET = "a-test-secret-that-is-long-enough-to-sign-cookies"
NOW0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
"""A week after randomisation (DAY0 = 2025-03-03): some visits are open, some late."""
STAFF = ("dm", "coord", "assessor", "therapist", "stats")
Page = Any
"""A TestClient response (httpx2 or httpx, whichever Starlette uses)."""
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """The app's ``now``: starts at :data:`NOW0`, moves only when a test moves it."""

    def __init__(self, start: datetime = NOW0) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@dataclass
class Site:
    """A served study: the app, a client (its cookie jar is one browser), the clock."""

    store: Store
    app: FastAPI
    client: TestClient
    clock: Clock
    participant: str

    def browser(self) -> TestClient:
        """Another browser (its own cookies) on the same app."""
        return TestClient(self.app)


def csrf_of(response: Page) -> str:
    """The CSRF token a page's form carries."""
    found = _CSRF.search(response.text)
    assert found, response.text[:500]
    return found.group(1)


def session_cookie(client: TestClient) -> str | None:
    value = client.cookies.get(COOKIE)
    return None if value is None else str(value)


def use_cookie(client: TestClient, value: str | None) -> None:
    """Make ``client`` send exactly this session cookie (or none)."""
    client.cookies.clear()
    if value is not None:
        client.cookies.set(COOKIE, value)


def sign_in(
    client: TestClient, username: str, password: str = PASSWORD, next_path: str = ""
) -> Page:
    """Open the sign-in page and post the form as a browser would (no redirects followed)."""
    page = client.get("/login")
    form = {"csrf_token": csrf_of(page), "username": username, "password": password}
    return client.post("/login", data=form | {"next": next_path}, follow_redirects=False)


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    store = make_study(database_url)
    participant = enrol(store)
    for username in STAFF:
        set_password(store, "dm", username, PASSWORD)
    clock = Clock()
    app = create_app(tmp_path, database_url, secret=SECRET, now=clock)
    with TestClient(app) as client:
        yield Site(store, app, client, clock, participant)
    store.close()
