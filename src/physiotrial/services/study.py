"""Creating a study, its sites and users, and reading back the protocol it runs under.

``init_study`` is the study start of DESIGN.md: it stores the protocol text and hash, creates
the first data manager, draws a secret seed, and generates and seals the randomisation sequence
for every stratum before anyone is enrolled (allocation concealment, CONSORT 2010 item 9). The
seed stays in the ``secrets`` table, which no service returns; the seal (a SHA-256 of the
sequence) is recorded in the study row and so in the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError

from physiotrial import __version__
from physiotrial.core.care_plan import parse_study_file
from physiotrial.core.protocol import Protocol, Role
from physiotrial.core.randomisation import generate_sequence, has_sequence, sequence_hash
from physiotrial.errors import ConflictError, NotFoundError, StoreError
from physiotrial.services.context import SITE_BOUND, writing
from physiotrial.services.protocols import protocol_text
from physiotrial.store import schema
from physiotrial.store.migrate import upgrade
from physiotrial.store.store import Store, utc_now

MIN_SLOTS_PER_STRATUM = 200


@dataclass(frozen=True)
class StudyInfo:
    """What any role may know about the study (no seed, no sequence)."""

    study_id: str
    title: str
    protocol_version: str
    protocol_hash: str
    sequence_hash: str | None
    slots_per_stratum: int | None
    locked: bool
    unblinded: bool
    participants: int


def slots_per_stratum(protocol: Protocol) -> int:
    """Enough slots that no stratum runs out: the planned total, or 200, whichever is larger."""
    planned = protocol.sample_size.per_arm * len(protocol.arms) if protocol.sample_size else 0
    return max(MIN_SLOTS_PER_STRATUM, 2 * planned)


def init_study(
    database_url: str,
    protocol: str,
    *,
    admin: str,
    admin_name: str,
    seed: str | None = None,
) -> StudyInfo:
    """Create the schema, store the protocol, add the first data manager, seal the sequence."""
    text, _source = protocol_text(protocol)
    parsed = parse_study_file(text, protocol)
    store = Store(database_url)
    try:
        upgrade(store.engine)
        with store.read() as connection:
            if connection.execute(select(schema.study)).first() is not None:
                raise ConflictError(
                    "this database already holds a study; use another directory or --database"
                )
        secret = seed or secrets.token_hex(32)
        per_stratum = slots_per_stratum(parsed)
        slots = []
        if has_sequence(parsed):
            slots = generate_sequence(parsed, secret, per_stratum)
        seal = sequence_hash(slots) if slots else None
        now = utc_now()
        with store.write(actor=admin, role=Role.DATA_MANAGER.value, action="init") as tx:
            version_id = tx.insert(
                schema.protocol_versions,
                {
                    "version": parsed.study.version,
                    "text": text,
                    "hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    "created_at": now,
                    "reason": "study start",
                },
            )
            tx.insert(
                schema.study,
                {
                    "study_id": parsed.study.id,
                    "title": parsed.study.title,
                    "protocol_version_id": version_id,
                    "software_version": __version__,
                    "created_at": now,
                    "sequence_hash": seal,
                    "per_stratum": per_stratum,
                    "sealed_at": now,
                    "locked": False,
                    "unblinded": False,
                },
            )
            tx.insert(
                schema.users,
                {
                    "username": admin,
                    "full_name": admin_name,
                    "role": Role.DATA_MANAGER.value,
                    "site_id": None,
                    "active": True,
                    "created_at": now,
                },
            )
            tx.connection.execute(schema.secrets.insert().values(name="seed", value=secret))
            if slots:
                tx.connection.execute(
                    schema.sequence_slots.insert(),
                    [
                        {
                            "stratum": s.stratum,
                            "position": s.position,
                            "arm": s.arm,
                            "block": s.block,
                            "block_size": s.block_size,
                        }
                        for s in slots
                    ],
                )
        return study_info(store)
    finally:
        store.close()


def study_info(store: Store) -> StudyInfo:
    with store.read() as connection:
        row = _study_row(connection)
        version = current_protocol_version(connection)
        count = connection.execute(select(func.count()).select_from(schema.participants))
        return StudyInfo(
            study_id=row["study_id"],
            title=row["title"],
            protocol_version=version["version"],
            protocol_hash=version["hash"],
            sequence_hash=row["sequence_hash"],
            slots_per_stratum=row["per_stratum"],
            locked=bool(row["locked"]),
            unblinded=bool(row["unblinded"]),
            participants=int(count.scalar_one()),
        )


def _study_row(connection: Connection) -> dict[str, Any]:
    try:
        row = connection.execute(select(schema.study)).mappings().one_or_none()
    except DBAPIError as error:  # a database with no schema yet
        raise StoreError(
            f"no study here ({type(error).__name__}); create one with `physiotrial init`"
        ) from None
    if row is None:
        raise StoreError("no study here; create one with `physiotrial init`")
    return dict(row)


def current_protocol_version(connection: Connection) -> dict[str, Any]:
    """The ``protocol_versions`` row the study currently runs under (text, hash, version)."""
    row = _study_row(connection)
    version = (
        connection.execute(
            select(schema.protocol_versions).where(
                schema.protocol_versions.c.id == row["protocol_version_id"]
            )
        )
        .mappings()
        .one()
    )
    return dict(version)


def study_protocol(connection: Connection) -> Protocol:
    """The protocol the study currently runs under (parsed once per protocol text)."""
    return _parse_cached(current_protocol_version(connection)["text"])


@lru_cache(maxsize=8)
def _parse_cached(text: str) -> Protocol:
    return parse_study_file(text, "stored protocol")


def add_site(store: Store, actor: str, code: str, name: str) -> int:
    """A recruiting site (e.g. the Seville health centre and the university department)."""
    with writing(store, actor, "site add") as (tx, _):
        return tx.insert(schema.sites, {"code": code, "name": name})


def add_user(
    store: Store, actor: str, username: str, full_name: str, role: Role, site: str | None = None
) -> int:
    """A user with a role; coordinators, assessors and therapists may be bound to one site."""
    with writing(store, actor, "user add") as (tx, _):
        if role in SITE_BOUND and site is None:
            raise ConflictError(
                f"a {role.value} works at one site; give the site (user add --site CODE)"
            )
        site_id = None
        if site is not None:
            site_id = tx.connection.execute(
                select(schema.sites.c.id).where(schema.sites.c.code == site)
            ).scalar_one_or_none()
            if site_id is None:
                raise NotFoundError(f"no site {site!r}; add it first (site add)")
        return tx.insert(
            schema.users,
            {
                "username": username,
                "full_name": full_name,
                "role": role.value,
                "site_id": site_id,
                "active": True,
                "created_at": utc_now(),
            },
        )


def amend_protocol(store: Store, actor: str, protocol: str, reason: str) -> StudyInfo:
    """Adopt an amended protocol as a new version, keeping every earlier version.

    An amendment may change visits, measures, outcomes and the analysis plan, but not what the
    sealed sequence was generated from (arms, ratio, randomisation, strata): changing those
    mid-trial would invalidate the concealed allocation (CONSORT 2010 item 3b: changes after
    start must be reported; the sequence itself must not move).
    """
    if not reason.strip():
        raise ConflictError("a protocol amendment needs a reason (e.g. the ethics approval)")
    text, source = protocol_text(protocol)
    amended = parse_study_file(text, source)
    with writing(store, actor, "protocol amend", reason=reason) as (tx, _):
        # Checked inside the write: two amendments submitted at once are serialised, and the
        # second is compared with the first, not with what was current before either.
        _check_amendment(amended, study_protocol(tx.connection), source)
        version_id = tx.insert(
            schema.protocol_versions,
            {
                "version": amended.study.version,
                "text": text,
                "hash": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                "created_at": tx.at,
                "reason": reason,
            },
        )
        study_id = tx.connection.execute(select(schema.study.c.id)).scalar_one()
        tx.update(schema.study, study_id, {"protocol_version_id": version_id})
    return study_info(store)


def _check_amendment(amended: Protocol, current: Protocol, source: str) -> None:
    """Refuse an amendment of another study, of the current version, or touching the sequence."""
    if amended.study.id != current.study.id:
        raise ConflictError(
            f"{source} is protocol {amended.study.id!r}; this study runs {current.study.id!r}"
        )
    if amended.study.version == current.study.version:
        raise ConflictError(
            f"{source} has version {amended.study.version}, the current version; "
            "give the amendment a new study.version"
        )
    frozen = ("arms", "randomisation")
    changed = [part for part in frozen if getattr(amended, part) != getattr(current, part)]
    if changed:
        raise ConflictError(
            f"an amendment may not change {', '.join(changed)}: the sealed randomisation "
            "sequence was generated from them"
        )
