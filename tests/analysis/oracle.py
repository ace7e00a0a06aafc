"""Reading the committed R outputs under tests/oracle (the tests never run R)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ORACLE = Path(__file__).resolve().parents[1] / "oracle"
TOLERANCE = {"rel": 1e-6, "abs": 1e-9}
"""Agreement asked of every statistic checked against R: 1e-6 relative (1e-9 absolute near 0)."""


def data(name: str) -> pd.DataFrame:
    return pd.read_csv(ORACLE / "data" / f"{name}.csv")


def expected(name: str) -> pd.DataFrame:
    return pd.read_csv(ORACLE / f"{name}_expected.csv")


def close(value: float, wanted: float) -> bool:
    return bool(value == pytest.approx(wanted, **TOLERANCE))
