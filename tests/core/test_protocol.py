"""The protocol as code: the reference trial loads, and bad files report every problem at once.

Each bad case starts from the reference protocol and breaks one thing, then checks that the
problem names its key path and what is allowed.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from physiotrial.core.protocol import Protocol, VisitKind
from physiotrial.core.protocol_checks import parse_protocol, protocol_from_mapping
from physiotrial.errors import ProtocolError

REFERENCE_TEXT = (
    resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text("utf-8")
)
REFERENCE: dict[str, Any] = tomllib.loads(REFERENCE_TEXT)


def _reference() -> Protocol:
    return parse_protocol(REFERENCE_TEXT, "popliteus-dn-koa")


def test_reference_protocol_encodes_the_published_design() -> None:
    protocol = _reference()
    assert protocol.study.registry_id == "NCT06816940"
    assert [a.code for a in protocol.arms] == ["DN", "SHAM"]
    assert [a.sham for a in protocol.arms] == [False, True]
    assert protocol.randomisation.block_sizes == (2, 4)
    assert protocol.randomisation.strata == ("sex",)
    # assessments before treatment, after treatment (week 3), at 3 and 6 months (trial.md)
    assessed = [v.code for v in protocol.visits if "vas_max" in v.measures]
    assert assessed == ["BL", "W3", "M3", "M6"]
    assert protocol.visit("W3").day == 21
    sessions = {s.code: s.count for s in protocol.sessions}
    assert sessions == {"needling": 3, "exercise": 12}  # 3 DN sessions, 12 exercise sessions
    assert protocol.primary_outcome.id == "pain_max"
    assert protocol.analysis.primary_contrast.visit == "M6"
    assert protocol.baseline.kind is VisitKind.BASELINE
    assert "therapist" not in {r.value for r in protocol.blinding.blinded_roles}


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _visit(code: str, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        next(v for v in data["visits"] if v["code"] == code)[key] = value

    return mutate


BAD_CASES = [
    (
        "unknown instrument",
        _set("measures.3.instrument", "womack"),
        "measures[womac].instrument",
        "unknown instrument 'womack'; allowed:",
    ),
    (
        "window overlaps the next visit",
        _visit("M3", "window_after", 80),
        "visits[M6].window_before",
        "overlaps M3",
    ),
    (
        "outcome on a visit that does not capture its measure",
        _visit("M6", "measures", ["womac"]),
        "outcomes[pain_max].visits",
        "visit M6 does not capture measure vas_max",
    ),
    (
        "block size not a multiple of the arm count",
        _set("randomisation.block_sizes", [2, 3]),
        "randomisation.block_sizes[1]",
        "3 is not a multiple of 2",
    ),
    (
        "unknown score key",
        _set("outcomes.1.score", "overall"),
        "outcomes[womac_total].score",
        "unknown score of womac 'overall'",
    ),
    (
        "rater the instrument does not allow",
        _set("measures.3.rater", "therapist"),
        "measures[womac].rater",
        "womac is not rated by the therapist",
    ),
    (
        "stratifying on an undefined factor",
        _set("randomisation.strata", ["site"]),
        "randomisation.strata[0]",
        "unknown factor 'site'; allowed: sex",
    ),
    (
        "contrast names an unknown arm",
        _set("analysis.primary_contrast.control", "PLACEBO"),
        "analysis.primary_contrast.control",
        "unknown arm 'PLACEBO'; allowed: DN, SHAM",
    ),
    (
        "therapist blinded in a sham trial",
        _set("blinding.blinded_roles", ["participant", "therapist"]),
        "blinding.blinded_roles",
        "therapist delivers real or sham needling",
    ),
    (
        "two primary outcomes",
        _set("outcomes.1.primary", True),
        "outcomes",
        "exactly one outcome must be primary (found: pain_max, womac_total)",
    ),
    (
        "visits out of order",
        _visit("M3", "day", 200),
        "visits[M6].day",
        "day 180 is not after M3",
    ),
    (
        "unknown instrument option",
        _set("measures.0.options", {"recal": "last week"}),
        "measures[vas_max].options",
        "has no option 'recal'",
    ),
    (
        "wrong word for the randomisation method",
        _set("randomisation.method", "blocks"),
        "randomisation.method",
        "Input should be 'simple', 'permuted_blocks', 'minimisation' or 'none' (given: 'blocks')",
    ),
    (
        "misspelt key",
        _set("study.titel", "x"),
        "study.titel",
        "unknown key; allowed keys here: condition, id, kind, registry_id",
    ),
    (
        "missing section",
        lambda data: data.pop("blinding"),
        "blinding",
        "required key is missing",
    ),
    (
        "minimisation probability out of range",
        _set("randomisation.minimisation", {"factors": ["sex"], "probability": 0.3}),
        "randomisation.minimisation.probability",
        "greater than or equal to 0.5",
    ),
]


@pytest.mark.parametrize(
    ("case", "mutate", "path", "fragment"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_protocol_names_key_path_and_what_is_allowed(
    case: str, mutate: Callable[[dict[str, Any]], None], path: str, fragment: str
) -> None:
    data = copy.deepcopy(REFERENCE)
    mutate(data)
    with pytest.raises(ProtocolError) as excinfo:
        protocol_from_mapping(data, "bad.toml")
    problems = {p.path: p.message for p in excinfo.value.problems}
    assert path in problems, (case, problems)
    assert fragment in problems[path], (case, problems[path])


def test_every_problem_is_reported_at_once() -> None:
    independent = [BAD_CASES[i] for i in (0, 1, 2, 3, 6, 7, 8)]
    data = copy.deepcopy(REFERENCE)
    for case in independent:
        case[1](data)
    with pytest.raises(ProtocolError) as excinfo:
        protocol_from_mapping(data, "bad.toml")
    paths = {p.path for p in excinfo.value.problems}
    assert {c[2] for c in independent} <= paths
    assert str(excinfo.value).startswith("bad.toml: ")


def test_invalid_toml_is_one_problem_with_the_parser_position() -> None:
    with pytest.raises(ProtocolError, match=r"not valid TOML: .*line 1"):
        parse_protocol("[study\nid = 1", "broken.toml")


def test_protocol_round_trips_through_json() -> None:
    protocol = _reference()
    again = Protocol.model_validate_json(protocol.model_dump_json())
    assert again == protocol
