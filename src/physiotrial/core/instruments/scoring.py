"""Turning answers into scores, many responses at once.

Answers are held as a float matrix, one row per response and one column per item, NaN for a
missing answer, so that every instrument scores 100,000 rows with a handful of numpy operations.
Parsing validates every cell against its item and names the row, the item, the value and what is
allowed. Each score comes back as a :class:`ScoreColumn`: values plus, for every row a missing-item
rule made unscorable, the reason.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physiotrial.core.instruments.spec import (
    Instrument,
    Item,
    OptionValue,
    ResponseType,
    ScoreKind,
    ScoreSpec,
)
from physiotrial.errors import AnswerError, InstrumentError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
ObjectArray = np.ndarray[Any, np.dtype[np.object_]]

MISSING_TOKENS = frozenset({"", "na", "nan", "null", "none", "missing", "."})
"""Cell texts read as a missing answer (case-insensitive)."""

ScoreValue = float | bool | str | None


@dataclass(frozen=True)
class Answers:
    """Validated answers: ``matrix[row, column]`` with columns in the instrument's item order."""

    instrument: Instrument
    matrix: FloatArray
    options: Mapping[str, OptionValue] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def column(self, item_id: str) -> FloatArray:
        """One item's answers (NaN where missing)."""
        return self.matrix[:, self._index(item_id)]

    def columns(self, item_ids: Sequence[str]) -> FloatArray:
        """Several items' answers as an (n, k) matrix, reversed items not yet reversed."""
        return self.matrix[:, [self._index(i) for i in item_ids]]

    def scored(self, item_ids: Sequence[str]) -> FloatArray:
        """Several items' answers with reversed items turned round (low + high − answer)."""
        block = self.columns(item_ids).copy()
        for j, item_id in enumerate(item_ids):
            item = self.instrument.item(item_id)
            if item.reversed:
                block[:, j] = item.lowest + item.highest - block[:, j]
        return block

    def option(self, name: str) -> OptionValue:
        return self.options[name]

    def _index(self, item_id: str) -> int:
        return self.instrument.item_ids.index(item_id)


@dataclass(frozen=True)
class ScoreColumn:
    """One score for every row: ``values`` (float, or object for categories) and ``reasons``
    (None where scored, else why the score is null)."""

    values: np.ndarray[Any, Any]
    reasons: ObjectArray

    @classmethod
    def of(cls, values: np.ndarray[Any, Any], reasons: ObjectArray | None = None) -> ScoreColumn:
        if reasons is None:
            reasons = np.full(len(values), None, dtype=object)
        return cls(values=values, reasons=reasons)

    def value(self, row: int, kind: ScoreKind) -> ScoreValue:
        """The value of one row as a plain Python value (None when unscorable)."""
        raw = self.values[row]
        if kind is ScoreKind.CATEGORY:
            return None if raw is None else str(raw)
        number = float(raw)
        if math.isnan(number):
            return None
        if kind is ScoreKind.FLAG:
            return bool(number)
        return number


def missing_reasons(
    n_missing: np.ndarray[Any, Any], n_items: int, max_missing: int, rule: str
) -> ObjectArray:
    """Reasons for rows with more than ``max_missing`` of ``n_items`` items missing."""
    reasons = np.full(len(n_missing), None, dtype=object)
    for row in np.flatnonzero(n_missing > max_missing):
        reasons[row] = (
            f"{int(n_missing[row])} of {n_items} items missing; "
            f"at most {max_missing} allowed ({rule})"
        )
    return reasons


def needing(
    answers: Answers, item_ids: Sequence[str], values: FloatArray, what: str
) -> ScoreColumn:
    """``values`` where every one of ``item_ids`` is answered; else null, naming what is missing
    (each derived score of a measurement instrument needs its own items, independently)."""
    missing = np.isnan(answers.columns(item_ids))
    any_missing = missing.any(axis=1)
    reasons = np.full(len(answers), None, dtype=object)
    for row in np.flatnonzero(any_missing):
        names = ", ".join(i for i, gone in zip(item_ids, missing[row], strict=True) if gone)
        reasons[row] = f"{what} needs {', '.join(item_ids)}; missing: {names}"
    return ScoreColumn.of(np.where(any_missing, np.nan, values).astype(float), reasons)


def sum_score(
    answers: Answers,
    item_ids: Sequence[str],
    *,
    max_missing: int = 0,
    impute_mean: bool = False,
    rule: str = "no missing items allowed",
    weights: Sequence[float] | None = None,
) -> ScoreColumn:
    """Sum of item scores (reversed items reversed), null when too many items are missing.

    With ``impute_mean`` each missing item is replaced by the mean of the answered items of the
    same response (person-mean substitution, as the WOMAC standard protocol does).
    """
    block = answers.scored(item_ids)
    if weights is not None:
        block = block * np.asarray(weights, dtype=float)
    n_missing = np.isnan(block).sum(axis=1)
    total = np.nansum(block, axis=1)
    if impute_mean and max_missing > 0:
        answered = block.shape[1] - n_missing
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total + n_missing * np.where(answered > 0, total / answered, np.nan)
    reasons = missing_reasons(n_missing, len(item_ids), max_missing, rule)
    total = np.where(reasons == None, total, np.nan)  # noqa: E711  (elementwise test)
    return ScoreColumn.of(total.astype(float), reasons)


def mean_score(
    answers: Answers, item_ids: Sequence[str], *, max_missing: int, rule: str
) -> ScoreColumn:
    """Mean of the answered items, null when more than ``max_missing`` are missing."""
    block = answers.scored(item_ids)
    n_missing = np.isnan(block).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing row: 'empty slice'
        mean = np.nanmean(block, axis=1)
    reasons = missing_reasons(n_missing, len(item_ids), max_missing, rule)
    mean = np.where(reasons == None, mean, np.nan)  # noqa: E711
    return ScoreColumn.of(mean.astype(float), reasons)


def rescale(column: ScoreColumn, factor: float, offset: float = 0.0) -> ScoreColumn:
    """``offset + factor × value``, keeping the reasons (e.g. a sum normalised to 0–100)."""
    return ScoreColumn.of(offset + factor * column.values.astype(float), column.reasons)


def combine_reasons(*columns: ScoreColumn, names: Sequence[str]) -> ObjectArray:
    """Reasons for a score that needs every one of ``columns``: which parts were unscorable."""
    n = len(columns[0].values)
    reasons = np.full(n, None, dtype=object)
    for row in range(n):
        missing = [name for name, col in zip(names, columns, strict=True) if col.reasons[row]]
        if missing:
            reasons[row] = f"needs every part; unscorable: {', '.join(missing)}"
    return reasons


def threshold_flag(column: ScoreColumn, cutoff: float, *, strict: bool = False) -> ScoreColumn:
    """1.0 where the score is ≥ cutoff (> cutoff if ``strict``), NaN where it is null."""
    values = column.values.astype(float)
    with np.errstate(invalid="ignore"):
        flag = (values > cutoff) if strict else (values >= cutoff)
    return ScoreColumn.of(np.where(np.isnan(values), np.nan, flag.astype(float)), column.reasons)


# --- parsing --------------------------------------------------------------------------------


def parse_answers(
    instrument: Instrument,
    columns: Mapping[str, Sequence[object]],
    *,
    options: Mapping[str, OptionValue] | None = None,
    first_row: int = 1,
    row_label: str = "row",
    rows: int = 0,
) -> Answers:
    """Validate raw answers (item id → one value per row) into :class:`Answers`.

    Values may be numbers, numeric text, a choice label (``"moderate"``, ``"yes"``) or a
    missing token (blank, NA, null). Items absent from ``columns`` are missing for every row;
    ``rows`` gives the number of rows when no item is present at all.
    The first invalid cell raises :class:`AnswerError` naming row, item, value and what is allowed.
    """
    lengths = {len(v) for v in columns.values()}
    n = lengths.pop() if lengths else rows
    if lengths or (rows and n != rows):
        raise AnswerError("every item must have the same number of answers")
    matrix = np.full((n, len(instrument.items)), np.nan)
    for j, item in enumerate(instrument.items):
        if item.id in columns:
            matrix[:, j] = _parse_column(item, columns[item.id], instrument, first_row, row_label)
    return Answers(instrument, matrix, resolve_options(instrument, options or {}))


def resolve_options(
    instrument: Instrument, given: Mapping[str, OptionValue]
) -> dict[str, OptionValue]:
    """The instrument's options with ``given`` applied, each checked against its choices."""
    known = {o.name: o for o in instrument.options}
    for name, value in given.items():
        if name not in known:
            allowed = ", ".join(known) or "none"
            raise InstrumentError(
                f"instrument {instrument.name} has no option {name!r}; options: {allowed}"
            )
        option = known[name]
        if option.choices and value not in option.choices:
            allowed = ", ".join(str(c) for c in option.choices)
            raise InstrumentError(
                f"option {name} of {instrument.name}: {value!r} is not allowed; allowed: {allowed}"
            )
    return {name: given.get(name, option.default) for name, option in known.items()}


def _parse_column(
    item: Item, raw: Sequence[object], instrument: Instrument, first_row: int, row_label: str
) -> FloatArray:
    values = _to_float(item, raw, instrument, first_row, row_label)
    bad = np.flatnonzero(~item.valid(values))
    if bad.size:
        row = int(bad[0])
        _reject(instrument, item, raw[row], first_row + row, row_label)
    return values


def _to_float(
    item: Item, raw: Sequence[object], instrument: Instrument, first_row: int, row_label: str
) -> FloatArray:
    """Fast path: numpy parses the whole column; slow path only when labels or junk appear.

    JSON true/false are answers only to yes/no items; anywhere else they would silently become
    code 1 or 0, so they take the slow path and are rejected there.
    """
    yes_no = item.response is ResponseType.YES_NO
    if yes_no or not any(isinstance(v, bool) for v in raw):
        try:
            return np.asarray([_missing_to_nan(v) for v in raw], dtype=float)
        except (ValueError, TypeError):
            pass
    labels = item.label_codes()
    out = np.empty(len(raw))
    for row, value in enumerate(raw):
        if isinstance(value, bool) and not yes_no:
            _reject(instrument, item, value, first_row + row, row_label)
        cell = _missing_to_nan(value)
        try:
            out[row] = float(cell)  # type: ignore[arg-type]
            continue
        except (ValueError, TypeError):
            pass
        text = str(value).strip().lower()
        if text in labels:
            out[row] = labels[text]
        else:
            _reject(instrument, item, value, first_row + row, row_label)
    return out


def _missing_to_nan(value: object) -> object:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in MISSING_TOKENS:
        return math.nan
    return value


def _reject(instrument: Instrument, item: Item, value: object, row: int, row_label: str) -> None:
    where = f"{row_label} {row}, " if row_label else ""
    raise AnswerError(
        f"{where}item {item.id} of {instrument.name}: {value!r} is not allowed; "
        f"allowed: {item.allowed()} or blank for missing"
    )


# --- scoring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreTable:
    """Every score of an instrument for every row, in the instrument's score order."""

    instrument: Instrument
    columns: Mapping[str, ScoreColumn]

    def __len__(self) -> int:
        first = next(iter(self.columns.values()), None)
        return 0 if first is None else len(first.values)

    def values(self, key: str) -> list[ScoreValue]:
        spec = self.instrument.score_spec(key)
        column = self.columns[key]
        return [column.value(row, spec.kind) for row in range(len(self))]

    def row(self, row: int) -> ScoredResponse:
        scores: dict[str, ScoreValue] = {}
        unscorable: dict[str, str] = {}
        for spec in self.instrument.scores:
            column = self.columns[spec.key]
            scores[spec.key] = column.value(row, spec.kind)
            if column.reasons[row] is not None:
                unscorable[spec.key] = str(column.reasons[row])
        return ScoredResponse(self.instrument.name, self.instrument.version, scores, unscorable)


@dataclass(frozen=True)
class ScoredResponse:
    """The scores of one response; ``unscorable`` gives the reason for each null score."""

    instrument: str
    version: str
    scores: dict[str, ScoreValue]
    unscorable: dict[str, str]


def score_answers(answers: Answers) -> ScoreTable:
    """Score validated answers; checks the scorer returned exactly the declared score keys."""
    instrument = answers.instrument
    columns = dict(instrument.scorer(answers))
    declared = set(instrument.score_keys)
    if set(columns) != declared:
        raise RuntimeError(
            f"scorer of {instrument.name} returned {sorted(columns)}, declared {sorted(declared)}"
        )
    ordered = {key: columns[key] for key in instrument.score_keys}
    return ScoreTable(instrument, ordered)


def score_response(
    instrument: Instrument,
    answers: Mapping[str, object],
    options: Mapping[str, OptionValue] | None = None,
) -> ScoredResponse:
    """Score one response given as item id → answer; unknown item ids are an error."""
    unknown = sorted(set(answers) - set(instrument.item_ids))
    if unknown:
        raise AnswerError(
            f"{instrument.name} has no item {', '.join(unknown)}; "
            f"items: {', '.join(instrument.item_ids)}"
        )
    parsed = parse_answers(
        instrument, {k: [v] for k, v in answers.items()}, options=options, row_label="", rows=1
    )
    return score_answers(parsed).row(0)


def spec_range_check(spec: ScoreSpec, values: FloatArray) -> bool:
    """True when every non-null value lies within the score's declared range (tests use it)."""
    finite = values[~np.isnan(values)]
    low = -math.inf if spec.minimum is None else spec.minimum
    high = math.inf if spec.maximum is None else spec.maximum
    return bool(np.all((finite >= low - 1e-9) & (finite <= high + 1e-9)))


# The scorer field of Instrument names Answers and ScoreColumn, defined here; complete the model
# now so that instruments can be built in any import order.
Instrument.model_rebuild(_types_namespace={"Answers": Answers, "ScoreColumn": ScoreColumn})
