"""Bang's blinding index against R (tests/oracle/blinding.R)."""

from __future__ import annotations

import pytest

from physiotrial.analysis.blinding import CATEGORIES, bang_index
from tests.analysis.oracle import TOLERANCE, data, expected


@pytest.mark.parametrize("name", ["blinding_a", "blinding_b"])
def test_bang_index_matches_r(name: str) -> None:
    counts = data(name)
    want = expected(name).set_index("arm")
    for _, row in counts.iterrows():
        result = bang_index({c: int(row[c]) for c in CATEGORIES}, sham=bool(row["sham"]))
        wanted = want.loc[row["arm"]]
        assert result.n == wanted["n"]
        for field, column in (("bi", "bang_bi"), ("se", "se"), ("ci_low", "ci_low")):
            assert getattr(result, field) == pytest.approx(wanted[column], **TOLERANCE)
        assert result.ci_high == pytest.approx(wanted["ci_high"], **TOLERANCE)


@pytest.mark.parametrize(
    ("counts", "sham", "bi"),
    [
        ({"strongly_active": 10}, False, 1.0),
        ({"strongly_active": 10}, True, -1.0),
        ({"dont_know": 7}, False, 0.0),
        ({"somewhat_sham": 4, "somewhat_active": 4}, True, 0.0),
        ({"somewhat_sham": 2}, True, 0.5),
    ],
)
def test_bang_index_range(counts: dict[str, int], sham: bool, bi: float) -> None:
    assert bang_index(counts, sham).bi == pytest.approx(bi)


def test_bang_2x3_reduces_to_the_bi_package_example() -> None:
    # BI R package / BlindingIndex.jl example: treatment arm 48 correct, 4 wrong, 330 don't know.
    result = bang_index({"strongly_active": 48, "strongly_sham": 4, "dont_know": 330}, sham=False)
    assert round(result.bi, 3) == 0.115
    assert round(result.se, 3) == 0.018


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown blinding categories \\['maybe'\\]"):
        bang_index({"maybe": 1}, sham=False)
