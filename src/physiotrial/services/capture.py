"""Recording a measure at a visit: checked against the protocol, scored by core, versioned.

A response is accepted only when every check passes, and all of them run before the first row is
written: the visit belongs to the protocol and to this participant, the measure is planned at
that visit, the acting role fits the measure's rater, the visit date is not in the future and not
after the participant left, and every answer is one its item allows (scored by
:func:`core.instruments.score_response` with the measure's protocol options). What is stored is the
item answers as codes, every score with the reason for each null score, the instrument version,
the options and who entered it when — enough to rescore it years later.

Stored data are never overwritten (ICH E6(R2) 4.9.0 and FDA 21 CFR 11.10(e): a change must not
obscure the original entry and is explained): :func:`correct` adds version + 1 pointing at the
row it supersedes, and the old row only loses ``current``, in the same transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from physiotrial.core.instruments import get_instrument, parse_answers, score_response
from physiotrial.core.instruments.scoring import ScoreValue
from physiotrial.core.instruments.spec import OptionValue, Rater
from physiotrial.core.protocol import Measure, Protocol, RecordField, Role, SessionPlan, VisitKind
from physiotrial.errors import (
    AnswerError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ScheduleError,
)
from physiotrial.services.access import LINK_MINUTES
from physiotrial.services.context import Actor, acting, writing
from physiotrial.services.schedule import (
    departure,
    needs_reason,
    not_after,
    one_of,
    person_for,
    reject,
    the_day,
)
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

RATER_ROLES: dict[Rater, frozenset[Role]] = {
    Rater.ASSESSOR: frozenset({Role.ASSESSOR}),
    Rater.PARTICIPANT: frozenset({Role.PARTICIPANT, Role.COORDINATOR, Role.ASSESSOR}),
    Rater.THERAPIST: frozenset({Role.THERAPIST}),
}
"""Who may enter a measure, by its rater: an assessor-rated test only by the (blinded) assessor; a
self-report by the participant or by staff entering the participant's own answers for them."""

Target = int | tuple[str, str, str]
"""A response by id, or by (study code, visit code, measure key) for its current version."""
_YES, _NO = frozenset({"yes", "true", "y", "1"}), frozenset({"no", "false", "n", "0"})


@dataclass(frozen=True)
class RecordedResponse:
    """One stored version of one measure at one visit of one participant."""

    id: int
    study_code: str
    visit: str
    measure: str
    instrument: str
    instrument_version: str
    rater: str
    version: int
    current: bool
    answers: dict[str, Any]
    scores: dict[str, ScoreValue]
    unscorable: dict[str, str]
    options: dict[str, OptionValue]
    done_on: date | None
    entered_by: str
    entered_at: str
    supersedes_id: int | None
    reason: str | None


def record(
    store: Store,
    actor: str,
    study_code: str,
    visit_code: str,
    measure_key: str,
    answers: Mapping[str, object],
    done_on: date,
    today: date | None = None,
) -> RecordedResponse:
    """Record the first version of ``measure_key`` at ``visit_code``, done on ``done_on``.

    The response keeps its own day; the visit's day is the first of its measures' days (set by
    the first measure recorded, moved earlier by an earlier one). A measure on another day than
    the visit's must fall in the visit's window or the days after it a participant's link may
    last (:func:`_within_visit`). A second first version is refused: use :func:`correct`.
    """
    day = the_day(today)
    where = f"{study_code} {visit_code} {measure_key}"
    with writing(store, actor, "record", participant=study_code) as (tx, who):
        connection = tx.connection
        person = person_for(connection, who, study_code, "record")
        protocol = study_protocol(connection)
        visit = _visit(connection, protocol, person, visit_code)
        measure = _planned_measure(protocol, study_code, visit_code, measure_key)
        _check_rater(who, measure, "record")
        not_after(done_on, day, f"{study_code} {visit_code}: done on")
        _within_visit(visit, done_on, f"{study_code} {visit_code}: done on")
        left = departure(connection, person["id"])
        if left is not None and done_on > left.occurred_on:
            raise ConflictError(
                f"{study_code} left the study ({left.kind}) on {left.occurred_on.isoformat()}; "
                f"visit {visit_code} done on {done_on.isoformat()} cannot be recorded; allowed: "
                f"data collected on or before {left.occurred_on.isoformat()}"
            )
        r = schema.responses
        earlier = connection.execute(
            select(r.c.id).where(r.c.visit_id == visit["id"], r.c.measure == measure_key)
        ).first()
        if earlier is not None:
            raise ConflictError(
                f"{where} is already recorded (response {earlier.id}); change it with correct "
                "and a reason"
            )
        values = {
            "participant_id": person["id"],
            "visit_id": visit["id"],
            "measure": measure_key,
            "instrument": measure.instrument,
            "rater": measure.rater.value,
            **score(measure, answers, where),
            "done_on": done_on,
            "entered_by": who.username,
            "entered_at": tx.at,
            "version": 1,
            "current": True,
            "supersedes_id": None,
            "reason": None,
        }
        response_id = tx.insert(schema.responses, values)
        if visit["done_on"] is None or done_on < visit["done_on"]:
            tx.update(schema.visits, visit["id"], {"done_on": done_on})
    return _result({**values, "id": response_id}, study_code, visit_code, done_on)


def correct(
    store: Store,
    actor: str,
    target: Target,
    answers: Mapping[str, object],
    reason: str | None,
) -> RecordedResponse:
    """Correct the current version of a response: version + 1, old version kept, with a reason.

    ``answers`` replace the answers to the items they name; every other item keeps its recorded
    answer (give a blank to clear one). A data manager may correct any measure; other roles only
    those whose rater they fit, as for :func:`record`.
    """
    why = needs_reason(reason, "a correction")
    with store.read() as connection:
        study_code = _locate(connection, target)["study_code"]
    with writing(store, actor, "correct", participant=study_code, reason=why) as (tx, who):
        old = _locate(tx.connection, target)
        study_code, visit_code = old["study_code"], old["visit_code"]
        person_for(tx.connection, who, study_code, "correct")
        if not old["current"]:
            raise ConflictError(
                f"response {old['id']} (version {old['version']}) has been superseded; "
                "correct the current version"
            )
        measure = study_protocol(tx.connection).measure(old["measure"])
        if who.role is not Role.DATA_MANAGER:
            _check_rater(who, measure, "correct")
        where = f"{study_code} {visit_code} {old['measure']}"
        stored = score(measure, {**old["answers"], **answers}, where)
        if stored["answers"] == old["answers"]:
            raise ConflictError(f"{where}: the correction changes no answer")
        kept = ("participant_id", "visit_id", "measure", "instrument", "rater", "done_on")
        values = {k: old[k] for k in kept} | stored
        values |= {"entered_by": who.username, "entered_at": tx.at, "version": old["version"] + 1}
        values |= {"current": True, "supersedes_id": old["id"], "reason": why}
        tx.update(schema.responses, old["id"], {"current": False})
        response_id = tx.insert(schema.responses, values)
    done_on = values["done_on"] or old["visit_done_on"]
    return _result({**values, "id": response_id}, study_code, visit_code, done_on)


def response_history(store: Store, actor: str, target: Target) -> list[RecordedResponse]:
    """Every version of a response, the first first (the current one last)."""
    with store.read() as connection:
        who = acting(connection, actor)
        row = _locate(connection, target)
        person_for(connection, who, row["study_code"], "visits")
        r = schema.responses
        rows = connection.execute(
            select(r)
            .where(r.c.visit_id == row["visit_id"], r.c.measure == row["measure"])
            .order_by(r.c.version)
        ).mappings()
        return [
            _result(v, row["study_code"], row["visit_code"], v["done_on"] or row["visit_done_on"])
            for v in rows
        ]


def score(measure: Measure, answers: Mapping[str, object], where: str) -> dict[str, Any]:
    """Validate and score one response with core: the stored answers (item codes, every item,
    None where unanswered), scores, reasons for null scores, options and instrument version.

    A response with no answer at all is refused: it is not a response.
    """
    instrument = get_instrument(measure.instrument)
    try:
        scored = score_response(instrument, answers, measure.options)
    except AnswerError as error:
        raise AnswerError(f"{where}: {error}") from None
    columns = {k: [v] for k, v in answers.items()}
    parsed = parse_answers(instrument, columns, options=measure.options, row_label="", rows=1)
    codes = {item: _code(parsed.matrix[0, j]) for j, item in enumerate(instrument.item_ids)}
    if all(value is None for value in codes.values()):
        raise AnswerError(f"{where}: no item answered; items: {', '.join(instrument.item_ids)}")
    return {
        "instrument_version": scored.version,
        "answers": codes,
        "scores": scored.scores,
        "unscorable": scored.unscorable,
        "options": dict(parsed.options),
    }


def _code(value: float) -> int | float | None:
    number = float(value)
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() else number


def _visit(
    connection: Connection, protocol: Protocol, person: Mapping[str, Any], visit_code: str
) -> dict[str, Any]:
    """The participant's stored visit ``visit_code``; errors name the visits that are allowed."""
    scheduled = [v.code for v in protocol.visits if v.kind is not VisitKind.SCREENING]
    if visit_code not in scheduled:
        raise NotFoundError(
            f"visit {visit_code!r} is not a visit of the protocol; visits: {', '.join(scheduled)}"
        )
    v = schema.visits
    query = select(v).where(v.c.participant_id == person["id"])
    rows = {r["code"]: dict(r) for r in connection.execute(query).mappings()}
    if visit_code not in rows:
        have = ", ".join(c for c in scheduled if c in rows) or "none (not randomised yet)"
        raise NotFoundError(
            f"{person['study_code']} has no visit {visit_code}; their visits: {have}"
        )
    return rows[visit_code]


MEASURE_DAYS_AFTER_VISIT = timedelta(minutes=LINK_MINUTES[1])
"""How long after a visit's first day its other measures may still be done, outside its window:
the longest a participant's one-time link lasts (PROMs sent home with the participant)."""


def _within_visit(visit: Mapping[str, Any], done_on: date, field: str) -> None:
    """A measure done on another day than its visit's first belongs to that visit only if the
    day is in the visit's window or up to :data:`MEASURE_DAYS_AFTER_VISIT` after its first day
    (the first measure recorded sets the visit's day and is checked against nothing else, as
    before: a visit done outside its window is late or early, not refused)."""
    first = visit["done_on"]
    if first is None or done_on == first:
        return
    latest = max(visit["closes"], first + MEASURE_DAYS_AFTER_VISIT)
    if not visit["opens"] <= done_on <= latest:
        raise ScheduleError(
            f"{field} {done_on.isoformat()} is outside visit {visit['code']}'s window "
            f"({visit['opens'].isoformat()} to {visit['closes'].isoformat()}) and the "
            f"{MEASURE_DAYS_AFTER_VISIT.days} days after it was first done "
            f"({first.isoformat()}); allowed: {visit['opens'].isoformat()} to {latest.isoformat()}"
        )


def _planned_measure(
    protocol: Protocol, study_code: str, visit_code: str, measure_key: str
) -> Measure:
    planned = protocol.visit(visit_code).measures
    if measure_key not in planned:
        raise NotFoundError(
            f"{study_code} {visit_code}: measure {measure_key!r} is not planned at visit "
            f"{visit_code}; {visit_code} captures: {', '.join(planned) or 'no measures'}"
        )
    return protocol.measure(measure_key)


def _check_rater(who: Actor, measure: Measure, verb: str) -> None:
    allowed = RATER_ROLES[measure.rater]
    if who.role not in allowed:
        roles = ", ".join(sorted(r.value for r in allowed))
        raise PermissionDeniedError(
            f"{who.username} ({who.role.value}) may not {verb} {measure.key}, which is rated "
            f"by the {measure.rater.value}; allowed roles: {roles}"
        )


def _locate(connection: Connection, target: Target) -> dict[str, Any]:
    """The response row a target names (the current version for a code triple), with the
    participant's study code, the visit code and the day the visit was done (``visit_done_on``;
    the response's own ``done_on`` is NULL for records made before revision 0004)."""
    r, v, p = schema.responses, schema.visits, schema.participants
    query = (
        select(r, v.c.code.label("visit_code"), v.c.done_on.label("visit_done_on"), p.c.study_code)
        .join(v, v.c.id == r.c.visit_id)
        .join(p, p.c.id == r.c.participant_id)
    )
    if isinstance(target, int):
        query = query.where(r.c.id == target)
        missing = f"no response {target}"
    else:
        code, visit_code, measure_key = target
        query = query.where(p.c.study_code == code, v.c.code == visit_code)
        query = query.where(r.c.measure == measure_key, r.c.current.is_(True))
        missing = f"{code} {visit_code} {measure_key} has not been recorded"
    row = connection.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFoundError(missing)
    return dict(row)


def _result(
    values: Mapping[Any, Any], study_code: str, visit: str, done_on: date | None
) -> RecordedResponse:
    names = RecordedResponse.__dataclass_fields__
    copied = {k: values[k] for k in names if k in values and k not in ("current", "done_on")}
    return RecordedResponse(
        **copied,
        study_code=study_code,
        visit=visit,
        current=bool(values["current"]),
        done_on=done_on,
    )


# --- session details: capture of the protocol's session record fields ------------------------


def session_details(
    plan: SessionPlan, details: Mapping[str, object], where: str
) -> dict[str, object]:
    """Details checked against the plan's record fields (type, range, choices); a blank value
    means "not recorded" and is left out."""
    fields = {f.id: f for f in plan.records}
    unknown = sorted(set(details) - set(fields))
    if unknown:
        raise AnswerError(
            f"{where}: no field {', '.join(unknown)} in session plan {plan.code}; "
            f"fields: {', '.join(fields) or 'none'}"
        )
    checked = {k: _field_value(fields[k], v, f"{where}, field {k}") for k, v in details.items()}
    return {k: v for k, v in checked.items() if v is not None}


def _field_value(field: RecordField, raw: object, where: str) -> object:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if field.type == "text":
        return str(raw).strip()
    if field.type == "yes_no":
        text = str(raw).strip().lower()
        if isinstance(raw, bool) or text in _YES | _NO:
            return raw if isinstance(raw, bool) else text in _YES
        raise reject(where, raw, "yes or no")
    if field.type == "choice":
        return one_of(where, raw, field.choices)
    whole = field.type == "integer"
    low = "−∞" if field.minimum is None else f"{field.minimum:g}"
    high = "∞" if field.maximum is None else f"{field.maximum:g}"
    unit = f" {field.unit}" if field.unit else ""
    try:
        number = math.nan if isinstance(raw, bool) else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if (
        not math.isfinite(number)
        or (whole and not number.is_integer())
        or (field.minimum is not None and number < field.minimum)
        or (field.maximum is not None and number > field.maximum)
    ):
        raise reject(where, raw, f"{'whole numbers ' if whole else ''}{low} to {high}{unit}")
    return int(number) if whole else number
