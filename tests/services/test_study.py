"""Study start, sites, users and protocol amendments, on SQLite and PostgreSQL."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select

from physiotrial.core.protocol import Role
from physiotrial.errors import ConflictError, NotFoundError, PermissionDeniedError
from physiotrial.services.study import (
    add_site,
    add_user,
    amend_protocol,
    init_study,
    study_info,
)
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain
from physiotrial.store.store import Store

REFERENCE = resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text()


def _count(store: Store, table: Table) -> int:
    with store.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_init_seals_a_sequence_for_every_stratum(database_url: str) -> None:
    info = init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="D M", seed="s1")
    assert info.study_id == "popliteus-dn-koa"
    assert info.protocol_version == "1.0"
    assert info.slots_per_stratum == 200
    store = Store(database_url)
    with store.read() as connection:
        strata = connection.execute(
            select(schema.sequence_slots.c.stratum, func.count())
            .group_by(schema.sequence_slots.c.stratum)
            .order_by(schema.sequence_slots.c.stratum)
        ).all()
        assert [tuple(r) for r in strata] == [("sex=female", 200), ("sex=male", 200)]
        assert verify_chain(connection) == []
    store.close()


def test_same_seed_same_seal_and_a_second_init_is_refused(database_url: str) -> None:
    first = init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="D M", seed="x")
    with pytest.raises(ConflictError, match="already holds a study"):
        init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="D M", seed="x")
    assert first.sequence_hash is not None
    assert len(first.sequence_hash) == 64


def test_sites_and_users_need_a_data_manager(database_url: str) -> None:
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="D M")
    store = Store(database_url)
    add_site(store, "dm", "SEV", "Seville health centre")
    add_user(store, "dm", "coord", "C", Role.COORDINATOR, site="SEV")
    with pytest.raises(PermissionDeniedError, match=r"coord \(coordinator\) may not site add"):
        add_site(store, "coord", "UNI", "University")
    with pytest.raises(NotFoundError, match="no site 'MAD'"):
        add_user(store, "dm", "x", "X", Role.ASSESSOR, site="MAD")
    with pytest.raises(NotFoundError, match="no active user 'ghost'"):
        add_site(store, "ghost", "UNI", "University")
    assert _count(store, schema.sites) == 1
    assert _count(store, schema.users) == 2
    store.close()


def test_amendment_is_a_new_version_and_cannot_touch_the_sequence(
    database_url: str, tmp_path: Path
) -> None:
    init_study(database_url, "popliteus-dn-koa", admin="dm", admin_name="D M")
    store = Store(database_url)
    amended = tmp_path / "v1.1.toml"
    amended.write_text(REFERENCE.replace('version = "1.0"', 'version = "1.1"', 1))
    with pytest.raises(ConflictError, match="needs a reason"):
        amend_protocol(store, "dm", str(amended), " ")
    info = amend_protocol(store, "dm", str(amended), "ethics approval 2026-02")
    assert info.protocol_version == "1.1"
    assert _count(store, schema.protocol_versions) == 2
    with pytest.raises(ConflictError, match=r"version 1\.1, the current version"):
        amend_protocol(store, "dm", str(amended), "again")
    blocks = tmp_path / "v1.2.toml"
    blocks.write_text(
        REFERENCE.replace('version = "1.0"', 'version = "1.2"', 1).replace(
            "block_sizes = [2, 4]", "block_sizes = [4, 6]"
        )
    )
    with pytest.raises(ConflictError, match="may not change randomisation"):
        amend_protocol(store, "dm", str(blocks), "bigger blocks")
    assert study_info(store).protocol_version == "1.1"
    store.close()
