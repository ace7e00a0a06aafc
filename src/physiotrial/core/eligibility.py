"""Screening: is this person eligible, and if not, why — in words a coordinator can act on.

Every criterion of the protocol gets a :class:`CriterionResult`, met or not, so a screening log
can show the whole picture, not just the first failure (CONSORT 2010 item 4a and the screening
log of its flow diagram need the reason each person was excluded; Schulz et al., BMJ
2010;340:c332). A criterion that was not answered is *not met*: eligibility is confirmed, never
assumed.

Two kinds of mistake are kept apart. An answer that is allowed but fails the criterion (age 47
against a minimum of 50) is a result: the person is not eligible, with a reason. An answer that is
not an answer to that criterion at all (``"forty"`` for age, ``3`` for a yes/no question, an id the
protocol does not have) is an input error: :class:`EligibilityError` names the criterion, the value
and what is allowed, because nobody can be screened on a typo.

The stratum a participant belongs to is derived from their answers to the stratification factors
at the same time, so it lives here beside the other screening answers (:func:`stratum_of`).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from physiotrial.core.protocol import (
    ChoiceCriterion,
    Criterion,
    NumericCriterion,
    Protocol,
    YesNoCriterion,
)
from physiotrial.errors import EligibilityError, RandomisationError

Answer = bool | float | str | None
"""A normalised answer: yes/no as bool, numeric as float, choice as its text, None unanswered."""

_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})
UNSTRATIFIED = "all"
"""The one stratum of a protocol that does not stratify."""


@dataclass(frozen=True)
class CriterionResult:
    """One criterion checked against one answer."""

    criterion_id: str
    kind: Literal["inclusion", "exclusion"]
    answer: Answer
    met: bool | None
    """True when the answer keeps the person eligible, False when not, None when not answered."""
    reason: str


@dataclass(frozen=True)
class EligibilityDecision:
    """The whole screening: eligible only when every criterion is answered and met."""

    eligible: bool
    results: tuple[CriterionResult, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the person is not (yet) eligible: every unmet or unanswered criterion."""
        return tuple(r.reason for r in self.results if r.met is not True)

    @property
    def unanswered(self) -> tuple[str, ...]:
        """Criterion ids still to be asked."""
        return tuple(r.criterion_id for r in self.results if r.met is None)


def evaluate_eligibility(protocol: Protocol, answers: Mapping[str, object]) -> EligibilityDecision:
    """Check every eligibility criterion of ``protocol`` against ``answers`` (criterion id → value).

    Yes/no answers may be bools or the words yes/no/true/false (any case); numeric answers numbers
    or numeric text; choice answers one of the listed choices. A missing key, ``None`` or blank
    text counts as not answered. Every wrongly typed answer and unknown id is reported in one
    :class:`EligibilityError`, so a form can show all of them at once.
    """
    known = {c.id: c for c in protocol.eligibility}
    problems = [
        f"unknown eligibility criterion {key!r} (answer {value!r}); allowed: {', '.join(known)}"
        for key, value in answers.items()
        if key not in known
    ]
    results: list[CriterionResult] = []
    for criterion in protocol.eligibility:
        try:
            answer = _normalise(criterion, answers.get(criterion.id))
        except EligibilityError as error:
            problems.append(str(error))
            continue
        results.append(_judge(criterion, answer))
    if problems:
        raise EligibilityError("; ".join(problems))
    eligible = all(r.met is True for r in results)
    return EligibilityDecision(eligible=eligible, results=tuple(results))


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _normalise(criterion: Criterion, value: object) -> Answer:
    """The answer in its canonical type, or :class:`EligibilityError` naming what is allowed."""
    if _is_blank(value):
        return None
    if isinstance(criterion, YesNoCriterion):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _YES | _NO:
            return value.strip().lower() in _YES
        raise EligibilityError(
            f"{criterion.id}: {value!r} is not a yes/no answer; allowed: yes, no, true, false"
        )
    if isinstance(criterion, NumericCriterion):
        number = _number(value)
        if number is None:
            raise EligibilityError(
                f"{criterion.id}: {value!r} is not a number; allowed: a number"
                f"{' in ' + criterion.unit if criterion.unit else ''} ({_range_text(criterion)})"
            )
        return number
    text = value.strip() if isinstance(value, str) else None
    if text not in criterion.choices:
        raise EligibilityError(
            f"{criterion.id}: {value!r} is not one of the choices; "
            f"allowed: {', '.join(criterion.choices)}"
        )
    return text


def _number(value: object) -> float | None:
    """A finite float from a number or numeric text; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _judge(criterion: Criterion, answer: Answer) -> CriterionResult:
    if answer is None:
        return CriterionResult(
            criterion.id, criterion.kind, None, None, f"{criterion.id}: not answered"
        )
    if isinstance(criterion, NumericCriterion):
        assert isinstance(answer, float)
        met, reason = _judge_number(criterion, answer)
    elif isinstance(criterion, YesNoCriterion):
        assert isinstance(answer, bool)
        met, reason = _judge_yes_no(criterion, answer)
    else:
        assert isinstance(answer, str)
        met, reason = _judge_choice(criterion, answer)
    return CriterionResult(criterion.id, criterion.kind, answer, met, reason)


def _fmt(number: float) -> str:
    return f"{number:g}"


def _unit(criterion: NumericCriterion) -> str:
    return f" {criterion.unit}" if criterion.unit else ""


def _range_text(c: NumericCriterion) -> str:
    unit = _unit(c)
    if c.minimum is not None and c.maximum is not None:
        return f"{_fmt(c.minimum)} to {_fmt(c.maximum)}{unit}"
    if c.minimum is not None:
        return f"{_fmt(c.minimum)}{unit} or more"
    if c.maximum is not None:
        return f"{_fmt(c.maximum)}{unit} or less"
    return "any value"


def _judge_number(c: NumericCriterion, value: float) -> tuple[bool, str]:
    head = f"{c.id} {_fmt(value)}{_unit(c)}"
    if c.minimum is not None and value < c.minimum:
        return False, f"{head}: below the minimum of {_fmt(c.minimum)}{_unit(c)}"
    if c.maximum is not None and value > c.maximum:
        return False, f"{head}: above the maximum of {_fmt(c.maximum)}{_unit(c)}"
    return True, f"{head}: within the eligible range ({_range_text(c)})"


def _judge_yes_no(c: YesNoCriterion, value: bool) -> tuple[bool, str]:
    head = f"{c.id} {'yes' if value else 'no'}"
    met = value is c.eligible_if
    if c.kind == "exclusion":
        verdict = "exclusion does not apply" if met else "excluded"
    else:
        verdict = "inclusion met" if met else "inclusion not met"
    return met, f"{head}: {verdict} ({c.sentence})"


def _judge_choice(c: ChoiceCriterion, value: str) -> tuple[bool, str]:
    head = f"{c.id} {value}"
    if value in c.eligible:
        return True, f"{head}: an eligible choice ({c.sentence})"
    return False, f"{head}: not an eligible choice; eligible: {', '.join(c.eligible)}"


# --- strata ---------------------------------------------------------------------------------


def stratum_of(protocol: Protocol, factor_levels: Mapping[str, str]) -> str:
    """The stratum key of a participant, e.g. ``"sex=female"`` or ``"sex=female;site=A"``.

    Factors appear in the order of ``randomisation.strata`` and are joined with ``;``; an
    unstratified protocol has the single stratum ``"all"``. Levels of factors that are not
    stratified on are ignored (they may be minimisation factors or covariates). A missing factor
    or a level the protocol does not list raises :class:`RandomisationError`: allocating in the
    wrong stratum would break the balance stratification exists to give.
    """
    randomisation = protocol.randomisation
    if not randomisation.strata:
        return UNSTRATIFIED
    parts = [
        f"{factor_id}={checked_level(protocol, factor_id, factor_levels, 'stratification')}"
        for factor_id in randomisation.strata
    ]
    return ";".join(parts)


def checked_level(
    protocol: Protocol, factor_id: str, factor_levels: Mapping[str, str], use: str
) -> str:
    """The participant's level of one factor, refused when missing or not a declared level."""
    levels = next(f.levels for f in protocol.randomisation.factors if f.id == factor_id)
    level = factor_levels.get(factor_id)
    if level is None or level not in levels:
        given = "not given" if level is None else f"{level!r} is not a level"
        raise RandomisationError(
            f"{use} factor {factor_id}: {given}; allowed levels: {', '.join(levels)}"
        )
    return level


def all_strata(protocol: Protocol) -> list[str]:
    """Every stratum key: the cartesian product of the stratification factors' levels.

    In protocol order (the first factor varies slowest), so a generated sequence lists its strata
    in a stable, readable order.
    """
    randomisation = protocol.randomisation
    if not randomisation.strata:
        return [UNSTRATIFIED]
    factors = {f.id: f for f in randomisation.factors}
    choices = [[f"{f}={level}" for level in factors[f].levels] for f in randomisation.strata]
    return [";".join(combo) for combo in itertools.product(*choices)]
