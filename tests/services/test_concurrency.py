"""Four processes randomising at once never share a slot (DESIGN.md, reliability rules).

200 participants are screened and consented first, at two sites; then four spawned processes
(two per site, each with its own engine and connections, as four workstations would have) are
released together by a barrier and randomise 50 participants each. Afterwards: every participant
has exactly one allocation, no slot is used twice, each stratum used its slots in order from 1
with complete blocks balanced, the verifier re-derives every allocation from the seed, and the
audit chain and data verify. Runs on SQLite (writers serialised by ``BEGIN IMMEDIATE``) and
PostgreSQL (writers serialised by the ``audit_head`` row lock).
"""

from __future__ import annotations

import multiprocessing
import queue
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from physiotrial.services.randomisation import randomise, verify_randomisation
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.store import Store, snapshot
from tests.services.test_enrolment import DAY, enrol, make_study

WORKERS = 4
EACH = 50
TIMEOUT = 120.0


def _race(url: str, user: str, codes: list[str], barrier: Any, results: Any) -> None:
    """One workstation: wait for the others, then randomise its participants one by one."""
    store = Store(url)
    outcomes: list[tuple[str, int | None, str | None]] = []
    try:
        barrier.wait(timeout=TIMEOUT)
        for code in codes:
            try:
                outcomes.append((code, randomise(store, user, code, DAY).sequence_index, None))
            except Exception as error:  # reported to the parent, which fails the test
                outcomes.append((code, None, f"{type(error).__name__}: {error}"))
    finally:
        results.put((user, outcomes))
        store.close()


def _run_race(url: str, batches: list[tuple[str, list[str]]]) -> dict[str, list[Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(batches))
    results = context.Queue()
    processes = [
        context.Process(target=_race, args=(url, user, codes, barrier, results))
        for user, codes in batches
    ]
    for process in processes:
        process.start()
    collected: dict[str, list[Any]] = defaultdict(list)
    try:
        for _ in processes:
            user, outcomes = results.get(timeout=TIMEOUT)
            collected[user].extend(outcomes)
    except queue.Empty:
        pass
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    return collected


def test_four_processes_randomising_at_once_never_share_a_slot(database_url: str) -> None:
    store = make_study(database_url, seed="race")
    sev = enrol(store, WORKERS * EACH // 2, site="SEV", coordinator="carla")
    uni = enrol(store, WORKERS * EACH // 2, site="UNI", coordinator="ulises")
    batches = [
        ("carla", sev[0::2]),
        ("carla", sev[1::2]),
        ("ulises", uni[0::2]),
        ("ulises", uni[1::2]),
    ]
    outcomes = _run_race(database_url, batches)
    flat = [o for user_outcomes in outcomes.values() for o in user_outcomes]
    assert len(flat) == WORKERS * EACH
    assert [o for o in flat if o[2] is not None] == []

    a, s = schema.allocations, schema.sequence_slots
    with store.read() as connection:
        rows = connection.execute(
            select(a.c.participant_id, a.c.slot_id, a.c.sequence_index, a.c.stratum, a.c.arm)
            .add_columns(s.c.position, s.c.block, s.c.block_size, s.c.arm.label("slot_arm"))
            .join(s, s.c.id == a.c.slot_id)
            .order_by(a.c.sequence_index)
        ).all()
        audit_problems = verify_chain(connection) + verify_data(connection, snapshot)
    total = WORKERS * EACH
    assert len(rows) == total
    assert len({r.slot_id for r in rows}) == total  # no slot used twice
    assert len({r.participant_id for r in rows}) == total  # nobody allocated twice
    assert [r.sequence_index for r in rows] == list(range(1, total + 1))
    by_stratum: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        assert row.arm == row.slot_arm
        by_stratum[row.stratum].append(row)
    assert {k: len(v) for k, v in by_stratum.items()} == {"sex=female": 100, "sex=male": 100}
    for stratum_rows in by_stratum.values():
        assert [r.position for r in stratum_rows] == list(range(1, len(stratum_rows) + 1))
        blocks: dict[int, Counter[str]] = defaultdict(Counter)
        sizes = {r.block: r.block_size for r in stratum_rows}
        for row in stratum_rows:
            blocks[row.block][row.arm] += 1
        for block, counts in blocks.items():
            if counts.total() == sizes[block]:
                assert counts["DN"] == counts["SHAM"]
            else:
                assert block == max(blocks)
        arms = Counter(r.arm for r in stratum_rows)
        assert abs(arms["DN"] - arms["SHAM"]) <= 2
    assert verify_randomisation(store, "dora") == []
    assert audit_problems == []
    store.close()
