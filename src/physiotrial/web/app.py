"""The web app: :func:`create_app` builds it for one study; ``physiotrial serve`` runs it.

The study's store is opened once, when the app is built (so a wrong directory or URL fails at
start, not at the first request), and closed when the server shuts down. Settings resolve as in
the CLI (``Settings.resolve``: ``--database``, then ``PHYSIOTRIAL_DATABASE_URL``, then the SQLite
file in the study directory).

The session secret signs every session cookie. It comes from ``secret=`` when given, else from
the environment variable ``PHYSIOTRIAL_SECRET_KEY`` (read by ``Settings``; give every server of
a multi-site deployment the same one), else it is generated once (32 random bytes) and stored
in the study directory as ``web-secret.key`` with mode 0600, readable by the server's user only;
a key file that others may read is refused. Replacing the secret signs everybody out.

Every response carries security headers (no framing, no MIME sniffing, a same-origin content
security policy, no referrer to other sites); pages are never cached (``no-store``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from physiotrial import __version__
from physiotrial.errors import OutputFileError
from physiotrial.services.session import open_study
from physiotrial.settings import SECRET_ENV, Settings
from physiotrial.web import errors
from physiotrial.web.deps import WebState
from physiotrial.web.routes import (
    account,
    api,
    clinic,
    downloads,
    enrolment,
    events,
    links,
    oversight,
    pages,
    participant_list,
    participants,
    treatment,
    visits,
)
from physiotrial.web.sessions import COOKIE, SessionCodec
from physiotrial.web.templating import STATIC

SECRET_FILE = "web-secret.key"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    ),
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    study_dir: Path,
    database: str | None = None,
    *,
    secret: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The web app of the study in ``study_dir`` (or at ``database``).

    ``now`` is the clock (timezone-aware; UTC by default): tests pass their own to move time.
    """
    settings = Settings.resolve(study_dir, database)
    store = open_study(settings.database_url)
    try:
        codec = SessionCodec(secret or session_secret(settings))
    except Exception:
        store.close()
        raise
    state = WebState(settings=settings, store=store, codec=codec, now=now or _utc_now)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="physiotrial",
        version=__version__,
        summary="Sham-controlled physiotherapy trials: the JSON API over the study's services.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{api.PREFIX}/openapi.json",
    )
    app.state.web = state
    errors.install(app)
    app.middleware("http")(_session_cookie_and_headers)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(enrolment.router)
    app.include_router(participants.router)
    app.include_router(visits.router)
    app.include_router(links.router)
    for pages_router in (
        participant_list,
        treatment,
        events,
        oversight,
        downloads,
        account,
        clinic,
    ):
        app.include_router(pages_router.router)
    return app


async def _session_cookie_and_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Write back the session the request ended with (deps.keep_session/drop_session) and add
    the security headers."""
    response = await call_next(request)
    state = request.app.state.web
    assert isinstance(state, WebState)
    kept = getattr(request.state, "session_out", None)
    secure = request.url.scheme == "https"
    if kept is not None:
        response.set_cookie(
            COOKIE,
            state.codec.dumps(kept),
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
        )
    elif getattr(request.state, "session_drop", False):
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="lax")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def session_secret(settings: Settings) -> str:
    """The secret that signs session cookies: ``PHYSIOTRIAL_SECRET_KEY``, else the study
    directory's key file, created on first use with mode 0600 (see the module docstring)."""
    from_env = settings.secret_key
    if from_env:
        if len(from_env) < 32:
            raise errors.SettingError(
                f"{SECRET_ENV}: {len(from_env)} characters is too short; allowed: 32 or more"
            )
        return from_env
    path = settings.directory / SECRET_FILE
    if not path.exists():
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise errors.SettingError(
            f"{path}: the session secret is readable by other users (mode {mode:04o}); "
            f"allowed: 0600 (run: chmod 600 {path})"
        )
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise errors.SettingError(
            f"{path}: the session secret has {len(key)} characters; allowed: 32 or more "
            "(delete the file and a new one is made at the next start)"
        )
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file, then link it into place: two servers
    starting at once end up with the same key (the second link fails and its key is dropped)."""
    temporary = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        with suppress(FileExistsError):
            os.link(temporary, path)
    except OSError as error:
        raise OutputFileError(
            f"{path}: cannot store the session secret ({error.strerror}); make the study "
            f"directory writable or set {SECRET_ENV}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)


def app_from_environment() -> FastAPI:
    """The app ``physiotrial serve`` runs (an ASGI factory uvicorn imports by name): the study
    directory from ``PHYSIOTRIAL_STUDY``, the database as ``Settings.resolve`` finds it."""
    return create_app(Settings.from_environment().directory)
