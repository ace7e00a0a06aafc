"""Adverse events (record, correct with a reason), withdrawals and protocol deviations as pages:
each saves what was entered and opens the participant page with a notice; a refused value comes
back beside its field with every value kept (422); roles and sites the services refuse get 403;
no form works without its CSRF token or on a locked study; blinded roles see no arm."""

from __future__ import annotations

import re
from datetime import date

import pytest

from physiotrial.services.access import set_password
from physiotrial.services.events import (
    participant_adverse_events,
    participant_departure,
    participant_deviations,
)
from physiotrial.services.locking import lock
from physiotrial.services.safety import record_adverse_event, record_session
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import PASSWORD, Page, Site, csrf_of, sign_in
from tests.web.test_enrolment_pages import NEEDLING

AE = {
    "term": "post-needling soreness",
    "onset": "2025-03-04",
    "duration_hours": "36",
    "severity": "mild",
    "relatedness": "probable",
    "action": "ice pack",
    "outcome": "resolved",
    "session": "needling:1",
}
WITHDRAWAL = {"kind": "withdrawn", "occurred_on": "2025-03-09", "reason": "moved abroad"}
DEVIATION = {
    "occurred_on": "2025-03-05",
    "category": "visit_window",
    "description": "T1 held a day after its window",
}


def url(site: Site, tail: str) -> str:
    return f"/participants/{site.participant}/{tail}"


def post(site: Site, tail: str, data: dict[str, str]) -> Page:
    page = site.client.get(url(site, tail))
    assert page.status_code == 200, page.text[:500]
    form = {"csrf_token": csrf_of(page)} | data
    return site.client.post(url(site, tail), data=form, follow_redirects=False)


def as_user(site: Site, username: str) -> None:
    site.client.cookies.clear()
    if username.endswith("_uni"):
        set_password(site.store, "dm", username, PASSWORD)
    assert sign_in(site.client, username).status_code == 303


def beside(page: Page, field: str) -> str:
    found = re.search(rf'id="f-{field}-field">(.*?)</(?:div|fieldset)>', page.text, re.S)
    assert found, page.text[:3000]
    return found.group(1)


def _session(site: Site) -> None:
    day = date(2025, 3, 4)
    record_session(site.store, "therapist", site.participant, "needling", 1, day, True, NEEDLING)


def _events(site: Site) -> list[list[tuple[int, str, str | None]]]:
    found = participant_adverse_events(site.store, "dm", site.participant)
    return [[(v.version, v.term, v.reason) for v in h.versions] for h in found]


# --- adverse events ---------------------------------------------------------------------------


def test_a_therapist_records_an_adverse_event_after_a_session(site: Site) -> None:
    _session(site)
    as_user(site, "therapist")
    form = site.client.get(url(site, "adverse-events/new"))
    assert 'type="date" id="f-onset" name="onset" value="2025-03-10"' in form.text
    assert '<option value="needling:1"' in form.text
    response = post(site, "adverse-events/new", AE)
    assert response.status_code == 303, response.text[:800]
    assert response.headers["location"] == f"/participants/{site.participant}?done=ae"
    [history] = participant_adverse_events(site.store, "dm", site.participant)
    event = history.current
    assert (event.term, event.onset, event.duration_hours) == (
        "post-needling soreness",
        date(2025, 3, 4),
        36.0,
    )
    assert (event.severity, event.relatedness, event.action, event.outcome) == (
        "mild",
        "probable",
        "ice pack",
        "resolved",
    )
    assert (event.session, event.entered_by, event.version) == (("needling", 1), "therapist", 1)
    page = site.client.get(response.headers["location"])
    assert "Adverse event recorded." in page.text
    assert f'id="ae-{event.id}"' in page.text
    assert "post-needling soreness" in page.text
    assert "needling session 1" in page.text


def test_a_blinded_coordinator_records_one_and_sees_no_arm(site: Site) -> None:
    _session(site)
    as_user(site, "coord")
    form = site.client.get(url(site, "adverse-events/new"))
    assert form.status_code == 200
    assert not ARM_WORDS.search(form.text)
    unlinked = AE | {"session": "", "duration_hours": "", "term": "fall at home"}
    response = post(site, "adverse-events/new", unlinked)
    assert response.status_code == 303
    [history] = participant_adverse_events(site.store, "dm", site.participant)
    assert (history.current.term, history.current.session) == ("fall at home", None)
    assert history.current.duration_hours is None
    page = site.client.get(response.headers["location"])
    assert "fall at home" in page.text
    assert not ARM_WORDS.search(page.text)


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"term": "  "}, "term", "term: &#39;  &#39; is not allowed"),
        ({"onset": "2025-03-11"}, "onset", "onset 2025-03-11 is after today"),
        ({"onset": ""}, "onset", "is not a date"),
        ({"severity": ""}, "severity", "severity: &#39;&#39; is not allowed; allowed: mild"),
        ({"outcome": "fatal"}, "severity", "serious when the outcome is fatal"),
        ({"relatedness": "maybe"}, "relatedness", "allowed: not related, unlikely"),
        ({"duration_hours": "a day"}, "duration_hours", "0 or more hours, or blank"),
        ({"duration_hours": "-2"}, "duration_hours", "0 or more hours, or blank"),
        ({"action": ""}, "action", "action: &#39;&#39; is not allowed"),
        ({"session": "needling:3"}, "session", "has no recorded needling session 3"),
    ],
)
def test_a_refused_adverse_event_value_is_named_beside_its_field(
    site: Site, changes: dict[str, str], field: str, said: str
) -> None:
    _session(site)
    as_user(site, "therapist")
    response = post(site, "adverse-events/new", AE | changes)
    assert response.status_code == 422
    assert said in beside(response, field)
    assert response.text.count('class="field-error"') == 1
    if field != "term":
        assert 'name="term" value="post-needling soreness"' in response.text
    if field != "action":
        assert 'name="action" value="ice pack"' in response.text
    if field != "severity":
        assert re.search(r'name="severity" value="mild" checked', response.text)
    assert _events(site) == []


def test_correcting_an_adverse_event_needs_a_reason_and_keeps_every_version(site: Site) -> None:
    _session(site)
    day = date(2025, 3, 4)
    first = record_adverse_event(
        site.store, "therapist", site.participant, "soreness", day, "mild", "possible", "none",
        "ongoing", today=day,
    )  # fmt: skip
    as_user(site, "therapist")
    page = site.client.get(f"/participants/{site.participant}")
    tail = f"adverse-events/{first.id}/correct"
    assert f'href="{url(site, tail)}"' in page.text
    form = site.client.get(url(site, tail))
    assert 'name="term" value="soreness"' in form.text
    assert re.search(r'name="outcome"[^>]*>.*?<option value="ongoing" selected', form.text, re.S)
    changed = AE | {"term": "soreness", "outcome": "resolved", "session": ""}
    refused = post(site, tail, changed | {"reason": " "})
    assert refused.status_code == 422
    assert "a correction needs a reason" in beside(refused, "reason")
    assert re.search(r'<option value="resolved" selected', refused.text)
    fixed = post(site, tail, changed | {"reason": "resolved by the next visit"})
    assert fixed.status_code == 303
    assert fixed.headers["location"].endswith("?done=ae-corrected")
    assert _events(site) == [[(1, "soreness", None), (2, "soreness", "resolved by the next visit")]]
    [history] = participant_adverse_events(site.store, "dm", site.participant)
    assert (history.current.outcome, history.current.duration_hours) == ("resolved", 36.0)
    shown = site.client.get(fixed.headers["location"])
    assert "Adverse event corrected; the earlier version is kept." in shown.text
    assert "History (2 versions)" in shown.text
    assert "reason: resolved by the next visit" in shown.text
    assert f"adverse-events/{history.current.id}/correct" in shown.text
    stale = post(site, f"adverse-events/{history.current.id}/correct", changed | {"reason": "x"})
    assert stale.status_code == 409
    assert "the correction changes nothing" in stale.text
    old = site.client.post(
        url(site, tail), data={"csrf_token": csrf_of(shown)} | changed | {"reason": "again"}
    )
    assert old.status_code == 409
    assert "has been superseded" in old.text


def test_an_event_of_another_participant_is_not_found(site: Site) -> None:
    from tests.services.helpers_capture import enrol

    other = enrol(site.store, date(2025, 3, 3), sex="male")
    day = date(2025, 3, 4)
    event = record_adverse_event(
        site.store, "coord", other, "headache", day, "mild", "unlikely", "none", "resolved",
        today=day,
    )  # fmt: skip
    as_user(site, "coord")
    response = site.client.get(url(site, f"adverse-events/{event.id}/correct"))
    assert response.status_code == 404
    assert f"{site.participant} has no adverse event {event.id}" in response.text


# --- withdrawal -------------------------------------------------------------------------------


def test_a_coordinator_records_a_withdrawal_and_what_it_stops(site: Site) -> None:
    as_user(site, "coord")
    form = site.client.get(url(site, "withdraw"))
    assert "What recording it stops" in form.text
    assert '<span id="pending">Dated today, it stops: T2, T3, W3, M3, M6.</span>' in form.text
    assert 'value="2025-03-10"' in form.text
    refused = post(site, "withdraw", WITHDRAWAL | {"reason": ""})
    assert refused.status_code == 422
    assert "a withdrawal needs a reason" in beside(refused, "reason")
    assert re.search(r'name="kind" value="withdrawn" checked', refused.text)
    future = post(site, "withdraw", WITHDRAWAL | {"occurred_on": "2025-03-12"})
    assert future.status_code == 422
    assert "is after today" in beside(future, "occurred_on")
    assert 'name="reason" rows="3"' in future.text
    assert ">moved abroad</textarea>" in future.text
    kind = post(site, "withdraw", WITHDRAWAL | {"kind": "vanished"})
    assert kind.status_code == 422
    assert "allowed: withdrawn, lost_to_follow_up" in beside(kind, "kind")
    assert participant_departure(site.store, "dm", site.participant) is None
    response = post(site, "withdraw", WITHDRAWAL)
    assert response.status_code == 303
    assert response.headers["location"].endswith("?done=withdrawal")
    left = participant_departure(site.store, "dm", site.participant)
    assert left is not None
    assert (left.kind, left.occurred_on, left.reason) == (
        "withdrawn",
        date(2025, 3, 9),
        "moved abroad",
    )
    page = site.client.get(response.headers["location"])
    assert "Withdrawal recorded; the remaining visits are stopped." in page.text
    assert "Withdrew from the study</strong> on 2025-03-09 · reason: moved abroad" in page.text
    assert re.search(r"visits stopped: [^<]*T2", page.text)
    assert "Record a withdrawal" not in page.text
    assert 'id="status">withdrawn<' in page.text
    again = site.client.get(url(site, "withdraw"))
    assert "this is already recorded" in again.text
    twice = site.client.post(url(site, "withdraw"), data={"csrf_token": csrf_of(page)} | WITHDRAWAL)
    assert twice.status_code == 409


def test_visits_done_after_the_date_are_named_beside_it(site: Site) -> None:
    _session(site)  # marks T1 done on 2025-03-04
    as_user(site, "coord")
    response = post(site, "withdraw", WITHDRAWAL | {"occurred_on": "2025-03-03"})
    assert response.status_code == 422
    assert "has visits done after 2025-03-03 (T1)" in beside(response, "occurred_on")


# --- deviations -------------------------------------------------------------------------------


def test_a_coordinator_and_the_data_manager_record_deviations(site: Site) -> None:
    as_user(site, "coord")
    form = site.client.get(url(site, "deviations/new"))
    for category in ("eligibility", "visit window", "safety reporting"):
        assert f">{category}</option>" in form.text
    response = post(site, "deviations/new", DEVIATION)
    assert response.status_code == 303
    assert response.headers["location"].endswith("?done=deviation")
    as_user(site, "dm")
    assert post(site, "deviations/new", DEVIATION | {"category": "consent"}).status_code == 303
    found = participant_deviations(site.store, "dm", site.participant)
    assert [(d.occurred_on, d.category, d.description, d.entered_by) for d in found] == [
        (date(2025, 3, 5), "visit_window", "T1 held a day after its window", "coord"),
        (date(2025, 3, 5), "consent", "T1 held a day after its window", "dm"),
    ]
    page = site.client.get(f"/participants/{site.participant}?done=deviation")
    assert "Protocol deviation recorded." in page.text
    assert page.text.count("T1 held a day after its window") == 2


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"category": "paperwork"}, "category", "allowed: eligibility, consent"),
        ({"description": ""}, "description", "description: &#39;&#39; is not allowed"),
        ({"occurred_on": "2025-04-01"}, "occurred_on", "is after today"),
    ],
)
def test_a_refused_deviation_value_is_named_beside_its_field(
    site: Site, changes: dict[str, str], field: str, said: str
) -> None:
    as_user(site, "coord")
    response = post(site, "deviations/new", DEVIATION | changes)
    assert response.status_code == 422
    assert said in beside(response, field)
    if field != "description":
        assert ">T1 held a day after its window</textarea>" in response.text
    assert participant_deviations(site.store, "dm", site.participant) == []


# --- refusals ---------------------------------------------------------------------------------

FORMS = {"adverse-events/new": AE, "withdraw": WITHDRAWAL, "deviations/new": DEVIATION}
REFUSED = [
    ("adverse-events/new", "stats"),
    ("adverse-events/new", "dm"),
    ("adverse-events/new", "coord_uni"),
    ("withdraw", "therapist"),
    ("withdraw", "assessor"),
    ("withdraw", "dm"),
    ("withdraw", "coord_uni"),
    ("deviations/new", "therapist"),
    ("deviations/new", "assessor"),
    ("deviations/new", "coord_uni"),
]


@pytest.mark.parametrize(("tail", "username"), REFUSED)
def test_roles_and_sites_the_services_refuse(site: Site, tail: str, username: str) -> None:
    as_user(site, username)
    assert site.client.get(url(site, tail)).status_code == 403
    token = csrf_of(site.client.get("/account"))
    response = site.client.post(url(site, tail), data=FORMS[tail] | {"csrf_token": token})
    assert response.status_code == 403
    assert not ARM_WORDS.search(response.text)
    assert _events(site) == []
    assert participant_departure(site.store, "dm", site.participant) is None
    assert participant_deviations(site.store, "dm", site.participant) == []


@pytest.mark.parametrize("tail", list(FORMS))
def test_no_form_is_taken_without_its_csrf_token(site: Site, tail: str) -> None:
    as_user(site, "coord")
    for token in ({}, {"csrf_token": "forged"}):
        response = site.client.post(url(site, tail), data=token | FORMS[tail])
        assert response.status_code == 403
        assert "missing or wrong CSRF token" in response.text
    assert _events(site) == []
    assert participant_departure(site.store, "dm", site.participant) is None


@pytest.mark.parametrize("tail", list(FORMS))
def test_a_locked_study_takes_nothing(site: Site, tail: str) -> None:
    as_user(site, "coord")
    page = site.client.get(url(site, tail))
    lock(site.store, "dm", "interim freeze")
    data = FORMS[tail] | {"session": ""}
    response = site.client.post(url(site, tail), data={"csrf_token": csrf_of(page)} | data)
    assert response.status_code == 409
    assert "locked" in response.text
    assert _events(site) == []
    assert participant_departure(site.store, "dm", site.participant) is None
    assert participant_deviations(site.store, "dm", site.participant) == []


@pytest.mark.parametrize(
    ("username", "shown", "hidden"),
    [
        ("therapist", ["adverse-events/new", "sessions/new"], ["withdraw", "deviations/new"]),
        ("coord", ["adverse-events/new", "withdraw", "deviations/new"], ["sessions/new"]),
        ("assessor", ["adverse-events/new"], ["withdraw", "deviations/new", "sessions/new"]),
        (
            "dm",
            ["deviations/new", "adverse-events/{id}/correct"],
            ["adverse-events/new", "withdraw", "sessions/new"],
        ),
    ],
)
def test_the_participant_page_links_only_the_forms_a_role_may_use(
    site: Site, username: str, shown: list[str], hidden: list[str]
) -> None:
    day = date(2025, 3, 4)
    event = record_adverse_event(
        site.store, "coord", site.participant, "dizziness", day, "mild", "unlikely", "sat down",
        "resolved", today=day,
    )  # fmt: skip
    as_user(site, username)
    page = site.client.get(f"/participants/{site.participant}")
    assert page.status_code == 200
    links = re.findall(rf'href="/participants/{site.participant}/([^"?]+)', page.text)
    for tail in shown:
        assert tail.format(id=event.id) in links, (tail, links)
    for tail in hidden:
        assert tail not in links, (tail, links)
    assert "dizziness" in page.text
    if username != "therapist" and username != "dm":
        assert not ARM_WORDS.search(page.text)
