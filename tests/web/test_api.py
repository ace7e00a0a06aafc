"""The JSON API: bearer tokens, the three first endpoints, errors as JSON with field and reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.access import issue_api_token, revoke_api_token
from physiotrial.services.safety import AdverseEventRecord
from physiotrial.web.routes.api_participants import AdverseEvent
from tests.services.helpers_capture import BASELINE, enrol
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import NOW0, STAFF, Site, sign_in

TITLE_START = "Dry needling of the popliteus with therapeutic exercise"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/study", "/api/v1/visits/due"])
def test_no_token_is_a_401_in_json(site: Site, path: str) -> None:
    response = site.client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["field"] == "Authorization"
    assert "Authorization: Bearer <token>" in error["reason"]


@pytest.mark.parametrize(
    "header", ["Bearer pt_not-a-real-token", "Basic Y29vcmQ6cGFzc3dvcmQ=", "Bearer", "pt_x"]
)
def test_a_bad_token_is_a_401(site: Site, header: str) -> None:
    response = site.client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"


def test_a_revoked_or_expired_token_is_a_401(site: Site) -> None:
    token = issue_api_token(site.store, "coord", "lab system")
    assert site.client.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    revoke_api_token(site.store, "coord", 1)
    response = site.client.get("/api/v1/me", headers=_bearer(token))
    assert response.status_code == 401
    assert "was revoked" in response.json()["error"]["reason"]
    short = issue_api_token(site.store, "coord", "short", expires_at=NOW0 + timedelta(hours=1))
    assert site.client.get("/api/v1/me", headers=_bearer(short)).status_code == 200
    site.clock.advance(hours=1)
    assert "expired" in site.client.get("/api/v1/me", headers=_bearer(short)).text


def test_a_good_token_reads_me_study_and_due_visits(site: Site) -> None:
    token = issue_api_token(site.store, "coord", "site system")
    me = site.client.get("/api/v1/me", headers=_bearer(token)).json()
    assert me == {"username": "coord", "role": "coordinator", "site_id": 1}
    study = site.client.get("/api/v1/study", headers=_bearer(token)).json()
    assert study["study_id"] == "popliteus-dn-koa"
    assert study["title"].startswith(TITLE_START)
    assert (study["locked"], study["participants"]) == (False, 1)
    assert study["recruitment"] == {
        "site": "SEV",
        "screened": 1,
        "eligible": 1,
        "randomised": 1,
        "target": study["recruitment"]["target"],
        "arms": None,
    }
    due = site.client.get("/api/v1/visits/due", headers=_bearer(token)).json()
    assert due["today"] == "2025-03-10"
    assert {v["study_code"] for v in due["visits"]} == {site.participant}
    assert {v["status"] for v in due["visits"]} <= {"open", "late", "missed"}
    later = site.client.get(
        "/api/v1/visits/due", params={"today": "2025-06-30"}, headers=_bearer(token)
    ).json()
    assert later["today"] == "2025-06-30"
    assert len(later["visits"]) > len(due["visits"])


def test_errors_are_json_with_field_and_reason(site: Site) -> None:
    token = issue_api_token(site.store, "coord", "site system")
    bad_day = site.client.get(
        "/api/v1/visits/due", params={"today": "10/03/2025"}, headers=_bearer(token)
    )
    assert bad_day.status_code == 422
    assert bad_day.json()["error"]["field"] == "today"
    assert "'10/03/2025' is not allowed" in bad_day.json()["error"]["reason"]
    nul = site.client.get("/api/v1/visits/due", params={"site": "\x00"}, headers=_bearer(token))
    assert nul.status_code == 422  # PostgreSQL cannot even compare text with a NUL in it
    assert nul.json()["error"]["field"] == "site"
    no_site = site.client.get("/api/v1/visits/due", params={"site": "NOPE"}, headers=_bearer(token))
    assert no_site.status_code == 404
    assert no_site.json()["error"]["reason"] == "no site 'NOPE'; sites: SEV, UNI"
    other_site = site.client.get(
        "/api/v1/visits/due", params={"site": "UNI"}, headers=_bearer(token)
    )
    assert other_site.status_code == 403
    assert "may list only their own site's visits" in other_site.json()["error"]["reason"]
    stats = issue_api_token(site.store, "stats", "analysis machine")
    refused = site.client.get("/api/v1/visits/due", headers=_bearer(stats))
    assert refused.status_code == 403
    assert refused.json()["error"]["reason"].startswith("stats (statistician) may not visits")
    unknown = site.client.get("/api/v1/nothing-here", headers=_bearer(token))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"field": None, "reason": "no such page"}}
    wrong_method = site.client.post("/api/v1/me", headers=_bearer(token))
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["reason"] == "this method is not allowed here"


def test_the_openapi_document_lists_the_api_and_no_pages(site: Site) -> None:
    document = site.client.get("/api/v1/openapi.json").json()
    participant = "/api/v1/participants/{study_code}"
    responses = participant + "/visits/{visit}/responses"
    assert set(document["paths"]) == {
        "/api/v1/me",
        "/api/v1/study",
        "/api/v1/visits/due",
        participant + "/visits",
        responses,
        responses + "/{measure}",
        responses + "/{measure}/corrections",
        participant + "/adverse-events",
    }
    record = document["paths"][responses + "/{measure}"]["post"]
    assert {"201", "401", "403", "404", "409", "422"} <= set(record["responses"])
    body = document["components"]["schemas"]["ResponseIn"]["properties"]
    assert "null for unanswered" in body["answers"]["description"]
    event = document["components"]["schemas"]["AdverseEventIn"]["properties"]
    assert event["severity"]["enum"] == ["mild", "significant", "serious"]
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    responses = document["paths"]["/api/v1/study"]["get"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(responses)


def test_an_unexpected_error_is_a_500_without_detail(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("secret detail: the database password is hunter2")

    monkeypatch.setattr("physiotrial.web.routes.api.study_info", broken)
    monkeypatch.setattr("physiotrial.web.routes.pages.study_info", broken)
    client = TestClient(site.app, raise_server_exceptions=False)
    token = issue_api_token(site.store, "coord", "site system")
    response = client.get("/api/v1/study", headers=_bearer(token))
    assert response.status_code == 500
    assert response.json()["error"]["reason"].startswith("an unexpected error happened")
    assert "hunter2" not in response.text
    sign_in(client, "coord")
    page = client.get("/")
    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "hunter2" not in page.text


# --- participants: visits, responses, corrections, adverse events ----------------------------


def _participant(site: Site) -> str:
    return f"/api/v1/participants/{site.participant}"


def _error(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert isinstance(error, dict)
    return error


def test_an_assessor_records_reads_and_corrects_a_visit_measure(site: Site) -> None:
    auth = _bearer(issue_api_token(site.store, "assessor", "clinic system"))
    base = _participant(site)
    schedule = site.client.get(f"{base}/visits", headers=auth).json()
    assert schedule["today"] == "2025-03-10"
    assert [v["code"] for v in schedule["visits"]][:2] == ["BL", "T1"]
    baseline = schedule["visits"][0]
    assert (baseline["planned"], baseline["done_on"], baseline["recorded"]) == (
        "2025-03-03",
        None,
        [],
    )
    assert "vas_min" in baseline["outstanding"]
    saved = site.client.post(
        f"{base}/visits/BL/responses/vas_min",
        json={"answers": {"mm": 20}, "done_on": "2025-03-03"},
        headers=auth,
    )
    assert saved.status_code == 201, saved.text
    stored = saved.json()
    assert (stored["measure"], stored["instrument"], stored["version"]) == ("vas_min", "vas", 1)
    assert (stored["answers"], stored["scores"]) == ({"mm": 20}, {"score": 20.0})
    assert (stored["done_on"], stored["entered_by"], stored["current"]) == (
        "2025-03-03",
        "assessor",
        True,
    )
    # done_on may be left out once the visit has its day
    womac = site.client.post(
        f"{base}/visits/BL/responses/womac", json={"answers": BASELINE["womac"]}, headers=auth
    )
    assert womac.status_code == 201, womac.text
    assert womac.json()["done_on"] == "2025-03-03"
    assert womac.json()["scores"]["pain"] == 10
    again = site.client.post(
        f"{base}/visits/BL/responses/vas_min", json={"answers": {"mm": 30}}, headers=auth
    )
    assert "already recorded" in str(_error(again, 409)["reason"])
    fixed = site.client.post(
        f"{base}/visits/BL/responses/vas_min/corrections",
        json={"answers": {"mm": 25}, "reason": "transcription error"},
        headers=auth,
    )
    assert fixed.status_code == 201, fixed.text
    correction = fixed.json()
    assert (correction["version"], correction["supersedes_id"]) == (2, stored["id"])
    assert (correction["scores"], correction["reason"]) == ({"score": 25.0}, "transcription error")
    listed = site.client.get(f"{base}/visits/BL/responses", headers=auth).json()
    assert [(r["measure"], r["version"]) for r in listed["responses"]] == [
        ("vas_min", 2),
        ("womac", 1),
    ]
    after = site.client.get(f"{base}/visits", headers=auth).json()["visits"][0]
    assert (after["done_on"], after["recorded"]) == ("2025-03-03", ["vas_min", "womac"])


def test_capture_errors_name_the_field_and_the_reason(site: Site) -> None:
    auth = _bearer(issue_api_token(site.store, "assessor", "clinic system"))
    base = _participant(site)
    cases = [
        ("BL/responses/vas_min", {"answers": {"mm": 140}}, 422, "answers.mm", "0 to 100 mm"),
        ("BL/responses/vas_min", {"answers": {"cm": 4}}, 422, None, "cm"),
        ("BL/responses/vas_min", {"answers": {}}, 422, "answers", "no item answered"),
        (
            "BL/responses/vas_min",
            {"answers": {"mm": 4}, "done_on": "2025-03-11"},
            422,
            "done_on",
            "after today",
        ),
        (
            "BL/responses/vas_min",
            {"answers": {"mm": 4}, "done_on": "3/3/25"},
            422,
            "done_on",
            "'3/3/25' is not allowed",
        ),
        ("BL/responses/vas_min", {"answers": {"mm": 4}, "extra": 1}, 422, "extra", "not permitted"),
        ("BL/responses/nothing", {"answers": {"mm": 4}}, 404, "measure", "not planned"),
        ("XX/responses/vas_min", {"answers": {"mm": 4}}, 404, "visit", "visits:"),
        ("T1/responses/vas_min", {"answers": {"mm": 4}}, 404, "measure", "not planned"),
        (
            "BL/responses/vas_min/corrections",
            {"answers": {"mm": 4}, "reason": "x"},
            404,
            "visit",
            "has not been recorded",
        ),
        ("BL/responses/vas_min/corrections", {"answers": {"mm": 4}}, 422, "reason", "required"),
    ]
    for path, body, status, field, reason in cases:
        error = _error(site.client.post(f"{base}/visits/{path}", json=body, headers=auth), status)
        assert field is None or error["field"] == field, (path, body, error)
        assert reason in str(error["reason"]), (path, body, error)
    nobody = site.client.get("/api/v1/participants/SEV-999/visits", headers=auth)
    assert _error(nobody, 404) == {"field": "study_code", "reason": "no participant 'SEV-999'"}
    nul = site.client.get("/api/v1/participants/SEV%00/visits", headers=auth)
    assert _error(nul, 422)["field"] == "study_code"
    therapist = _bearer(issue_api_token(site.store, "therapist", "treatment room"))
    refused = site.client.post(
        f"{base}/visits/BL/responses/vas_min", json={"answers": {"mm": 4}}, headers=therapist
    )
    assert "rated by the participant" in str(_error(refused, 403)["reason"])
    other_site = _bearer(issue_api_token(site.store, "assessor_uni", "other clinic"))
    elsewhere = site.client.get(f"{base}/visits", headers=other_site)
    assert "works at another site" in str(_error(elsewhere, 403)["reason"])
    assert site.client.get(f"{base}/visits").status_code == 401


def test_an_adverse_event_is_recorded_and_checked(site: Site) -> None:
    auth = _bearer(issue_api_token(site.store, "coord", "clinic system"))
    url = f"{_participant(site)}/adverse-events"
    event = {
        "term": "bruising at the needling site",
        "onset": "2025-03-05",
        "severity": "mild",
        "relatedness": "probable",
        "action": "ice",
        "outcome": "resolved",
        "duration_hours": 48,
    }
    saved = site.client.post(url, json=event, headers=auth)
    assert saved.status_code == 201, saved.text
    assert saved.json() | {"entered_at": "-"} == event | {
        "id": 1,
        "study_code": site.participant,
        "duration_hours": 48.0,
        "session": None,
        "version": 1,
        "current": True,
        "supersedes_id": None,
        "reason": None,
        "entered_by": "coord",
        "entered_at": "-",
    }
    cases = [
        ({"severity": "awful"}, 422, "severity", "allowed: mild, significant, serious"),
        ({"onset": "2025-03-11"}, 422, "onset", "after today"),
        ({"outcome": "fatal"}, 422, "severity", "serious when the outcome is fatal"),
        ({"term": " "}, 422, "term", "a non-blank text"),
        ({"duration_hours": -1}, 422, "duration_hours", "greater than or equal to 0"),
        ({"session": {"plan": "needling", "number": 1}}, 404, "session", "no recorded needling"),
    ]
    for change, status, field, reason in cases:
        error = _error(site.client.post(url, json=event | change, headers=auth), status)
        assert error["field"] == field, (change, error)
        assert reason in str(error["reason"]), (change, error)
    dm = _bearer(issue_api_token(site.store, "dm", "data office"))
    assert "may not ae" in str(_error(site.client.post(url, json=event, headers=dm), 403)["reason"])


def test_the_adverse_event_model_has_the_services_fields() -> None:
    assert list(AdverseEvent.model_fields) == list(AdverseEventRecord.__dataclass_fields__)


def test_no_participant_endpoint_gives_a_blinded_role_an_arm(site: Site) -> None:
    """Every participant endpoint, as every staff role, answers and errors included."""
    other = enrol(site.store, site="SEV", sex="male")
    tokens = {name: _bearer(issue_api_token(site.store, name, "matrix")) for name in STAFF}
    seen: dict[str, list[int]] = {}
    for number, (name, auth) in enumerate(tokens.items()):
        for code in (site.participant, other, "SEV-999"):
            base = f"/api/v1/participants/{code}"
            calls = [
                site.client.get(f"{base}/visits", headers=auth),
                site.client.get(f"{base}/visits/BL/responses", headers=auth),
                site.client.get(f"{base}/visits/T1/responses", headers=auth),
                site.client.post(
                    f"{base}/visits/BL/responses/vas_min",
                    json={"answers": {"mm": 33}, "done_on": "2025-03-03"},
                    headers=auth,
                ),
                site.client.post(
                    f"{base}/visits/BL/responses/vas_min/corrections",
                    json={"answers": {"mm": 40 + number}, "reason": f"checked by {name}"},
                    headers=auth,
                ),
                site.client.post(
                    f"{base}/adverse-events",
                    json={
                        "term": "soreness",
                        "onset": "2025-03-04",
                        "severity": "mild",
                        "relatedness": "possible",
                        "action": "none",
                        "outcome": "resolved",
                        "session": {"plan": "needling", "number": 1},
                    },
                    headers=auth,
                ),
            ]
            for response in calls:
                if name not in ("dm", "therapist"):
                    assert not ARM_WORDS.search(response.text), (name, code, response.text)
                seen.setdefault(name, []).append(response.status_code)
    assert set(seen["stats"]) == {403, 404}  # no visit lists for the statistician
    assert {200, 201} <= set(seen["coord"])
    assert 201 in seen["assessor"]
    assert 200 in seen["therapist"]
    assert 200 in seen["dm"]
