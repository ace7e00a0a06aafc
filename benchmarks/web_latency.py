"""Latency of saving a visit form with 20 users at once, on SQLite and on PostgreSQL.

The app runs as ``physiotrial serve`` runs it: one uvicorn process (started here as a
subprocess, so the clients below do not share its interpreter), then again with one worker
process per core (``physiotrial serve --workers``), with other participants. Twenty assessors
of one site sign in through the sign-in form; each then repeatedly opens the baseline visit of a
participant of its own and saves the WOMAC form there: the real HTML form POST (24 items, the
visit date and the session's CSRF token), which the server checks, scores, stores with its audit
row and answers with a 303. Each save is for a different participant, so no two saves touch the
same visit.

Printed per backend: p50, p95 and max latency of the save (the POST alone) and of opening the
page before it, and saves per second. The named baselines, measured in the same run on the same
database: the same save by one user, one after another over HTTP (the server never has more than
one request), and the same ``services.capture.record`` call made directly, without HTTP.

The PostgreSQL server comes from PHYSIOTRIAL_BENCH_DATABASE_URL, else
PHYSIOTRIAL_TEST_DATABASE_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres (an
admin URL: a scratch database is created and dropped).

    .venv/bin/python benchmarks/web_latency.py [saves per user: 8] [baseline saves: 40]
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from physiotrial.core.instruments import get_instrument
from physiotrial.core.protocol import Role
from physiotrial.services.access import set_password
from physiotrial.services.capture import record
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.randomisation import randomise
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store

CLIENTS = 20
WORKERS = min(4, os.cpu_count() or 1)
"""Server processes of the second run: one per core, as `physiotrial serve --workers` advises."""
PASSWORD = "a benchmark password of some length"
ELIGIBLE = {
    "age": 63,
    "acr_knee_oa": True,
    "pain_months": 12,
    "popliteus_trigger_point": True,
    "needle_phobia": False,
    "anticoagulants": False,
    "recent_knee_procedure": False,
    "other_lower_limb_condition": False,
    "consent_capacity": True,
}
DAY0 = date.today() - timedelta(days=2)
"""Randomisation and baseline day of every participant (the server's clock is the real one)."""
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Timings:
    """Seconds per request, and what went wrong (status and the start of the body)."""

    page: list[float] = field(default_factory=list)
    save: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0


def _answers(seed: int) -> dict[str, int]:
    items = get_instrument("womac").item_ids
    codes = np.random.default_rng(seed).integers(0, 5, size=len(items))
    return {item: int(code) for item, code in zip(items, codes, strict=True)}


def _study(url: str, participants: int) -> list[str]:
    """A reference-trial study with one site, a coordinator, CLIENTS assessors with passwords,
    and ``participants`` randomised participants whose baseline visit was on DAY0."""
    init_study(url, "popliteus-dn-koa", admin="dm", admin_name="Data manager", seed="bench")
    store = Store(url)
    try:
        add_site(store, "dm", "SEV", "Seville")
        add_user(store, "dm", "coord", "Coordinator", Role.COORDINATOR, "SEV")
        for n in range(CLIENTS):
            add_user(store, "dm", f"assessor{n:02d}", f"Assessor {n}", Role.ASSESSOR, "SEV")
            set_password(store, "dm", f"assessor{n:02d}", PASSWORD)
        codes = []
        for i in range(participants):
            sex = ("female", "male")[i % 2]
            person = screen(
                store, "coord", "SEV", DAY0 - timedelta(7), ELIGIBLE, {"sex": sex}, f"P{i}"
            )
            consent(store, "coord", person.study_code, "1.0", DAY0 - timedelta(5))
            randomise(store, "coord", person.study_code, DAY0)
            codes.append(person.study_code)
        return codes
    finally:
        store.close()


def _direct(url: str, codes: list[str]) -> Timings:
    """The baseline without HTTP: ``services.capture.record``, one call after another."""
    timings = Timings()
    store = Store(url)
    try:
        started = time.perf_counter()
        for i, code in enumerate(codes):
            begun = time.perf_counter()
            record(store, "assessor00", code, "BL", "womac", _answers(i), DAY0, date.today())
            timings.save.append(time.perf_counter() - begun)
        timings.wall = time.perf_counter() - started
    finally:
        store.close()
    return timings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serving(url: str, directory: Path, workers: int = 1) -> Iterator[tuple[str, Path]]:
    """The app under uvicorn in its own process (as ``physiotrial serve`` runs it); yields the
    base URL and the server's log file."""
    port = _free_port()
    log = directory / "server.log"
    env = os.environ | {
        "PHYSIOTRIAL_STUDY": str(directory),
        "PHYSIOTRIAL_DATABASE_URL": url,
        "PHYSIOTRIAL_SECRET_KEY": secrets.token_urlsafe(32),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory"]
    command += ["physiotrial.web.app:app_from_environment", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    with log.open("w") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    if found is None:
        raise RuntimeError(f"no CSRF token in the page: {html[:300]}")
    return found.group(1)


def _signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=120)
    form = {"csrf_token": _csrf(client.get("/login").text), "username": username}
    answer = client.post("/login", data=form | {"password": PASSWORD, "next": ""})
    if answer.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {answer.status_code}")
    return client


def _save_forms(client: httpx.Client, codes: list[str], seed: int, timings: Timings) -> None:
    """Open each participant's baseline visit and save its WOMAC form, as a browser would."""
    for i, code in enumerate(codes):
        path = f"/participants/{code}/visits/BL"
        begun = time.perf_counter()
        page = client.get(path)
        opened = time.perf_counter()
        form = {f"womac.{item}": str(v) for item, v in _answers(seed + i).items()}
        form |= {"csrf_token": _csrf(page.text), "done_on": DAY0.isoformat()}
        answer = client.post(f"{path}/record/womac", data=form)
        saved = time.perf_counter()
        timings.page.append(opened - begun)
        timings.save.append(saved - opened)
        if answer.status_code != 303 or "saved=womac" not in answer.headers.get("location", ""):
            timings.errors.append(f"{answer.status_code} {answer.text[:200]!r}")


def _over_http(
    url: str, directory: Path, one: list[str], many: list[list[str]], workers: int = 1
) -> list[Timings]:
    """One user saving ``one`` sequentially, then CLIENTS users saving ``many`` at once, on a
    server of ``workers`` processes."""
    with _serving(url, directory, workers) as (base, log):
        clients = [_signed_in(base, f"assessor{n:02d}") for n in range(CLIENTS)]
        alone = Timings()
        started = time.perf_counter()
        _save_forms(clients[0], one, 1000, alone)
        alone.wall = time.perf_counter() - started
        together = Timings()
        go = threading.Barrier(CLIENTS + 1)

        def user(n: int) -> None:
            go.wait()
            _save_forms(clients[n], many[n], 2000 + 100 * n, together)

        threads = [threading.Thread(target=user, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        go.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        together.wall = time.perf_counter() - started
        for client in clients:
            client.close()
        locked = log.read_text().lower().count("database is locked")
        if locked:
            together.errors.append(f"server log: 'database is locked' {locked} times")
    return [alone, together]


def _stored(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("select count(*) from responses")).scalar_one())
    finally:
        engine.dispose()


def measure(url: str, directory: Path, per_user: int, baseline: int) -> dict[str, Timings]:
    codes = _study(url, 2 * baseline + 2 * CLIENTS * per_user)
    direct = _direct(url, codes[:baseline])
    one = codes[baseline : 2 * baseline]
    rest = codes[2 * baseline :]
    many = [rest[n * per_user : (n + 1) * per_user] for n in range(2 * CLIENTS)]
    alone, together = _over_http(url, directory, one, many[:CLIENTS])
    _, spread = _over_http(url, directory, [], many[CLIENTS:], workers=WORKERS)
    expected = 2 * baseline + 2 * CLIENTS * per_user
    if _stored(url) != expected and not (together.errors or spread.errors):
        spread.errors.append(f"{_stored(url)} responses stored, {expected} saved")
    return {
        "services.capture.record, direct": direct,
        "1 user, sequential (baseline)": alone,
        f"{CLIENTS} users at once": together,
        f"{CLIENTS} users at once, {WORKERS} workers": spread,
    }


@contextmanager
def _sqlite() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'bench.sqlite'}", Path(directory)


@contextmanager
def _postgresql() -> Iterator[tuple[str, Path]]:
    admin = (
        os.environ.get("PHYSIOTRIAL_BENCH_DATABASE_URL")
        or os.environ.get("PHYSIOTRIAL_TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"physiotrial_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as directory:
            url = make_url(admin).set(database=name).render_as_string(hide_password=False)
            yield url, Path(directory)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _ms(values: list[float], q: float) -> str:
    return f"{1000 * float(np.percentile(values, q)):8.1f}" if values else f"{'-':>8}"


def report(backend: str, runs: dict[str, Timings]) -> None:
    print(f"\n{backend}: saving the WOMAC form of a baseline visit (latency in ms)")
    print("  (saves/s: per second of wall time; over HTTP each save follows opening its page)")
    print(f"  {'':34} {'p50':>8} {'p95':>8} {'max':>8} {'saves/s':>8}  page p50 / p95")
    for name, t in runs.items():
        rate = len(t.save) / t.wall if t.wall else 0.0
        page = f"{_ms(t.page, 50)} / {_ms(t.page, 95).strip()}" if t.page else ""
        row = f"  {name:34} {_ms(t.save, 50)} {_ms(t.save, 95)} {_ms(t.save, 100)}"
        print(f"{row} {rate:8.1f} {page}")
    alone, together = runs["1 user, sequential (baseline)"], runs[f"{CLIENTS} users at once"]
    spread = runs[f"{CLIENTS} users at once, {WORKERS} workers"]
    direct = runs["services.capture.record, direct"]
    p50 = np.percentile(together.save, 50) / np.percentile(alone.save, 50)
    p95 = np.percentile(together.save, 95) / np.percentile(alone.save, 95)
    rate = (len(together.save) / together.wall) / (len(alone.save) / alone.wall)
    http = np.percentile(alone.save, 50) / np.percentile(direct.save, 50)
    print(f"  {CLIENTS} users vs 1 user: p50 {p50:.1f}x, p95 {p95:.1f}x, throughput {rate:.1f}x")
    print(f"  1 user over HTTP vs the direct service call: p50 {http:.1f}x")
    p95_spread = np.percentile(together.save, 95) / np.percentile(spread.save, 95)
    rate_spread = (len(spread.save) / spread.wall) / (len(together.save) / together.wall)
    print(
        f"  {WORKERS} workers vs 1 ({CLIENTS} users): p95 {p95_spread:.1f}x lower, "
        f"throughput {rate_spread:.1f}x"
    )
    failures = alone.errors + together.errors + spread.errors
    print(f"  failed saves: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))


def main() -> None:
    per_user = int(sys.argv[1]) if len(sys.argv) > 1 else 8  # 400 in all: 2 x 200 slots
    baseline = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    print(
        f"{CLIENTS} assessors, {per_user} saves each, at once; baselines: {baseline} saves by "
        f"one user over HTTP, {baseline} direct service calls; one uvicorn process, then "
        f"{WORKERS} (physiotrial serve --workers {WORKERS})"
    )
    for backend, database in (("SQLite", _sqlite), ("PostgreSQL", _postgresql)):
        with database() as (url, directory):
            report(backend, measure(url, directory, per_user, baseline))


if __name__ == "__main__":
    main()
