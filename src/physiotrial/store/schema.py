"""The study database: one table per thing a trial records, the same on SQLite and PostgreSQL.

Design choices that the trial's integrity rests on:

- Identity (name, contact) lives in ``identities``, apart from study data; exports never read it.
- ``sequence_slots`` is written once, when the sequence is sealed; ``allocations.slot_id`` is
  UNIQUE, so the database itself refuses to hand out a slot twice, and
  ``allocations.participant_id`` is UNIQUE, so nobody is randomised twice.
- Records that can be corrected (responses, sessions, adverse events) keep every version: a
  correction is a new row with ``version + 1``, ``supersedes_id`` and a reason; the old row only
  loses ``current``.
- ``audit`` is append-only (triggers refuse UPDATE and DELETE) and hash-chained; ``audit_head``
  holds the newest hash and is the row every write locks first, which serialises writers.
- Times are ISO-8601 UTC text (``...Z``) so that values read back identically on both backends
  and hash the same.
- Sign-in secrets never reach the audit trail, whose snapshots hold every column of a row:
  password hashes live in ``credentials``, outside ``AUDITED`` (like the seed in ``secrets``),
  written only inside an audited write whose audited ``user_access`` row carries the hash's
  SHA-256 seal. ``users.password_hash`` (revision 0001) is never written: dropping it, or adding
  columns to ``users``, would make every existing user row differ from its audit snapshot.
  API tokens and one-time links are kept only as SHA-256 digests of random 256-bit tokens.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _participant() -> Column[int]:
    return Column("participant_id", ForeignKey("participants.id"), nullable=False, index=True)


def _entered() -> list[Column[object]]:
    return [
        Column("entered_by", String(80), nullable=False),
        Column("entered_at", String(32), nullable=False),
    ]


def _versioned() -> list[Column[object]]:
    """Columns of a record that is corrected by adding a version, never by overwriting."""
    return [
        Column("version", Integer, nullable=False, default=1),
        Column("current", Boolean, nullable=False, default=True),
        Column("supersedes_id", Integer, nullable=True),
        Column("reason", Text, nullable=True),
    ]


protocol_versions = Table(
    "protocol_versions",
    metadata,
    _id(),
    Column("version", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("reason", Text, nullable=True),
)

study = Table(
    "study",
    metadata,
    _id(),
    Column("study_id", String(80), nullable=False),
    Column("title", Text, nullable=False),
    Column("protocol_version_id", ForeignKey("protocol_versions.id"), nullable=False),
    Column("software_version", String(40), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("sequence_hash", String(64), nullable=True),
    Column("per_stratum", Integer, nullable=True),
    Column("sealed_at", String(32), nullable=True),
    Column("locked", Boolean, nullable=False, default=False),
    Column("unblinded", Boolean, nullable=False, default=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    _id(),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("username", String(80), nullable=False, unique=True),
    Column("full_name", Text, nullable=False),
    Column("role", String(20), nullable=False),
    Column("site_id", ForeignKey("sites.id"), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("password_hash", Text, nullable=True),  # unused: hashes live in ``credentials``
    Column("created_at", String(32), nullable=False),
)

user_access = Table(
    "user_access",
    metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("session_epoch", Integer, nullable=False, default=0),
    Column("failed_sign_ins", Integer, nullable=False, default=0),
    Column("locked_until", String(32), nullable=True),
    Column("password_set_at", String(32), nullable=True),
    Column("password_seal", String(64), nullable=True),
)
"""Sign-in state of a user, created at the first password, failed sign-in or logout-everywhere.

``session_epoch`` is in every signed session cookie; raising it ends every session at once.
``password_seal`` is the SHA-256 of the user's ``credentials.password_hash``: audited, so a hash
swapped in behind physiotrial's back no longer matches it and cannot be used to sign in."""

credentials = Table(
    "credentials",
    metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("password_hash", Text, nullable=False),
)
"""argon2id password hashes (PHC strings). Not audited row by row: see ``user_access``."""

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("label", Text, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
    Column("revoked_at", String(32), nullable=True),
    Column("revoked_by", String(80), nullable=True),
)

participants = Table(
    "participants",
    metadata,
    _id(),
    Column("study_code", String(40), nullable=False, unique=True),
    Column("site_id", ForeignKey("sites.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("factor_levels", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("participant_id", ForeignKey("participants.id"), primary_key=True),
    Column("name", Text, nullable=False),
    Column("contact", Text, nullable=True),
)

screenings = Table(
    "screenings",
    metadata,
    _id(),
    _participant(),
    Column("screened_on", Date, nullable=False),
    Column("answers", JSON, nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("reasons", JSON, nullable=False),
    *_entered(),
)

consents = Table(
    "consents",
    metadata,
    _id(),
    _participant(),
    Column("form_version", String(40), nullable=False),
    Column("consented_on", Date, nullable=False),
    *_entered(),
)

sequence_slots = Table(
    "sequence_slots",
    metadata,
    _id(),
    Column("stratum", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("arm", String(40), nullable=False),
    Column("block", Integer, nullable=False),
    Column("block_size", Integer, nullable=False),
    UniqueConstraint("stratum", "position", name="uq_sequence_slots_stratum_position"),
)

allocations = Table(
    "allocations",
    metadata,
    _id(),
    Column("participant_id", ForeignKey("participants.id"), nullable=False, unique=True),
    Column("stratum", String(200), nullable=False),
    Column("slot_id", ForeignKey("sequence_slots.id"), nullable=True, unique=True),
    Column("sequence_index", Integer, nullable=False, unique=True),
    Column("arm", String(40), nullable=False),
    Column("randomised_on", Date, nullable=False),
    *_entered(),
)

visits = Table(
    "visits",
    metadata,
    _id(),
    _participant(),
    Column("code", String(40), nullable=False),
    Column("planned", Date, nullable=False),
    Column("opens", Date, nullable=False),
    Column("closes", Date, nullable=False),
    Column("done_on", Date, nullable=True),
    UniqueConstraint("participant_id", "code", name="uq_visits_participant_code"),
)

responses = Table(
    "responses",
    metadata,
    _id(),
    _participant(),
    Column("visit_id", ForeignKey("visits.id"), nullable=False, index=True),
    Column("measure", String(40), nullable=False),
    Column("instrument", String(40), nullable=False),
    Column("instrument_version", String(80), nullable=False),
    Column("rater", String(20), nullable=False),
    Column("answers", JSON, nullable=False),
    Column("scores", JSON, nullable=False),
    Column("unscorable", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("done_on", Date, nullable=True),  # NULL (before revision 0004): the visit's day
    *_entered(),
    *_versioned(),
    UniqueConstraint("visit_id", "measure", "version", name="uq_responses_visit_measure_version"),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    _participant(),
    Column("plan", String(40), nullable=False),
    Column("number", Integer, nullable=False),
    Column("held_on", Date, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("details", JSON, nullable=False),
    *_entered(),
    *_versioned(),
    UniqueConstraint("participant_id", "plan", "number", "version", name="uq_sessions_number"),
)

adverse_events = Table(
    "adverse_events",
    metadata,
    _id(),
    _participant(),
    Column("term", Text, nullable=False),
    Column("onset", Date, nullable=False),
    Column("duration_hours", Float, nullable=True),
    Column("severity", String(20), nullable=False),
    Column("relatedness", String(20), nullable=False),
    Column("action", Text, nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("session_id", ForeignKey("sessions.id"), nullable=True),
    *_entered(),
    *_versioned(),
)

deviations = Table(
    "deviations",
    metadata,
    _id(),
    _participant(),
    Column("occurred_on", Date, nullable=False),
    Column("category", String(40), nullable=False),
    Column("description", Text, nullable=False),
    *_entered(),
)

dispositions = Table(
    "dispositions",
    metadata,
    _id(),
    Column("participant_id", ForeignKey("participants.id"), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("reason", Text, nullable=False),
    *_entered(),
)

locks = Table(
    "locks",
    metadata,
    _id(),
    Column("locked_at", String(32), nullable=False),
    Column("locked_by", String(80), nullable=False),
    Column("reason", Text, nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("unlocked_at", String(32), nullable=True),
    Column("unlocked_by", String(80), nullable=True),
    Column("unlock_reason", Text, nullable=True),
)

unblindings = Table(
    "unblindings",
    metadata,
    _id(),
    Column("participant_id", ForeignKey("participants.id"), nullable=True),
    Column("scope", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    *_entered(),
)

unblinding_requests = Table(
    "unblinding_requests",
    metadata,
    _id(),
    _participant(),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(80), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("decision", String(20), nullable=True),
    Column("decided_by", String(80), nullable=True),
    Column("decided_at", String(32), nullable=True),
    Column("decision_reason", Text, nullable=True),
)
"""Emergency unblinding asked for by site staff; ``decision`` is null (pending), 'granted' (an
``unblindings`` row is written in the same transaction) or 'declined'. Decided once."""

participant_links = Table(
    "participant_links",
    metadata,
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),
    _participant(),
    Column("visit_id", ForeignKey("visits.id"), nullable=True),
    Column("expires_at", String(32), nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("used_at", String(32), nullable=True),
    Column("purpose", String(20), nullable=True),
    CheckConstraint(
        "(purpose IS NULL AND visit_id IS NOT NULL) "
        "OR (purpose = 'exercise_log' AND visit_id IS NULL)",
        name="ck_participant_links_purpose",
    ),
)
"""Participants' links. A visit link (``purpose`` NULL, the only kind before revision 0005) fills
the participant's own self-report forms of one visit, once; an exercise-log link
(``purpose = 'exercise_log'``, no visit) lets them log their home exercise days until it expires
or they say they are done. NULL rather than 'visit' keeps rows written before 0005 as their
audit snapshots hold them."""

audit = Table(
    "audit",
    metadata,
    _id(),
    Column("at", String(32), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("participant", String(40), nullable=True, index=True),
    Column("changes", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_id", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

AUDITED: tuple[Table, ...] = (
    protocol_versions,
    study,
    sites,
    users,
    participants,
    identities,
    screenings,
    consents,
    allocations,
    visits,
    responses,
    sessions,
    adverse_events,
    deviations,
    dispositions,
    locks,
    unblindings,
    unblinding_requests,
    user_access,
    api_tokens,
    participant_links,
)
"""Every table whose rows must match the audit trail (``audit verify`` checks each row).

``sequence_slots`` is not here: it is sealed by ``study.sequence_hash`` (itself audited), which
``audit verify`` recomputes, so the audit log need not carry the whole allocation sequence.
``credentials`` is not here either: its hashes are sealed by ``user_access.password_seal``."""

ACCESS_STATE: tuple[Table, ...] = (user_access, api_tokens)
"""Audited tables that hold who may sign in, not trial data. They change while the study is
locked (a failed sign-in, a revoked token), so a hash of the locked trial data leaves them out."""
