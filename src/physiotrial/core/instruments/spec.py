"""What an instrument is, as data: items, allowed answers, scores and their rules, sources.

An :class:`Instrument` describes capture (the items a form must show, what each accepts) and
scoring (the score keys it produces, their range, direction, MCID and missing-item rule), and
carries the pure function that turns a matrix of answers into scores. Item *wording* of licensed
instruments is never shipped: items carry a short construct label, and a team with a licence
loads its wording from a local file (see :mod:`physiotrial.core.instruments.wording`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from physiotrial.core.instruments.scoring import Answers, ScoreColumn


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rater(StrEnum):
    """Who gives the answers: the person whose role decides who may record the instrument."""

    PARTICIPANT = "participant"
    ASSESSOR = "assessor"
    THERAPIST = "therapist"


class Direction(StrEnum):
    """What a higher score means for the participant."""

    HIGHER_WORSE = "higher_worse"
    HIGHER_BETTER = "higher_better"
    NONE = "none"


class ResponseType(StrEnum):
    """How an item is answered; the web form and the validator both follow it."""

    LIKERT = "likert"  # ordered labelled codes (radios)
    YES_NO = "yes_no"  # 1 = yes, 0 = no
    CHOICE = "choice"  # unordered labelled codes
    NUMERIC = "numeric"  # a number on a scale (VAS mm, NRS points)
    MEASUREMENT = "measurement"  # a physical measurement with a unit (s, m, N, degrees)


class ScoreKind(StrEnum):
    """The type of a score value: a number, a yes/no flag, or a category label."""

    NUMBER = "number"
    FLAG = "flag"
    CATEGORY = "category"


class Choice(_Frozen):
    """One labelled answer code."""

    code: int
    label: str


YES_NO_CHOICES = (Choice(code=0, label="no"), Choice(code=1, label="yes"))


class Item(_Frozen):
    """One question or measurement, identified by a stable id that never changes meaning."""

    id: str
    label: str = Field(description="Short construct label, never the licensed wording.")
    response: ResponseType
    choices: tuple[Choice, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    unit: str | None = None
    reversed: bool = Field(default=False, description="Scored as (min + max − answer).")
    scored: bool = Field(default=True, description="False for context items (side, position).")
    required: bool = Field(default=True, description="False when a blank answer is expected.")

    def allowed(self) -> str:
        """The allowed answers in words, for error messages and `instruments show`."""
        if self.choices:
            return ", ".join(f"{c.code} ({c.label})" for c in self.choices)
        low = _number(self.minimum) if self.minimum is not None else "−∞"
        high = _number(self.maximum) if self.maximum is not None else "∞"
        kind = "whole numbers " if self.integer else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{kind}{low} to {high}{unit}"

    def valid(self, values: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
        """Boolean mask of values this item accepts; NaN (missing) counts as valid here."""
        if self.choices:
            ok = np.isin(values, [c.code for c in self.choices])
        else:
            ok = np.isfinite(values)
            if self.minimum is not None:
                ok &= values >= self.minimum
            if self.maximum is not None:
                ok &= values <= self.maximum
            if self.integer:
                ok &= np.floor(values) == values
        mask: np.ndarray[Any, Any] = ok | np.isnan(values)
        return mask

    def label_codes(self) -> dict[str, int]:
        """Labels accepted in place of codes (case-insensitive); yes/no also takes true/false."""
        codes = {c.label.lower(): c.code for c in self.choices}
        if self.response is ResponseType.YES_NO:
            codes.update({"true": 1, "false": 0, "y": 1, "n": 0})
        return codes

    @property
    def lowest(self) -> float:
        return (
            float(min(c.code for c in self.choices)) if self.choices else float(self.minimum or 0)
        )

    @property
    def highest(self) -> float:
        if self.choices:
            return float(max(c.code for c in self.choices))
        return float(self.maximum if self.maximum is not None else math.inf)


class Mcid(_Frozen):
    """A minimal clinically important difference, always with where it comes from."""

    value: float
    unit: str
    source: str
    note: str = ""


class ScoreSpec(_Frozen):
    """One score an instrument produces, under a stable key.

    For a flag, ``direction`` says what a set flag means (higher_worse: the flag marks something
    worse, e.g. high kinesiophobia). ``max_missing=None`` means the scorer owns a rule that is not
    a count of missing items, and says so in ``description``.
    """

    key: str
    label: str
    kind: ScoreKind = ScoreKind.NUMBER
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    direction: Direction = Direction.NONE
    categories: tuple[str, ...] = ()
    mcid: Mcid | None = None
    items: tuple[str, ...] = Field(default=(), description="Items the score is computed from.")
    max_missing: int | None = Field(
        default=0,
        description="Most missing items that still give a score; None when the rule is not a "
        "count (e.g. a total that needs every subscale).",
    )
    item_effect: int = Field(
        default=0,
        description="+1 if the score never falls when a non-reversed ordered item rises (and "
        "never rises when a reversed one does), −1 for the opposite, 0 if not monotone in its "
        "items. Unordered choice items are exempt.",
    )
    description: str = ""


OptionValue = float | int | str | bool


class Option(_Frozen):
    """A protocol-level setting of an instrument (a cut-off, an equation, a recall period)."""

    name: str
    description: str
    default: OptionValue
    choices: tuple[OptionValue, ...] = ()


Scorer = Callable[["Answers"], "Mapping[str, ScoreColumn]"]


class Instrument(_Frozen):
    """An outcome instrument: what to capture, how to score it, and where the rules come from."""

    name: str
    title: str
    version: str
    domain: str
    items: tuple[Item, ...]
    scores: tuple[ScoreSpec, ...]
    raters: tuple[Rater, ...]
    recall: str | None = None
    missing_rule: str
    citation: tuple[str, ...]
    licence: str
    options: tuple[Option, ...] = ()
    scorer: Scorer = Field(exclude=True, repr=False)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        from physiotrial.errors import InstrumentError

        known = ", ".join(i.id for i in self.items)
        raise InstrumentError(f"instrument {self.name} has no item {item_id!r}; items: {known}")

    def score_spec(self, key: str) -> ScoreSpec:
        for spec in self.scores:
            if spec.key == key:
                return spec
        from physiotrial.errors import InstrumentError

        known = ", ".join(s.key for s in self.scores)
        raise InstrumentError(f"instrument {self.name} has no score {key!r}; scores: {known}")

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def score_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.scores)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
