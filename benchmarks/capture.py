"""Responses recorded per second through ``services.capture.record``, SQLite against PostgreSQL.

Each ``record`` is one write transaction: check the actor, the participant, the visit and the
measure against the protocol, score the answers with core, insert the response and its audit row
(hash-chained), and mark the visit done. The named baseline is the embedded default, SQLite (WAL,
synchronous FULL), measured in the same run; PostgreSQL is the multi-site backend. Also printed:
core scoring alone (``score_response``, no database), to show how much of a record is the store.

The PostgreSQL server comes from PHYSIOTRIAL_BENCH_DATABASE_URL, else
PHYSIOTRIAL_TEST_DATABASE_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres (an
admin URL: a scratch database is created and dropped).

    .venv/bin/python benchmarks/capture.py [responses]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.core.protocol import Role
from physiotrial.services.capture import record
from physiotrial.services.enrolment import consent, screen
from physiotrial.services.randomisation import randomise
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store.store import Store

VISITS = {"BL": 0, "W3": 21, "M3": 90, "M6": 180}
"""The visits that capture WOMAC in the reference trial, with their planned day."""
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
DAY0 = date(2025, 1, 6)
TODAY = date(2026, 1, 1)


def _answers(count: int) -> list[dict[str, object]]:
    items = get_instrument("womac").item_ids
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 5, size=(count, len(items)))
    return [dict(zip(items, map(int, row), strict=True)) for row in codes]


def _study(url: str, participants: int) -> tuple[Store, list[str]]:
    init_study(url, "popliteus-dn-koa", admin="dm", admin_name="Data manager", seed="bench")
    store = Store(url)
    add_site(store, "dm", "SEV", "Seville")
    add_user(store, "dm", "coord", "Coordinator", Role.COORDINATOR, "SEV")
    add_user(store, "dm", "patient", "Participant", Role.PARTICIPANT)
    codes = []
    for i in range(participants):
        day0 = DAY0 + timedelta(days=i % 30)
        sex = ("female", "male")[i % 2]
        person = screen(store, "coord", "SEV", day0, ELIGIBLE, {"sex": sex}, f"P{i}")
        consent(store, "coord", person.study_code, "1.0", day0)
        randomise(store, "coord", person.study_code, day0)
        codes.append(person.study_code)
    return store, codes


def _record_all(url: str, answers: list[dict[str, object]]) -> float:
    """Seconds to record every answer set as WOMAC at BL, W3, M3, M6 of successive participants."""
    store, codes = _study(url, -(-len(answers) // len(VISITS)))
    try:
        jobs = [
            (code, visit, DAY0 + timedelta(days=i % 30 + day))
            for i, code in enumerate(codes)
            for visit, day in VISITS.items()
        ][: len(answers)]
        started = time.perf_counter()
        for (code, visit, done_on), given in zip(jobs, answers, strict=True):
            record(store, "patient", code, visit, "womac", given, done_on, today=TODAY)
        return time.perf_counter() - started
    finally:
        store.close()


@contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'bench.sqlite'}"


@contextmanager
def _postgresql() -> Iterator[str]:
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
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    answers = _answers(count)
    womac = get_instrument("womac")
    started = time.perf_counter()
    for given in answers:
        score_response(womac, given)
    scoring = time.perf_counter() - started
    with _sqlite() as url:
        sqlite = _record_all(url, answers)
    with _postgresql() as url:
        postgresql = _record_all(url, answers)
    print(f"WOMAC responses recorded through services.capture.record: {count:,}")
    print(f"  core scoring alone (no database):  {count / scoring:>9,.0f} responses/s")
    print(f"  SQLite (baseline, WAL, sync FULL):  {count / sqlite:>9,.0f} responses/s")
    print(f"  PostgreSQL:                         {count / postgresql:>9,.0f} responses/s")
    print(f"  ratio PostgreSQL / SQLite throughput: {sqlite / postgresql:.2f}x")
    each = {
        name: 1000 * seconds / count
        for name, seconds in (("SQLite", sqlite), ("PostgreSQL", postgresql), ("scoring", scoring))
    }
    print(
        f"  per response: SQLite {each['SQLite']:.1f} ms, PostgreSQL {each['PostgreSQL']:.1f} ms"
        f" (core scoring {each['scoring']:.2f} ms of it)"
    )


if __name__ == "__main__":
    main()
