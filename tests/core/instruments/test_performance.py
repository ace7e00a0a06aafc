"""Performance-test worked examples (instruments.md §8; sources cited per case)."""

from __future__ import annotations

import pytest

from physiotrial.core.instruments import catalogue, get_instrument, score_response
from physiotrial.errors import AnswerError, InstrumentError

SIX_MWT = get_instrument("six_mwt")
TUG = get_instrument("tug")
MAN = {"sex": "male", "age_years": 60, "height_cm": 170, "weight_kg": 70}
WOMAN = {"sex": "female", "age_years": 60, "height_cm": 160, "weight_kg": 60}
PERFORMANCE = ("tug", "six_mwt", "chair_stand_30s", "fast_walk_40m", "stair_climb")


@pytest.mark.parametrize(
    ("source", "equation", "context", "predicted"),
    [
        # derived (instruments.md §8): 7.57·170 − 5.02·60 − 1.76·70 − 309 = 553.5 m.
        ("Enright & Sherrill 1998, man", "enright_sherrill_1998", MAN, 553.5),
        # derived (instruments.md §8): 2.11·160 − 2.29·60 − 5.78·60 + 667 = 520.4 m.
        ("Enright & Sherrill 1998, woman", "enright_sherrill_1998", WOMAN, 520.4),
        # derived from ERS/ATS 2014 Table 5: 510 + 2.2·170 − 0.93·70 − 5.3·60 = 500.9 m.
        ("Enright 2003, man", "enright_2003", MAN, 500.9),
        # derived from ERS/ATS 2014 Table 5: 493 + 2.2·160 − 0.93·60 − 5.3·60 = 471.2 m.
        ("Enright 2003, woman", "enright_2003", WOMAN, 471.2),
        # labels and codes are interchangeable (male = 1, female = 2).
        ("code for female", "enright_sherrill_1998", {**WOMAN, "sex": 2}, 520.4),
        ("label in capitals", "enright_sherrill_1998", {**MAN, "sex": "MALE"}, 553.5),
    ],
)
def test_six_mwt_predicted_distance(
    source: str, equation: str, context: dict[str, object], predicted: float
) -> None:
    result = score_response(SIX_MWT, {"distance_m": 500, **context}, {"equation": equation})
    assert result.scores["predicted_m"] == pytest.approx(predicted), source
    assert result.unscorable == {}


def test_default_equation_is_enright_sherrill_1998() -> None:
    result = score_response(SIX_MWT, {"distance_m": 500, **MAN})
    assert result.scores["predicted_m"] == pytest.approx(553.5)


@pytest.mark.parametrize(
    ("source", "distance", "context", "percent"),
    [
        # derived: 442.8 / 553.5 × 100 = 80 % (instruments.md §8: observed / predicted × 100).
        ("man at 80 %", 442.8, MAN, 80.0),
        # derived: 520.4 / 520.4 × 100 = 100 %.
        ("woman at 100 %", 520.4, WOMAN, 100.0),
        # derived: 0 m walked is 0 % of predicted.
        ("no distance walked", 0, WOMAN, 0.0),
    ],
)
def test_six_mwt_percent_predicted(
    source: str, distance: float, context: dict[str, object], percent: float
) -> None:
    result = score_response(SIX_MWT, {"distance_m": distance, **context})
    assert result.scores["percent_predicted"] == pytest.approx(percent), source
    assert result.scores["distance_m"] == pytest.approx(distance)


@pytest.mark.parametrize("missing", ["sex", "age_years", "height_cm", "weight_kg"])
def test_missing_context_item_makes_predicted_null_and_names_it(missing: str) -> None:
    result = score_response(SIX_MWT, {"distance_m": 450, **MAN, missing: None})
    assert result.scores["distance_m"] == 450
    for key in ("predicted_m", "percent_predicted"):
        assert result.scores[key] is None
        assert result.unscorable[key].endswith(f"missing: {missing}")


def test_missing_distance_leaves_predicted_scored() -> None:
    result = score_response(SIX_MWT, {"distance_m": "", **MAN})
    assert result.scores["predicted_m"] == pytest.approx(553.5)
    assert result.scores["distance_m"] is None
    assert result.unscorable["percent_predicted"].endswith("missing: distance_m")


def test_equation_extrapolated_below_zero_is_null_with_reason() -> None:
    # derived: 7.57·100 − 5.02·110 − 1.76·300 − 309 = −632.2 m, meaningless for a distance.
    extreme = {"sex": "male", "age_years": 110, "height_cm": 100, "weight_kg": 300}
    result = score_response(SIX_MWT, {"distance_m": 100, **extreme})
    assert result.scores["predicted_m"] is None
    assert result.scores["percent_predicted"] is None
    assert "-632.2 m (≤ 0)" in result.unscorable["predicted_m"]
    assert result.unscorable["percent_predicted"] == result.unscorable["predicted_m"]
    assert result.scores["distance_m"] == 100


def test_unknown_equation_is_refused() -> None:
    with pytest.raises(InstrumentError, match="enright_sherrill_1998, enright_2003"):
        score_response(SIX_MWT, {"distance_m": 500, **MAN}, {"equation": "gibbons"})


@pytest.mark.parametrize(
    ("source", "time", "high_risk"),
    [
        # Barry 2014 (PMC3924230): "A TUG score of ≥13.5 seconds" marks higher risk.
        ("exactly at the cut-off", 13.5, True),
        ("just below", 13.49, False),
        ("well above", 20.0, True),
        ("typical", 8.2, False),
    ],
)
def test_tug_fall_risk_flag(source: str, time: float, high_risk: bool) -> None:
    result = score_response(TUG, {"time_s": time, "walking_aid": "no"})
    assert result.scores["high_fall_risk"] is high_risk, source
    assert result.scores["time_s"] == pytest.approx(time)


def test_tug_without_time_is_null_with_reason_and_aid_is_optional() -> None:
    result = score_response(TUG, {"time_s": None})
    assert result.scores == {"time_s": None, "high_fall_risk": None}
    assert result.unscorable["high_fall_risk"] == "TUG time needs time_s; missing: time_s"
    assert score_response(TUG, {"time_s": 9, "walking_aid": "yes"}).scores["time_s"] == 9


@pytest.mark.parametrize(
    ("source", "name", "answers", "expected"),
    [
        # instruments.md §8: count of full stands in 30 s is the score.
        ("30sCST count", "chair_stand_30s", {"stands": 12}, {"stands": 12}),
        # derived: 40 m / 20 s = 2.0 m/s (speed as arithmetic, instruments.md §8).
        ("40 m in 20 s", "fast_walk_40m", {"time_s": 20}, {"time_s": 20, "speed_m_s": 2.0}),
        ("40 m in 32 s", "fast_walk_40m", {"time_s": 32}, {"speed_m_s": 1.25}),
        # OARSI (hcplive summary): 9 steps preferred; steps and riser are context only.
        (
            "9-step stair climb",
            "stair_climb",
            {"time_s": 11.4, "steps": 9, "riser_cm": 20},
            {"time_s": 11.4},
        ),
        ("stair climb, steps unrecorded", "stair_climb", {"time_s": 11.4}, {"time_s": 11.4}),
    ],
)
def test_simple_performance_scores(
    source: str, name: str, answers: dict[str, float], expected: dict[str, float]
) -> None:
    scores = score_response(get_instrument(name), answers).scores
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value), (source, key)


@pytest.mark.parametrize(
    ("name", "item", "value", "allowed"),
    [
        ("tug", "time_s", -3, "1 to 300 s"),
        ("six_mwt", "weight_kg", 400, "25 to 300 kg"),
        ("six_mwt", "height_cm", 1.7, "100 to 230 cm"),  # metres typed for cm
        ("six_mwt", "sex", "other", "1 (male), 2 (female)"),
        ("chair_stand_30s", "stands", 12.5, "whole numbers 0 to 50 stands"),
        ("fast_walk_40m", "time_s", 0.5, "8 to 600 s"),
        ("stair_climb", "steps", 0, "whole numbers 1 to 50 steps"),
    ],
)
def test_wrong_value_names_item_value_and_allowed(
    name: str, item: str, value: object, allowed: str
) -> None:
    instrument = get_instrument(name)
    first = {"tug": "time_s", "six_mwt": "distance_m"}.get(name, instrument.item_ids[0])
    answers = {first: 10, item: value}
    with pytest.raises(AnswerError) as excinfo:
        score_response(instrument, answers)
    message = str(excinfo.value)
    assert f"item {item} of {name}" in message
    assert repr(value) in message
    assert f"allowed: {allowed}" in message


@pytest.mark.parametrize("name", PERFORMANCE)
def test_an_item_is_scored_exactly_when_a_score_uses_it(name: str) -> None:
    instrument = catalogue()[name]
    used = {item for spec in instrument.scores for item in spec.items}
    for item in instrument.items:
        assert item.scored == (item.id in used), (name, item.id)
