"""Participants' one-time links: self-report forms without an account.

A participant has no account. A one-time link names one participant and one visit; the answers
go through ``services.capture.record`` (validated, scored, audited) acting as the built-in user
:data:`access.LINK_USER`, inside the same transaction that marks the link used once every
self-report form of the visit is filled. The participant and the visit come only from the stored
link (its token is 256 random bits shown once; only its SHA-256 is kept). Unknown, used and
expired links are refused with messages that name nobody. Links are trial data: they cannot be
created or filled while the study is locked.

A link may instead open a clinic patient's home exercise log (``purpose = 'exercise_log'``, no
visit; :mod:`physiotrial.services.exercise_log` builds on the helpers here). Every function below
that serves visit links refuses such a link as unknown, and the other way round; only "I am
done" (:func:`finish_participant_link`) closes both kinds.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.core.instruments.spec import Rater
from physiotrial.core.protocol import Protocol, Role
from physiotrial.errors import ConflictError, NotFoundError, PermissionDeniedError
from physiotrial.services import capture
from physiotrial.services.access import (
    LINK_MINUTES,
    LINK_USER,
    digest,
    parse_utc,
    shown,
    utc_text,
)
from physiotrial.services.context import writing
from physiotrial.services.schedule import person_for
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store, Transaction

UNKNOWN_LINK = "this link is not valid; ask the study team for a new link"
USED_LINK = "this link has already been used; ask the study team for a new link"
DONE_LINK = "every form of this link is already filled in; there is nothing left to do"
EXERCISE_LOG = "exercise_log"
"""``participant_links.purpose`` of a link to the patient's home exercise log (services in
:mod:`physiotrial.services.exercise_log`); a visit link's purpose is NULL (revision 0005)."""


@dataclass(frozen=True)
class LinkTarget:
    """What a one-time link opens: one participant's self-report forms of one visit."""

    study_code: str
    visit: str
    measures: tuple[str, ...]
    recorded: tuple[str, ...]
    expires_at: str

    @property
    def outstanding(self) -> tuple[str, ...]:
        return tuple(m for m in self.measures if m not in self.recorded)


def self_report(protocol: Protocol, visit: str) -> tuple[str, ...]:
    """The measures of ``visit`` that the participant rates, in protocol order."""
    measures = protocol.visit(visit).measures
    return tuple(m for m in measures if protocol.measure(m).rater is Rater.PARTICIPANT)


def _recorded(connection: Connection, visit_id: int) -> tuple[str, ...]:
    r = schema.responses
    query = select(r.c.measure).where(r.c.visit_id == visit_id, r.c.current.is_(True))
    return tuple(connection.execute(query).scalars())


def check_minutes(minutes: int) -> None:
    """Refuse a link lifetime outside :data:`access.LINK_MINUTES`."""
    if not LINK_MINUTES[0] <= minutes <= LINK_MINUTES[1]:
        raise ConflictError(
            f"minutes: {minutes} is not allowed; allowed: {LINK_MINUTES[0]} to {LINK_MINUTES[1]}"
        )


def create_participant_link(
    store: Store, actor: str, study_code: str, visit: str, now: datetime, minutes: int = 60 * 24
) -> str:
    """A one-time link token for ``study_code``'s self-report forms at ``visit``."""
    check_minutes(minutes)
    token = secrets.token_urlsafe(32)
    with writing(store, actor, "give links", participant=study_code) as (tx, who):
        person = person_for(tx.connection, who, study_code, "give links")
        protocol = study_protocol(tx.connection)
        with_forms = [v.code for v in protocol.visits if self_report(protocol, v.code)]
        if visit not in with_forms:
            have = ", ".join(with_forms)
            raise NotFoundError(
                f"visit {visit!r} has no self-report forms; visits with them: {have}"
            )
        v = schema.visits
        query = select(v.c.id).where(v.c.participant_id == person["id"], v.c.code == visit)
        visit_id = tx.connection.execute(query).scalar_one_or_none()
        if visit_id is None:
            raise NotFoundError(f"{study_code} has no visit {visit} (not randomised yet?)")
        if set(self_report(protocol, visit)) <= set(_recorded(tx.connection, visit_id)):
            raise ConflictError(
                f"{study_code} {visit}: every self-report form is already filled in"
            )
        link_user(tx)
        values = {"token_hash": digest(token), "participant_id": person["id"], "visit_id": visit_id}
        values |= {"expires_at": utc_text(now + timedelta(minutes=minutes))}
        tx.insert(
            schema.participant_links, values | {"created_by": who.username, "created_at": tx.at}
        )
    return token


def link_user(tx: Transaction) -> None:
    """Create the built-in participant-entry user at the first link (an audited insert)."""
    u = schema.users
    row = tx.connection.execute(select(u).where(u.c.username == LINK_USER)).mappings().first()
    if row is None:
        values: dict[str, Any] = {"username": LINK_USER, "full_name": "Participant (one-time link)"}
        values |= {"role": Role.PARTICIPANT.value, "site_id": None, "active": True}
        tx.insert(u, values | {"created_at": tx.at})
    elif row["role"] != Role.PARTICIPANT.value or row["site_id"] is not None:
        raise ConflictError(
            f"the username {LINK_USER!r} is reserved for participants' one-time links, but a "
            f"{row['role']} has it; a data manager must rename that user first"
        )


def link_row(
    connection: Connection, token: str, now: datetime, purposes: tuple[str | None, ...] = (None,)
) -> dict[str, Any]:
    """The link a token opens, refused when unknown, used or expired (never naming whose).

    ``purposes``: the kinds of link the caller serves (None: a visit link); a link of another
    kind is refused as unknown, so a visit form can never be posted through an exercise log."""
    k, p, v = schema.participant_links, schema.participants, schema.visits
    query = (
        select(k, p.c.study_code, v.c.code.label("visit"))
        .join(p, p.c.id == k.c.participant_id)
        .outerjoin(v, v.c.id == k.c.visit_id)
        .where(k.c.token_hash == digest(token))
    )
    row = connection.execute(query).mappings().one_or_none()
    if row is None or row["purpose"] not in purposes:
        raise PermissionDeniedError(UNKNOWN_LINK)
    if row["used_at"] is not None:
        raise PermissionDeniedError(USED_LINK)
    if parse_utc(row["expires_at"]) <= now:
        raise PermissionDeniedError(
            f"this link expired at {shown(row['expires_at'])}; ask the study team for a new link"
        )
    return dict(row)


def link_purpose(store: Store, token: str) -> str | None:
    """What a token's link opens: ``EXERCISE_LOG``, or None for a visit link and for a token
    that opens nothing (the visit pages then refuse it with their usual message)."""
    k = schema.participant_links
    with store.read() as connection:
        query = select(k.c.purpose).where(k.c.token_hash == digest(token))
        return connection.execute(query).scalar_one_or_none()


def _target(connection: Connection, link: Mapping[str, Any]) -> LinkTarget:
    measures = self_report(study_protocol(connection), link["visit"])
    recorded = tuple(m for m in _recorded(connection, link["visit_id"]) if m in measures)
    target = LinkTarget(link["study_code"], link["visit"], measures, recorded, link["expires_at"])
    if not target.outstanding:
        raise PermissionDeniedError(DONE_LINK)
    return target


def open_participant_link(store: Store, token: str, now: datetime) -> LinkTarget:
    """What a valid link opens (read only)."""
    with store.read() as connection:
        return _target(connection, link_row(connection, token, now))


class Within(Store):
    """The store as seen from inside an open write, so that a service that opens its own write
    (``capture.record``) runs in this one: one transaction, one audit row."""

    def __init__(self, tx: Transaction) -> None:
        self.url = "(inside an open write)"
        self.engine = tx.connection.engine
        self._tx = tx

    @contextmanager
    def write(self, **_: Any) -> Iterator[Transaction]:
        yield self._tx

    @contextmanager
    def read(self) -> Iterator[Connection]:
        yield self._tx.connection


def submit_participant_link(
    store: Store, token: str, measure: str, answers: Mapping[str, object], now: datetime
) -> capture.RecordedResponse:
    """Record one self-report form through the link; the last one uses the link up."""
    with store.read() as connection:
        found = link_row(connection, token, now)
    with store.write(
        actor=LINK_USER,
        role=Role.PARTICIPANT.value,
        action="record",
        participant=found["study_code"],
        reason=f"entered by the participant through one-time link {found['id']}",
    ) as tx:
        link = link_row(tx.connection, token, now)  # again, serialised with every other write
        target = _target(tx.connection, link)
        if measure not in target.outstanding:
            raise PermissionDeniedError(
                f"this link fills {', '.join(target.outstanding)}; not {measure!r}"
            )
        day = now.date()
        response = capture.record(
            Within(tx), LINK_USER, link["study_code"], link["visit"], measure, answers, day, day
        )
        if len(target.outstanding) == 1:
            tx.update(schema.participant_links, link["id"], {"used_at": utc_text(now)})
    return response


def finish_participant_link(store: Store, token: str, now: datetime) -> None:
    """Use the link up now, whatever is left unfilled (the participant says they are done)."""
    kinds = (None, EXERCISE_LOG)  # "I am done" closes an exercise log too
    with store.read() as connection:
        study_code = link_row(connection, token, now, kinds)["study_code"]
    with store.write(
        actor=LINK_USER, role=Role.PARTICIPANT.value, action="link finish", participant=study_code
    ) as tx:
        link = link_row(tx.connection, token, now, kinds)
        tx.update(schema.participant_links, link["id"], {"used_at": utc_text(now)})
