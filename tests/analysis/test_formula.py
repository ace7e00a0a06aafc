"""Design matrices against R's model.matrix (tests/oracle/formula.R), and the errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from physiotrial.analysis.formula import design
from physiotrial.errors import ModelError
from tests.analysis.oracle import TOLERANCE, data, expected

ARM = {"arm": ["SHAM", "DN"]}

# The formulas of tests/oracle/formula.R, in its order.
FORMULAS = [
    "y ~ baseline * visit + arm * visit + site",
    "y ~ arm*visit",
    "y ~ visit + visit:arm",
    "y ~ 0 + visit + arm:visit",
    "y ~ arm:visit",
    "y ~ baseline:arm + visit",
    "y ~ arm*visit*sex",
    "y ~ 1",
    "y ~ baseline",
    "y ~ visit - 1",
    "y ~ visit - 1 + arm",
    "y ~ (arm + sex) * visit",
    "y ~ baseline * age + prior",
    "y ~ 0 + baseline + visit:arm",
    "y ~ (visit + arm + sex)^2",
    "y ~ sex + arm:sex:visit - 1",
    "y ~ visit:baseline + arm",
    "y ~ arm + visit + arm:visit - arm",
    "~ visit + arm",
    "y ~ 0",
    "y ~ arm:sex + visit:sex",
    "y ~ (arm + visit):sex",
]


def wide(long: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Column names in order and the matrix, from the oracle's long format."""
    if long.empty:
        return [], np.empty((0, 0))
    names = long.drop_duplicates("column").sort_values("column")["name"].tolist()
    values = long.pivot(index="row", columns="column", values="value").sort_index()
    return names, values.to_numpy()


def test_the_oracle_covers_every_formula_here() -> None:
    assert set(expected("formula")["formula"]) == set(FORMULAS) - {"y ~ 0"}  # no columns
    assert set(expected("formula_terms")["formula"]) <= set(FORMULAS)


@pytest.mark.parametrize("formula", FORMULAS)
def test_matches_r_model_matrix(formula: str) -> None:
    frame = data("formula")
    long = expected("formula")
    names, want = wide(long[long["formula"] == formula])
    terms = expected("formula_terms")
    made, x, y = design(formula, frame, ARM)
    assert list(made.columns) == names
    assert list(made.terms) == terms.loc[terms["formula"] == formula, "term"].tolist()
    assert x.dtype == np.float64
    assert x.shape == (len(frame), len(names))
    if names:
        np.testing.assert_allclose(x, want, rtol=TOLERANCE["rel"], atol=TOLERANCE["abs"])
    if formula.startswith("~"):
        assert made.response is None
        assert y is None
    else:
        assert made.response == "y"
        assert y is not None
        np.testing.assert_array_equal(y, frame["y"].to_numpy(float))


def test_levels_first_is_reference_and_only_factors_of_the_model() -> None:
    made, _, _ = design("y ~ baseline * visit + arm * visit + site", data("formula"), ARM)
    assert dict(made.levels) == {
        "visit": ("V1", "V2", "V3", "V4"),
        "arm": ("SHAM", "DN"),
        "site": ("S1", "S2", "S3"),
    }
    without, _, _ = design("y ~ arm*visit", data("formula"))  # sorted: DN is the reference
    assert without.levels["arm"] == ("DN", "SHAM")
    assert "armSHAM" in without.columns


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda s: s.astype(object), id="object"),
        pytest.param(lambda s: s.astype("category"), id="category"),
        pytest.param(
            lambda s: pd.Categorical(s, categories=sorted(set(s), reverse=True)), id="cats"
        ),
        pytest.param(lambda s: s.astype("string"), id="string"),
    ],
)
def test_text_dtypes_code_alike(convert: object) -> None:
    frame = data("formula")
    formula = "y ~ baseline * visit + arm * visit + site + sex"
    levels = {**ARM, "visit": ["V1", "V2", "V3", "V4"], "site": ["S1", "S2", "S3"]}
    levels["sex"] = ["female", "male"]
    _, want, _ = design(formula, frame, levels)
    changed = frame.assign(**{c: convert(frame[c]) for c in ("visit", "arm", "site", "sex")})  # type: ignore[operator]
    made, x, _ = design(formula, changed, levels)
    np.testing.assert_array_equal(x, want)
    assert made.levels["visit"] == ("V1", "V2", "V3", "V4")


def test_categorical_categories_are_the_levels_and_unused_ones_give_zero_columns() -> None:
    # R: a factor level absent from the data still has its (all-zero) model.matrix column.
    frame = pd.DataFrame(
        {"y": [1.0, 2, 3], "visit": pd.Categorical(["V2", "V1", "V2"], ["V2", "V1", "V9"])}
    )
    made, x, _ = design("y ~ visit", frame)
    assert made.columns == ("(Intercept)", "visitV1", "visitV9")
    np.testing.assert_array_equal(x, [[1, 0, 0], [1, 1, 0], [1, 0, 0]])


def test_rows_follow_the_frame_order_whatever_its_index() -> None:
    frame = data("formula")
    _, want, _ = design("y ~ arm*visit", frame, ARM)
    _, x, _ = design("y ~ arm*visit", frame.set_index(frame.index[::-1] * 7), ARM)
    np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize(
    ("formula", "same_as"),
    [
        ("y~arm*visit", "y ~ arm + visit + arm:visit"),
        ("y ~ -1 + visit", "y ~ visit - 1"),
        ("y ~ 0 + visit", "y ~ visit - 1"),
        ("y ~ visit + 0 + 1", "y ~ visit"),
        ("y ~ sex:(arm + visit)", "y ~ sex:arm + sex:visit"),
        ("y ~ visit:arm + arm:visit + visit", "y ~ visit + visit:arm"),
        ("y ~ (arm + visit)^2", "y ~ arm*visit"),
        ("y ~ arm * visit - arm:visit", "y ~ arm + visit"),
        ("y ~ ((arm))", "y ~ arm"),
    ],
)
def test_equivalent_formulas_give_the_same_design(formula: str, same_as: str) -> None:
    frame = data("formula")
    one, x_one, _ = design(formula, frame, ARM)
    other, x_other, _ = design(same_as, frame, ARM)
    assert one.columns == other.columns
    np.testing.assert_array_equal(x_one, x_other)


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ baseline * visit + arm * visit + site",
        "y ~ visit + visit:arm",
        "y ~ (visit + arm + sex)^2",
    ],
)
def test_encode_reference_grid_matches_r(formula: str) -> None:
    made, _, _ = design(formula, data("formula"), ARM)
    long = expected("formula_grid")
    names, want = wide(long[long["formula"] == formula])
    grid = data("formula_grid")
    assert list(made.columns) == names
    np.testing.assert_allclose(
        made.encode(grid), want, rtol=TOLERANCE["rel"], atol=TOLERANCE["abs"]
    )


def test_encode_one_row_and_a_grid_without_every_level() -> None:
    made, x, _ = design("y ~ arm*visit", data("formula"), ARM)
    row = pd.DataFrame({"arm": ["DN"], "visit": ["V3"], "unused": [1]})
    np.testing.assert_array_equal(
        made.encode(row), [[1, 1, 0, 1, 0, 0, 1, 0]]
    )  # (Intercept) armDN visitV2 visitV3 visitV4 armDN:visitV2 armDN:visitV3 armDN:visitV4
    assert made.encode(row).shape == (1, x.shape[1])


OK = pd.DataFrame(
    {
        "y": [1.0, 2.0, 3.0, 4.0],
        "baseline": [5.0, 6.0, 7.0, 8.0],
        "arm": ["DN", "SHAM", "DN", "SHAM"],
        "visit": ["V1", "V1", "V2", "V2"],
        "site": ["S1", "S1", "S1", "S1"],
        "when": pd.to_datetime(["2024-01-01"] * 4),
    }
)


@pytest.mark.parametrize(
    ("formula", "frame", "levels", "message"),
    [
        ("y ~ arm + visti", OK, None, "'visti', which is not a column .*columns: y, baseline, arm"),
        ("outcome ~ arm", OK, None, "'outcome', which is not a column"),
        (
            "y ~ arm",
            OK,
            {"arm": ["SHAM", "DN_"]},
            r"'arm' has level\(s\) 'DN' not in the levels given; allowed: 'SHAM', 'DN_'",
        ),
        (
            "y ~ arm",
            OK,
            {"Arm": ["SHAM", "DN"]},
            "levels were given for 'Arm', which is not a column",
        ),
        ("y ~ arm", OK, {"arm": "DN"}, "levels of 'arm' must be distinct labels"),
        ("y ~ arm", OK, {"arm": ["DN", "DN", "SHAM"]}, "levels of 'arm' must be distinct labels"),
        (
            "y ~ baseline",
            OK,
            {"baseline": ["5", "6"]},
            "levels were given for 'baseline', but it is numeric",
        ),
        (
            "y ~ arm",
            OK.assign(arm=np.array(["DN", None, None, "SHAM"])),
            None,
            r"'arm' has 2 missing value\(s\) \(rows 1, 2\)",
        ),
        (
            "y ~ baseline",
            OK.assign(baseline=[1.0, np.nan, 2, 3]),
            None,
            r"'baseline' has 1 missing value\(s\) \(rows 1\)",
        ),
        (
            "y ~ arm",
            OK.assign(y=[np.nan, 1, 2, 3]),
            None,
            r"'y' has 1 missing value\(s\) \(rows 0\)",
        ),
        ("y ~ arm + site", OK, None, r"factor 'site' has 1 level\(s\) \('S1',\)"),
        ("arm ~ baseline", OK, None, "the response 'arm' must be numeric"),
        ("y ~ y + arm", OK, None, "the response 'y' also stands on the right"),
        ("y ~ when", OK, None, "'when' has type datetime64"),
        (
            "y ~ arm +",
            OK,
            None,
            r"malformed formula 'y ~ arm \+': expected a column name, 0, 1 or '\(' "
            "but found the end at position 10",
        ),
        ("y ~ (arm + visit", OK, None, r"expected '\)' at position 17"),
        ("y ~ arm visit", OK, None, "unexpected 'visit' at position 9"),
        ("y + baseline ~ arm", OK, None, "expected 'response ~ terms'.* at position 3"),
        ("y arm", OK, None, "expected 'response ~ terms'"),
        (
            "y ~ log(baseline)",
            OK,
            None,
            r"functions such as log\(\) are not supported at position 5",
        ),
        ("y ~ arm / visit", OK, None, "'/' is not a supported operator at position 9"),
        ("y ~ .", OK, None, "'.' .all other columns. is not supported"),
        ("y ~ arm + 2", OK, None, "only 0 or 1 may stand alone, not '2' at position 11"),
        ("y ~ (arm + visit)^0", OK, None, "'\\^' needs a whole number of 1 or more at position 19"),
        ("y ~ arm ~ visit", OK, None, "unexpected '~' at position 9"),
        ("", OK, None, "expected 'response ~ terms'"),
    ],
)
def test_errors_name_what_is_wrong(
    formula: str, frame: pd.DataFrame, levels: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        design(formula, frame, levels)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            pd.DataFrame({"arm": ["DN"], "visit": ["V5"]}),
            r"'visit' has level\(s\) 'V5' not in the fitted data; allowed: 'V1', 'V2'",
        ),
        (
            pd.DataFrame({"arm": ["dn"], "visit": ["V1"]}),
            r"'arm' has level\(s\) 'dn' not in the fitted data; allowed: 'SHAM', 'DN'",
        ),
        (
            pd.DataFrame({"arm": ["DN"]}),
            "'visit', which is not a column of the data .columns: arm.",
        ),
        (pd.DataFrame({"arm": ["DN"], "visit": [None]}), r"'visit' has 1 missing value\(s\)"),
        (
            pd.DataFrame({"arm": ["DN"], "visit": [2.0]}),
            "column 'visit' must be a factor as in the fitted data",
        ),
    ],
)
def test_encode_refuses_what_the_fit_never_saw(grid: pd.DataFrame, message: str) -> None:
    made, _, _ = design("y ~ arm*visit", OK, ARM)
    with pytest.raises(ModelError, match=message):
        made.encode(grid)


def test_encode_refuses_text_for_a_numeric_column() -> None:
    made, _, _ = design("y ~ baseline + arm", OK, ARM)
    with pytest.raises(ModelError, match="column 'baseline' must be numeric"):
        made.encode(pd.DataFrame({"baseline": ["5"], "arm": ["DN"]}))


def test_boolean_levels_are_false_true_even_when_one_is_absent() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0], "prior": [True, True]})
    made, x, _ = design("y ~ prior", frame)
    assert made.levels["prior"] == ("FALSE", "TRUE")
    np.testing.assert_array_equal(x, [[1, 1], [1, 1]])
    grid = made.encode(pd.DataFrame({"prior": [False, True]}))
    np.testing.assert_array_equal(grid, [[1, 0], [1, 1]])


def test_given_levels_are_labelled_as_r_labels_them() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0], "prior": pd.array([True, False, True], "boolean")})
    made, x, _ = design("y ~ prior", frame, {"prior": [True, False]})  # type: ignore[list-item]
    assert made.columns == ("(Intercept)", "priorFALSE")
    np.testing.assert_array_equal(x[:, 1], [0, 1, 0])
