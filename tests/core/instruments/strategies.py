"""Hypothesis strategies that draw valid answers for any catalogue instrument."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from physiotrial.core.instruments import Instrument, Item


def item_values(item: Item) -> st.SearchStrategy[float]:
    """A valid answer for ``item`` (never missing)."""
    if item.choices:
        return st.sampled_from([float(c.code) for c in item.choices])
    low = item.minimum if item.minimum is not None else 0.0
    high = item.maximum if item.maximum is not None else low + 1000.0
    if item.integer:
        return st.integers(math.ceil(low), math.floor(high)).map(float)
    return st.floats(low, high, allow_nan=False, allow_infinity=False).map(
        lambda v: round(v, 3) if low <= round(v, 3) <= high else v
    )


def complete_answers(instrument: Instrument) -> st.SearchStrategy[dict[str, float]]:
    """Every item answered with a valid value."""
    return st.fixed_dictionaries({item.id: item_values(item) for item in instrument.items})
