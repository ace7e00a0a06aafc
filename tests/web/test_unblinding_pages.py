"""Emergency unblinding pages: ask, grant or decline, and the requester never sees the arm.

Run on SQLite and PostgreSQL (conftest ``site``: SEV-001 randomised at SEV). Everything a
requester (coordinator, assessor) receives — forms, redirects, lists, error pages — is searched
for the arm words (ARM_WORDS of tests/services/test_blinding_matrix.py) before and after the data
manager grants; the data manager's page must show the arm after granting, which proves the search.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from physiotrial.services.access import set_password
from physiotrial.services.audit import audit_log, verify_audit
from physiotrial.services.unblinding import unblinding_requests
from physiotrial.store import schema
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import arm_of, enrol, make_study
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.browser import WIDTH, check_page, serving
from tests.web.conftest import PASSWORD, SECRET, Page, Site, csrf_of, sign_in
from tests.web.test_blinding_routes import _received

WHY = "anaphylaxis after session 2; the ED needs to know if a needle was used"
ARM_NAMES = {"DN": "Dry needling + exercise", "SHAM": "Sham needling + exercise"}
CSRF_MESSAGE = "missing or wrong CSRF token"


def _as(site: Site, username: str) -> TestClient:
    client = site.browser()
    assert sign_in(client, username).status_code == 303
    return client


def _ask(client: TestClient, code: str, reason: str = WHY) -> tuple[Page, Page]:
    """The request form, then its POST (not followed)."""
    form = client.get(f"/unblinding/request?participant={code}")
    assert form.status_code == 200, form.text[:400]
    data = {"csrf_token": csrf_of(form), "participant": code, "reason": reason}
    return form, client.post("/unblinding/request", data=data, follow_redirects=False)


def _decide(client: TestClient, request_id: int, decision: str, reason: str = "") -> Page:
    page = client.get("/unblinding")
    data = {"csrf_token": csrf_of(page), "decision": decision, "reason": reason}
    return client.post(f"/unblinding/{request_id}/decide", data=data, follow_redirects=False)


def _requests(site: Site) -> list[dict[str, object]]:
    with site.store.read() as connection:
        rows = connection.execute(select(schema.unblinding_requests)).mappings()
        return [dict(r) for r in rows]


def test_a_coordinator_asks_and_sees_the_request_pending(site: Site) -> None:
    coord = _as(site, "coord")
    form, sent = _ask(coord, site.participant)
    assert f'name="participant" type="text" value="{site.participant}"' in form.text
    assert '<label for="reason">' in form.text
    assert '<label for="participant">' in form.text
    assert "the data manager tells the treating clinician directly" in form.text
    assert sent.status_code == 303
    assert sent.headers["location"] == "/unblinding?done=requested#request-1"
    page = coord.get(sent.headers["location"])
    assert page.status_code == 200
    assert 'id="unblinding-notice">Your request was sent to the data manager.' in page.text
    assert 'id="status-1">pending</span>' in page.text
    assert WHY in page.text
    assert "Grant and unblind" not in page.text
    [row] = _requests(site)
    assert (row["requested_by"], row["reason"], row["decision"]) == ("coord", WHY, None)
    assert [e.participant for e in audit_log(site.store, "dm", action="request unblinding")] == [
        site.participant
    ]


@pytest.mark.parametrize(
    ("participant", "reason", "field", "message"),
    [
        ("SEV-001", "  ", "reason", "reason: &#39;  &#39; is blank; allowed: a non-blank text"),
        ("", WHY, "participant", "participant: &#39;&#39; is blank"),
        ("SEV-404", WHY, "participant", "participant: no participant &#39;SEV-404&#39;"),
    ],
)
def test_a_missing_or_wrong_field_is_named_and_answers_kept(
    site: Site, participant: str, reason: str, field: str, message: str
) -> None:
    coord = _as(site, "coord")
    form = coord.get("/unblinding/request")
    data = {"csrf_token": csrf_of(form), "participant": participant, "reason": reason}
    page = coord.post("/unblinding/request", data=data)
    assert page.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}' in page.text
    assert f'aria-describedby="{field}-error"' in page.text
    assert f'name="participant" type="text" value="{participant}"' in page.text
    assert f">{reason}</textarea>" in page.text
    assert _requests(site) == []


def test_refusals_other_site_other_roles_and_csrf(site: Site) -> None:
    set_password(site.store, "dm", "coord_uni", PASSWORD)
    uni = _as(site, "coord_uni")
    _, sent = _ask(uni, site.participant)
    assert sent.status_code == 403
    assert "works at another site and may not request unblinding" in sent.text
    for username in ("stats", "dm"):
        page = _as(site, username).get("/unblinding/request")
        assert page.status_code == 403, username
        assert "may not request unblinding" in page.text
    assert _as(site, "stats").get("/unblinding").status_code == 403
    coord = _as(site, "coord")
    data = {"participant": site.participant, "reason": WHY}
    refused = coord.post("/unblinding/request", data=data)
    assert refused.status_code == 403
    assert CSRF_MESSAGE in refused.text
    assert _requests(site) == []
    _ask(coord, site.participant)
    again = _ask(coord, site.participant, "second ask")[1]
    assert again.status_code == 409
    assert "already has a pending unblinding request (1, by coord" in again.text
    no_token = coord.post("/unblinding/1/decide", data={"decision": "granted"})
    assert no_token.status_code == 403
    assert CSRF_MESSAGE in no_token.text
    assert _decide(coord, 1, "granted").status_code == 403
    assert len(_requests(site)) == 1
    assert _requests(site)[0]["decision"] is None


def test_granting_shows_the_arm_to_the_data_manager_only(site: Site) -> None:
    code = site.participant
    arm = arm_of(site.store, code)
    coord, assessor = _as(site, "coord"), _as(site, "assessor")
    received: list[Page] = [*_ask(coord, code)]
    received.append(assessor.get("/unblinding"))
    dm = _as(site, "dm")
    pending = dm.get("/unblinding")
    assert 'id="status-1">pending</span>' in pending.text
    assert 'action="/unblinding/1/decide"' in pending.text
    assert 'name="decision" value="granted"' in pending.text
    assert not ARM_WORDS.search(pending.text.split('id="decided-heading"')[1])
    granted = _decide(dm, 1, "granted")
    assert granted.status_code == 303
    assert granted.headers["location"] == "/unblinding?done=granted#request-1"
    shown = dm.get(granted.headers["location"])
    arm_box = shown.text.split('id="arm-1">')[1].split("</div>")[0]
    assert f'{ARM_NAMES[arm]} <span class="code">({arm})</span>' in arm_box
    assert ARM_WORDS.search(_received(shown))  # the search finds the arm where it is shown
    [unblinding] = _rows_unblindings(site)
    assert unblinding["reason"] == f"request 1 by coord: {WHY}"
    # the requester and a colleague, after the grant: status only, never the arm
    after = coord.get("/unblinding")
    assert 'id="status-1">granted</span>' in after.text
    assert "the data manager tells you the allocation directly" in after.text
    received += [after, coord.get("/unblinding?done=granted")]
    received.append(coord.get(f"/unblinding/request?participant={code}"))
    received.append(_ask(coord, code, "still unwell")[1])
    received.append(_decide(coord, 1, "granted"))
    received.append(assessor.get("/unblinding"))
    received.append(_ask(assessor, code, "asked after the grant")[1])
    for response in received:
        text = _received(response)
        found = ARM_WORDS.search(text)
        assert not found, (response.status_code, found, text[:800])
    statuses = [r.status_code for r in received[-5:]]
    assert statuses == [200, 303, 403, 200, 409]  # a new request; a colleague's is refused
    assert [r.status for r in unblinding_requests(site.store, "coord")] == ["pending", "granted"]
    assert verify_audit(site.store, "dm").problems == ()


def _rows_unblindings(site: Site) -> list[dict[str, object]]:
    with site.store.read() as connection:
        return [dict(r) for r in connection.execute(select(schema.unblindings)).mappings()]


def test_declining_needs_a_reason_the_requester_reads_it_and_a_second_decision_is_refused(
    site: Site,
) -> None:
    coord = _as(site, "coord")
    _ask(coord, site.participant)
    dm = _as(site, "dm")
    blank = _decide(dm, 1, "declined")
    assert blank.status_code == 422
    assert (
        '<p class="field-error" role="alert" id="decide-1-error">reason: &#39;&#39; is blank'
        in (blank.text)
    )
    assert 'aria-describedby="decide-1-error"' in blank.text
    wrong = _decide(dm, 1, "maybe", "unsure")
    assert wrong.status_code == 422
    assert "decision: &#39;maybe&#39; is not allowed; allowed: granted, declined" in wrong.text
    assert 'value="unsure"' in wrong.text
    declined = _decide(dm, 1, "declined", "manage as if active needling")
    assert declined.status_code == 303
    assert declined.headers["location"] == "/unblinding?done=declined#request-1"
    twice = _decide(dm, 1, "granted")
    assert twice.status_code == 409
    assert re.search(
        r"request 1 was already declined by dm at \S+; a request is decided once", twice.text
    )
    missing = _decide(dm, 999, "granted")
    assert missing.status_code == 404
    assert "request: no unblinding request 999" in missing.text
    mine = coord.get("/unblinding")
    assert 'id="status-1">declined</span>' in mine.text
    assert "Declined by dm at" in mine.text
    assert ": manage as if active needling</p>" in mine.text
    assert _rows_unblindings(site) == []
    actions = [e.action for e in audit_log(site.store, "dm", participant=site.participant)]
    assert actions[-2:] == ["request unblinding", "decline unblinding"]
    assert verify_audit(site.store, "dm").problems == ()


# --- in a browser at tablet width -----------------------------------------------------------

TARGETS = "main button, main .button, main input[type=text], main input[type=date], main select"


def test_in_a_browser_request_grant_and_filter_the_trail(tmp_path: Path) -> None:
    """Chromium at 768 px: the coordinator asks, the data manager grants and sees the arm, the
    coordinator sees "granted" and no arm; the trail's filter works with htmx (URL pushed)."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    code = enrol(store)
    for username in ("coord", "dm"):
        set_password(store, "dm", username, PASSWORD)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    try:
        with serving(create_app(tmp_path, url, secret=SECRET)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                coord = _browser_page(browser, base, "coord", errors)
                coord.goto(f"{base}/unblinding/request?participant={code}")
                check_page(coord, shots, "1-request-form", TARGETS, blinded=True)
                coord.get_by_role("button", name="Send the request").click()
                assert "reason: '' is blank" in coord.locator("#reason-error").inner_text()
                coord.get_by_label("Clinical emergency").fill(WHY)
                coord.get_by_role("button", name="Send the request").click()
                coord.wait_for_url(f"{base}/unblinding?done=requested#request-1")
                assert coord.locator("#status-1").inner_text() == "pending"
                check_page(coord, shots, "2-requested", TARGETS, blinded=True)
                dm = _browser_page(browser, base, "dm", errors)
                dm.goto(f"{base}/unblinding")
                check_page(dm, shots, "3-pending", TARGETS)
                dm.get_by_role("button", name="Grant and unblind").click()
                dm.wait_for_url(f"{base}/unblinding?done=granted#request-1")
                arm = arm_of(store, code)
                assert ARM_NAMES[arm] in dm.locator("#arm-1").inner_text()
                check_page(dm, shots, "4-granted", TARGETS)
                coord.goto(f"{base}/unblinding")
                assert coord.locator("#status-1").inner_text() == "granted"
                check_page(coord, shots, "5-requester-after-grant", TARGETS, blinded=True)
                dm.goto(f"{base}/audit")
                check_page(dm, shots, "6-audit", TARGETS)
                dm.get_by_label("Action").select_option("unblind")
                dm.get_by_role("button", name="Show").click()
                dm.wait_for_url(f"{base}/audit?*action=unblind*")
                dm.wait_for_function(
                    "document.querySelectorAll('#audit-results tbody tr').length == 1"
                )
                assert "added unblindings 1" in dm.locator("#audit-results").inner_text()
                dm.get_by_role("button", name="Verify the audit chain").click()
                assert "Verified" in dm.locator("#verify-result").inner_text()
                check_page(dm, shots, "7-verified", TARGETS)
            finally:
                browser.close()
    finally:
        store.close()
    assert errors == []


def _browser_page(browser: Any, base: str, username: str, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": WIDTH, "height": 1024})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    return page


def test_the_participant_page_offers_the_request_to_site_staff_only(site: Site) -> None:
    asks = f'href="/unblinding/request?participant={site.participant}"'
    for username, offered in (("coord", True), ("assessor", True), ("dm", False)):
        browser = site.browser()
        sign_in(browser, username)
        page = browser.get(f"/participants/{site.participant}")
        assert page.status_code == 200
        assert (asks in page.text) is offered, username
        assert ('href="/unblinding"' in page.text) is True, username  # the navigation link
