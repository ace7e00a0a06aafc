"""The participant list: by role and site, the filter (plain GET and htmx), never an arm.

The study is tests/services/test_progress.py's, seen on its TODAY (2025-03-25).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.access import set_password
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.services.test_progress import TODAY, populate
from tests.web.conftest import PASSWORD, Page, Site, sign_in


@pytest.fixture
def study(site: Site) -> Site:
    populate(site.store, site.participant)
    set_password(site.store, "dm", "coord_uni", PASSWORD)
    site.clock.moment = datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC)
    return site


def _as(site: Site, username: str) -> TestClient:
    client = site.browser()
    assert sign_in(client, username).status_code == 303
    return client


def _rows(page: Page) -> list[list[str]]:
    body = re.search(r'<table class="table participants">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:
        return []
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


SEV = [
    ["SEV-001", "SEV", "randomised", "2025-03-03", "W3 2025-03-24 late", "14"],
    ["SEV-002", "SEV", "randomised", "2025-03-10", "T3 2025-03-25 open", "10"],
    ["SEV-003", "SEV", "consented", "—", "—", "0"],
]
UNI = [
    ["UNI-001", "UNI", "randomised", "2025-03-05", "W3 2025-03-26 open", "25"],
    ["UNI-002", "UNI", "withdrawn", "2025-03-03", "—", "10"],
    ["UNI-003", "UNI", "screen failed", "—", "—", "0"],
]


def test_the_data_manager_lists_everyone_with_links(study: Site) -> None:
    page = _as(study, "dm").get("/participants")
    assert page.status_code == 200
    assert _rows(page) == SEV + UNI
    assert "6 participants</h2>" in page.text
    assert 'href="/participants/SEV-001"' in page.text
    assert 'href="/participants/SEV-001/visits/W3"' in page.text
    assert 'href="/participants/UNI-003"' in page.text
    assert 'aria-current="page">Participants</a>' in page.text


@pytest.mark.parametrize(("username", "rows"), [("coord", SEV), ("coord_uni", UNI)])
def test_a_site_bound_role_lists_its_own_site(
    study: Site, username: str, rows: list[list[str]]
) -> None:
    page = _as(study, username).get("/participants")
    assert _rows(page) == rows
    other = "UNI-" if username == "coord" else "SEV-"
    assert other not in page.text


def test_the_filter_works_as_a_plain_form(study: Site) -> None:
    client = _as(study, "dm")
    page = client.get("/participants", params={"code": "uni", "status": ""})
    assert _rows(page) == UNI
    assert "3 participants matching" in page.text
    assert 'value="uni"' in page.text
    assert 'href="/participants">Show all</a>' in page.text
    page = client.get("/participants", params={"code": "", "status": "withdrawn"})
    assert _rows(page) == [UNI[1]]
    assert '<option value="withdrawn" selected>' in page.text
    page = client.get("/participants", params={"code": "XYZ"})
    assert _rows(page) == []
    assert "No participant matches this filter." in page.text


def test_htmx_gets_the_results_only_and_a_history_restore_the_page(study: Site) -> None:
    client = _as(study, "coord")
    fragment = client.get("/participants", params={"code": "002"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="participant-results"')
    assert "<html" not in fragment.text
    assert _rows(fragment) == [SEV[1]]
    assert "HX-Request" in fragment.headers["vary"]
    restored = client.get(
        "/participants",
        params={"code": "002"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert restored.text.lstrip().startswith("<!doctype html>")
    assert _rows(restored) == [SEV[1]]
    page = client.get("/participants")
    form = re.search(r'<form class="card filter"[^>]*>', page.text)
    assert form
    for attribute in (
        'method="get"',
        'hx-get="/participants"',
        'hx-target="#participant-results"',
        'hx-trigger="input changed delay:300ms, submit"',
        'hx-push-url="true"',
    ):
        assert attribute in form.group(0)


def test_an_unknown_status_is_named_and_the_filter_kept(study: Site) -> None:
    page = _as(study, "dm").get("/participants", params={"code": "SEV", "status": "gone"})
    assert page.status_code == 422
    assert "status: &#39;gone&#39; is not allowed; allowed: eligible, screen_failed" in page.text
    assert 'value="SEV"' in page.text
    assert _rows(page) == []


def test_the_statistician_has_no_participant_list(study: Site) -> None:
    page = _as(study, "stats").get("/participants")
    assert page.status_code == 403
    assert "may not visits" in page.text
    assert not ARM_WORDS.search(page.text)


def test_signed_out_goes_to_sign_in(study: Site) -> None:
    page = study.browser().get("/participants?code=SEV", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("username", ["coord", "assessor", "coord_uni"])
def test_a_blinded_role_sees_no_arm_in_the_list(study: Site, username: str) -> None:
    client = _as(study, username)
    for params in ({}, {"status": "randomised"}, {"code": "0"}):
        page = client.get("/participants", params=params)
        assert page.status_code == 200
        assert _rows(page)
        assert not ARM_WORDS.search(page.text)
        fragment = client.get("/participants", params=params, headers={"HX-Request": "true"})
        assert not ARM_WORDS.search(fragment.text)
