"""The tamper-evident audit trail: a hash chain, and a check that the data still matches it.

Each audit row carries the SHA-256 of the previous row, and its own hash covers every field
(who, role, when, action, participant, the old → new snapshot of every row the write changed,
reason). ``verify`` recomputes the chain and names the first row that does not match; it then
replays the snapshots to the state each data row must be in and names any row that was changed,
added or removed outside the services. The same idea as a Merkle-less append-only log (e.g.
Crosby & Wallach, USENIX Security 2009), kept simple because writers are serialised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.store import schema

GENESIS = "0" * 64
_HASHED = ("id", "at", "actor", "role", "action", "participant", "changes", "reason", "prev_hash")


def audit_hash(row: Mapping[Any, Any]) -> str:
    """SHA-256 of the canonical JSON of an audit row's fields (everything but its own hash)."""
    payload = json.dumps(
        {name: row[name] for name in _HASHED},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def verify_chain(connection: Connection) -> list[str]:
    """Problems in the hash chain, first one first (an empty list means the chain is intact)."""
    problems: list[str] = []
    previous = GENESIS
    expected_id = 1
    for row in connection.execute(select(schema.audit).order_by(schema.audit.c.id)).mappings():
        where = f"audit row {row['id']} ({row['action']} by {row['actor']} at {row['at']})"
        if row["id"] != expected_id:
            problems.append(f"audit row {expected_id} is missing (next row is {row['id']})")
        if row["prev_hash"] != previous:
            problems.append(f"{where}: does not follow the row before it (chain broken)")
        if audit_hash(row) != row["hash"]:
            problems.append(f"{where}: its content was changed after it was written")
        previous = row["hash"]
        expected_id = row["id"] + 1
    head = connection.execute(select(schema.audit_head)).mappings().one_or_none()
    if head is not None and (head["last_id"] != expected_id - 1 or head["last_hash"] != previous):
        problems.append(
            f"the audit head names row {head['last_id']}, but the trail ends at row "
            f"{expected_id - 1}: rows were removed from the end"
        )
    return problems


def verify_data(
    connection: Connection, snapshot: Callable[[Any, Mapping[Any, Any]], dict[str, Any]]
) -> list[str]:
    """Rows whose stored values differ from what the audit trail says they must be."""
    expected: dict[tuple[str, str], tuple[dict[str, Any] | None, int]] = {}
    trail = select(schema.audit.c.id, schema.audit.c.changes).order_by(schema.audit.c.id)
    for audit_id, changes in connection.execute(trail):
        for change in json.loads(changes):
            expected[(change["table"], change["key"])] = (change["new"], int(audit_id))
    problems: list[str] = []
    for table in schema.AUDITED:
        seen: set[str] = set()
        for data in connection.execute(select(table)).mappings():
            key = ",".join(str(data[c.name]) for c in table.primary_key.columns)
            seen.add(key)
            audited = expected.get((table.name, key))
            if audited is None or audited[0] is None:
                problems.append(f"{table.name} row {key} was added outside physiotrial")
                continue
            current, recorded = snapshot(table, data), audited[0]
            # A column added by a later migration is absent from older audit rows: absent is NULL.
            changed = sorted(
                n for n in current.keys() | recorded if recorded.get(n) != current.get(n)
            )
            if changed:
                problems.append(
                    f"{table.name} row {key}: {', '.join(changed)} differ from audit row "
                    f"{audited[1]}: changed outside physiotrial"
                )
        for (name, key), (new, audit_id) in expected.items():
            if name == table.name and new is not None and key not in seen:
                problems.append(f"{name} row {key} (audit row {audit_id}) was deleted")
    return problems
