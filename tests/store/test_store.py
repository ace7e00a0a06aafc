"""The store on SQLite and PostgreSQL: migrations, one audit row per write, tamper evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from physiotrial.errors import ConflictError
from physiotrial.store import schema
from physiotrial.store.audit import verify_chain, verify_data
from physiotrial.store.migrate import downgrade, upgrade
from physiotrial.store.store import Store, snapshot


def _add_sites(store: Store, *codes: str) -> None:
    for code in codes:
        with store.write(actor="admin", role="data_manager", action="site add") as tx:
            tx.insert(schema.sites, {"code": code, "name": f"Site {code}"})


def test_migrations_go_down_to_empty_and_up_again(database_url: str) -> None:
    store = Store(database_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {t.name for t in schema.metadata.sorted_tables} <= tables
    downgrade(store.engine)
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    upgrade(store.engine)
    assert {t.name for t in schema.metadata.sorted_tables} <= set(
        inspect(store.engine).get_table_names()
    )
    store.close()


def test_each_write_is_one_audit_row_chained_to_the_last(database_url: str) -> None:
    store = Store(database_url)
    _add_sites(store, "SEV", "UNI")
    with store.read() as connection:
        rows = connection.execute(select(schema.audit).order_by(schema.audit.c.id)).all()
        assert [r.id for r in rows] == [1, 2]
        assert rows[1].prev_hash == rows[0].hash
        assert verify_chain(connection) == []
        assert verify_data(connection, snapshot) == []
    store.close()


def test_failed_write_leaves_no_row_and_no_audit(database_url: str) -> None:
    store = Store(database_url)
    _add_sites(store, "SEV")
    with pytest.raises(ConflictError, match="sites: the database refused a duplicate"):
        _add_sites(store, "SEV")
    with store.read() as connection:
        assert connection.execute(select(schema.sites)).all().__len__() == 1
        assert len(connection.execute(select(schema.audit)).all()) == 1
    store.close()


def test_changing_a_stored_value_is_detected_and_named(database_url: str) -> None:
    store = Store(database_url)
    _add_sites(store, "SEV", "UNI")
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE sites SET name = 'Elsewhere' WHERE code = 'UNI'"))
    with store.read() as connection:
        assert verify_data(connection, snapshot) == [
            "sites row 2: name differ from audit row 2: changed outside physiotrial"
        ]
    store.close()


def test_the_audit_trail_refuses_updates(database_url: str) -> None:
    store = Store(database_url)
    _add_sites(store, "SEV")
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as connection:
        connection.execute(text("UPDATE audit SET actor = 'mallory'"))
    store.close()


def test_editing_an_audit_row_behind_the_trigger_is_named(database_url: str) -> None:
    store = Store(database_url)
    _add_sites(store, "SEV", "UNI", "MAD")
    with store.engine.begin() as connection:
        if store.backend == "sqlite":
            connection.execute(text("DROP TRIGGER audit_no_update"))
        else:
            connection.execute(text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))
        connection.execute(text("UPDATE audit SET actor = 'mallory' WHERE id = 2"))
    with store.read() as connection:
        problems = verify_chain(connection)
    assert problems[0].startswith("audit row 2 (site add by mallory at ")
    assert problems[0].endswith("its content was changed after it was written")
    store.close()
