"""Analysing the locked study: the trial frames read from the store, then the protocol's plan.

Only a locked database is analysed (ICH E9 §5.1, "blind review" then lock; the manifest of the
lock is cited by the results and the report). Who may analyse: the statistician and the data
manager (:data:`ANALYSE_ROLES`). Blinding (DESIGN.md): whether the actor sees arms is decided by
:func:`blinding.sees_allocation` alone. A blinded statistician gets the arms relabelled "A" and
"B": the same arm gets the same letter in every run, and which letter is which is fixed by an
HMAC of the arm code under the study's secret seed, so neither the protocol's arm order nor the
cited manifest reveals it. Arm codes never appear in a blinded result.

Frames (see :mod:`physiotrial.analysis.dataset`) hold only current versions of corrected records
and every randomised participant, as randomised (ITT).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from physiotrial.analysis.dataset import FRAME_COLUMNS, TrialFrames
from physiotrial.analysis.plan import analyse_trial
from physiotrial.analysis.populations import per_protocol
from physiotrial.analysis.results import AnalysisResults
from physiotrial.core.protocol import Protocol
from physiotrial.errors import ConflictError, OutputFileError
from physiotrial.services.blinding import arm_for, sees_allocation
from physiotrial.services.context import Actor, acting, require, writing
from physiotrial.services.locking import lock_in_force
from physiotrial.services.study import study_protocol
from physiotrial.store import schema
from physiotrial.store.store import Store

GUESS_INSTRUMENT = "blinding_guess"


def blinded_labels(connection: Connection, protocol: Protocol) -> dict[str, str]:
    """Arm code → "A"/"B", fixed by an HMAC of each code under the study's secret seed."""
    seed = connection.execute(
        select(schema.secrets.c.value).where(schema.secrets.c.name == "seed")
    ).scalar_one_or_none()
    key = str(seed or "").encode()
    codes = sorted(
        (a.code for a in protocol.arms),
        key=lambda code: hmac.new(key, code.encode(), hashlib.sha256).hexdigest(),
    )
    letters = [chr(ord("A") + i) for i in range(len(codes))]
    return dict(zip(codes, letters, strict=True))


def analysis_frames(store: Store, actor: str) -> TrialFrames:
    """The trial frames as ``actor`` may see them (arms as codes, or A/B when blinded)."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "analyse")
        protocol = study_protocol(connection)
        return study_frames(connection, who, protocol)


def study_frames(connection: Connection, who: Actor, protocol: Protocol) -> TrialFrames:
    """Every frame of the study as ``who`` may see it (the caller has checked the permission)."""
    sees = sees_allocation(connection, who)
    labels = {} if sees else blinded_labels(connection, protocol)

    def shown(arm: str) -> str:
        visible = arm_for(connection, who, arm)
        return visible if visible is not None else labels[arm]

    p, a, s = schema.participants, schema.allocations, schema.sites
    people = connection.execute(
        select(p.c.id, p.c.study_code, p.c.status, p.c.factor_levels, s.c.code.label("site"))
        .join(s, s.c.id == p.c.site_id)
        .order_by(p.c.id)
    ).all()
    code_of = {row.id: row.study_code for row in people}
    allocated = {
        row.participant_id: row
        for row in connection.execute(select(a.c.participant_id, a.c.arm, a.c.randomised_on))
    }
    screened = {
        row["participant_id"]: dict(row)
        for row in connection.execute(select(schema.screenings)).mappings()
    }
    left = {row.participant_id: row for row in connection.execute(select(schema.dispositions))}
    participants = pd.DataFrame(
        [
            {
                "study_code": row.study_code,
                "site": row.site,
                "arm": shown(allocated[row.id].arm),
                "sex": (row.factor_levels or {}).get("sex"),
                "age": _number((screened[row.id]["answers"] or {}).get("age"))
                if row.id in screened
                else None,
                "randomised_on": allocated[row.id].randomised_on,
                "status": row.status,
                "departure": left[row.id].kind if row.id in left else None,
                "departure_reason": left[row.id].reason if row.id in left else None,
                "itt": True,
                "per_protocol": False,
            }
            for row in people
            if row.id in allocated
        ],
        columns=list(FRAME_COLUMNS["participants"]),
    )
    randomised = set(participants["study_code"])
    scores, guesses = _responses(connection, protocol, code_of, randomised)
    sessions = _current(connection, schema.sessions, code_of, randomised)
    session_key = {row["id"]: (row["plan"], row["number"]) for row in sessions.to_dict("records")}
    events = _current(connection, schema.adverse_events, code_of, randomised)
    events["session_plan"] = events["session_id"].map(lambda i: session_key.get(i, (None,))[0])
    events["session_number"] = events["session_id"].map(
        lambda i: session_key.get(i, (None, None))[1]
    )
    visits = _table(connection, schema.visits, code_of, randomised).rename(
        columns={"code": "visit"}
    )
    deviations = _table(connection, schema.deviations, code_of, randomised)
    screening = pd.DataFrame(
        [
            {
                "study_code": code_of[pid],
                "eligible": bool(row["eligible"]),
                "reasons": tuple(row["reasons"] or ()),
                "randomised": pid in allocated,
            }
            for pid, row in screened.items()
        ],
        columns=list(FRAME_COLUMNS["screening"]),
    )
    if not participants.empty and not protocol.is_clinic:
        flags = per_protocol(protocol, participants["study_code"], sessions, deviations, visits)
        participants["per_protocol"] = participants["study_code"].map(flags).astype(bool)
    return TrialFrames(
        participants=participants,
        scores=scores,
        guesses=guesses,
        adverse_events=events[list(FRAME_COLUMNS["adverse_events"])],
        sessions=sessions[list(FRAME_COLUMNS["sessions"])],
        visits=visits[list(FRAME_COLUMNS["visits"])],
        deviations=deviations[list(FRAME_COLUMNS["deviations"])],
        screening=screening,
    )


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _table(
    connection: Connection, table: Any, code_of: dict[int, str], keep: set[str]
) -> pd.DataFrame:
    rows = [dict(r) for r in connection.execute(select(table)).mappings()]
    frame = pd.DataFrame(rows, columns=[c.name for c in table.columns])
    frame["study_code"] = frame["participant_id"].map(code_of)
    return frame[frame["study_code"].isin(keep)].reset_index(drop=True)


def _current(
    connection: Connection, table: Any, code_of: dict[int, str], keep: set[str]
) -> pd.DataFrame:
    frame = _table(connection, table, code_of, keep)
    return frame[frame["current"].astype(bool)].reset_index(drop=True)


def _responses(
    connection: Connection, protocol: Protocol, code_of: dict[int, str], keep: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    r, v = schema.responses, schema.visits
    rows = connection.execute(
        select(r.c.participant_id, r.c.measure, r.c.instrument, r.c.rater, r.c.scores, v.c.code)
        .join(v, v.c.id == r.c.visit_id)
        .where(r.c.current.is_(True))
        .order_by(r.c.id)
    ).all()
    by_measure: dict[str, list[tuple[str, str, frozenset[str]]]] = {}
    for outcome in protocol.outcomes:
        by_measure.setdefault(outcome.measure, []).append(
            (outcome.id, outcome.score, frozenset(outcome.visits))
        )
    scores, guesses = [], []
    for row in rows:
        code = code_of[row.participant_id]
        if code not in keep:
            continue
        values = row.scores or {}
        if row.instrument == GUESS_INSTRUMENT:
            category = values.get("bang_category")
            if category is not None:
                guesses.append((code, row.code, row.rater, str(category)))
            continue
        for outcome_id, key, visits in by_measure.get(row.measure, []):
            value = _number(values.get(key))
            if row.code in visits and value is not None:
                scores.append((code, row.code, outcome_id, value))
    return (
        pd.DataFrame(scores, columns=list(FRAME_COLUMNS["scores"])),
        pd.DataFrame(guesses, columns=list(FRAME_COLUMNS["guesses"])),
    )


def analyse(store: Store, actor: str) -> AnalysisResults:
    """Run the protocol's analysis plan on the locked study, as ``actor`` may see it."""
    with store.read() as connection:
        who = acting(connection, actor)
        require(who, "analyse")
        manifest = lock_in_force(connection)
        if manifest is None:
            raise ConflictError(
                "the study database is not locked; analyse needs a locked database: a data "
                "manager locks it first (physiotrial lock --reason ...)"
            )
        protocol = study_protocol(connection)
        blinded = not sees_allocation(connection, who)
        frames = study_frames(connection, who, protocol)
    # Every analysis is a look at the data (with arms, for an unblinded role): on the record.
    note = f"analysis of lock {manifest.lock_id} ({'blinded' if blinded else 'with arms'})"
    with writing(store, actor, "analyse", reason=note, when_locked=True):
        pass
    return analyse_trial(frames, protocol, blinded, asdict(manifest))


def write_results(results: AnalysisResults, directory: Path) -> list[Path]:
    """Every table as ``<name>.csv`` in ``directory`` (created if needed); returns the paths."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in results.tables:
            path = directory / f"{name}.csv"
            results.table(name).to_csv(path, index=False)
            paths.append(path)
    except OSError as error:
        raise OutputFileError(f"cannot write the analysis to {directory}: {error}") from None
    return paths
