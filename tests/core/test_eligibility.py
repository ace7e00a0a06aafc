"""Screening decisions with reasons, and the strata the stratification factors give.

Criteria come from the reference protocol (age ≥ 50 years, yes/no inclusions and exclusions)
plus a choice criterion and a numeric maximum added here, because the reference trial has none.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from physiotrial.core.eligibility import all_strata, evaluate_eligibility, stratum_of
from physiotrial.core.protocol import Protocol
from physiotrial.core.protocol_checks import protocol_from_mapping
from physiotrial.errors import EligibilityError, RandomisationError
from physiotrial.services.protocols import load_protocol

REFERENCE = load_protocol("popliteus-dn-koa")
_DATA: dict[str, Any] = tomllib.loads(
    resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text("utf-8")
)


def _extended() -> Protocol:
    """The reference protocol with a choice criterion, a numeric maximum and a second factor."""
    data = copy.deepcopy(_DATA)
    data["eligibility"] += [
        {
            "type": "choice",
            "id": "kl_grade",
            "kind": "inclusion",
            "sentence": "Kellgren-Lawrence grade 2 or 3 on X-ray",
            "choices": ["0", "1", "2", "3", "4"],
            "eligible": ["2", "3"],
        },
        {
            "type": "numeric",
            "id": "bmi",
            "kind": "exclusion",
            "sentence": "Body mass index over 40",
            "maximum": 40,
            "unit": "kg/m²",
        },
    ]
    data["randomisation"]["factors"].append(
        {"id": "site", "label": "Site", "levels": ["seville", "madrid", "cadiz"]}
    )
    data["randomisation"]["strata"] = ["sex", "site"]
    return protocol_from_mapping(data, "extended")


EXTENDED = _extended()

ELIGIBLE: dict[str, object] = {
    "age": 67,
    "acr_knee_oa": True,
    "pain_months": 24,
    "popliteus_trigger_point": "yes",
    "needle_phobia": False,
    "anticoagulants": "no",
    "recent_knee_procedure": "False",
    "other_lower_limb_condition": False,
    "consent_capacity": "TRUE",
}
EXTENDED_ELIGIBLE = {**ELIGIBLE, "kl_grade": "2", "bmi": 31.5}


def _result(protocol: Protocol, answers: dict[str, object], criterion: str) -> Any:
    decision = evaluate_eligibility(protocol, answers)
    return next(r for r in decision.results if r.criterion_id == criterion), decision


@pytest.mark.parametrize(
    ("case", "criterion", "value", "met", "reason"),
    [
        (
            "numeric met",
            "age",
            67,
            True,
            "age 67 years: within the eligible range (50 years or more)",
        ),
        ("numeric at the minimum", "age", 50, True, "age 50 years: within"),
        ("numeric unmet", "age", 47, False, "age 47 years: below the minimum of 50 years"),
        ("numeric text", "age", " 49.5 ", False, "age 49.5 years: below the minimum of 50 years"),
        ("numeric maximum unmet", "bmi", 41, False, "bmi 41 kg/m²: above the maximum of 40 kg/m²"),
        ("numeric maximum met", "bmi", "40", True, "bmi 40 kg/m²: within the eligible range"),
        ("numeric unanswered", "age", None, None, "age: not answered"),
        ("numeric blank", "age", "  ", None, "age: not answered"),
        ("inclusion met", "acr_knee_oa", "Yes", True, "acr_knee_oa yes: inclusion met"),
        ("inclusion unmet", "acr_knee_oa", False, False, "acr_knee_oa no: inclusion not met"),
        ("exclusion applies", "needle_phobia", "yes", False, "needle_phobia yes: excluded"),
        ("exclusion absent", "needle_phobia", "no", True, "exclusion does not apply"),
        ("yes/no unanswered", "needle_phobia", None, None, "needle_phobia: not answered"),
        ("choice met", "kl_grade", "3", True, "kl_grade 3: an eligible choice"),
        (
            "choice unmet",
            "kl_grade",
            "4",
            False,
            "kl_grade 4: not an eligible choice; eligible: 2, 3",
        ),
        ("choice unanswered", "kl_grade", "", None, "kl_grade: not answered"),
    ],
)
def test_each_criterion_type(
    case: str, criterion: str, value: object, met: bool | None, reason: str
) -> None:
    answers = {**EXTENDED_ELIGIBLE, criterion: value}
    result, decision = _result(EXTENDED, answers, criterion)
    assert result.met is met, case
    assert reason in result.reason
    assert decision.eligible is (met is True)
    assert (result.reason in decision.reasons) is (met is not True)


def test_missing_key_is_not_answered_and_not_eligible() -> None:
    answers = {k: v for k, v in ELIGIBLE.items() if k != "consent_capacity"}
    decision = evaluate_eligibility(REFERENCE, answers)
    assert not decision.eligible
    assert decision.reasons == ("consent_capacity: not answered",)
    assert decision.unanswered == ("consent_capacity",)


@pytest.mark.parametrize(
    ("case", "criterion", "value", "message"),
    [
        (
            "word for a number",
            "age",
            "forty",
            "age: 'forty' is not a number; allowed: a number in years (50 years or more)",
        ),
        ("bool for a number", "age", True, "age: True is not a number"),
        ("infinite number", "age", float("inf"), "age: inf is not a number"),
        (
            "number for yes/no",
            "needle_phobia",
            1,
            "needle_phobia: 1 is not a yes/no answer; allowed: yes, no, true, false",
        ),
        ("maybe for yes/no", "acr_knee_oa", "maybe", "acr_knee_oa: 'maybe' is not a yes/no"),
        (
            "unlisted choice",
            "kl_grade",
            "5",
            "kl_grade: '5' is not one of the choices; allowed: 0, 1, 2, 3, 4",
        ),
        ("number for a choice", "kl_grade", 2, "kl_grade: 2 is not one of the choices"),
        (
            "unknown criterion",
            "agee",
            60,
            "unknown eligibility criterion 'agee' (answer 60); allowed: age, acr_knee_oa,",
        ),
    ],
)
def test_wrong_type_names_criterion_value_and_what_is_allowed(
    case: str, criterion: str, value: object, message: str
) -> None:
    with pytest.raises(EligibilityError) as excinfo:
        evaluate_eligibility(EXTENDED, {**EXTENDED_ELIGIBLE, criterion: value})
    assert message in str(excinfo.value), case
    assert isinstance(excinfo.value, ValueError)


def test_every_wrong_answer_is_reported_at_once() -> None:
    with pytest.raises(EligibilityError) as excinfo:
        evaluate_eligibility(REFERENCE, {**ELIGIBLE, "age": "old", "needle_phobia": "perhaps"})
    assert "age: 'old'" in str(excinfo.value)
    assert "needle_phobia: 'perhaps'" in str(excinfo.value)


def test_reference_participant_fully_eligible() -> None:
    decision = evaluate_eligibility(REFERENCE, ELIGIBLE)
    assert decision.eligible
    assert decision.reasons == ()
    assert [r.criterion_id for r in decision.results] == [c.id for c in REFERENCE.eligibility]
    assert all(r.met for r in decision.results)


def test_reference_participant_ineligible_gives_every_reason() -> None:
    answers = {**ELIGIBLE, "age": 47, "anticoagulants": True}
    answers.pop("popliteus_trigger_point")
    decision = evaluate_eligibility(REFERENCE, answers)
    assert not decision.eligible
    assert decision.reasons == (
        "age 47 years: below the minimum of 50 years",
        "popliteus_trigger_point: not answered",
        "anticoagulants yes: excluded (Takes anticoagulant medication)",
    )


@given(age=st.floats(min_value=0, max_value=120, allow_nan=False))
def test_age_is_eligible_exactly_from_the_minimum(age: float) -> None:
    decision = evaluate_eligibility(REFERENCE, {**ELIGIBLE, "age": age})
    assert decision.eligible is (age >= 50)


# --- strata ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "levels", "stratum"),
    [
        (REFERENCE, {"sex": "female"}, "sex=female"),
        (REFERENCE, {"sex": "male", "site": "ignored"}, "sex=male"),
        (EXTENDED, {"site": "madrid", "sex": "female"}, "sex=female;site=madrid"),
    ],
)
def test_stratum_of(protocol: Protocol, levels: dict[str, str], stratum: str) -> None:
    assert stratum_of(protocol, levels) == stratum
    assert stratum in all_strata(protocol)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({}, "stratification factor sex: not given; allowed levels: female, male"),
        ({"sex": "F"}, "stratification factor sex: 'F' is not a level; allowed levels: female"),
    ],
)
def test_stratum_of_rejects_missing_or_unknown_levels(levels: dict[str, str], message: str) -> None:
    with pytest.raises(RandomisationError, match=message):
        stratum_of(REFERENCE, levels)


def test_all_strata_is_the_product_in_protocol_order() -> None:
    assert all_strata(REFERENCE) == ["sex=female", "sex=male"]
    assert all_strata(EXTENDED) == [
        "sex=female;site=seville",
        "sex=female;site=madrid",
        "sex=female;site=cadiz",
        "sex=male;site=seville",
        "sex=male;site=madrid",
        "sex=male;site=cadiz",
    ]


def test_unstratified_protocol_has_one_stratum() -> None:
    data = copy.deepcopy(_DATA)
    data["randomisation"]["strata"] = []
    protocol = protocol_from_mapping(data, "unstratified")
    assert all_strata(protocol) == ["all"]
    assert stratum_of(protocol, {}) == "all"
