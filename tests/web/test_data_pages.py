"""The data page: lock state, lock/unlock/unblind forms, export and report downloads.

Run on SQLite and PostgreSQL through the ``site`` fixture (SEV-001 randomised at SEV; the clock at
2025-03-10 09:00 UTC). Exports are opened and read: member names, CSV headers and rows, and the
manifest's blinded flag; a blinded role's zip holds no arm word anywhere, while the data
manager's has the arm column (which proves the search would find one). The report download needs
a study big enough to analyse and draw: a simulated, locked study on SQLite, built once for the
module because simulating, analysing and drawing take several seconds.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from physiotrial.core.protocol import Role
from physiotrial.services.access import set_password, shown
from physiotrial.services.locking import current_manifest, lock
from physiotrial.services.protocols import load_protocol
from physiotrial.services.session import Store
from physiotrial.services.study import add_user, init_study, study_info
from physiotrial.simulate.driver import simulate_study
from physiotrial.web.app import create_app
from tests.services.helpers_capture import arm_of
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.conftest import PASSWORD, SECRET, Clock, Page, Site, csrf_of, sign_in

STAMP = "20250310T090000Z"
"""The conftest clock (NOW0) as it appears in download names."""


def _signed_in(client: TestClient, username: str) -> Page:
    """Sign ``username`` in and return their data page."""
    assert sign_in(client, username).status_code == 303
    page = client.get("/data")
    assert page.status_code == 200
    return page


def _post(client: TestClient, path: str, page: Page, **form: str) -> Page:
    return client.post(path, data={"csrf_token": csrf_of(page), **form}, follow_redirects=False)


def _export(client: TestClient, page: Page, fmt: str = "csv") -> tuple[Page, zipfile.ZipFile]:
    response = _post(client, "/data/export", page, format=fmt)
    assert response.status_code == 200, response.text[:400]
    assert response.headers["content-type"] == "application/zip"
    return response, zipfile.ZipFile(io.BytesIO(response.content))


def _csv(archive: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(member).decode("utf-8"))))


def _header(archive: zipfile.ZipFile, member: str) -> list[str]:
    return archive.read(member).decode("utf-8").splitlines()[0].split(",")


def _scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the app's temporary directories under here, to see that they are removed."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


# --- lock state, lock, unlock, unblind --------------------------------------------------------


def test_the_data_manager_locks_and_everyone_sees_the_manifest(site: Site) -> None:
    page = _signed_in(site.client, "dm")
    assert 'id="lock-status">Not locked' in page.text
    assert 'action="/data/lock"' in page.text
    response = _post(site.client, "/data/lock", page, reason="all M6 visits done; queries closed")
    assert (response.status_code, response.headers["location"]) == (303, "/data?done=lock")
    manifest = current_manifest(site.store)
    assert manifest is not None
    assert manifest.locked_by == "dm"
    text = site.client.get("/data?done=lock").text
    assert "The study database is locked." in text
    assert f'id="manifest-data-hash">{manifest.data_hash}</dd>' in text
    assert f'id="manifest-protocol-hash">{manifest.protocol_hash}</dd>' in text
    assert f'id="manifest-software-version">{manifest.software_version}</dd>' in text
    assert f'id="manifest-locked-at">{shown(manifest.locked_at)}</dd>' in text
    assert 'action="/data/unlock"' in text
    assert 'action="/data/lock"' not in text
    for username in ("stats", "coord", "assessor"):
        other = site.browser()
        seen = _signed_in(other, username).text
        assert f'id="manifest-data-hash">{manifest.data_hash}</dd>' in seen, username
        assert "/data/unlock" not in seen, username
        assert "/data/unblind" not in seen, username
        assert not ARM_WORDS.search(seen), username
    assert 'id="export-heading"' not in seen  # the assessor (last) has no export


def test_lock_without_a_reason_is_refused_naming_the_field(site: Site) -> None:
    page = _signed_in(site.client, "dm")
    response = _post(site.client, "/data/lock", page, reason="   ")
    assert response.status_code == 422
    assert "reason: &#39;   &#39; is blank" in response.text
    assert 'id="lock-error"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert current_manifest(site.store) is None


def test_unlock_when_not_locked_shows_the_services_conflict(site: Site) -> None:
    page = _signed_in(site.client, "dm")
    response = _post(site.client, "/data/unlock", page, reason="reopen queries")
    assert response.status_code == 409
    assert "the study database is not locked; there is nothing to unlock" in response.text
    assert 'id="unlock-error"' in response.text


def test_unlock_reopens_the_database(site: Site) -> None:
    lock(site.store, "dm", "interim freeze")
    page = _signed_in(site.client, "dm")
    response = _post(site.client, "/data/unlock", page, reason="late queries to resolve")
    assert (response.status_code, response.headers["location"]) == (303, "/data?done=unlock")
    assert current_manifest(site.store) is None
    assert "data entry and corrections are open again" in site.client.get("/data?done=unlock").text


def test_unblinding_needs_the_lock_a_reason_and_the_tick(site: Site) -> None:
    page = _signed_in(site.client, "dm")
    assert "can be unblinded only after the database lock" in page.text
    early = _post(site.client, "/data/unblind", page, reason="final analysis", confirm="yes")
    assert early.status_code == 409
    assert "the study is not locked" in early.text
    lock(site.store, "dm", "final lock")
    page = site.client.get("/data")
    unticked = _post(site.client, "/data/unblind", page, reason="final analysis")
    assert unticked.status_code == 422
    assert "confirm: &#39;&#39; is not a confirmation" in unticked.text
    assert 'value="final analysis"' in unticked.text  # the reason is kept
    assert study_info(site.store).unblinded is False
    done = _post(site.client, "/data/unblind", page, reason="final analysis", confirm="yes")
    assert (done.status_code, done.headers["location"]) == (303, "/data?done=unblind")
    assert study_info(site.store).unblinded is True
    assert 'id="unblind-state">The whole study is unblinded' in site.client.get("/data").text


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("stats", "/data/lock"),
        ("coord", "/data/unlock"),
        ("therapist", "/data/unblind"),
        ("assessor", "/data/export"),
        ("therapist", "/data/export"),
        ("coord", "/data/report"),
        ("assessor", "/data/report"),
    ],
)
def test_roles_without_the_action_are_refused(site: Site, username: str, path: str) -> None:
    page = _signed_in(site.client, username)
    response = _post(site.client, path, page, reason="because", format="csv", confirm="yes")
    assert response.status_code == 403
    assert "may not" in response.text
    assert current_manifest(site.store) is None
    assert study_info(site.store).unblinded is False


@pytest.mark.parametrize("path", ["/data/lock", "/data/export", "/data/unblind", "/data/report"])
def test_a_post_without_the_csrf_token_is_refused(site: Site, path: str) -> None:
    _signed_in(site.client, "dm")
    response = site.client.post(path, data={"reason": "x", "format": "csv", "confirm": "yes"})
    assert response.status_code == 403
    assert "missing or wrong CSRF token" in response.text
    assert current_manifest(site.store) is None


def test_the_page_offers_only_what_the_role_may_do(site: Site) -> None:
    offered = {
        "dm": {"/data/lock", "/data/export", "/data/report?format=html"},
        "stats": {"/data/export", "/data/report?format=html"},
        "coord": {"/data/export"},
        "therapist": set(),
    }
    forms = ("/data/lock", "/data/export", "/data/report?format=html")
    for username, expected in offered.items():
        text = _signed_in(site.browser(), username).text
        assert {f for f in forms if f'action="{f}"' in text} == expected, username


# --- export ---------------------------------------------------------------------------------


def test_the_data_managers_export_has_the_arm(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = _scratch(tmp_path, monkeypatch)
    page = _signed_in(site.client, "dm")
    started = time.perf_counter()
    response, archive = _export(site.client, page)
    print(f"export download (csv, dm): {time.perf_counter() - started:.2f} s")
    study = study_info(site.store).study_id
    folder = f"physiotrial-export-{study}-{STAMP}"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{folder}.zip"'
    names = archive.namelist()
    assert all(n.startswith(f"{folder}/") for n in names)
    short = {n.removeprefix(f"{folder}/") for n in names}
    tables = {"participants", "visits", "scores", "item_answers", "sessions"}
    tables |= {"adverse_events", "dispositions", "deviations"}
    assert short == {f"{t}.csv" for t in tables} | {"data_dictionary.csv", "manifest.json"}
    assert "arm" in _header(archive, f"{folder}/participants.csv")
    (row,) = _csv(archive, f"{folder}/participants.csv")
    assert (row["study_code"], row["site"]) == (site.participant, "SEV")
    assert row["arm"] == arm_of(site.store, site.participant)
    assert row["randomised_on"] == "2025-03-03"
    manifest = json.loads(archive.read(f"{folder}/manifest.json"))
    assert (manifest["blinded"], manifest["exported_by"], manifest["study_id"]) == (
        False,
        "dm",
        study,
    )
    assert manifest["locked"] is False
    assert manifest["data_hash"] is None
    dictionary = _csv(archive, f"{folder}/data_dictionary.csv")
    assert any(d["table"] == "participants" and d["column"] == "arm" for d in dictionary)
    assert ARM_WORDS.search(archive.read(f"{folder}/participants.csv").decode())
    assert list(scratch.iterdir()) == []  # the temporary directory is gone once sent


@pytest.mark.parametrize("username", ["stats", "coord"])
def test_a_blinded_export_holds_no_arm_anywhere(site: Site, username: str) -> None:
    lock(site.store, "dm", "blind review")
    page = _signed_in(site.client, username)
    assert not ARM_WORDS.search(page.text)
    _, archive = _export(site.client, page)
    folder = archive.namelist()[0].split("/")[0]
    assert "arm" not in _header(archive, f"{folder}/participants.csv")
    (row,) = _csv(archive, f"{folder}/participants.csv")
    assert (row["study_code"], row["status"]) == (site.participant, "randomised")
    for name in archive.namelist():
        text = archive.read(name).decode("utf-8")
        assert not ARM_WORDS.search(text), (username, name)
    manifest = json.loads(archive.read(f"{folder}/manifest.json"))
    assert (manifest["blinded"], manifest["role"]) == (True, Role(_ROLE[username]).value)
    locked = current_manifest(site.store)
    assert locked is not None
    assert manifest["data_hash"] == locked.data_hash
    assert manifest["site_only"] is (username == "coord")


_ROLE = {"stats": "statistician", "coord": "coordinator"}


def test_parquet_export_after_unblinding_gives_the_statistician_the_arm(site: Site) -> None:
    from physiotrial.services.randomisation import unblind_study

    lock(site.store, "dm", "final lock")
    unblind_study(site.store, "dm", "final analysis")
    page = _signed_in(site.client, "stats")
    _, archive = _export(site.client, page, "parquet")
    folder = archive.namelist()[0].split("/")[0]
    assert f"{folder}/participants.parquet" in archive.namelist()
    assert f"{folder}/participants.csv" not in archive.namelist()
    table = pq.read_table(io.BytesIO(archive.read(f"{folder}/participants.parquet")))
    assert table.column("arm").to_pylist() == [arm_of(site.store, site.participant)]
    assert json.loads(archive.read(f"{folder}/manifest.json"))["blinded"] is False


def test_an_unknown_export_format_is_refused_naming_the_field(site: Site) -> None:
    page = _signed_in(site.client, "stats")
    response = _post(site.client, "/data/export", page, format="xlsx")
    assert response.status_code == 422
    assert "format: &#39;xlsx&#39; is not an export format; allowed: csv, parquet" in response.text
    assert 'id="export-error"' in response.text


# --- report ---------------------------------------------------------------------------------


def test_a_report_of_an_unlocked_study_shows_why_not(site: Site) -> None:
    page = _signed_in(site.client, "stats")
    response = _post(site.client, "/data/report?format=html", page)
    assert response.status_code == 409
    assert "the study database is not locked; analyse needs a locked database" in response.text
    assert 'id="report-error"' in response.text


def test_a_report_with_almost_no_data_is_still_a_report_not_a_500(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One randomised participant without follow-up: effect sizes have no CI, and the report is
    drawn anyway (the forest plot skips undefined intervals), blinded for the statistician."""
    scratch = _scratch(tmp_path, monkeypatch)
    lock(site.store, "dm", "early look")
    page = _signed_in(site.client, "stats")
    response = _post(site.client, "/data/report?format=html", page)
    assert response.status_code == 200, response.text[:600]
    assert "attachment" in response.headers["content-disposition"]
    assert "<html" in response.text
    assert not ARM_WORDS.search(response.text)
    assert list(scratch.iterdir()) == []


def test_an_unknown_report_format_is_refused(site: Site) -> None:
    page = _signed_in(site.client, "dm")
    response = _post(site.client, "/data/report?format=docx", page)
    assert response.status_code == 422
    assert "format: &#39;docx&#39; is not a report format; allowed: html, pdf" in response.text


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Store]]:
    """A locked, simulated reference trial (10 randomised) on SQLite, served by the app."""
    directory = tmp_path_factory.mktemp("simulated")
    url = f"sqlite:///{directory / 'study.sqlite'}"
    init_study(url, "popliteus-dn-koa", admin="dm", admin_name="Dana Manager", seed="web-report")
    store = Store(url)
    add_user(store, "dm", "stats", "Sam Statistician", Role.STATISTICIAN)
    simulate_study(store, load_protocol("popliteus-dn-koa"), 10, 2025)
    lock(store, "dm", "final lock for the report test")
    for username in ("dm", "stats"):
        set_password(store, "dm", username, PASSWORD)
    app = create_app(directory, url, secret=SECRET, now=Clock())
    with TestClient(app) as client:
        yield client, store
    store.close()


def test_the_blinded_statistician_downloads_an_a_b_report(
    simulated: tuple[TestClient, Store], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = _scratch(tmp_path, monkeypatch)
    client, store = simulated
    page = _signed_in(client, "stats")
    started = time.perf_counter()
    response = _post(client, "/data/report?format=html", page)
    print(f"report download (html, blinded stats): {time.perf_counter() - started:.2f} s")
    assert response.status_code == 200, response.text[:400]
    study = study_info(store).study_id
    name = f"physiotrial-report-{study}-{STAMP}.html"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert html.startswith("<!DOCTYPE html>")
    manifest = current_manifest(store)
    assert manifest is not None
    assert manifest.data_hash in html
    assert not ARM_WORDS.search(html)
    assert ">A<" in html
    assert ">B<" in html
    assert list(scratch.iterdir()) == []  # the temporary directory is gone once sent


def test_the_data_manager_downloads_the_pdf_report(simulated: tuple[TestClient, Store]) -> None:
    client, _store = simulated
    browser = TestClient(client.app)
    page = _signed_in(browser, "dm")
    started = time.perf_counter()
    response = _post(browser, "/data/report?format=pdf", page)
    print(f"report download (pdf, dm): {time.perf_counter() - started:.2f} s")
    assert response.status_code == 200, response.text[:400]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].endswith('.pdf"')
    assert response.content[:5] == b"%PDF-"
    assert len(response.content) > 20_000
