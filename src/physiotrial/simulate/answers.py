"""Item-level answers that give a target score through the real scoring code.

The simulator decides scores (a trajectory of WOMAC total 0-100, a torque per kg); the services
store item answers and score them with :mod:`physiotrial.core.instruments`. This module is the
bridge: for each instrument the reference protocol captures it builds answers a person could
give, such that the instrument's own scorer returns the target, up to the instrument's
resolution (one item step for summed questionnaires, 1 mm for a VAS, 0.1 s for the TUG, 1 N of
force for dynamometry). Nothing here re-implements scoring; tests check every instrument through
:func:`core.instruments.score_response`.

Summed questionnaires (WOMAC LK3.1, TSK-11, PCS-13) are built top down: the target total is
rounded to a whole raw sum, shared between subscales near their own targets, then between items
with person-to-person variation, always keeping each item within its codes (``_share``), so the
raw sum is exactly the rounded target. WOMAC LK3.1: 24 items coded 0-4, total_100 = sum / 96 × 100
(Bellamy's user guide; instruments.md §2); TSK-11 items 1-4, total 11-44 (Woby 2005;
instruments.md §5); PCS items 0-4, total 0-52 (Sullivan 1995; instruments.md §6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from physiotrial.core.instruments.catalogue import get_instrument
from physiotrial.core.protocol import NumericCriterion, Protocol, SessionPlan, YesNoCriterion

Rng = np.random.Generator

WOMAC_SUBSCALES = (("pain", "p", 5), ("stiffness", "s", 2), ("function", "f", 17))
TSK11_ITEMS = ("q1", "q2", "q3", "q5", "q6", "q7", "q10", "q11", "q13", "q15", "q17")
PCS_ITEMS = tuple(f"q{i}" for i in range(1, 14))
DN4_ITEMS = (
    "burning",
    "painful_cold",
    "electric_shocks",
    "tingling",
    "pins_needles",
    "numbness",
    "itching",
    "touch_hypoesthesia",
    "prick_hypoesthesia",
    "brushing",
)
SEX_CODE = {"male": 1, "female": 2}
"""six_mwt's ``sex`` item codes (Enright–Sherrill equations differ by sex)."""
INSTRUMENTS = (
    "vas",
    "womac",
    "dn4",
    "tsk11",
    "pcs",
    "tug",
    "six_mwt",
    "hhd_knee",
    "knee_rom",
    "pgic",
    "blinding_guess",
)
"""Every instrument :func:`answers_for` can answer (those of the reference protocol)."""
FAIL_WEIGHTS = {
    "popliteus_trigger_point": 5.0,
    "age": 3.0,
    "needle_phobia": 2.0,
    "anticoagulants": 2.0,
    "recent_knee_procedure": 1.5,
    "other_lower_limb_condition": 1.5,
    "pain_months": 1.0,
    "acr_knee_oa": 1.0,
}
"""Relative frequency of the criterion a screen failure fails (others weigh 1)."""


def answers_for(
    instrument: str,
    targets: Mapping[str, float],
    rng: Rng,
    context: Mapping[str, Any] | None = None,
) -> dict[str, object]:
    """Answers to ``instrument`` whose real score is ``targets`` (score key → value).

    ``context`` carries what a measurement needs besides the target: ``sex`` ("female"/"male"),
    ``age``, ``height_cm``, ``weight_kg`` and ``side`` ("left"/"right"). Targets outside a
    score's range are clipped to it. An instrument this module does not know raises ValueError.
    """
    ctx = dict(context or {})
    if instrument == "vas":
        return {"mm": _round_in(targets["score"], 0, 100, 1)}
    if instrument == "womac":
        return _womac(targets, rng)
    if instrument == "dn4":
        total = int(_round_in(targets["total"], 0, 10, 1))
        chosen = rng.choice(len(DN4_ITEMS), size=total, replace=False)
        return {item: int(j in chosen) for j, item in enumerate(DN4_ITEMS)}
    if instrument == "tsk11":
        total = int(_round_in(targets["total"], 11, 44, 1))
        return dict(zip(TSK11_ITEMS, _items(total, len(TSK11_ITEMS), 1, 4, rng), strict=True))
    if instrument == "pcs":
        total = int(_round_in(targets["total"], 0, 52, 1))
        return dict(zip(PCS_ITEMS, _items(total, len(PCS_ITEMS), 0, 4, rng), strict=True))
    if instrument == "tug":
        return {"time_s": _round_in(targets["time_s"], 1, 300, 0.1), "walking_aid": 0}
    if instrument == "six_mwt":
        return {
            "distance_m": _round_in(targets["distance_m"], 0, 1000, 1),
            "sex": SEX_CODE[str(ctx.get("sex", "female"))],
            "age_years": _round_in(float(ctx.get("age", 65)), 18, 110, 1),
            "height_cm": _round_in(float(ctx.get("height_cm", 165)), 100, 230, 1),
            "weight_kg": _round_in(float(ctx.get("weight_kg", 75)), 25, 300, 0.1),
        }
    if instrument == "hhd_knee":
        return _hhd(targets, ctx)
    if instrument == "knee_rom":
        answers: dict[str, object] = {
            "flexion_deg": _round_in(targets["flexion_deg"], 0, 170, 1),
            "extension_deficit_deg": _round_in(targets.get("extension_deficit_deg", 5), -20, 60, 1),
        }
        return answers | {"side": 1 if ctx.get("side", "right") == "left" else 2}
    if instrument == "pgic":
        return {"impression": int(_round_in(targets["code"], 1, 7, 1))}
    if instrument == "blinding_guess":
        guess = int(_round_in(targets["guess"], 1, 3, 1))
        found: dict[str, object] = {"guess": guess}
        certainty = targets.get("certainty")
        if guess != 3 and certainty is not None and not np.isnan(certainty):
            found["certainty"] = int(_round_in(certainty, 1, 2, 1))
        return found
    return _single_items(instrument, targets)


def _single_items(instrument: str, targets: Mapping[str, float]) -> dict[str, object]:
    """Any other instrument whose targeted scores are each one item (NPRS, 30-s chair stand…):
    the item answered by its target within the item's range; ValueError when that is not enough.
    """
    spec, answers = get_instrument(instrument), dict[str, object]()
    for score in (s for s in spec.scores if s.key in targets and len(s.items) == 1):
        item = next(i for i in spec.items if i.id == score.items[0])
        low = -math.inf if item.minimum is None else item.minimum
        value = min(max(targets[score.key], low), item.maximum or math.inf)
        answers[item.id] = round(value) if item.integer else round(value, 1)
    missing = [i.id for i in spec.items if i.scored and i.required and i.id not in answers]
    if missing:
        raise ValueError(
            f"instrument {instrument!r}: no simulated answers for {', '.join(missing)}; "
            f"answered in full: {', '.join(INSTRUMENTS)} and single-item scores"
        )
    return answers


def eligibility_answers(
    protocol: Protocol, age: float, months: float, rng: np.random.Generator, fails: bool
) -> dict[str, object]:
    """Screening answers of a person of this ``age`` with knee pain for ``months``: eligible on
    every criterion, or (``fails``) failing one, now and then two, weighted by FAIL_WEIGHTS."""
    answers: dict[str, object] = {}
    for c in protocol.eligibility:
        if isinstance(c, NumericCriterion):
            given = {"age": age, "pain_months": months}.get(c.id, c.minimum or c.maximum or 0)
            answers[c.id] = given
        elif isinstance(c, YesNoCriterion):
            answers[c.id] = c.eligible_if
        else:
            answers[c.id] = c.eligible[0]
    if fails:
        ids = [c.id for c in protocol.eligibility]
        weights = np.array([FAIL_WEIGHTS.get(i, 1.0) for i in ids])
        count = 2 if rng.random() < 0.15 else 1
        for j in rng.choice(len(ids), size=count, replace=False, p=weights / weights.sum()):
            c = protocol.eligibility[int(j)]
            if isinstance(c, NumericCriterion):
                low = c.minimum if c.minimum is not None else 0.0
                answers[c.id] = low - float(rng.integers(1, int(min(8, max(low, 2))) + 1))
            elif isinstance(c, YesNoCriterion):
                answers[c.id] = not c.eligible_if
            else:
                answers[c.id] = next(x for x in c.choices if x not in c.eligible)
    return answers


def session_record(
    plan: SessionPlan,
    delivered: bool,
    real: bool,
    side: str,
    rng: Rng,
    muscles: tuple[str, ...] = ("popliteus",),
) -> dict[str, object]:
    """What a therapist records for a session of ``plan`` (only the plan's own fields).

    Needling: one of ``muscles`` (the trial's popliteus; a care plan's target muscles), the
    side, 4-10 insertions and 5-10 minutes whichever the arm (these fields are shown to blinded
    roles); local twitch responses, which only real needling elicits,
    are an ``unblinded_only`` field. Exercise: completed, exercises done, pain during (NPRS).
    """
    if not delivered:
        found: dict[str, object] = {"completed": False}
    elif plan.code == "needling":
        found = {
            "muscle": muscles[0],
            "side": side,
            "insertions": int(rng.integers(4, 11)),
            "local_twitch_responses": int(rng.integers(1, 6)) if real else 0,
            "duration_min": float(rng.integers(5, 11)),
        }
    else:
        found = {
            "completed": True,
            "exercises_done": int(rng.integers(6, 11)),
            "pain_during": int(rng.integers(0, 6)),
        }
    if "muscle" in found and len(muscles) > 1:
        found["muscle"] = str(rng.choice(muscles))
    fields = {f.id for f in plan.records}
    return {k: v for k, v in found.items() if k in fields}


def lever_arm_m(height_cm: float) -> float:
    """Dynamometer pad to knee joint line, about 22 % of body height (a pad just above the
    malleoli on a shank of about a quarter of stature; Winter's segment proportions), in m."""
    return round(min(max(0.215 * height_cm / 100, 0.1), 0.6), 2)


def _hhd(targets: Mapping[str, float], ctx: Mapping[str, Any]) -> dict[str, object]:
    """Force in N from torque per kg: force = torque/kg × body mass ÷ lever arm (the scorer's
    torque = force × lever arm and torque/kg = torque ÷ mass, inverted; instruments.md §9)."""
    mass = _round_in(float(ctx.get("weight_kg", 75)), 25, 300, 0.1)
    lever = lever_arm_m(float(ctx.get("height_cm", 165)))
    answers: dict[str, object] = {"lever_arm_m": lever, "body_mass_kg": mass}
    for motion in ("extension", "flexion"):
        key = f"{motion}_torque_nm_kg"
        if key in targets:
            per_kg = min(max(float(targets[key]), 0.0), 36.0)
            answers[f"{motion}_n"] = _round_in(per_kg * mass / lever, 0, 1500, 1)
    side = 1 if ctx.get("side", "right") == "left" else 2
    return answers | {"side": side, "position": 1, "test_type": 1, "fixation": 1, "trial_used": 1}


def _womac(targets: Mapping[str, float], rng: Rng) -> dict[str, object]:
    """LK3.1 answers: the total to one item step, each subscale as near its target as that
    allows (subscale targets default to the total's level)."""
    sizes = np.array([n for _, _, n in WOMAC_SUBSCALES])
    if "total_100" in targets:
        level = float(targets["total_100"])
    else:
        level = float(np.dot([targets[f"{s}_100"] for s, _, _ in WOMAC_SUBSCALES], sizes) / 24)
    total = int(_round_in(level * 96 / 100, 0, 96, 1))
    wanted = np.array(
        [float(targets.get(f"{name}_100", level)) for name, _, _ in WOMAC_SUBSCALES]
    ) * (sizes * 4 / 100)
    sums = _share(total, wanted, np.zeros(3), sizes * 4.0)
    answers: dict[str, object] = {}
    for (_, prefix, n), raw in zip(WOMAC_SUBSCALES, sums, strict=True):
        codes = _items(int(raw), n, 0, 4, rng)
        answers |= {f"{prefix}{i}": code for i, code in enumerate(codes, 1)}
    return answers


def _items(total: int, n: int, low: int, high: int, rng: Rng) -> list[int]:
    """``n`` item codes in ``low..high`` summing to ``total``, varied like real answers (items
    of one scale differ by about half a category around the person's level)."""
    level = (total - n * low) / n
    wanted = np.clip(level + rng.normal(0.0, 0.6, n), 0, high - low)
    scale = (total - n * low) / wanted.sum() if wanted.sum() > 0 else 0.0
    share = _share(total - n * low, wanted * scale, np.zeros(n), np.full(n, float(high - low)))
    return [int(v) + low for v in share]


def _share(total: int, wanted: np.ndarray[Any, Any], low: Any, high: Any) -> list[int]:
    """Whole numbers within ``low..high`` summing to ``total`` and close to ``wanted``: floors
    first, then units to the largest remainders (removed from the smallest) until the sum fits."""
    lows = np.asarray(low, dtype=float)
    highs = np.asarray(high, dtype=float)
    values = np.clip(np.floor(np.clip(wanted, lows, highs)), lows, highs).astype(int)
    remainder = np.asarray(wanted, dtype=float) - values
    while values.sum() < total:
        room = values < highs
        j = int(np.argmax(np.where(room, remainder, -np.inf)))
        values[j] += 1
        remainder[j] -= 1
    while values.sum() > total:
        room = values > lows
        j = int(np.argmin(np.where(room, remainder, np.inf)))
        values[j] -= 1
        remainder[j] += 1
    return [int(v) for v in values]


def _round_in(value: float, low: float, high: float, step: float) -> float:
    """``value`` clipped to ``[low, high]`` and rounded to ``step`` (an int when step is 1)."""
    clipped = min(max(float(value), low), high)
    rounded = round(round(clipped / step) * step, 6)
    rounded = min(max(rounded, low), high)
    return int(rounded) if step == 1 else rounded
