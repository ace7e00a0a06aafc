"""Reading a protocol and checking that its parts fit together, reporting every problem at once.

Parsing happens in two passes. Pydantic checks the shape (types, required keys, allowed words) and
collects every structural problem; only a well-shaped protocol reaches the cross-checks, which
relate sections to each other and to the instrument catalogue. Each problem names its key path
(``visits[M3].window_before``) and says what is allowed.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from physiotrial.core.instruments.catalogue import catalogue
from physiotrial.core.instruments.scoring import resolve_options
from physiotrial.core.protocol import Contrast, Protocol, Role, VisitKind
from physiotrial.errors import InstrumentError, Problem, ProtocolError


def parse_protocol(text: str, source: str = "protocol") -> Protocol:
    """A validated protocol from TOML text; raises :class:`ProtocolError` listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProtocolError(source, [Problem("", f"not valid TOML: {error}")]) from None
    return protocol_from_mapping(data, source)


def protocol_from_mapping(data: Mapping[str, Any], source: str = "protocol") -> Protocol:
    """A validated protocol from already-parsed data (TOML or JSON)."""
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as error:
        raise ProtocolError(source, list(structural_problems(error, Protocol))) from None
    problems = check_protocol(protocol)
    if problems:
        raise ProtocolError(source, problems)
    return protocol


def structural_problems(error: ValidationError, root: type[BaseModel]) -> Iterator[Problem]:
    """Each pydantic error as a :class:`Problem` at its key path, in a file shaped like ``root``."""
    for detail in error.errors():
        loc = tuple(part for part in detail["loc"] if not _is_union_tag(part))
        path = _path(loc)
        if detail["type"] == "extra_forbidden":
            allowed = _allowed_keys(root, loc[:-1])
            yield Problem(path, f"unknown key; allowed keys here: {', '.join(allowed)}")
        elif detail["type"] == "missing":
            yield Problem(path, "required key is missing")
        else:
            given = detail.get("input")
            shown = "" if isinstance(given, dict | list) else f" (given: {given!r})"
            yield Problem(path, f"{detail['msg']}{shown}")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in {"numeric", "yes_no", "choice"}


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _allowed_keys(root: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys the model at ``loc`` accepts, by walking the model tree from ``root``."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = None if field is None else _model_of(field.annotation)
    return sorted(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``tuple[Visit, ...]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


# --- cross-checks ---------------------------------------------------------------------------


def check_protocol(protocol: Protocol) -> list[Problem]:
    """Every inconsistency between the sections of a well-shaped protocol."""
    return [
        *_unique_ids(protocol),
        *_check_randomisation(protocol),
        *_check_eligibility(protocol),
        *_check_measures(protocol),
        *_check_visits(protocol),
        *_check_sessions(protocol),
        *_check_blinding(protocol),
        *_check_outcomes(protocol),
        *_check_analysis(protocol),
    ]


def _duplicates(values: Iterable[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def _unique_ids(p: Protocol) -> Iterator[Problem]:
    sections: dict[str, list[str]] = {
        "arms": [a.code for a in p.arms],
        "eligibility": [c.id for c in p.eligibility],
        "measures": [m.key for m in p.measures],
        "visits": [v.code for v in p.visits],
        "sessions": [s.code for s in p.sessions],
        "outcomes": [o.id for o in p.outcomes],
        "randomisation.factors": [f.id for f in p.randomisation.factors],
        "analysis.responders": [r.id for r in p.analysis.responders],
    }
    for section, ids in sections.items():
        for dup in _duplicates(ids):
            yield Problem(section, f"{dup!r} is used more than once; ids must be unique")


def _check_randomisation(p: Protocol) -> Iterator[Problem]:
    r = p.randomisation
    if r.method == "none" and len(p.arms) != 1:
        yield Problem("randomisation.method", "none needs exactly one arm (a clinic care plan)")
    if r.method != "none" and len(p.arms) < 2:
        yield Problem("arms", f"{r.method} randomisation needs two or more arms")
    ratio_sum = sum(a.ratio for a in p.arms)
    factor_ids = {f.id for f in r.factors}
    if r.method == "permuted_blocks" and not r.block_sizes:
        yield Problem("randomisation.block_sizes", "permuted blocks need at least one block size")
    if r.method != "permuted_blocks" and r.block_sizes:
        yield Problem(
            "randomisation.block_sizes", f"only used with permuted_blocks, not {r.method}"
        )
    ratio = ":".join(str(a.ratio) for a in p.arms)
    for i, size in enumerate(r.block_sizes):
        if size < ratio_sum or size % ratio_sum:
            yield Problem(
                f"randomisation.block_sizes[{i}]",
                f"{size} is not a multiple of {ratio_sum}, the sum of the allocation ratio "
                f"{ratio}; allowed: {ratio_sum}, {2 * ratio_sum}, {3 * ratio_sum}, ...",
            )
    for i, factor in enumerate(r.strata):
        if factor not in factor_ids:
            yield Problem(f"randomisation.strata[{i}]", _unknown("factor", factor, factor_ids))
    if r.method == "minimisation":
        if r.minimisation is None:
            yield Problem("randomisation.minimisation", "minimisation needs this section")
        else:
            for i, factor in enumerate(r.minimisation.factors):
                if factor not in factor_ids:
                    yield Problem(
                        f"randomisation.minimisation.factors[{i}]",
                        _unknown("factor", factor, factor_ids),
                    )
    elif r.minimisation is not None:
        yield Problem("randomisation.minimisation", f"only used with minimisation, not {r.method}")


def _check_eligibility(p: Protocol) -> Iterator[Problem]:
    for c in p.eligibility:
        path = f"eligibility[{c.id}]"
        if c.type == "numeric":
            if c.minimum is None and c.maximum is None:
                yield Problem(path, "a numeric criterion needs a minimum, a maximum or both")
            elif c.minimum is not None and c.maximum is not None and c.minimum > c.maximum:
                yield Problem(f"{path}.minimum", f"{c.minimum} is above maximum {c.maximum}")
        elif c.type == "choice":
            for value in c.eligible:
                if value not in c.choices:
                    yield Problem(f"{path}.eligible", _unknown("choice", value, c.choices))


def _check_measures(p: Protocol) -> Iterator[Problem]:
    instruments = catalogue()
    for m in p.measures:
        path = f"measures[{m.key}]"
        instrument = instruments.get(m.instrument)
        if instrument is None:
            yield Problem(f"{path}.instrument", _unknown("instrument", m.instrument, instruments))
            continue
        if m.rater not in instrument.raters:
            allowed = ", ".join(r.value for r in instrument.raters)
            yield Problem(
                f"{path}.rater",
                f"{m.instrument} is not rated by the {m.rater.value}; allowed: {allowed}",
            )
        try:
            resolve_options(instrument, m.options)
        except InstrumentError as error:
            yield Problem(f"{path}.options", str(error))


def _check_visits(p: Protocol) -> Iterator[Problem]:
    measure_keys = {m.key for m in p.measures}
    baselines = [v.code for v in p.visits if v.kind is VisitKind.BASELINE]
    if len(baselines) != 1:
        found = ", ".join(baselines) or "none"
        yield Problem("visits", f"exactly one visit must have kind 'baseline' (found: {found})")
    elif p.baseline.day != 0:
        yield Problem(f"visits[{p.baseline.code}].day", "the baseline visit is day 0 by definition")
    for v in p.visits:
        for measure in v.measures:
            if measure not in measure_keys:
                yield Problem(
                    f"visits[{v.code}].measures", _unknown("measure", measure, measure_keys)
                )
    for earlier, later in zip(p.visits, p.visits[1:], strict=False):
        if later.day <= earlier.day:
            yield Problem(
                f"visits[{later.code}].day",
                f"day {later.day} is not after {earlier.code} (day {earlier.day}); "
                "list visits in time order",
            )
        elif earlier.closes >= later.opens:
            yield Problem(
                f"visits[{later.code}].window_before",
                f"window days {later.opens}..{later.closes} overlaps {earlier.code} "
                f"(days {earlier.opens}..{earlier.closes}); allowed: window_before ≤ "
                f"{later.day - earlier.closes - 1} or a narrower window_after on {earlier.code}",
            )


def _check_sessions(p: Protocol) -> Iterator[Problem]:
    arm_codes = {a.code for a in p.arms}
    for s in p.sessions:
        for arm in s.arms:
            if arm not in arm_codes:
                yield Problem(f"sessions[{s.code}].arms", _unknown("arm", arm, arm_codes))
        for field in s.records:
            if field.type == "choice" and not field.choices:
                yield Problem(f"sessions[{s.code}].records[{field.id}]", "a choice needs choices")


def _check_blinding(p: Protocol) -> Iterator[Problem]:
    blinded = set(p.blinding.blinded_roles)
    if len(p.arms) == 1 and blinded:
        yield Problem("blinding.blinded_roles", "with one arm there is nothing to blind; use []")
    if any(a.sham for a in p.arms) and Role.THERAPIST in blinded:
        yield Problem(
            "blinding.blinded_roles",
            "the therapist delivers real or sham needling and must know the arm; remove therapist",
        )
    for role in p.blinding.unblinding_roles:
        if role in blinded:
            yield Problem("blinding.unblinding_roles", f"{role.value} is also a blinded role")


def _check_outcomes(p: Protocol) -> Iterator[Problem]:
    instruments = catalogue()
    measures = {m.key: m for m in p.measures}
    visits = {v.code: v for v in p.visits}
    primaries = [o.id for o in p.outcomes if o.primary]
    if len(primaries) != 1:
        found = ", ".join(primaries) or "none"
        yield Problem("outcomes", f"exactly one outcome must be primary (found: {found})")
    for o in p.outcomes:
        path = f"outcomes[{o.id}]"
        measure = measures.get(o.measure)
        if measure is None:
            yield Problem(f"{path}.measure", _unknown("measure", o.measure, measures))
            continue
        instrument = instruments.get(measure.instrument)
        if instrument is not None:
            if o.score not in instrument.score_keys:
                yield Problem(
                    f"{path}.score",
                    _unknown(f"score of {instrument.name}", o.score, instrument.score_keys),
                )
            elif o.direction is not None:
                declared = instrument.score_spec(o.score).direction
                if o.direction is not declared:
                    yield Problem(
                        f"{path}.direction",
                        f"{o.direction.value} contradicts {instrument.name}.{o.score}, "
                        f"which is {declared.value}",
                    )
        for code in o.visits:
            visit = visits.get(code)
            if visit is None:
                yield Problem(f"{path}.visits", _unknown("visit", code, visits))
            elif o.measure not in visit.measures:
                yield Problem(
                    f"{path}.visits",
                    f"visit {code} does not capture measure {o.measure}; add it to "
                    f"visits[{code}].measures or remove {code} from this outcome",
                )


def _check_analysis(p: Protocol) -> Iterator[Problem]:
    a = p.analysis
    arms = {arm.code for arm in p.arms}
    outcomes = {o.id: o for o in p.outcomes}
    contrast = a.primary_contrast
    if contrast is None:
        if len(p.arms) > 1:
            yield Problem("analysis.primary_contrast", "required when there are two or more arms")
    else:
        yield from _check_contrast(p, contrast, arms)
    allowed_covariates = {"baseline", "site"} | {f.id for f in p.randomisation.factors}
    for i, covariate in enumerate(a.covariates):
        if covariate not in allowed_covariates:
            yield Problem(
                f"analysis.covariates[{i}]", _unknown("covariate", covariate, allowed_covariates)
            )
    for r in a.responders:
        path = f"analysis.responders[{r.id}]"
        if r.rule == "omeract_oarsi":
            needed = {"pain": r.pain, "function": r.function}
            for field, value in {**needed, "patient_global": r.patient_global}.items():
                if value is None and field in needed:
                    yield Problem(
                        f"{path}.{field}", "OMERACT-OARSI needs a pain and a function outcome"
                    )
                elif value is not None and value not in outcomes:
                    yield Problem(f"{path}.{field}", _unknown("outcome", value, outcomes))
        else:
            if r.outcome is None or r.outcome not in outcomes:
                yield Problem(f"{path}.outcome", _unknown("outcome", str(r.outcome), outcomes))
            if r.rule == "percent" and r.threshold is None:
                yield Problem(
                    f"{path}.threshold", "a percent responder needs a threshold (e.g. 30)"
                )
    if p.sample_size is not None and p.sample_size.outcome not in outcomes:
        yield Problem("sample_size.outcome", _unknown("outcome", p.sample_size.outcome, outcomes))


def _check_contrast(p: Protocol, contrast: Contrast, arms: set[str]) -> Iterator[Problem]:
    for field, arm in (("experimental", contrast.experimental), ("control", contrast.control)):
        if arm not in arms:
            yield Problem(f"analysis.primary_contrast.{field}", _unknown("arm", arm, arms))
    if contrast.experimental == contrast.control:
        yield Problem("analysis.primary_contrast", "experimental and control must differ")
    primary = [o for o in p.outcomes if o.primary]
    if primary and contrast.visit not in primary[0].visits:
        yield Problem(
            "analysis.primary_contrast.visit",
            _unknown(
                f"visit of primary outcome {primary[0].id}", contrast.visit, primary[0].visits
            ),
        )


def _unknown(what: str, value: str, known: Iterable[str]) -> str:
    allowed = ", ".join(sorted(str(k) for k in known)) or "none defined"
    return f"unknown {what} {value!r}; allowed: {allowed}"
