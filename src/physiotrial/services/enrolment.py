"""Screening and consent: the first two steps of a participant's way into the trial.

Screening creates the participant under a pseudonymous study code (``SEV-001``: the site code and
the next number at that site), keeps the name and contact in ``identities`` apart from study data
(DESIGN.md, "Identity data lives apart"), and records every eligibility answer with the decision
and the reason for each unmet criterion. Ineligible people are recorded too, as ``screen_failed``:
the screening log of the CONSORT flow diagram counts everyone assessed for eligibility and why
each was excluded (CONSORT 2010 item 13a and figure 1; Schulz et al., BMJ 2010;340:c332).

Consent comes after an eligible screening and never before it: a consent dated before the
screening, given by someone not screened eligible, or given twice is refused and nothing is
written (ICH E6(R2) 4.8, informed consent documented before participation).

Participant statuses written here: ``eligible``, ``screen_failed``, ``consented``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from physiotrial.core.eligibility import evaluate_eligibility, stratum_of
from physiotrial.core.protocol import Protocol
from physiotrial.errors import ConflictError, NotFoundError, RandomisationError
from physiotrial.services.context import acting, participant_row, require, writing
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

ELIGIBLE = "eligible"
SCREEN_FAILED = "screen_failed"
CONSENTED = "consented"
_CODE_ATTEMPTS = 100


@dataclass(frozen=True)
class ScreeningResult:
    """The outcome of one screening (no identity data: the study code stands for the person)."""

    study_code: str
    site: str
    screened_on: date
    eligible: bool
    status: str
    reasons: tuple[str, ...]
    """Every unmet or unanswered criterion, in protocol order; empty when eligible."""
    stratum: str


@dataclass(frozen=True)
class ConsentResult:
    study_code: str
    form_version: str
    consented_on: date
    status: str


class _CodeTaken(Exception):
    """Another screening at the same site took the study code between our read and our write."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def required_text(field: str, value: str | None) -> str:
    """``value`` stripped, refusing a missing or blank value with the field's name."""
    if value is None or not value.strip():
        raise ConflictError(f"{field}: {value!r} is blank; allowed: a non-blank text")
    return value.strip()


def checked_factor_levels(protocol: Protocol, factor_levels: Mapping[str, str]) -> dict[str, str]:
    """The factor levels the protocol knows, each checked, with every factor it needs present.

    Stratification factors are checked by :func:`stratum_of`; minimisation factors must be given
    too (the allocation depends on them); any factor the protocol does not declare is refused
    rather than silently dropped.
    """
    factors = {f.id: f for f in protocol.randomisation.factors}
    for factor_id, level in factor_levels.items():
        factor = factors.get(factor_id)
        if factor is None:
            allowed = ", ".join(factors) or "none (this protocol has no factors)"
            raise RandomisationError(
                f"factor {factor_id!r} (level {level!r}) is not a factor of this protocol; "
                f"allowed factors: {allowed}"
            )
        if level not in factor.levels:
            raise RandomisationError(
                f"factor {factor_id}: {level!r} is not a level; allowed levels: "
                f"{', '.join(factor.levels)}"
            )
    stratum_of(protocol, factor_levels)
    settings = protocol.randomisation.minimisation
    needed = (
        settings.factors if protocol.randomisation.method == "minimisation" and settings else ()
    )
    for factor_id in needed:
        if factor_id not in factor_levels:
            raise RandomisationError(
                f"minimisation factor {factor_id}: not given; allowed levels: "
                f"{', '.join(factors[factor_id].levels)}"
            )
    return {factor_id: str(level) for factor_id, level in factor_levels.items()}


def _site_id(connection: Connection, site_code: str) -> int:
    site_id = connection.execute(
        select(schema.sites.c.id).where(schema.sites.c.code == site_code)
    ).scalar_one_or_none()
    if site_id is None:
        known = ", ".join(connection.execute(select(schema.sites.c.code)).scalars()) or "none yet"
        raise NotFoundError(f"site {site_code!r} does not exist; known sites: {known}")
    return int(site_id)


def _next_code(connection: Connection, site_id: int, site_code: str) -> str:
    """The site code and the next number at that site: ``SEV-001``, ``SEV-002``, …"""
    count = connection.execute(
        select(func.count())
        .select_from(schema.participants)
        .where(schema.participants.c.site_id == site_id)
    ).scalar_one()
    return f"{site_code}-{int(count) + 1:03d}"


def screen(
    store: Store,
    actor: str,
    site_code: str,
    screened_on: date,
    answers: Mapping[str, object],
    factor_levels: Mapping[str, str],
    name: str,
    contact: str | None = None,
) -> ScreeningResult:
    """Screen one person at ``site_code``: a new participant, eligible or ``screen_failed``.

    Input errors (an answer of the wrong type, an unknown criterion or factor, a level the
    protocol does not list, a blank name) are refused and nothing is written. Factor levels are
    required of everyone screened, so the screening log can be broken down by stratum. The
    answers are judged inside the write, against the protocol version in force at that moment.
    The study code is read first so the audit row can carry it, and checked again inside the
    write, which is serialised with every other write; if another screening at the site took it
    meanwhile, the screening is retried with the next code (each retry means another screening
    succeeded, so this always progresses; the bound only guards against a stuck database).
    """
    full_name = required_text("name", name)
    with store.read() as connection:
        user = acting(connection, actor)
        require(user, "screen")
        site_id = _site_id(connection, site_code)
        require(user, "screen", site_id)
        code = _next_code(connection, site_id, site_code)
    for _ in range(_CODE_ATTEMPTS):
        try:
            with writing(store, actor, "screen", participant=code) as (tx, _user):
                current = _next_code(tx.connection, site_id, site_code)
                if current != code:
                    raise _CodeTaken(current)
                protocol = study_protocol(tx.connection)
                decision = evaluate_eligibility(protocol, answers)
                levels = checked_factor_levels(protocol, factor_levels)
                status = ELIGIBLE if decision.eligible else SCREEN_FAILED
                participant_id = tx.insert(
                    schema.participants,
                    {
                        "study_code": code,
                        "site_id": site_id,
                        "status": status,
                        "factor_levels": levels,
                        "created_at": tx.at,
                    },
                )
                tx.insert(
                    schema.identities,
                    {"participant_id": participant_id, "name": full_name, "contact": contact},
                )
                tx.insert(
                    schema.screenings,
                    {
                        "participant_id": participant_id,
                        "screened_on": screened_on,
                        "answers": {r.criterion_id: r.answer for r in decision.results},
                        "eligible": decision.eligible,
                        "reasons": list(decision.reasons),
                        "entered_by": tx.actor,
                        "entered_at": tx.at,
                    },
                )
        except _CodeTaken as taken:
            code = taken.code  # as seen under the write lock: the freshest guess
            continue
        return ScreeningResult(
            study_code=code,
            site=site_code,
            screened_on=screened_on,
            eligible=decision.eligible,
            status=status,
            reasons=decision.reasons,
            stratum=stratum_of(protocol, levels),
        )
    raise ConflictError(
        f"site {site_code}: the next study code kept being taken by other screenings "
        f"({_CODE_ATTEMPTS} attempts); try again"
    )


def screening_row(connection: Connection, participant_id: int) -> dict[str, Any] | None:
    """The participant's screening (one per participant: a re-screen is a new participant)."""
    row = (
        connection.execute(
            select(schema.screenings).where(schema.screenings.c.participant_id == participant_id)
        )
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


def consent_row(connection: Connection, participant_id: int) -> dict[str, Any] | None:
    row = (
        connection.execute(
            select(schema.consents).where(schema.consents.c.participant_id == participant_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def consent(
    store: Store, actor: str, study_code: str, form_version: str, consented_on: date
) -> ConsentResult:
    """Record written informed consent on form ``form_version``; status becomes ``consented``."""
    version = required_text("form_version", form_version)
    with writing(store, actor, "consent", participant=study_code) as (tx, user):
        row = participant_row(tx.connection, study_code)
        require(user, "consent", row["site_id"])
        given = consent_row(tx.connection, row["id"])
        if given is not None:
            raise ConflictError(
                f"participant {study_code} already consented on "
                f"{given['consented_on'].isoformat()} (form {given['form_version']}); "
                "consent is recorded once"
            )
        screening = screening_row(tx.connection, row["id"])
        if screening is None or not screening["eligible"]:
            raise ConflictError(
                f"participant {study_code} was not screened eligible (status {row['status']}); "
                "only a participant screened eligible can consent"
            )
        if row["status"] != ELIGIBLE:
            raise ConflictError(
                f"participant {study_code} has status {row['status']}; consent is recorded only "
                f"for status {ELIGIBLE}"
            )
        if consented_on < screening["screened_on"]:
            raise ConflictError(
                f"consented_on {consented_on.isoformat()} is before the screening on "
                f"{screening['screened_on'].isoformat()}; allowed: "
                f"{screening['screened_on'].isoformat()} or later"
            )
        tx.insert(
            schema.consents,
            {
                "participant_id": row["id"],
                "form_version": version,
                "consented_on": consented_on,
                "entered_by": tx.actor,
                "entered_at": tx.at,
            },
        )
        tx.update(schema.participants, row["id"], {"status": CONSENTED})
    return ConsentResult(
        study_code=study_code, form_version=version, consented_on=consented_on, status=CONSENTED
    )
