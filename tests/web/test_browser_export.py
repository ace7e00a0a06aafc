"""The data and account pages in a real browser at tablet width (768 px).

A statistician signs in, opens the data page of the locked study and downloads a blinded CSV
export (Playwright's download event); the test opens the zip: no arm column, no arm word in any
file, and the manifest says blinded. The data manager's data page (manifest, unlock and
unblinding forms) and the statistician's account page (before and after making a token) are
screenshotted into tmp_path and pass the page checks of tests/web/browser.py (no sideways
scrolling, a label on every input, touch targets of at least 44 px, no arm word on a blinded
role's page).

Chromium is Debian's package at /usr/bin/chromium, as in the other browser tests.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from physiotrial.services.access import set_password
from physiotrial.services.locking import current_manifest, lock
from physiotrial.web.app import create_app
from tests.report.test_browser import ARGS, CHROMIUM, _require_chromium
from tests.services.helpers_capture import enrol, make_study
from tests.services.test_blinding_matrix import ARM_WORDS
from tests.web.browser import WIDTH, check_page, serving
from tests.web.conftest import PASSWORD, SECRET

TARGETS = ", ".join(
    f"main {kind}"
    for kind in (
        "button",
        ".button",
        "label.choice",
        "label.check",
        "input[type=text]",
        "input[type=password]",
        "select",
    )
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The app on http://127.0.0.1:<port>; its study holds SEV-001 and is locked."""
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    store = make_study(url)
    enrol(store)
    lock(store, "dm", "blind review before the final analysis")
    for username in ("dm", "stats"):
        set_password(store, "dm", username, PASSWORD)
    app = create_app(tmp_path, url, secret=SECRET)
    try:
        with serving(app) as base:
            yield base, store
    finally:
        store.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def test_statistician_downloads_a_blinded_export(served: tuple[str, Any], tmp_path: Path) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    base, store = served
    manifest = current_manifest(store)
    assert manifest is not None
    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            stats = browser.new_page(viewport={"width": WIDTH, "height": 1024})
            stats.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(stats, base, "stats")
            stats.get_by_role("link", name="Data").click()
            stats.wait_for_url(f"{base}/data")
            assert stats.locator("#manifest-data-hash").inner_text() == manifest.data_hash
            assert stats.locator("#lock-status").inner_text() == "Locked"
            check_page(stats, shots, "1-data-statistician", TARGETS, blinded=True)
            stats.get_by_label("CSV").check()
            with stats.expect_download() as waiting:
                stats.get_by_role("button", name="Download the export").click()
            download = waiting.value
            name = download.suggested_filename
            assert name.startswith("physiotrial-export-")
            assert name.endswith("Z.zip")
            saved = tmp_path / name
            download.save_as(saved)
            _check_blinded_zip(saved, manifest.data_hash)

            stats.get_by_role("link", name="Account").click()
            stats.wait_for_url(f"{base}/account")
            check_page(stats, shots, "2-account-statistician", TARGETS, blinded=True)
            stats.get_by_label("What it is for").fill("R analysis script")
            stats.get_by_role("button", name="Create token").click()
            token = stats.get_by_role("textbox", name="API token").input_value()
            assert token.startswith("pt_")
            check_page(stats, shots, "3-account-new-token", TARGETS, blinded=True)
            stats.goto(f"{base}/account")
            assert token not in stats.content()

            dm = browser.new_context(viewport={"width": WIDTH, "height": 1024}).new_page()
            dm.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(dm, base, "dm")
            dm.goto(f"{base}/data")
            assert dm.get_by_label("Reason for unlocking").is_visible()
            assert dm.get_by_label("Reason for unblinding").is_visible()
            check_page(dm, shots, "4-data-data-manager", TARGETS)
            dm.get_by_role("button", name="Unlock the database").click()  # no reason given
            assert "reason: '' is blank" in dm.locator("#unlock-error").inner_text()
            check_page(dm, shots, "5-data-unlock-refused", TARGETS)
        finally:
            browser.close()
    assert errors == []
    assert len(list(shots.glob("*.png"))) == 5


def _check_blinded_zip(path: Path, data_hash: str) -> None:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        folder = names[0].split("/")[0]
        assert f"{folder}/manifest.json" in names
        assert f"{folder}/data_dictionary.csv" in names
        participants = archive.read(f"{folder}/participants.csv").decode("utf-8")
        (row,) = list(csv.DictReader(io.StringIO(participants)))
        assert "arm" not in row
        assert row["study_code"] == "SEV-001"
        for name in names:
            assert not ARM_WORDS.search(archive.read(name).decode("utf-8")), name
        manifest = json.loads(archive.read(f"{folder}/manifest.json"))
    assert manifest["blinded"] is True
    assert manifest["data_hash"] == data_hash
    assert manifest["exported_by"] == "stats"
