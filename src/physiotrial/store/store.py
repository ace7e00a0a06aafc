"""Opening the study database and writing to it: one transaction and one audit row per write.

SQLite is the embedded default (WAL journal, foreign keys on, synchronous FULL so that a killed
process loses nothing it committed). Writers are serialised: on SQLite every write transaction
starts with ``BEGIN IMMEDIATE``; on PostgreSQL it starts by locking the ``audit_head`` row
(``SELECT … FOR UPDATE``). Serialised writers are what make the hash chain of the audit trail a
chain, and they make "take the next free slot" atomic across sites.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from physiotrial.errors import ConflictError, StoreError, StudyLockedError
from physiotrial.store import schema
from physiotrial.store.audit import GENESIS, audit_hash

Snapshot = dict[str, Any]


def utc_now() -> str:
    """Now in UTC as ISO-8601 text with a Z, the one time format the store keeps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(value: object) -> str:
    """The canonical JSON text of a value: sorted keys, no spaces; hashes are taken over it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def snapshot(table: Table, row: Mapping[Any, Any]) -> Snapshot:
    """A row as plain JSON-able values, read back from the database so both backends agree."""
    return {column.name: _plain(row[column.name]) for column in table.columns}


def row_key(table: Table, row: Mapping[Any, Any]) -> str:
    return ",".join(str(row[column.name]) for column in table.primary_key.columns)


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    return value


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, FULL sync and explicit BEGINs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA synchronous=FULL",
        "PRAGMA busy_timeout=60000",
    ):
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    writing = connection.get_execution_options().get("physiotrial_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


@dataclass
class Change:
    table: str
    key: str
    old: Snapshot | None
    new: Snapshot | None


@dataclass
class Transaction:
    """A write in progress: every insert and update is captured for the one audit row."""

    connection: Connection
    actor: str
    role: str
    at: str
    changes: list[Change] = field(default_factory=list)

    def insert(self, table: Table, values: Mapping[str, Any]) -> int:
        """Insert a row and return its primary key (the first key column)."""
        try:
            result = self.connection.execute(table.insert().values(**values))
        except IntegrityError as error:
            raise ConflictError(_integrity_message(table, error)) from None
        keys = result.inserted_primary_key
        assert keys is not None
        where = [c == k for c, k in zip(table.primary_key.columns, keys, strict=True)]
        row = self.connection.execute(select(table).where(*where)).mappings().one()
        self.changes.append(Change(table.name, row_key(table, row), None, snapshot(table, row)))
        return int(keys[0])

    def update(self, table: Table, key: int | str, values: Mapping[str, Any]) -> Snapshot:
        """Update one row by its primary key; returns the old snapshot."""
        column = next(iter(table.primary_key.columns))
        query = select(table).where(column == key).with_for_update()
        old = self.connection.execute(query).mappings().one_or_none()
        if old is None:
            raise StoreError(f"{table.name} {key} does not exist")
        self.connection.execute(update(table).where(column == key).values(**values))
        new = self.connection.execute(select(table).where(column == key)).mappings().one()
        before = snapshot(table, old)
        self.changes.append(Change(table.name, row_key(table, new), before, snapshot(table, new)))
        return before


def _integrity_message(table: Table, error: IntegrityError) -> str:
    detail = str(error.orig).splitlines()[0] if error.orig else str(error)
    return f"{table.name}: the database refused a duplicate or dangling reference ({detail})"


class Store:
    """The study database. Services open one write transaction per use case."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that sees one snapshot across all its statements.

        SQLite in WAL mode gives a snapshot per transaction; PostgreSQL's default READ COMMITTED
        would let each statement see writes committed meanwhile (a check reading the audit trail
        and then the data could see a row whose audit row it did not read), so reads there run
        at REPEATABLE READ, which never fails to serialise a read-only transaction.
        """
        options = {} if self.backend == "sqlite" else {"isolation_level": "REPEATABLE READ"}
        try:
            connect = self.engine.connect().execution_options(**options)
            with connect as connection, connection.begin():
                yield connection
        except OperationalError as error:
            raise StoreError(f"cannot read the study database: {error.orig}") from None

    @contextmanager
    def write(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        participant: str | None = None,
        reason: str | None = None,
        when_locked: bool = False,
    ) -> Iterator[Transaction]:
        """One write transaction ending in one audit row; refused while the study is locked."""
        try:
            connect = self.engine.connect().execution_options(physiotrial_write=True)
            with connect as connection, connection.begin():
                head = (
                    connection.execute(
                        select(schema.audit_head)
                        .where(schema.audit_head.c.id == 1)
                        .with_for_update()
                    )
                    .mappings()
                    .one_or_none()
                )
                if not when_locked and _is_locked(connection):
                    raise StudyLockedError(
                        f"the study database is locked; {action} is not allowed until a "
                        "data manager unlocks it with a reason"
                    )
                tx = Transaction(connection, actor, role, utc_now())
                yield tx
                _append_audit(connection, tx, head, action, participant, reason)
        except OperationalError as error:
            raise StoreError(f"cannot write to the study database: {error.orig}") from None


def _is_locked(connection: Connection) -> bool:
    locked = connection.execute(select(schema.study.c.locked)).scalar_one_or_none()
    return bool(locked)


def _append_audit(
    connection: Connection,
    tx: Transaction,
    head: Mapping[Any, Any] | None,
    action: str,
    participant: str | None,
    reason: str | None,
) -> None:
    last_id = int(head["last_id"]) if head else 0
    prev = str(head["last_hash"]) if head else GENESIS
    changes = canonical(
        [{"table": c.table, "key": c.key, "old": c.old, "new": c.new} for c in tx.changes]
    )
    row: dict[str, Any] = {
        "id": last_id + 1,
        "at": tx.at,
        "actor": tx.actor,
        "role": tx.role,
        "action": action,
        "participant": participant,
        "changes": changes,
        "reason": reason,
        "prev_hash": prev,
    }
    row["hash"] = audit_hash(row)
    connection.execute(schema.audit.insert().values(**row))
    if head is None:
        connection.execute(
            schema.audit_head.insert().values(id=1, last_id=row["id"], last_hash=row["hash"])
        )
    else:
        connection.execute(
            update(schema.audit_head)
            .where(schema.audit_head.c.id == 1)
            .values(last_id=row["id"], last_hash=row["hash"])
        )
