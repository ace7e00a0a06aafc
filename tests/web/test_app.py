"""Building the app: the session secret, a study that is not there, and ``physiotrial serve``."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from physiotrial.cli import app as cli
from physiotrial.errors import StoreError
from physiotrial.services.study import init_study
from physiotrial.settings import DATABASE_ENV, SECRET_ENV, STUDY_ENV, Settings
from physiotrial.web.app import SECRET_FILE, app_from_environment, create_app, session_secret
from physiotrial.web.errors import SettingError


def test_the_secret_comes_from_the_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "s" * 40)
    assert session_secret(Settings.resolve(tmp_path)) == "s" * 40
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(SettingError, match="PHYSIOTRIAL_SECRET_KEY: 5 characters is too short"):
        session_secret(Settings.resolve(tmp_path))
    assert not (tmp_path / SECRET_FILE).exists()


def test_the_secret_is_made_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    settings = Settings.resolve(tmp_path)
    first = session_secret(settings)
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert session_secret(settings) == first
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary file left
    path.chmod(0o644)
    with pytest.raises(SettingError, match=r"readable by other users \(mode 0644\)"):
        session_secret(settings)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(SettingError, match="5 characters; allowed: 32 or more"):
        session_secret(settings)


def test_a_short_secret_is_refused(database_url: str, tmp_path: Path) -> None:
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="Dana")
    with pytest.raises(SettingError, match="9 characters is too short; allowed: 32 or more"):
        create_app(tmp_path, database_url, secret="too-short")


def test_no_study_there_fails_when_the_app_is_built(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no study here"):
        create_app(tmp_path, secret="s" * 40)


def test_serve_runs_uvicorn_on_the_study(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="Dana")
    for name in (STUDY_ENV, DATABASE_ENV, SECRET_ENV):
        monkeypatch.setenv(name, "restored after the test")
    monkeypatch.delenv(SECRET_ENV)
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: calls.append((app, options)))
    arguments = ["serve", str(tmp_path), "--database", database_url, "--port", "8123"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert f"serving {tmp_path} at http://127.0.0.1:8123/" in result.output
    target, options = calls[0]
    assert target == "physiotrial.web.app:app_from_environment"
    assert options == {"factory": True, "host": "127.0.0.1", "port": 8123, "proxy_headers": True}
    assert (os.environ[STUDY_ENV], os.environ[DATABASE_ENV]) == (str(tmp_path), database_url)
    with TestClient(app_from_environment()) as client:  # what uvicorn would build
        assert client.get("/login").status_code == 200
    assert (tmp_path / SECRET_FILE).exists()
    arguments += ["--workers", "2"]
    assert CliRunner().invoke(cli, arguments).exit_code == 0
    assert calls[1][1]["workers"] == 2


def test_serve_without_a_study_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "error: no study here" in result.output
