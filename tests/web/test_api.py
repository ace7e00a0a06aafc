"""The JSON API: bearer tokens, the three first endpoints, errors as JSON with field and reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from physiotrial.services.access import issue_api_token, revoke_api_token
from tests.web.conftest import NOW0, Site, sign_in

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
    assert set(document["paths"]) == {"/api/v1/me", "/api/v1/study", "/api/v1/visits/due"}
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
