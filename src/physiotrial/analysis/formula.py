"""Design matrices from a model formula, coded exactly as R's ``model.matrix`` codes them.

Why our own: the repeated-measures model (MMRM) is fitted by our own engine, and its estimates,
contrasts and least-squares means are comparable with R's only when its columns are R's: same
names, same order, same coding of every factor in every term. Designs are built many times in
power simulations, so this is plain numpy with the formula parsed once (patsy/formulaic are not
used).

What is followed (R 4.2: ``terms.formula`` and ``model.matrix`` in src/library/stats/src/model.c;
Chambers & Hastie, *Statistical Models in S*, 1992, ch. 2):

- ``+``, ``-``, ``*`` (``a*b`` = ``a + b + a:b``), ``:``, ``^`` and parentheses; ``0``/``-1``
  drop the intercept, ``1`` keeps it. Terms are ordered by interaction order, ties in the order of
  the expanded formula; a label lists its variables in the order they first appear in the formula
  (``baseline*visit + arm*visit`` has the term ``visit:arm``).
- Treatment contrasts (``contr.treatment``, first level = reference). Within a term a factor is
  coded by contrasts when the term without it lies within an earlier term (or is empty), else by
  one indicator per level (R's ``TermCode``). Without an intercept, the first factor of the first
  term holding a factor gets indicators (R's ``modelmatrix``).
- An interaction's columns combine its variables' columns with the first varying fastest
  (``visitV2:armDN``, ``visitV3:armDN``, ...).
- Text, categorical and boolean columns are factors (a boolean's levels are ``FALSE``, ``TRUE``),
  others numeric. Levels: those given, else a categorical's categories, else the sorted values
  (code-point order; R sorts in the locale's collation, which differs only for mixed case).

Departures from R, on purpose: R silently drops rows with missing values, goes on with a warning
when the response also stands on the right, infers a logical's levels from the values present,
and turns an unseen level of a new frame into NA. Here the first two and the last are a
:class:`~physiotrial.errors.ModelError`, and a boolean always has both levels. Checked against R
by tests/oracle/formula.R.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from physiotrial.errors import ModelError

NUMERIC, CONTRASTS, INDICATORS = "numeric", "contrasts", "indicators"
TermPlan = tuple[tuple[str, str], ...]  # a term's variables in formula order, with their coding
Levels = tuple[str, ...]


@dataclass(frozen=True)
class Design:
    """The coding of a formula on one data set, reusable on other rows (a reference grid)."""

    response: str | None
    columns: tuple[str, ...]
    terms: tuple[str, ...]
    levels: Mapping[str, Levels] = field(hash=False)
    _intercept: bool = field(default=True, repr=False)
    _plan: tuple[TermPlan, ...] = field(default=(), repr=False)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of ``frame`` coded with the levels and columns of the fitted data.

        For the reference grid of least-squares means, as emmeans codes its grid with the fitted
        model's ``xlevels``; a level the fit never saw is an error (R would give NA).
        """
        names = dict.fromkeys(name for term in self._plan for name, _ in term)
        values = {}
        for name in names:
            factor = name in self.levels
            values[name] = _variable(frame, name, self.levels.get(name), factor, fixed=True)[0]
        return _build(self._intercept, self._plan, values, self.levels, len(frame))


def design(
    formula: str, data: pd.DataFrame, levels: Mapping[str, Sequence[str]] | None = None
) -> tuple[Design, np.ndarray, np.ndarray | None]:
    """``(design, X, y)`` for ``formula`` on ``data``, X as R's ``model.matrix`` builds it.

    ``levels`` fixes the levels (first = reference) of factor columns; a value outside them is an
    error. ``y`` is None for a one-sided formula (``~ visit + arm``). A missing value in a used
    column is an error: the caller decides which rows to drop (R's model.frame drops them).
    """
    parsed = _parse(formula)
    for name, chosen in (levels or {}).items():
        if name not in data.columns:
            raise ModelError(
                f"levels were given for {name!r}, which is not a column of the data "
                f"(columns: {', '.join(map(str, data.columns))})"
            )
        if isinstance(chosen, str) or len(set(chosen)) != len(chosen):
            raise ModelError(
                f"levels of {name!r} must be distinct labels in a list, not {chosen!r}"
            )
    given = {name: tuple(map(_label, chosen)) for name, chosen in (levels or {}).items()}
    values: dict[str, np.ndarray] = {}
    found: dict[str, Levels] = {}
    for name in parsed.used:
        values[name], own = _variable(data, name, given.get(name), None)
        if own is not None:
            found[name] = own
    y = None
    if parsed.response is not None:
        y, own = _variable(data, parsed.response, None, None)
        if own is not None:
            raise ModelError(f"the response {parsed.response!r} must be numeric, not a factor")
    plan, columns = _layout(formula, tuple(found.items()))
    made = Design(
        parsed.response, columns, parsed.labels, MappingProxyType(found), parsed.intercept, plan
    )
    return made, _build(parsed.intercept, plan, values, found, len(data)), y


# ---------------------------------------------------------------------------------------------
# Data: a column as floats (numeric) or as codes 0..k-1 of its levels (factor)


def variables(formula: str) -> tuple[str, ...]:
    """The columns a formula reads (response first), e.g. to select and check rows before
    :func:`design`."""
    return _parse(formula).variables


def _variable(
    frame: pd.DataFrame, name: str, wanted: Levels | None, factor: bool | None, fixed: bool = False
) -> tuple[np.ndarray, Levels | None]:
    """``factor`` None lets the dtype decide; True/False demand what the fitted data had."""
    if name not in frame.columns:
        raise ModelError(
            f"the formula uses {name!r}, which is not a column of the data "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    series = frame[name]
    dtype = series.dtype
    is_factor = dtype.kind not in "iuf" or isinstance(dtype, pd.CategoricalDtype)
    if factor is not None and is_factor != factor:
        kind = "a factor" if factor else "numeric"
        raise ModelError(f"column {name!r} must be {kind} as in the fitted data, not {dtype}")
    if is_factor:
        return _factor(frame, series, wanted, fixed)
    if wanted is not None:
        raise ModelError(
            f"levels were given for {name!r}, but it is numeric ({dtype}); make it text or "
            "categorical to use it as a factor"
        )
    numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
    _no_missing(name, frame, np.isnan(numbers))
    return numbers, None


def _factor(
    frame: pd.DataFrame, series: pd.Series[Any], wanted: Levels | None, fixed: bool
) -> tuple[np.ndarray, Levels]:
    """Codes over the levels found (categories, FALSE/TRUE, sorted values), then over ``wanted``."""
    name, dtype = str(series.name), series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categorical = series.array
        assert isinstance(categorical, pd.Categorical)
        codes = categorical.codes.astype(np.intp)
        _no_missing(name, frame, codes < 0)
        found = tuple(_label(c) for c in dtype.categories)
    elif dtype.kind == "b":
        if dtype != np.bool_:
            _no_missing(name, frame, series.isna().to_numpy())
        found, codes = ("FALSE", "TRUE"), series.to_numpy(dtype=np.intp)
    elif dtype.kind in "OUT":
        raw = series.to_numpy(dtype=object)
        items = raw.tolist()
        distinct = set(items)
        if not all(isinstance(v, str) for v in distinct):  # missing values, numbers, logicals
            _no_missing(name, frame, pd.isna(raw))
            items = [_label(v) for v in items]
            distinct = set(items)
        found = tuple(sorted(distinct))
        index = {level: i for i, level in enumerate(found)}
        codes = np.fromiter(map(index.__getitem__, items), np.intp, len(items))
    else:
        raise ModelError(f"column {name!r} has type {dtype}, which is neither numeric nor a factor")
    if wanted is not None:
        where = np.array([wanted.index(c) if c in wanted else -1 for c in found], np.intp)
        if (where[codes] < 0).any():
            unknown = ", ".join(repr(found[c]) for c in np.unique(codes[where[codes] < 0]))
            source = "the fitted data" if fixed else "the levels given"
            raise ModelError(
                f"column {name!r} has level(s) {unknown} not in {source}; "
                f"allowed: {', '.join(map(repr, wanted))}"
            )
        found, codes = wanted, where[codes]
    if len(found) < 2:
        raise ModelError(
            f"factor {name!r} has {len(found)} level(s) {found!r}; contrasts need 2 or more "
            "levels (as in R); leave it out of the formula"
        )
    return codes, found


def _label(value: Any) -> str:
    """A value as R's factor() labels it (logicals as ``TRUE``/``FALSE``)."""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    return str(value)


def _no_missing(name: str, frame: pd.DataFrame, missing: np.ndarray) -> None:
    if missing.any():
        rows = frame.index[missing]
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        raise ModelError(
            f"column {name!r} has {len(rows)} missing value(s) (rows {shown}); drop incomplete "
            "rows before building the design"
        )


# ---------------------------------------------------------------------------------------------
# The matrix


@lru_cache(maxsize=256)
def _layout(
    formula: str, factors: tuple[tuple[str, Levels], ...]
) -> tuple[tuple[TermPlan, ...], tuple[str, ...]]:
    """How each variable of each term is coded, and the column names (R's TermCode, then the
    no-intercept rule of modelmatrix)."""
    parsed, levels = _parse(formula), dict(factors)
    plan: list[TermPlan] = []
    promoted = parsed.intercept
    for j, term in enumerate(parsed.terms):
        coded = []
        for i, name in enumerate(parsed.variables):
            if term >> i & 1:
                code = NUMERIC if name not in levels else _term_code(parsed.terms, j, 1 << i)
                if code != NUMERIC and not promoted:
                    code, promoted = INDICATORS, True
                coded.append((name, code))
        plan.append(tuple(coded))
    columns = ["(Intercept)"] if parsed.intercept else []
    for term_plan in plan:
        parts = [""]
        for name, code in term_plan:
            own = [name + lv for lv in levels.get(name, ("",))[code == CONTRASTS :]]
            parts = [f"{old}:{new}" if old else new for new in own for old in parts]
        columns.extend(parts)
    return tuple(plan), tuple(columns)


def _term_code(terms: tuple[int, ...], j: int, bit: int) -> str:
    """R's TermCode: contrasts if the term without this variable lies within an earlier term."""
    rest = terms[j] & ~bit
    if rest == 0 or any(rest & ~earlier == 0 for earlier in terms[:j]):
        return CONTRASTS
    return INDICATORS


def _build(
    intercept: bool,
    plan: tuple[TermPlan, ...],
    values: Mapping[str, np.ndarray],
    levels: Mapping[str, Levels],
    n: int,
) -> np.ndarray:
    """Term by term, each variable's columns multiply the columns so far, which vary fastest
    (R's addvar/addfactor)."""
    blocks = [np.ones((n, 1))] if intercept else []
    indicators = {name: np.eye(len(levels[name]))[values[name]] for name in levels}
    for term in plan:
        block: np.ndarray | None = None
        for name, code in term:
            own = values[name][:, None] if code == NUMERIC else indicators[name]
            own = own[:, 1:] if code == CONTRASTS else own
            block = own if block is None else (own[:, :, None] * block[:, None, :]).reshape(n, -1)
        if block is not None:
            blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.empty((n, 0))


# ---------------------------------------------------------------------------------------------
# The formula: tokens, a syntax tree, then R's EncodeVars on bit masks of variables


@dataclass(frozen=True)
class _Formula:
    response: str | None
    variables: tuple[str, ...]  # in order of first appearance, response first
    intercept: bool
    terms: tuple[int, ...]  # bit masks over variables, in R's order
    labels: tuple[str, ...]
    used: tuple[str, ...]  # the variables that enter some term, in formula order


_TOKEN = re.compile(r"\s*(?:([A-Za-z_.][A-Za-z0-9_.]*)|(\d+(?:\.\d*)?)|(\S))")
Node = tuple[Any, ...]


class _Parser:
    """Recursive descent with R's precedence (?Syntax): ``^`` > unary ``-``/``+`` > ``:`` >
    ``*`` > binary ``+``/``-`` > ``~``. Variables are numbered as they first appear."""

    def __init__(self, formula: str) -> None:
        self.formula, self.at, self.variables = formula, 0, list[str]()
        self.tokens: list[tuple[str, str, int]] = []
        for match in _TOKEN.finditer(formula):
            name, number, other = match.groups()
            start = match.start(match.lastindex or 0)
            if name == ".":
                self.fail("'.' (all other columns) is not supported", start)
            if other is not None and other not in "~+-*:^()":
                self.fail(f"{other!r} is not a supported operator", start)
            kind = "name" if name is not None else "number" if number is not None else other
            self.tokens.append((kind, match.group(match.lastindex or 0), start))
        self.tokens.append(("end", "", len(formula)))

    def fail(self, what: str, position: int) -> None:
        raise ModelError(f"malformed formula {self.formula!r}: {what} at position {position + 1}")

    def take(self, *kinds: str) -> tuple[str, str, int] | None:
        """The next token if it is one of ``kinds`` (any if none are named)."""
        token = self.tokens[self.at]
        if kinds and token[0] not in kinds:
            return None
        self.at += 1
        return token

    def whole(self) -> tuple[str | None, Node]:
        response = None
        if self.tokens[self.at][0] == "name" and self.tokens[self.at + 1][0] != "end":
            response = self.tokens[self.at][1]
            self.variables.append(response)
            self.at += 1
        if self.take("~") is None:
            self.fail("expected 'response ~ terms' (one column name before '~')", self.where())
        tree = self.binary(0)
        if self.tokens[self.at][0] != "end":
            self.fail(f"unexpected {self.tokens[self.at][1]!r}", self.where())
        return response, tree

    def where(self) -> int:
        return self.tokens[self.at][2]

    def binary(self, level: int) -> Node:
        """Levels 0 (binary + and -), 1 (*), 2 (:), all left-associative."""
        operators = (("+", "-"), ("*",), (":",))[level]
        node = self.binary(level + 1) if level < 2 else self.unary()
        while (token := self.take(*operators)) is not None:
            right = self.binary(level + 1) if level < 2 else self.unary()
            node = ("binary", token[0], node, right)
        return node

    def unary(self) -> Node:
        if (token := self.take("+", "-")) is not None:
            return ("unary", token[0], self.unary())
        node = self.atom()
        if self.take("^") is not None:
            exponent = self.take()
            assert exponent is not None
            if exponent[0] != "number" or not exponent[1].isdigit() or int(exponent[1]) < 1:
                self.fail("'^' needs a whole number of 1 or more", exponent[2])
            node = ("power", int(exponent[1]), node)
        return node

    def atom(self) -> Node:
        kind, text, position = self.take() or ("end", "", len(self.formula))
        if kind == "name":
            if self.tokens[self.at][0] == "(":
                self.fail(f"functions such as {text}() are not supported", position)
            if text not in self.variables:
                self.variables.append(text)
            return ("variable", self.variables.index(text))
        if kind == "number":
            if text not in ("0", "1"):
                self.fail(f"only 0 or 1 may stand alone, not {text!r}", position)
            return ("number", int(text))
        if kind == "(":
            node = self.binary(0)
            if self.take(")") is None:
                self.fail("expected ')'", self.where())
            return node
        found = "the end" if kind == "end" else repr(text)
        self.fail(f"expected a column name, 0, 1 or '(' but found {found}", position)
        raise AssertionError("unreachable")


def _unique(terms: list[int]) -> list[int]:
    """R's TrimRepeats: drop repeated and empty terms, keeping the first."""
    return [t for i, t in enumerate(terms) if t and t not in terms[:i]]


def _encode(node: Node, parity: bool, intercept: list[bool]) -> list[int]:
    """R's EncodeVars: a node's terms as bit masks; ``0``/``1`` set the intercept (with the
    parity flipped on the right of a ``-``)."""
    kind = node[0]
    if kind == "variable":
        return [1 << node[1]]
    if kind == "number":
        intercept[0] = parity if node[1] == 1 else not parity
        return []
    if kind == "unary":  # R: -x is DeleteTerms(nothing, x)
        terms = _encode(node[2], parity == (node[1] == "+"), intercept)
        return terms if node[1] == "+" else []
    if kind == "power":
        left = right = _encode(node[2], parity, intercept)
        for _ in range(node[1] - 1):
            right = _unique([a | b for a in left for b in right])
        return right
    operator = node[1]
    left = _encode(node[2], parity, intercept)
    right = _encode(node[3], parity != (operator == "-"), intercept)
    if operator == "+":
        return _unique(left + right)
    if operator == "-":
        return [t for t in left if t not in right]
    crossed = [a | b for a in left for b in right]
    return _unique(left + right + crossed if operator == "*" else crossed)


@lru_cache(maxsize=256)
def _parse(formula: str) -> _Formula:
    parser = _Parser(formula)
    response, tree = parser.whole()
    intercept = [True]
    terms = tuple(sorted(_encode(tree, True, intercept), key=int.bit_count))  # stable, as R
    names = tuple(parser.variables)
    if response is not None and any(t & 1 for t in terms):
        raise ModelError(f"formula {formula!r}: the response {response!r} also stands on the right")
    labels = tuple(":".join(n for i, n in enumerate(names) if t >> i & 1) for t in terms)
    used = tuple(n for i, n in enumerate(names) if any(t >> i & 1 for t in terms))
    return _Formula(response, names, intercept[0], terms, labels, used)
