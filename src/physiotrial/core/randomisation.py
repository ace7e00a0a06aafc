"""Allocation: sealed sequences (simple, permuted blocks) and Pocock–Simon minimisation.

Why it is built this way:

* **Reproducible from a secret.** Every random draw comes from a secret seed and a named purpose
  (``sequence:sex=female``, ``minimisation:17``), hashed with SHA-256 into a numpy PCG64
  generator. Anyone holding the seed can re-derive the whole sequence and check every allocation
  (:func:`verify_allocations`); nobody without it can predict the next one (allocation
  concealment, CONSORT 2010 items 8–10; Schulz & Grimes, Lancet 2002;359:614-618). Python's
  ``hash()`` is salted per process and is never used.
* **Stable across numpy versions.** numpy guarantees the bit stream of PCG64 but not the
  algorithms of ``Generator.choice``/``shuffle``/``integers`` (NEP 19). A sealed sequence must
  re-derive identically years later, so draws use only the raw 64-bit stream, with our own
  unbiased bounded integers (rejection sampling) and Fisher–Yates shuffle.
* **Sealed.** :func:`sequence_hash` digests a canonical text of the slots; the hash is recorded at
  study start, so any later change to the list is visible.
* **Pure.** Seeds, prior allocations and the participant's index are arguments; the store decides
  which slot is next and guarantees that no slot is handed out twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from physiotrial.core.eligibility import all_strata, checked_level, stratum_of
from physiotrial.core.protocol import Protocol
from physiotrial.errors import RandomisationError

_TWO_64 = 1 << 64


def rng_for(seed: str, purpose: str) -> np.random.Generator:
    """A generator determined by the secret ``seed`` and the ``purpose`` it serves.

    Separate purposes get independent streams, so adding a stratum or a participant never shifts
    the draws of another.
    """
    if not seed:
        raise RandomisationError("randomisation seed is empty; allowed: a non-empty secret text")
    digest = hashlib.sha256(f"{seed}|{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _below(rng: np.random.Generator, n: int) -> int:
    """A uniform integer in ``[0, n)`` from the raw stream, without modulo bias."""
    limit = _TWO_64 - _TWO_64 % n
    while True:
        raw = int(rng.bit_generator.random_raw())
        if raw < limit:
            return raw % n


def _uniform(rng: np.random.Generator) -> float:
    """A uniform float in ``[0, 1)`` with 53 random bits, from the raw stream."""
    return (int(rng.bit_generator.random_raw()) >> 11) * 2.0**-53


def _shuffled(rng: np.random.Generator, items: Sequence[str]) -> list[str]:
    """Fisher–Yates shuffle (Knuth, TAOCP vol. 2, Algorithm 3.4.2 P)."""
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = _below(rng, i + 1)
        out[i], out[j] = out[j], out[i]
    return out


@dataclass(frozen=True)
class Slot:
    """One place in the sealed sequence of a stratum.

    ``block``/``block_size`` are the permuted block the slot belongs to. Simple randomisation has
    no blocks: each slot is its own block of size 1, which says honestly that no balance is forced.
    """

    stratum: str
    position: int
    arm: str
    block: int
    block_size: int


def has_sequence(protocol: Protocol) -> bool:
    """Whether allocations come from a sealed list (not minimisation, not a one-arm clinic)."""
    return protocol.randomisation.method in ("simple", "permuted_blocks")


def generate_sequence(protocol: Protocol, seed: str, per_stratum: int) -> list[Slot]:
    """The allocation sequence: ``per_stratum`` slots for every stratum of :func:`all_strata`.

    * ``permuted_blocks``: each block's size is drawn at random from ``block_sizes`` (random block
      sizes keep the last allocations of a block from being guessed; Schulz & Grimes, Lancet
      2002;359:614-618); a block holds every arm in proportion to its ratio, shuffled. The last
      block is cut at ``per_stratum``: its slots keep the size drawn for the whole block, so a
      stratum may end part-way through a block, slightly unbalanced — size ``per_stratum`` above
      the recruitment target so that this never matters.
    * ``simple``: each slot is drawn independently with probability proportional to arm ratio.
    * ``none`` (a clinic: one arm) has no sequence either: every participant receives the arm.
    * ``minimisation`` has no sequence (each allocation depends on those before it); use
      :func:`minimise`.
    """
    method = protocol.randomisation.method
    if method == "none":
        return []
    if method == "minimisation":
        raise RandomisationError(
            "minimisation allocates each participant from the allocations before them; there is "
            "no sequence to generate (use minimise)"
        )
    if per_stratum < 1:
        raise RandomisationError(f"per_stratum {per_stratum}: allowed: 1 or more")
    slots: list[Slot] = []
    for stratum in all_strata(protocol):
        rng = rng_for(seed, f"sequence:{stratum}")
        if method == "permuted_blocks":
            slots.extend(_blocks(protocol, rng, stratum, per_stratum))
        else:
            slots.extend(_simple(protocol, rng, stratum, per_stratum))
    return slots


def _blocks(protocol: Protocol, rng: np.random.Generator, stratum: str, count: int) -> list[Slot]:
    sizes = protocol.randomisation.block_sizes
    ratio_sum = sum(a.ratio for a in protocol.arms)
    slots: list[Slot] = []
    block = 0
    while len(slots) < count:
        block += 1
        size = sizes[_below(rng, len(sizes))]
        content = [a.code for a in protocol.arms for _ in range(a.ratio * size // ratio_sum)]
        for arm in _shuffled(rng, content)[: count - len(slots)]:
            slots.append(Slot(stratum, len(slots) + 1, arm, block, size))
    return slots


def _simple(protocol: Protocol, rng: np.random.Generator, stratum: str, count: int) -> list[Slot]:
    tickets = [a.code for a in protocol.arms for _ in range(a.ratio)]
    return [
        Slot(stratum, position, tickets[_below(rng, len(tickets))], position, 1)
        for position in range(1, count + 1)
    ]


def sequence_hash(slots: Sequence[Slot]) -> str:
    """SHA-256 (hex) of a canonical, versioned JSON text of the slots in their given order."""
    rows = [[s.stratum, s.position, s.arm, s.block, s.block_size] for s in slots]
    text = json.dumps(
        {"format": "physiotrial-sequence-1", "slots": rows},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- minimisation ---------------------------------------------------------------------------

_Counts = dict[tuple[str, str], Counter[str]]
"""(factor id, level) → arm code → participants already allocated."""


def minimise(
    protocol: Protocol,
    seed: str,
    prior: Sequence[tuple[Mapping[str, str], str]],
    factor_levels: Mapping[str, str],
    index: int,
) -> str:
    """The arm for the next participant by minimisation (Pocock & Simon, Biometrics
    1975;31:103-115; see also Scott et al., Control Clin Trials 2002;23:662-674).

    ``prior`` lists every participant already allocated as (factor levels, arm), ``index`` is this
    participant's place in the allocation order (0 for the first; normally ``len(prior)``).

    For each candidate arm, the counts of earlier participants who share this participant's level
    of each minimisation factor are taken with this participant added to the candidate arm, each
    divided by its arm's ratio (so a 2:1 design balances towards 2:1), and their imbalance
    (range, or population variance, as ``minimisation.imbalance`` says) is summed over factors
    with equal weight. The arm of least total imbalance gets probability ``probability`` and the
    others share the rest equally; a tie for least imbalance is broken uniformly at random. The
    random element comes from ``seed`` and ``index``, so the choice is repeatable but, with
    ``probability`` below 1, not predictable from the counts alone.
    """
    counts: _Counts = {}
    for position, (levels, arm) in enumerate(prior, start=1):
        _check_arm(protocol, arm, f"prior allocation {position}")
        _add(protocol, counts, levels, arm)
    return _choose(protocol, seed, counts, factor_levels, index)


def _settings(protocol: Protocol) -> tuple[tuple[str, ...], float, str]:
    settings = protocol.randomisation.minimisation
    if protocol.randomisation.method != "minimisation" or settings is None:
        raise RandomisationError(
            f"the protocol randomises by {protocol.randomisation.method}, not minimisation"
        )
    return settings.factors, settings.probability, settings.imbalance


def _levels(protocol: Protocol, factor_levels: Mapping[str, str]) -> list[tuple[str, str]]:
    """(factor, level) for each minimisation factor, checked against the protocol's levels."""
    return [
        (factor_id, checked_level(protocol, factor_id, factor_levels, "minimisation"))
        for factor_id in _settings(protocol)[0]
    ]


def _check_arm(protocol: Protocol, arm: str, where: str) -> None:
    codes = [a.code for a in protocol.arms]
    if arm not in codes:
        raise RandomisationError(f"{where}: unknown arm {arm!r}; allowed: {', '.join(codes)}")


def _add(protocol: Protocol, counts: _Counts, factor_levels: Mapping[str, str], arm: str) -> None:
    for key in _levels(protocol, factor_levels):
        counts.setdefault(key, Counter())[arm] += 1


def _choose(
    protocol: Protocol,
    seed: str,
    counts: _Counts,
    factor_levels: Mapping[str, str],
    index: int,
) -> str:
    _, probability, measure = _settings(protocol)
    if index < 0:
        raise RandomisationError(f"index {index}: allowed: 0 or more")
    keys = _levels(protocol, factor_levels)
    arms = protocol.arms
    totals: list[float] = []
    for candidate in arms:
        total = 0.0
        for key in keys:
            level_counts = counts.get(key, Counter())
            weighted = np.array(
                [(level_counts[a.code] + (a.code == candidate.code)) / a.ratio for a in arms]
            )
            total += float(np.ptp(weighted) if measure == "range" else np.var(weighted))
        totals.append(total)
    least = min(totals)
    # Sums of float ratios: compare with a tolerance so equal imbalances tie exactly.
    best = [a.code for a, t in zip(arms, totals, strict=True) if t - least <= 1e-9]
    rng = rng_for(seed, f"minimisation:{index}")
    preferred = best[_below(rng, len(best))] if len(best) > 1 else best[0]
    if _uniform(rng) < probability:
        return preferred
    others = [a.code for a in arms if a.code != preferred]
    return others[_below(rng, len(others))]


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """An allocation as recorded: participant, stratum, slot (None under minimisation), arm."""

    participant_id: str
    stratum: str
    position: int | None
    arm: str
    factor_levels: Mapping[str, str]


def verify_allocations(
    protocol: Protocol, seed: str, per_stratum: int, allocations: Sequence[Allocation]
) -> list[str]:
    """Every way the recorded ``allocations`` (in the order they were made) depart from what the
    seed gives; an empty list means verified.

    Sequence methods re-derive the sequence and check each allocation's stratum (against its
    factor levels), slot and arm; slots must be used once each, in order, within a stratum.
    Minimisation re-runs :func:`minimise` participant by participant, feeding it the arms it
    re-derived (so one tampered arm is reported once, not again for everyone after it).
    """
    if protocol.randomisation.method == "minimisation":
        return _verify_minimisation(protocol, seed, allocations)
    if protocol.randomisation.method == "none":
        return _verify_single_arm(protocol, allocations)
    sequence = {(s.stratum, s.position): s for s in generate_sequence(protocol, seed, per_stratum)}
    problems: list[str] = []
    seen: set[str] = set()
    used: dict[tuple[str, int], str] = {}
    last: dict[str, int] = {}
    for allocation in allocations:
        who = f"participant {allocation.participant_id}"
        problems.extend(_identity_problems(protocol, allocation, seen))
        if allocation.position is None:
            problems.append(f"{who}: no sequence slot recorded (stratum {allocation.stratum})")
            continue
        key = (allocation.stratum, allocation.position)
        where = f"slot {allocation.stratum} #{allocation.position}"
        slot = sequence.get(key)
        if slot is None:
            problems.append(
                f"{who}: {where} is not in the sequence (1 to {per_stratum} per stratum)"
            )
            continue
        if key in used:
            problems.append(f"{who}: {where} already used by participant {used[key]}")
            continue
        used[key] = allocation.participant_id
        if allocation.arm != slot.arm:
            problems.append(f"{who}: {where} is {slot.arm}, recorded {allocation.arm}")
        previous = last.get(allocation.stratum, 0)
        if allocation.position > previous + 1:
            problems.append(
                f"{who}: {where} used before #{previous + 1} (slots skipped out of order)"
            )
        elif allocation.position <= previous:
            problems.append(f"{who}: {where} used after #{previous} (slots out of order)")
        last[allocation.stratum] = max(previous, allocation.position)
    return problems


def _identity_problems(protocol: Protocol, allocation: Allocation, seen: set[str]) -> list[str]:
    """A participant allocated twice, or recorded in a stratum their factor levels do not give."""
    who = f"participant {allocation.participant_id}"
    problems: list[str] = []
    if allocation.participant_id in seen:
        problems.append(f"{who}: allocated more than once")
    seen.add(allocation.participant_id)
    try:
        expected = stratum_of(protocol, allocation.factor_levels)
    except RandomisationError as error:
        problems.append(f"{who}: {error}")
    else:
        if expected != allocation.stratum:
            problems.append(
                f"{who}: recorded in stratum {allocation.stratum}, factor levels give {expected}"
            )
    return problems


def _verify_single_arm(protocol: Protocol, allocations: Sequence[Allocation]) -> list[str]:
    """Without randomisation every participant must be in the one arm, once."""
    arm = protocol.arms[0].code
    problems: list[str] = []
    seen: set[str] = set()
    for allocation in allocations:
        problems.extend(_identity_problems(protocol, allocation, seen))
        if allocation.arm != arm:
            problems.append(
                f"participant {allocation.participant_id}: recorded in {allocation.arm}, "
                f"the care plan has only {arm}"
            )
    return problems


def _verify_minimisation(
    protocol: Protocol, seed: str, allocations: Sequence[Allocation]
) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    counts: _Counts = {}
    for index, allocation in enumerate(allocations):
        who = f"participant {allocation.participant_id}"
        problems.extend(_identity_problems(protocol, allocation, seen))
        try:
            expected = _choose(protocol, seed, counts, allocation.factor_levels, index)
        except RandomisationError as error:
            problems.append(f"{who}: {error}")
            continue
        if allocation.arm != expected:
            problems.append(
                f"{who}: allocation {index + 1} by minimisation is {expected}, "
                f"recorded {allocation.arm}"
            )
        _add(protocol, counts, allocation.factor_levels, expected)
    return problems
