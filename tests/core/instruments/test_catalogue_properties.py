"""Properties every instrument in the catalogue must have, checked from its own declaration.

For every instrument and every score it declares: complete valid answers give a score inside the
declared range; raising a non-reversed item never moves the score against its declared
``item_effect`` (and a reversed item moves it the other way); and the missing-item rule holds
exactly at its boundary: ``max_missing`` missing items still score, one more gives null with a
reason. These are the generic half of the instrument tests; each instrument's worked examples
live beside it in its own test module.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from physiotrial.core.instruments import (
    Instrument,
    ResponseType,
    ScoreKind,
    catalogue,
    get_instrument,
    score_response,
)
from physiotrial.core.instruments.scoring import spec_range_check
from tests.core.instruments.strategies import complete_answers

INSTRUMENTS = list(catalogue())
_ORDERED_KINDS = (ScoreKind.NUMBER, ScoreKind.FLAG)  # a flag compares as 0 < 1
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_catalogue_is_not_empty_and_names_are_stable() -> None:
    assert {"vas", "nprs", "womac"} <= set(INSTRUMENTS)
    for name, instrument in catalogue().items():
        assert instrument.name == name
        assert len(set(instrument.item_ids)) == len(instrument.item_ids), name
        assert len(set(instrument.score_keys)) == len(instrument.score_keys), name
        assert instrument.citation, f"{name} cites no source"
        for spec in instrument.scores:
            unknown = set(spec.items) - set(instrument.item_ids)
            assert not unknown, f"{name}.{spec.key} names unknown items {unknown}"
        used = {i for spec in instrument.scores for i in spec.items}
        for item in instrument.items:
            assert item.scored == (item.id in used), f"{name}.{item.id}: scored flag is wrong"


@pytest.mark.parametrize("name", INSTRUMENTS)
def test_no_answers_at_all_gives_null_scores_with_reasons(name: str) -> None:
    instrument = get_instrument(name)
    result = score_response(instrument, {})
    for spec in instrument.scores:
        if spec.items:
            assert result.scores[spec.key] is None, spec.key
            assert spec.key in result.unscorable, spec.key


@pytest.mark.parametrize("name", INSTRUMENTS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_complete_answers_score_within_declared_range(name: str, data: st.DataObject) -> None:
    instrument = get_instrument(name)
    answers = data.draw(complete_answers(instrument))
    result = score_response(instrument, answers)
    for spec in instrument.scores:
        value = result.scores[spec.key]
        if spec.kind is ScoreKind.NUMBER and value is not None:
            assert spec_range_check(spec, np.array([float(value)])), (spec.key, value)
        if spec.kind is ScoreKind.CATEGORY and value is not None:
            assert value in spec.categories, (spec.key, value)
        if spec.max_missing is not None and spec.items:
            assert value is not None, f"{spec.key} null with every item answered"


def _instruments_with_monotone_scores() -> list[str]:
    return [
        name
        for name, instrument in catalogue().items()
        if any(s.item_effect and s.kind in _ORDERED_KINDS for s in instrument.scores)
    ]


@pytest.mark.parametrize("name", _instruments_with_monotone_scores())
@PROPERTY_SETTINGS
@given(data=st.data())
def test_scores_move_with_items_as_declared(name: str, data: st.DataObject) -> None:
    instrument = get_instrument(name)
    monotone = [s for s in instrument.scores if s.item_effect and s.kind in _ORDERED_KINDS]
    ordered = {
        i
        for s in monotone
        for i in s.items
        if instrument.item(i).response is not ResponseType.CHOICE
    }
    item_id = data.draw(st.sampled_from(sorted(ordered)))
    item = instrument.item(item_id)
    answers = data.draw(complete_answers(instrument))
    low, high = item.lowest, item.highest
    if math.isinf(high):
        high = low + 1000
    before = data.draw(st.sampled_from([low, answers[item_id]]))
    after = data.draw(st.sampled_from([high, max(before, answers[item_id])]))
    lower = score_response(instrument, {**answers, item_id: before}).scores
    upper = score_response(instrument, {**answers, item_id: after}).scores
    for spec in monotone:
        a, b = lower[spec.key], upper[spec.key]
        if item_id not in spec.items or a is None or b is None:
            continue
        sign = spec.item_effect * (-1 if item.reversed else 1)
        assert sign * (float(b) - float(a)) >= -1e-9, (spec.key, item_id, before, after, a, b)


def _boundary_cases() -> list[tuple[str, str]]:
    return [
        (name, spec.key)
        for name, instrument in catalogue().items()
        for spec in instrument.scores
        if spec.items and spec.max_missing is not None
    ]


@pytest.mark.parametrize(("name", "key"), _boundary_cases())
@PROPERTY_SETTINGS
@given(data=st.data())
def test_missing_item_rule_holds_at_its_boundary(name: str, key: str, data: st.DataObject) -> None:
    instrument: Instrument = get_instrument(name)
    spec = instrument.score_spec(key)
    assert spec.max_missing is not None
    answers = data.draw(complete_answers(instrument))
    order = data.draw(st.permutations(list(spec.items)))
    allowed = dict(answers)
    for item_id in order[: spec.max_missing]:
        allowed[item_id] = None  # type: ignore[assignment]
    at_limit = score_response(instrument, allowed)
    assert at_limit.scores[key] is not None, at_limit.unscorable.get(key)
    if spec.max_missing < len(spec.items):
        allowed[order[spec.max_missing]] = None  # type: ignore[assignment]
        over = score_response(instrument, allowed)
        assert over.scores[key] is None
        assert key in over.unscorable
