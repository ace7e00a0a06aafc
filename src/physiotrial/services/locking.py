"""Database lock: freezing the data for analysis, with a manifest that says exactly what was frozen.

A lock is the database lock that ends the blind review before the blind is broken (ICH E9,
section 5.1 and the glossary's "blind review"; data management, SPIRIT 2013 item 19): after it,
no data may change until a data manager unlocks with a reason (``Store.write`` refuses every other
write with :class:`StudyLockedError`). The manifest recorded with the lock is what the analysis
and the report cite (DESIGN.md flow 5):

- ``data_hash``: SHA-256 over the canonical snapshot (``store.store.snapshot``/``canonical``) of
  every row of every table in ``schema.AUDITED`` except ``locks`` itself, table by table in
  ``AUDITED`` order and row by row in primary-key order. The study row's ``locked`` and
  ``unblinded`` flags are left out: they are the state of the database, which lock, unlock and
  unblinding change, not trial data; keeping them would make the hash depend on whether it was
  taken just before or after the lock flag was set. Identity rows are hashed (their digest
  reveals nothing) so that a corrected name or contact is a change too.
- the protocol version and hash, the randomisation seal (``study.sequence_hash``), the running
  software version, the audit head at lock time (which pins the whole history before the lock),
  when (UTC) and who.

Note that an unblinding after lock adds an ``unblindings`` row, so the hash recomputed after
unblinding differs from the lock's; the audit trail records the unblinding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from physiotrial import __version__
from physiotrial.errors import ConflictError
from physiotrial.services.context import writing
from physiotrial.services.study import current_protocol_version
from physiotrial.store import schema
from physiotrial.store.store import Store, canonical, snapshot

HASH_FORMAT = "physiotrial-data-1"
"""Version of the data hash's canonical text; change it if the text ever changes."""

_STATE_FLAGS = {"study": ("locked", "unblinded")}
"""Columns left out of the data hash: database state, not trial data (see module docstring)."""
_ADDED_LATER = {"responses": ("done_on",), "participant_links": ("purpose",)}
"""Columns added after ``HASH_FORMAT`` was fixed, hashed only when they hold a value: a row
written before the column existed (NULL) hashes as it did, so a lock taken then still verifies."""


@dataclass(frozen=True)
class Manifest:
    """What a lock froze: the data hash and everything needed to cite the locked database."""

    lock_id: int
    data_hash: str
    rows: int
    tables: dict[str, int]
    protocol_version: str
    protocol_hash: str
    sequence_hash: str | None
    software_version: str
    audit_head_id: int
    audit_head_hash: str
    locked_at: str
    locked_by: str
    reason: str
    unlocked_at: str | None = None
    unlocked_by: str | None = None
    unlock_reason: str | None = None


def data_hash(connection: Connection) -> tuple[str, dict[str, int]]:
    """The data hash of the database as it is now, and the row count of each table hashed."""
    digest = hashlib.sha256(f"{HASH_FORMAT}\n".encode())
    counts: dict[str, int] = {}
    for table in schema.AUDITED:
        if table is schema.locks or table in schema.ACCESS_STATE:
            continue
        leave_out = _STATE_FLAGS.get(table.name, ())
        order = list(table.primary_key.columns)
        count = 0
        for row in connection.execute(select(table).order_by(*order)).mappings():
            later = _ADDED_LATER.get(table.name, ())
            values = {
                k: v
                for k, v in snapshot(table, row).items()
                if k not in leave_out and not (k in later and v is None)
            }
            digest.update(canonical([table.name, values]).encode("utf-8"))
            digest.update(b"\n")
            count += 1
        counts[table.name] = count
    return digest.hexdigest(), counts


def lock(store: Store, actor: str, reason: str) -> Manifest:
    """Lock the study database for analysis (data managers only; a reason is required)."""
    _need_reason("lock", reason)
    with writing(store, actor, "lock", reason=reason, when_locked=True) as (tx, _):
        connection = tx.connection
        study = connection.execute(select(schema.study)).mappings().one()
        if study["locked"]:
            current = _current_lock(connection) or {}
            since = (
                f" (lock {current['id']} by {current['locked_by']} at {current['locked_at']})"
                if current
                else ""
            )
            raise ConflictError(
                f"the study database is already locked{since}; "
                "unlock it with a reason before locking again"
            )
        tx.update(schema.study, study["id"], {"locked": True})
        version = current_protocol_version(connection)
        head = connection.execute(select(schema.audit_head)).mappings().one_or_none()
        digest, counts = data_hash(connection)
        manifest: dict[str, Any] = {
            "format": "physiotrial-lock-1",
            "data_hash": digest,
            "hash_format": HASH_FORMAT,
            "rows": sum(counts.values()),
            "tables": counts,
            "protocol_version": version["version"],
            "protocol_hash": version["hash"],
            "sequence_hash": study["sequence_hash"],
            "software_version": __version__,
            "audit_head_id": int(head["last_id"]) if head else 0,
            "audit_head_hash": str(head["last_hash"]) if head else "",
            "locked_at": tx.at,
            "locked_by": tx.actor,
        }
        lock_id = tx.insert(
            schema.locks,
            {
                "locked_at": tx.at,
                "locked_by": tx.actor,
                "reason": reason,
                "manifest": manifest,
            },
        )
    return _manifest(lock_id, manifest, {"reason": reason})


def unlock(store: Store, actor: str, reason: str) -> Manifest:
    """Lift the lock in force (data managers only; a reason is required); returns its manifest."""
    _need_reason("unlock", reason)
    with writing(store, actor, "unlock", reason=reason, when_locked=True) as (tx, _):
        connection = tx.connection
        study = connection.execute(select(schema.study)).mappings().one()
        current = _current_lock(connection)
        if not study["locked"] or current is None:
            raise ConflictError("the study database is not locked; there is nothing to unlock")
        if study["unblinded"]:
            raise ConflictError(
                "the study was unblinded after this lock; its data stay frozen, because data "
                "changed while arms are known could no longer be trusted (ICH E9 §5.1)"
            )
        tx.update(schema.study, study["id"], {"locked": False})
        lifted = {"unlocked_at": tx.at, "unlocked_by": tx.actor, "unlock_reason": reason}
        tx.update(schema.locks, current["id"], lifted)
    return _manifest(int(current["id"]), current["manifest"], {**current, **lifted})


def current_manifest(store: Store) -> Manifest | None:
    """The manifest of the lock in force, or None when the study is not locked."""
    with store.read() as connection:
        return lock_in_force(connection)


def lock_in_force(connection: Connection) -> Manifest | None:
    """:func:`current_manifest` within a read the caller already holds (exports, reports)."""
    locked = connection.execute(select(schema.study.c.locked)).scalar_one_or_none()
    current = _current_lock(connection) if locked else None
    if current is None:
        return None
    return _manifest(int(current["id"]), current["manifest"], current)


def _need_reason(action: str, reason: str) -> None:
    if not reason or not reason.strip():
        raise ConflictError(
            f"{action} needs a reason: reason {reason!r} is empty; allowed: a sentence saying "
            "why (e.g. 'last participant completed M6; all queries resolved')"
        )


def _current_lock(connection: Connection) -> dict[str, Any] | None:
    row = (
        connection.execute(
            select(schema.locks)
            .where(schema.locks.c.unlocked_at.is_(None))
            .order_by(schema.locks.c.id.desc())
            .limit(1)
        )
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


def _manifest(lock_id: int, stored: Mapping[str, Any], row: Mapping[str, Any]) -> Manifest:
    return Manifest(
        lock_id=lock_id,
        data_hash=str(stored["data_hash"]),
        rows=int(stored["rows"]),
        tables={str(k): int(v) for k, v in stored["tables"].items()},
        protocol_version=str(stored["protocol_version"]),
        protocol_hash=str(stored["protocol_hash"]),
        sequence_hash=stored["sequence_hash"],
        software_version=str(stored["software_version"]),
        audit_head_id=int(stored["audit_head_id"]),
        audit_head_hash=str(stored["audit_head_hash"]),
        locked_at=str(stored["locked_at"]),
        locked_by=str(stored["locked_by"]),
        reason=str(row["reason"]),
        unlocked_at=row.get("unlocked_at"),
        unlocked_by=row.get("unlocked_by"),
        unlock_reason=row.get("unlock_reason"),
    )
