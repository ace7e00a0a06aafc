"""The audit trail page: filters, newest-first keyset pages, refusals and the chain check.

Run on SQLite and PostgreSQL (conftest ``site``: SEV-001 randomised at SEV). What the page shows
is compared with ``services.audit.audit_log`` (oldest first), read straight from the service.
Audit times come from the real clock, so date filters use the day of the rows themselves.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from physiotrial.services.audit import audit_log
from physiotrial.services.study import add_site
from physiotrial.store import schema
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import Page, Site, csrf_of, sign_in

CSRF_MESSAGE = "missing or wrong CSRF token"


def _ids(page: Page) -> list[int]:
    """The audit ids of the rows a page lists, in page order."""
    return [int(i) for i in re.findall(r'<tr id="audit-(\d+)">', page.text)]


def _dm(site: Site) -> None:
    assert sign_in(site.client, "dm").status_code == 303


def test_the_trail_is_for_the_data_manager_only(site: Site) -> None:
    for username in ("coord", "assessor", "therapist", "stats"):
        client = site.browser()
        sign_in(client, username)
        page = client.get("/audit")
        assert page.status_code == 403, username
        assert "may not audit; allowed roles: data_manager" in page.text
        token = csrf_of(client.get("/"))
        refused = client.post("/audit/verify", data={"csrf_token": token})
        assert refused.status_code == 403, username


def test_the_trail_is_newest_first_with_who_when_what_and_why(site: Site) -> None:
    _dm(site)
    page = site.client.get("/audit")
    assert page.status_code == 200
    entries = audit_log(site.store, "dm")
    assert _ids(page) == [e.id for e in reversed(entries)]
    assert f"1–{len(entries)} of {len(entries)} matching entries" in page.text
    randomised = next(e for e in entries if e.action == "randomise")
    row = page.text.split(f'<tr id="audit-{randomised.id}">')[1].split("</tr>")[0]
    assert f"{randomised.at[:10]} {randomised.at[11:19]}" in row
    assert 'coord <span class="role-name">(coordinator)</span>' in row
    assert f'<strong>randomise</strong><br><span class="participant">{site.participant}<' in row
    assert "<li>added allocations 1</li>" in row
    assert "<li>changed participants 1: status</li>" in row
    consent = next(e for e in entries if e.action == "consent")
    assert consent.reason is None
    init = page.text.split('<tr id="audit-1">')[1].split("</tr>")[0]
    assert "<li>added protocol_versions 1</li>" in init
    assert not ARM_WORDS.search(page.text)  # the log names rows, never values
    options = re.findall(r'<option value="([^"]*)"', page.text)
    assert options == ["", *sorted({e.action for e in entries})]


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("participant=SEV-001", {"participant": "SEV-001"}),
        ("user=coord", {"user": "coord"}),
        ("action=set+password", {"action": "set password"}),
        ("user=dm&action=site+add", {"user": "dm", "action": "site add"}),
        ("participant=SEV-001&user=coord&action=consent", {"participant": "SEV-001"}),
        ("participant=NOBODY-1", {"participant": "NOBODY-1"}),
    ],
)
def test_filters_show_exactly_the_matching_rows(
    site: Site, query: str, wanted: dict[str, str]
) -> None:
    _dm(site)
    page = site.client.get(f"/audit?{query}")
    assert page.status_code == 200
    pairs = (pair.split("=") for pair in query.split("&"))
    filters: dict[str, Any] = {k: v.replace("+", " ") for k, v in pairs}
    expected = [e.id for e in reversed(audit_log(site.store, "dm", **filters))]
    assert _ids(page) == expected
    for entry in audit_log(site.store, "dm", **filters):
        for field, value in wanted.items():
            shown = {"participant": entry.participant, "user": entry.actor, "action": entry.action}
            assert shown[field] == value
    if "NOBODY" in query:
        assert expected == []
        assert "No audit entries match." in page.text
    else:
        assert expected
    for field, value in filters.items():
        if field != "action":
            assert f'name="{field}" type="text" value="{value}"' in page.text
    if "action" in filters:
        assert f'<option value="{filters["action"]}" selected>' in page.text


def test_date_filters_are_inclusive_utc_days(site: Site) -> None:
    _dm(site)
    entries = audit_log(site.store, "dm")
    day = date.fromisoformat(entries[-1].at[:10])
    same = site.client.get(f"/audit?since={day}&until={day}")
    assert _ids(same) == [e.id for e in reversed(entries) if e.at[:10] == day.isoformat()]
    assert _ids(same)
    later = site.client.get(f"/audit?since={day + timedelta(days=1)}")
    assert later.status_code == 200
    assert _ids(later) == []
    earlier = site.client.get(f"/audit?until={day - timedelta(days=1)}")
    assert _ids(earlier) == [e.id for e in reversed(entries) if e.at[:10] < day.isoformat()]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=yesterday", "since", "since: &#39;yesterday&#39; is not a date; allowed: a date"),
        ("until=2025-13-01", "until", "until: &#39;2025-13-01&#39; is not a date"),
        (
            "since=2025-03-10&until=2025-03-01",
            "until",
            "until: since 2025-03-10 is after until 2025-03-01; allowed: since on or before until",
        ),
    ],
)
def test_a_bad_filter_is_named_beside_its_field_and_kept(
    site: Site, query: str, field: str, message: str
) -> None:
    _dm(site)
    page = site.client.get(f"/audit?user=coord&{query}")
    assert page.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in page.text
    assert f'aria-describedby="{field}-error"' in page.text
    value = dict(p.split("=") for p in query.split("&"))[field]
    assert f'value="{value}"' in page.text
    assert 'name="user" type="text" value="coord"' in page.text
    assert _ids(page) == []


def test_pages_of_a_hundred_go_older_and_back(site: Site) -> None:
    for number in range(1, 100):
        add_site(site.store, "dm", f"S{number:03d}", f"Site {number}")
    _dm(site)
    total = len(audit_log(site.store, "dm"))
    assert total > 110
    newest_first = [e.id for e in reversed(audit_log(site.store, "dm"))]
    first = site.client.get("/audit")
    assert _ids(first) == newest_first[:100]
    assert f"1–100 of {total} matching entries" in first.text
    older = re.search(r'href="(/audit\?before=\d+)">Older', first.text)
    assert older is not None
    assert "Newer" not in first.text
    second = site.client.get(older.group(1).replace("&amp;", "&"))
    assert _ids(second) == newest_first[100:200]
    assert f"101–{total} of {total} matching entries" in second.text
    assert "Older" not in second.text
    assert 'href="/audit">Newest' in second.text
    back = re.search(r'href="([^"]+)">← Newer', second.text)
    assert back is not None
    assert _ids(site.client.get(back.group(1).replace("&amp;", "&"))) == newest_first[:100]
    # filters travel with the pages
    filtered = site.client.get("/audit?action=site+add&user=dm")
    adds = [e.id for e in reversed(audit_log(site.store, "dm", action="site add"))]
    assert len(adds) == 101
    assert _ids(filtered) == adds[:100]
    link = re.search(r'href="([^"]+)">Older', filtered.text)
    assert link is not None
    assert "action=site+add" in link.group(1)
    assert _ids(site.client.get(link.group(1).replace("&amp;", "&"))) == adds[100:]


def test_verify_shows_the_report_and_needs_the_csrf_token(site: Site) -> None:
    _dm(site)
    page = site.client.get("/audit")
    refused = site.client.post("/audit/verify", data={})
    assert refused.status_code == 403
    assert CSRF_MESSAGE in refused.text
    done = site.client.post("/audit/verify", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 200
    audit_rows = len(audit_log(site.store, "dm"))
    assert re.search(
        rf"Verified: the hash chain is intact, all \d+ data rows match the {audit_rows} audit rows",
        done.text,
    )
    assert _ids(done)[0] == audit_rows  # the trail is shown below the report
    with site.store.engine.begin() as connection:
        connection.execute(update(schema.sites).values(name="Edited behind its back"))
    broken = site.client.post("/audit/verify", data={"csrf_token": csrf_of(page)})
    assert broken.status_code == 200
    assert "Verification failed: 2 problems." in broken.text
    assert "sites row 1: name differ from audit row" in broken.text
