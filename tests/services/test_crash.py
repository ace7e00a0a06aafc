"""A killed process loses no committed write and leaves no half-written one (DESIGN.md).

A child process streams writes through the services (``add_site`` then ``add_user`` bound to that
site, each its own transaction and audit row) and prints each id only after the call returned,
i.e. after COMMIT. The parent kills it with SIGKILL at a random moment, mostly in the middle of
a transaction, three times over on the same database. Afterwards every write the child reported
is there with the id it reported, nothing else was added, the hash chain holds, every audited
row matches its audit row, and the database takes new writes. SQLite relies on WAL with
``synchronous=FULL`` (store.py); PostgreSQL rolls back the dead client's open transaction.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import select, text

from physiotrial.core.protocol import Role
from physiotrial.services.audit import verify_audit
from physiotrial.services.study import add_site, add_user, init_study
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.store import Store, snapshot

CHILD = textwrap.dedent(
    """
    import sys
    from physiotrial.core.protocol import Role
    from physiotrial.services.study import add_site, add_user
    from physiotrial.store.store import Store

    url, run = sys.argv[1], sys.argv[2]
    store = Store(url)
    for i in range(1_000_000):
        code = f"R{run}-{i}"
        site_id = add_site(store, "dm", code, f"Site {code}")
        print(f"site {code} {site_id}", flush=True)
        user_id = add_user(store, "dm", f"u{run}-{i}", f"User {i}", Role.COORDINATOR, site=code)
        print(f"user u{run}-{i} {user_id}", flush=True)
    """
)
RUNS = 3


def _run_and_kill(url: str, run: int, at_least: int, rng: random.Random) -> list[str]:
    """Start a writer, let it commit ``at_least`` writes, kill it; return every line it printed."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while len(lines) < at_least and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the writer stopped on its own: {child.stderr.read()[-2000:]}")
            lines.append(line.strip())
        time.sleep(rng.uniform(0, 0.02))  # land anywhere within the next write or two
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        lines += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    return lines


def test_killed_writer_loses_nothing_committed_and_half_writes_nothing(database_url: str) -> None:
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="D M", seed="crash")
    rng = random.Random(20250303)
    reported: list[str] = []
    for run in range(RUNS):
        reported += _run_and_kill(database_url, run, at_least=20 + 7 * run, rng=rng)
    sites = {code: int(i) for kind, code, i in (r.split() for r in reported) if kind == "site"}
    users = {name: int(i) for kind, name, i in (r.split() for r in reported) if kind == "user"}
    assert len(sites) >= 30

    store = Store(database_url)
    try:
        with store.read() as connection:
            sites_query = select(schema.sites.c.code, schema.sites.c.id)
            users_query = select(schema.users.c.username, schema.users.c.id)
            stored_sites = dict(connection.execute(sites_query).all())
            stored_users = dict(connection.execute(users_query).all())
            actions = list(connection.execute(select(schema.audit.c.action)).scalars())
            # every reported commit is there, with the id the writer was given
            assert {c: stored_sites[c] for c in sites} == sites
            assert {u: stored_users[u] for u in users} == users
            # at most the one write in flight per kill committed without being reported
            assert len(stored_sites) - len(sites) <= RUNS
            assert len(stored_users) - 1 - len(users) <= RUNS
            # one audit row per write, no more, no less: no write is half there
            assert actions.count("site add") == len(stored_sites)
            assert actions.count("user add") == len(stored_users) - 1
            assert len(actions) == 1 + len(stored_sites) + len(stored_users) - 1
            assert verify_chain(connection) == []
            assert verify_data(connection, snapshot) == []
            if store.backend == "sqlite":
                integrity = connection.execute(text("PRAGMA integrity_check")).scalar_one()
                assert integrity == "ok"
        assert verify_audit(store, "dm").ok
        # the database takes writes again: no lock is left behind by the dead writer
        add_site(store, "dm", "AFTER", "After the crash")
        add_user(store, "dm", "after", "After", Role.ASSESSOR, site="AFTER")
        assert verify_audit(store, "dm").ok
    finally:
        store.close()
