"""Forms from instrument specifications (web/forms.py), table-driven over the reference protocol.

For every measure of every visit of the reference protocol: one field per item with the widget
its response type asks for; valid posted text read back into exactly the answers
``capture.score`` accepts (checked by scoring them); an untouched VAS slider posts a blank and
reads back as unanswered; a service message naming an item lands beside that item.
"""

from __future__ import annotations

from typing import Any

import pytest

from physiotrial.core.instruments import get_instrument, score_response
from physiotrial.core.instruments.spec import Instrument, Item, ResponseType
from physiotrial.errors import AnswerError
from physiotrial.services.protocols import load_protocol
from physiotrial.web.forms import (
    FormField,
    field_name,
    item_in_error,
    measure_form,
    posted_answers,
    widget_of,
)

PROTOCOL = load_protocol("popliteus-dn-koa")
PLANNED = sorted({m for v in PROTOCOL.visits for m in v.measures})


def valid_text(field: FormField) -> str:
    """An answer a person could give to ``field``, as posted text."""
    if field.options:
        return field.options[min(1, len(field.options) - 1)].value
    low = field.minimum if field.minimum is not None else 0.0
    high = field.maximum if field.maximum is not None else low + 10
    middle = (low + high) / 2
    return str(int(middle)) if field.step == "1" else f"{middle:g}"


def valid_post(measure: str) -> dict[str, str]:
    """A complete valid posted form of ``measure`` of the reference protocol."""
    instrument = get_instrument(PROTOCOL.measure(measure).instrument)
    form = measure_form(measure, measure, instrument)
    return {f.name: valid_text(f) for f in form.fields}


def _expected_widget(item: Item) -> str:
    if item.response in (ResponseType.LIKERT, ResponseType.YES_NO, ResponseType.CHOICE):
        return "radios"
    if item.response is ResponseType.NUMERIC and item.unit == "mm":
        return "slider"
    return "number"


@pytest.mark.parametrize("measure", PLANNED)
def test_every_item_has_its_field_and_posted_values_score(measure: str) -> None:
    planned = PROTOCOL.measure(measure)
    instrument = get_instrument(planned.instrument)
    form = measure_form(measure, planned.label or instrument.title, instrument)
    assert [f.item for f in form.fields] == list(instrument.item_ids)
    for field, item in zip(form.fields, instrument.items, strict=True):
        assert field.name == f"{measure}.{item.id}"
        assert field.widget == _expected_widget(item), item
        assert field.value == ""
        assert field.required is item.required
        if field.widget == "radios":
            assert (
                sorted(o.value for o in field.options)
                == sorted(str(c.code) for c in (item.choices or ()))
                or item.response is ResponseType.YES_NO
            )
        if item.unit:
            assert field.unit == item.unit
    posted = valid_post(measure)
    answers = posted_answers(measure, instrument, posted | {"csrf_token": "x", "done_on": "y"})
    assert set(answers) == set(instrument.item_ids)
    assert all(isinstance(v, int | float) for v in answers.values()), answers
    scored = score_response(instrument, answers, planned.options)
    assert any(v is not None for v in scored.scores.values()), scored


WIDGETS: list[tuple[str, str, str]] = [
    # instrument, item, widget: every response type of the library
    ("vas", "mm", "slider"),
    ("womac_va", "p1", "slider"),
    ("omeract_oarsi", "pain_before", "slider"),
    ("nprs", "points", "scale"),
    ("grc", "change", "scale"),
    ("womac_nrs", "f3", "scale"),
    ("womac", "p1", "radios"),
    ("dn4", "burning", "radios"),
    ("paindetect", "pattern", "radios"),
    ("blinding_guess", "certainty", "radios"),
    ("tug", "time_s", "number"),
    ("tug", "walking_aid", "radios"),
    ("six_mwt", "distance_m", "number"),
    ("hhd_knee", "lever_arm_m", "number"),
    ("hhd_knee", "side", "radios"),
    ("chair_stand_30s", "stands", "number"),
    ("knee_rom", "extension_deficit_deg", "number"),
]


@pytest.mark.parametrize(("name", "item", "widget"), WIDGETS)
def test_widget_follows_the_item_type(name: str, item: str, widget: str) -> None:
    assert widget_of(get_instrument(name).item(item)) == widget


def test_the_scale_of_an_nrs_is_its_whole_numbers() -> None:
    form = measure_form("pain", "NRS", get_instrument("nprs"))
    assert [o.value for o in form.fields[0].options] == [str(v) for v in range(11)]


def test_yes_no_radios_are_yes_then_no() -> None:
    form = measure_form("dn4", "DN4", get_instrument("dn4"))
    assert [(o.value, o.label) for o in form.fields[0].options] == [("1", "yes"), ("0", "no")]


def test_lever_arm_and_units_of_dynamometry() -> None:
    form = measure_form("strength", "HHD", get_instrument("hhd_knee"))
    by_item = {f.item: f for f in form.fields}
    assert (by_item["extension_n"].unit, by_item["lever_arm_m"].unit) == ("N", "m")
    assert (by_item["lever_arm_m"].minimum, by_item["lever_arm_m"].maximum) == (0.1, 0.6)
    assert by_item["lever_arm_m"].allowed == "0.1 to 0.6 m"
    assert by_item["lever_arm_m"].required is False


PARSED: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("vas", {"x.mm": ""}, {"mm": None}),  # an untouched slider posts a blank: unanswered
    ("vas", {}, {"mm": None}),
    ("vas", {"x.mm": " 37 "}, {"mm": 37}),
    ("vas", {"x.mm": "37.5"}, {"mm": 37.5}),
    ("vas", {"x.mm": "37.0"}, {"mm": 37.0}),
    ("vas", {"x.mm": "abc"}, {"mm": "abc"}),  # left for the service to refuse, naming it
    ("vas", {"x.mm": "nan"}, {"mm": "nan"}),
    ("tug", {"x.time_s": "9.8", "x.walking_aid": "0"}, {"time_s": 9.8, "walking_aid": 0}),
    ("tug", {"x.time_s": "9.8", "y.walking_aid": "1"}, {"time_s": 9.8, "walking_aid": None}),
]


@pytest.mark.parametrize(("name", "posted", "expected"), PARSED)
def test_posted_text_becomes_answers(
    name: str, posted: dict[str, str], expected: dict[str, Any]
) -> None:
    assert posted_answers("x", get_instrument(name), posted) == expected


def test_an_untouched_vas_is_unanswered_when_scored() -> None:
    vas = get_instrument("vas")
    scored = score_response(vas, posted_answers("x", vas, {"x.mm": ""}), {})
    assert scored.scores == {"score": None}


def _service_message(instrument: Instrument, answers: dict[str, object]) -> str:
    with pytest.raises(AnswerError) as refused:
        score_response(instrument, answers, {})
    return f"SEV-001 BL x: {refused.value}"


def test_the_service_message_lands_beside_its_item_and_keeps_the_values() -> None:
    womac = get_instrument("womac")
    posted = {field_name("w", i): "1" for i in womac.item_ids} | {"w.f3": "9"}
    message = _service_message(womac, posted_answers("w", womac, posted))
    assert item_in_error(womac, message) == "f3"
    values = {i: posted[field_name("w", i)] for i in womac.item_ids}
    form = measure_form("w", "WOMAC", womac, values, message)
    by_item = {f.item: f for f in form.fields}
    assert by_item["f3"].error == message.removeprefix("SEV-001 BL x: ")
    assert "9 is not allowed" in message
    assert [f.item for f in form.fields if f.error] == ["f3"]
    assert by_item["f3"].value == "9"
    assert all(by_item[i].value == "1" for i in womac.item_ids if i != "f3")
    assert form.error is None


def test_a_message_naming_no_item_goes_above_the_form() -> None:
    vas = get_instrument("vas")
    form = measure_form("v", "VAS", vas, {"mm": ""}, "SEV-001 BL v: no item answered; items: mm")
    assert form.error is not None
    assert all(f.error is None for f in form.fields)
    assert item_in_error(vas, "item mm of womac: '1' is not allowed") is None
    assert item_in_error(vas, None) is None
