"""Randomisations per second on SQLite and PostgreSQL, one process, in the same run.

Baseline: SQLite, the embedded default (WAL, synchronous FULL, ``BEGIN IMMEDIATE``). Measured:
PostgreSQL through psycopg 3 on the URL in ``PHYSIOTRIAL_BENCH_DATABASE_URL`` (or
``PHYSIOTRIAL_TEST_DATABASE_URL``, or a local server as user postgres); a scratch database is
created for the run and dropped afterwards. For each backend a fresh study is initialised (the
reference protocol, two strata of 200 sealed slots), N participants are screened and consented
(timed too, for context), then the N randomisations are timed: each one is a full service call
(user lookup, permission check, serialised write, slot selection, allocation, 7 planned visits,
status update, one audit row).

Usage: ``.venv/bin/python benchmarks/randomisation.py [N]`` (N defaults to 200).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from physiotrial.core.protocol import Role
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.randomisation import randomise, verify_randomisation
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store

DAY = date(2025, 3, 3)
ANSWERS: dict[str, object] = {
    "age": 63,
    "acr_knee_oa": "yes",
    "pain_months": 12,
    "popliteus_trigger_point": "yes",
    "needle_phobia": "no",
    "anticoagulants": "no",
    "recent_knee_procedure": "no",
    "other_lower_limb_condition": "no",
    "consent_capacity": "yes",
}
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _measure(url: str, n: int) -> dict[str, float]:
    """Seconds per phase for ``n`` participants on a fresh study at ``url``."""
    init_study(url, "popliteus-dn-koa", admin="admin", admin_name="Admin", seed="bench")
    store = Store(url)
    try:
        add_site(store, "admin", "SEV", "Seville")
        add_user(store, "admin", "carla", "Carla", Role.COORDINATOR, "SEV")
        started = time.perf_counter()
        codes = []
        for i in range(n):
            levels = {"sex": ("female", "male")[i % 2]}
            result = screen(store, "carla", "SEV", DAY, ANSWERS, levels, f"Person {i}")
            consent(store, "carla", result.study_code, "1.0", DAY)
            codes.append(result.study_code)
        enrolled = time.perf_counter()
        for code in codes:
            randomise(store, "carla", code, DAY)
        randomised = time.perf_counter()
        problems = verify_randomisation(store, "admin")
        verified = time.perf_counter()
        if problems:
            raise SystemExit(f"verification failed: {problems[:3]}")
        return {
            "enrol": enrolled - started,
            "randomise": randomised - enrolled,
            "verify": verified - randomised,
        }
    finally:
        store.close()


def _sqlite(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        return _measure(f"sqlite:///{Path(directory) / 'bench.sqlite'}", n)


def _postgresql(n: int) -> dict[str, float] | None:
    admin = (
        os.environ.get("PHYSIOTRIAL_BENCH_DATABASE_URL")
        or os.environ.get("PHYSIOTRIAL_TEST_DATABASE_URL")
        or PG_DEFAULT
    )
    name = f"physiotrial_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # no server: report and go on with SQLite only
        print(f"PostgreSQL not measured: {admin} is not reachable ({type(error).__name__})")
        engine.dispose()
        return None
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        return _measure(url, n)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _line(label: str, n: int, seconds: dict[str, float]) -> str:
    return (
        f"  {label:<22} randomise {n / seconds['randomise']:>7.1f}/s "
        f"({1000 * seconds['randomise'] / n:5.1f} ms each)   "
        f"screen+consent {n / seconds['enrol']:>6.1f}/s   verify all {seconds['verify']:.2f} s"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"Randomisation, {n} participants after screening and consent, one process")
    baseline = _sqlite(n)
    print(_line("SQLite (baseline)", n, baseline))
    measured = _postgresql(n)
    if measured is None:
        return
    print(_line("PostgreSQL", n, measured))
    ratio = baseline["randomise"] / measured["randomise"]
    print(f"  ratio PostgreSQL / SQLite baseline (randomisations per second): {ratio:.2f}x")


if __name__ == "__main__":
    main()
