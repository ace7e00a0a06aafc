"""Randomisation, verification and unblinding on SQLite and PostgreSQL.

Refusals must change nothing (every table, audit trail included, is compared before and after);
only the therapist's result carries the arm; permuted blocks stay balanced in every stratum
(Schulz & Grimes, Lancet 2002;359:614-618); the verifier re-derives the sealed sequence and finds
a slot changed behind the application's back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from physiotrial.core.randomisation import minimise
from physiotrial.errors import (
    ConflictError,
    PermissionDeniedError,
    RandomisationError,
    StudyLockedError,
)
from physiotrial.services.blinding import sees_allocation
from physiotrial.services.context import acting
from physiotrial.services.enrolment import screen
from physiotrial.services.randomisation import (
    randomise,
    unblind,
    unblind_study,
    verify_randomisation,
)
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.store import Store, snapshot
from tests.services.test_enrolment import DAY, ELIGIBLE, enrol, make_study, state

LATER = DAY + timedelta(days=2)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = make_study(database_url)
    yield opened
    opened.close()


def _allocations(store: Store) -> list[dict[str, Any]]:
    a, p, s = schema.allocations, schema.participants, schema.sequence_slots
    query = (
        select(p.c.study_code, a.c.stratum, a.c.arm, a.c.sequence_index, s.c.position, s.c.block)
        .add_columns(s.c.block_size, s.c.arm.label("slot_arm"), a.c.slot_id)
        .join(p, p.c.id == a.c.participant_id)
        .outerjoin(s, s.c.id == a.c.slot_id)
        .order_by(a.c.sequence_index)
    )
    with store.read() as connection:
        return [dict(r) for r in connection.execute(query).mappings()]


def _last_audit(connection: Connection) -> dict[str, Any]:
    query = select(schema.audit).order_by(schema.audit.c.id.desc()).limit(1)
    return dict(connection.execute(query).mappings().one())


def _flip_arm(store: Store, table: str, where: str) -> None:
    """Swap the arm of a row behind the application's back, as a tamperer would."""
    with store.engine.begin() as connection:
        swap = "CASE arm WHEN 'DN' THEN 'SHAM' ELSE 'DN' END"
        connection.execute(text(f"UPDATE {table} SET arm = {swap} WHERE {where}"))


def _lock(store: Store) -> None:
    with store.write(actor="admin", role="data_manager", action="lock", when_locked=True) as tx:
        tx.update(schema.study, 1, {"locked": True})


# --- randomise ------------------------------------------------------------------------------


def test_randomise_allocates_the_first_slot_and_plans_the_visits(store: Store) -> None:
    [code] = enrol(store, 1)
    result = randomise(store, "tomas", code, LATER)
    [row] = _allocations(store)
    assert (row["study_code"], row["stratum"], row["position"], row["sequence_index"]) == (
        code, "sex=female", 1, 1
    )  # fmt: skip
    assert row["arm"] == row["slot_arm"]
    assert result.arm == row["arm"]
    assert (result.status, result.sequence_index, result.randomised_on) == ("randomised", 1, LATER)
    assert [(v.code, (v.planned - LATER).days) for v in result.visits] == [
        ("BL", 0), ("T1", 1), ("T2", 8), ("T3", 15), ("W3", 21), ("M3", 90), ("M6", 180)
    ]  # fmt: skip
    m3 = result.visits[5]
    assert (m3.opens, m3.closes) == (LATER + timedelta(days=76), LATER + timedelta(days=104))
    with store.read() as connection:
        visits = connection.execute(select(schema.visits).order_by(schema.visits.c.id)).all()
        assert [(v.code, v.planned, v.done_on) for v in visits] == [
            (v.code, v.planned, None) for v in result.visits
        ]
        status = connection.execute(select(schema.participants.c.status)).scalar_one()
        assert status == "randomised"
        last = _last_audit(connection)
        assert (last["action"], last["participant"], last["actor"]) == ("randomise", code, "tomas")
        assert verify_chain(connection) == []
        assert verify_data(connection, snapshot) == []


@pytest.mark.parametrize(
    ("user", "may_randomise", "sees"),
    [
        ("tomas", True, True),
        ("carla", True, False),
        ("ana", False, False),
        ("sara", False, False),
        ("dora", False, True),
    ],
)
def test_role_matrix_of_randomise_and_seeing_allocations(
    store: Store, user: str, may_randomise: bool, sees: bool
) -> None:
    [code] = enrol(store, 1)
    with store.read() as connection:
        assert sees_allocation(connection, acting(connection, user)) is sees
    if may_randomise:
        assert (randomise(store, user, code, DAY).arm is not None) is sees
        return
    before = state(store)
    with pytest.raises(PermissionDeniedError, match=f"{user} .* may not randomise; allowed roles"):
        randomise(store, user, code, DAY)
    assert state(store) == before


def _withdraw(store: Store, code: str) -> None:
    """A withdrawal as the withdrawal service records it (a disposition and the status)."""
    with store.write(actor="carla", role="coordinator", action="withdraw", participant=code) as tx:
        pid = tx.connection.execute(
            select(schema.participants.c.id).where(schema.participants.c.study_code == code)
        ).scalar_one()
        values = {"kind": "withdrawn", "occurred_on": DAY, "reason": "moved away"}
        tx.insert(
            schema.dispositions,
            {"participant_id": pid, **values, "entered_by": "carla", "entered_at": tx.at},
        )
        tx.update(schema.participants, pid, {"status": "withdrawn"})


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("ineligible", ConflictError,
         "participant SEV-002 was not screened eligible (status screen_failed); not randomised"),
        ("not consented", ConflictError,
         "participant SEV-003 has not consented (status eligible); record consent first"),
        ("twice", ConflictError,
         "participant SEV-001 is already randomised (allocation 1, on 2025-03-03); a "
         "participant is randomised once"),
        ("withdrawn", ConflictError, "participant SEV-004 has left the study (withdrawn)"),
        ("before consent", ConflictError,
         "randomised_on 2025-03-02 is before the consent on 2025-03-03; allowed: 2025-03-03 "
         "or later"),
        ("other site", PermissionDeniedError,
         "ulises works at another site and may not randomise for this participant"),
        ("unknown", Exception, "no participant 'SEV-099'"),
    ],
)  # fmt: skip
def test_every_refusal_of_randomise_changes_nothing(
    store: Store, case: str, error: type[Exception], message: str
) -> None:
    [randomised] = enrol(store, 1)
    randomise(store, "carla", randomised, DAY)
    failed = screen(store, "carla", "SEV", DAY, {**ELIGIBLE, "age": 40}, {"sex": "male"}, "F")
    unconsented = screen(store, "carla", "SEV", DAY, ELIGIBLE, {"sex": "male"}, "U")
    [withdrawn, waiting] = enrol(store, 2)
    _withdraw(store, withdrawn)
    code, user, day = {
        "ineligible": (failed.study_code, "carla", DAY),
        "not consented": (unconsented.study_code, "carla", DAY),
        "twice": (randomised, "tomas", DAY),
        "withdrawn": (withdrawn, "carla", DAY),
        "before consent": (waiting, "carla", DAY - timedelta(days=1)),
        "other site": (waiting, "ulises", DAY),
        "unknown": ("SEV-099", "carla", DAY),
    }[case]
    before = state(store)
    with pytest.raises(error) as excinfo:
        randomise(store, user, code, day)
    assert message in str(excinfo.value)
    for arm in ("DN", "SHAM"):
        assert arm not in str(excinfo.value)
    assert state(store) == before


def test_permuted_blocks_stay_balanced_in_every_stratum(store: Store) -> None:
    codes = enrol(store, 36) + enrol(store, 10, levels={"sex": "male"})
    for code in codes:
        randomise(store, "carla", code, DAY)
    rows = _allocations(store)
    assert [r["sequence_index"] for r in rows] == list(range(1, 47))
    by_stratum: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        assert row["arm"] == row["slot_arm"]
        by_stratum[row["stratum"]].append(row)
    assert {k: len(v) for k, v in by_stratum.items()} == {"sex=female": 18, "sex=male": 28}
    for stratum_rows in by_stratum.values():
        # lowest free slot first: positions 1..n in allocation order
        assert [r["position"] for r in stratum_rows] == list(range(1, len(stratum_rows) + 1))
        blocks: dict[int, list[str]] = defaultdict(list)
        for row in stratum_rows:
            blocks[row["block"]].append(row["arm"])
        sizes = {row["block"]: row["block_size"] for row in stratum_rows}
        for block, arms in blocks.items():
            counts = Counter(arms)
            if len(arms) == sizes[block]:  # a complete block is exactly 1:1
                assert counts["DN"] == counts["SHAM"] == sizes[block] // 2
            else:  # only the last block may be open
                assert block == max(blocks)
        total = Counter(r["arm"] for r in stratum_rows)
        assert abs(total["DN"] - total["SHAM"]) <= 2  # never more than half the largest block
    assert verify_randomisation(store, "dora") == []


def test_a_stratum_without_free_slots_is_a_clear_error(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM sequence_slots WHERE stratum = 'sex=female' AND position > 2")
        )
    codes = enrol(store, 3, levels={"sex": "female"})
    randomise(store, "carla", codes[0], DAY)
    randomise(store, "carla", codes[1], DAY)
    before = state(store)
    with pytest.raises(RandomisationError) as excinfo:
        randomise(store, "carla", codes[2], DAY)
    assert str(excinfo.value).startswith(
        "stratum sex=female: every sequence slot is used (200 sealed per stratum); "
        "physiotrial cannot extend a sealed sequence yet: stop recruiting to this stratum"
    )
    assert state(store) == before


# --- verification ---------------------------------------------------------------------------


def test_verifier_passes_then_finds_a_slot_changed_in_the_database(store: Store) -> None:
    for code in enrol(store, 6):
        randomise(store, "carla", code, DAY)
    assert verify_randomisation(store, "dora") == []
    assert verify_randomisation(store, "sara") == []
    with pytest.raises(PermissionDeniedError, match="carla \\(coordinator\\) may not verify"):
        verify_randomisation(store, "carla")
    _flip_arm(store, "sequence_slots", "stratum = 'sex=male' AND position = 2")
    assert verify_randomisation(store, "dora") == [
        "the stored sequence does not match the seal recorded at study start",
        "slot sex=male #2 differs from the sequence the seed gives (changed after sealing)",
    ]


def test_verifier_names_a_changed_allocation_without_naming_arms(store: Store) -> None:
    codes = enrol(store, 4)
    for code in codes:
        randomise(store, "carla", code, DAY)
    _flip_arm(store, "allocations", "sequence_index = 3")
    problems = verify_randomisation(store, "sara")
    assert problems == [
        f"participant {codes[2]}: slot sex=female #2 differs from the arm the seed gives "
        "(arm changed)"
    ]
    assert "DN" not in problems[0]
    assert "SHAM" not in problems[0]


def _minimisation_protocol(tmp_path: Path) -> str:
    reference = (
        resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text()
    )
    variant = (
        reference.replace('method = "permuted_blocks"', 'method = "minimisation"')
        .replace("block_sizes = [2, 4]\n", "")
        .replace('strata = ["sex"]', "strata = []")
        .replace(
            "# Eligibility (ASSUMED",
            '[[randomisation.factors]]\nid = "age_group"\nlabel = "Age group"\n'
            'levels = ["50-64", "65+"]\n\n[randomisation.minimisation]\n'
            'factors = ["sex", "age_group"]\nprobability = 0.8\n\n# Eligibility (ASSUMED',
        )
    )
    path = tmp_path / "minimisation.toml"
    path.write_text(variant, encoding="utf-8")
    return str(path)


def test_minimisation_variant_allocates_as_minimise_says_and_verifies(
    database_url: str, tmp_path: Path
) -> None:
    store = make_study(database_url, _minimisation_protocol(tmp_path))
    with pytest.raises(RandomisationError, match="minimisation factor age_group: not given"):
        screen(store, "carla", "SEV", DAY, ELIGIBLE, {"sex": "female"}, "P")
    levels = [
        {"sex": sex, "age_group": age} for sex in ("female", "male") for age in ("50-64", "65+")
    ]
    codes = [enrol(store, 1, levels=levels[i % 4])[0] for i in range(24)]
    arms = [randomise(store, "tomas", code, DAY).arm for code in codes]
    rows = _allocations(store)
    assert [r["slot_id"] for r in rows] == [None] * 24
    assert [r["stratum"] for r in rows] == ["all"] * 24
    with store.read() as connection:
        protocol = study_protocol(connection)
        seed = connection.execute(select(schema.secrets.c.value)).scalar_one()
    expected: list[str] = []
    for i in range(24):
        prior = [(levels[j % 4], expected[j]) for j in range(i)]
        expected.append(minimise(protocol, seed, prior, levels[i % 4], i))
    assert arms == expected
    assert abs(arms.count("DN") - arms.count("SHAM")) <= 4
    assert verify_randomisation(store, "dora") == []
    _flip_arm(store, "allocations", "sequence_index = 5")
    assert verify_randomisation(store, "dora") == [
        f"participant {codes[4]}: allocation 5 by minimisation differs from the arm the seed "
        "gives (arm changed)"
    ]
    store.close()


# --- unblinding -----------------------------------------------------------------------------


def test_emergency_unblinding_returns_the_arm_and_is_recorded(store: Store) -> None:
    [code] = enrol(store, 1)
    randomise(store, "carla", code, DAY)
    why = "serious adverse event, treating physician asked"
    assert unblind(store, "dora", code, f"  {why} ") == _allocations(store)[0]["arm"]
    with store.read() as connection:
        row = connection.execute(select(schema.unblindings)).mappings().one()
        assert (row["scope"], row["reason"], row["entered_by"]) == ("participant", why, "dora")
        last = _last_audit(connection)
        assert (last["action"], last["participant"], last["reason"]) == ("unblind", code, why)


@pytest.mark.parametrize(
    ("user", "reason", "which", "error", "message"),
    [
        ("dora", "   ", "randomised", ConflictError,
         "reason: '   ' is blank; allowed: a non-blank text"),
        ("carla", "SAE", "randomised", PermissionDeniedError,
         "carla (coordinator) may not unblind; allowed roles: data_manager"),
        ("tomas", "SAE", "randomised", PermissionDeniedError, "tomas (therapist) may not unblind"),
        ("sara", "SAE", "randomised", PermissionDeniedError,
         "sara (statistician) may not unblind"),
        ("dora", "SAE", "waiting", ConflictError,
         "participant SEV-002 is not randomised (status consented); there is no allocation to "
         "unblind"),
    ],
)  # fmt: skip
def test_unblinding_refusals_change_nothing(
    store: Store, user: str, reason: str, which: str, error: type[Exception], message: str
) -> None:
    randomised, waiting = enrol(store, 2)
    randomise(store, "carla", randomised, DAY)
    before = state(store)
    code = randomised if which == "randomised" else waiting
    with pytest.raises(error) as excinfo:
        unblind(store, user, code, reason)
    assert message in str(excinfo.value)
    assert state(store) == before


def test_study_unblinding_only_after_lock_then_the_statistician_sees_arms(store: Store) -> None:
    [code] = enrol(store, 1)
    randomise(store, "carla", code, DAY)
    before = state(store)
    with pytest.raises(ConflictError, match="the study is not locked; the whole study is unbli"):
        unblind_study(store, "dora", "final analysis")
    assert state(store) == before
    _lock(store)
    with pytest.raises(StudyLockedError, match="randomise is not allowed"):
        randomise(store, "carla", code, DAY)
    with pytest.raises(PermissionDeniedError, match="sara \\(statistician\\) may not unblind"):
        unblind_study(store, "sara", "final analysis")
    with store.read() as connection:
        assert sees_allocation(connection, acting(connection, "sara")) is False
    done = unblind_study(store, "dora", "final analysis after lock")
    assert (done.study_id, done.reason) == ("popliteus-dn-koa", "final analysis after lock")
    with store.read() as connection:
        assert sees_allocation(connection, acting(connection, "sara")) is True
        assert sees_allocation(connection, acting(connection, "carla")) is False
        rows = connection.execute(select(schema.unblindings)).mappings().all()
        assert [(r["scope"], r["participant_id"]) for r in rows] == [("study", None)]
        assert verify_chain(connection) == []
    with pytest.raises(ConflictError, match="the study is already unblinded"):
        unblind_study(store, "dora", "again")
