"""Care plans: the shipped ones compile into one-arm clinic protocols; bad ones name every problem.

Each bad case starts from the knee care plan and breaks one thing, then checks the problem's key
path and what is allowed, as tests/core/test_protocol.py does for trial protocols.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from physiotrial.core.care_plan import ARM, care_plan_from_mapping, parse_study_file
from physiotrial.core.protocol import VisitKind
from physiotrial.core.protocol_checks import protocol_from_mapping
from physiotrial.core.randomisation import (
    Allocation,
    generate_sequence,
    has_sequence,
    verify_allocations,
)
from physiotrial.errors import ProtocolError

KNEE_TEXT = resources.files("physiotrial.protocols").joinpath("knee-oa-clinic.toml").read_text()
HIP_TEXT = resources.files("physiotrial.protocols").joinpath("hip-oa-clinic.toml").read_text()
KNEE: dict[str, Any] = tomllib.loads(KNEE_TEXT)


def test_knee_care_plan_mirrors_the_reference_trial() -> None:
    p = parse_study_file(KNEE_TEXT, "knee-oa-clinic")
    assert p.is_clinic
    assert p.care is not None
    assert p.care.joint == "knee"
    assert [a.code for a in p.arms] == [ARM]
    assert p.randomisation.method == "none"
    assert not has_sequence(p)
    assert p.blinding.blinded_roles == ()
    assert p.analysis.primary_contrast is None
    # baseline, after sessions 3 and 6 of weekly needling (days 1, 8, 15 ... 36), 3 and 6 months
    assert [(v.code, v.day, v.kind) for v in p.visits] == [
        ("BL", 0, VisitKind.BASELINE),
        ("R1", 15, VisitKind.ASSESSMENT),
        ("R2", 36, VisitKind.ASSESSMENT),
        ("M3", 91, VisitKind.FOLLOW_UP),
        ("M6", 183, VisitKind.FOLLOW_UP),
    ]
    assert "pgic" not in p.visit("BL").measures
    assert "pgic" in p.visit("R1").measures
    assert {s.code: s.count for s in p.sessions} == {
        "needling": 6,
        "exercise": 6,
        "education": 1,
        "home_exercise": 24,
    }
    assert p.care.component("needling").planned_sessions == 3
    assert p.care.component("needling").target_muscles == ("popliteus",)
    assert p.primary_outcome.id == "pain_max"
    assert p.outcome("pain_max").mcid is not None
    assert p.outcome("pain_max").mcid.value == 19.9
    assert p.outcome("womac_function").mcid is not None
    rules = {r.id: r.rule for r in p.analysis.responders}
    assert rules["omeract_oarsi"] == "omeract_oarsi"
    assert rules["pain_max_mcid"] == "mcid"


def test_hip_care_plan_reassesses_every_two_sessions() -> None:
    p = parse_study_file(HIP_TEXT, "hip-oa-clinic")
    assert p.care is not None
    assert p.care.joint == "hip"
    assert [v.code for v in p.visits] == ["BL", "R1", "R2", "R3", "M3", "M6"]
    assert [v.day for v in p.visits[:4]] == [0, 8, 22, 36]  # sessions 2, 4, 6 of weekly needling
    assert p.outcome("pain").mcid is not None
    assert p.outcome("pain").mcid.value == 2.0


def test_single_arm_allocations_verify_and_have_no_sequence() -> None:
    p = parse_study_file(KNEE_TEXT, "knee-oa-clinic")
    assert generate_sequence(p, "seed", 10) == []
    good = [
        Allocation("CLN-001", "all", None, ARM, {}),
        Allocation("CLN-002", "all", None, ARM, {}),
    ]
    assert verify_allocations(p, "seed", 0, good) == []
    bad = [*good, Allocation("CLN-001", "all", None, "OTHER", {})]
    problems = verify_allocations(p, "seed", 0, bad)
    assert "participant CLN-001: allocated more than once" in problems
    assert any("recorded in OTHER, the care plan has only CARE" in m for m in problems)


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


BAD = [
    ("unknown joint", _set("care_plan.joint", "toe"), "care_plan.joint", "'knee'"),
    (
        "unknown counted component",
        _set("assessments.counted", "cupping"),
        "assessments.counted",
        "unknown component 'cupping'; allowed: needling, exercise, education",
    ),
    (
        "up_to below planned",
        _set("components.0.up_to_weeks", 2),
        "components[needling].up_to_weeks",
        "2 is below weeks 3; allowed: 3 or more",
    ),
    (
        "muscles on exercise",
        _set("components.1.target_muscles", ["quadriceps"]),
        "components[exercise].target_muscles",
        "only for dry_needling",
    ),
    (
        "unknown measure in the outcome set",
        _set("assessments.measures", ["vas_max", "koosy"]),
        "assessments.measures",
        "unknown measure 'koosy'",
    ),
    (
        "unknown response outcome",
        _set("response.function", "walking"),
        "response.function",
        "unknown outcome 'walking'",
    ),
    (
        "cutoff without its outcome",
        _set("response.neuropathic", None),
        "response",
        "give both neuropathic and its cutoff, or neither",
    ),
    (
        "zero sessions a week",
        _set("components.0.per_week", 0),
        "components[0].per_week",
        "greater than or equal to 1",
    ),
    (
        "misspelt key",
        _set("assessments.every_session", 3),
        "assessments.every_session",
        "unknown key; allowed keys here: counted, every_sessions",
    ),
    (
        "bad score of an instrument",
        _set("outcomes.0.score", "points"),
        "outcomes[pain_max].score",
        "unknown score of",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "path", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_care_plan_names_key_path_and_what_is_allowed(
    case: str, mutate: Callable[[dict[str, Any]], None], path: str, fragment: str
) -> None:
    data = copy.deepcopy(KNEE)
    mutate(data)
    if data["response"].get("neuropathic") is None:
        data["response"].pop("neuropathic", None)
    with pytest.raises(ProtocolError) as excinfo:
        care_plan_from_mapping(data, "knee-oa-clinic")
    problems = {p.path: p.message for p in excinfo.value.problems}
    matching = [p for p in problems if p.startswith(path)]
    assert matching, (case, problems)
    assert any(fragment in problems[p] for p in matching), (case, problems)


def test_a_trial_protocol_still_needs_two_arms_and_a_contrast() -> None:
    text = resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text()
    data = tomllib.loads(text)
    data["arms"] = data["arms"][:1]
    del data["analysis"]["primary_contrast"]
    with pytest.raises(ProtocolError) as excinfo:
        protocol_from_mapping(data, "trial")
    messages = [str(p) for p in excinfo.value.problems]
    assert "arms: permuted_blocks randomisation needs two or more arms" in messages
    assert "analysis.primary_contrast: required when there are two or more arms" not in messages
    data = tomllib.loads(text)
    del data["analysis"]["primary_contrast"]
    with pytest.raises(ProtocolError, match="required when there are two or more arms"):
        protocol_from_mapping(data, "trial")
    data = tomllib.loads(text)
    data["randomisation"]["method"] = "none"
    data["randomisation"].pop("block_sizes")
    with pytest.raises(ProtocolError, match="none needs exactly one arm"):
        protocol_from_mapping(data, "trial")
