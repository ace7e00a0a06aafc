"""Capture forms built from instrument specifications, and posted values read back as answers.

Pure: no request, no store. The web layer asks :func:`measure_form` for the fields of one
measure (one field per item of its instrument, ``core.instruments.spec``), renders them, and
hands what the browser posts to :func:`posted_answers`, whose result goes unchanged to
``services.capture.record`` (or ``correct``), which validates and scores. Validation is the
service's alone: this module only turns text into the codes and numbers the service expects and
leaves anything else as text, so the service names the item and the value it refuses.

The widget follows the item's response type, never the instrument's name:

- likert, choice and yes/no items are radio groups of their coded answers (no default);
- a bounded, non-integer numeric item (a 100 mm VAS, a 0–100 rating) is a slider, the
  participant's mark on the line (Huskisson 1974, "Measurement of pain", Lancet 2:1127). A
  slider always has a position, so it carries no name: the answer is a hidden field that the
  page's script fills only when the slider is moved, and an untouched slider posts a blank,
  which is "unanswered" (without script, a number box takes its place);
- an integer numeric item with at most :data:`MAX_RADIOS` values (an NRS 0–10, a 15-point GRC)
  is a row of radios;
- any other number or a measurement (seconds, metres, newtons, the dynamometer's lever arm in
  metres) is a number box with its unit, its range and whole-number step when the spec says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from physiotrial.core.instruments.spec import Instrument, Item, ResponseType

Widget = Literal["radios", "slider", "scale", "number"]
MAX_RADIOS = 21
"""Largest count of whole-number values shown as radios rather than a number box."""
_ITEM_IN_MESSAGE = re.compile(r"\bitem (\S+) of (\S+):")


@dataclass(frozen=True)
class Option:
    """One radio of a field: the code posted and its label."""

    value: str
    label: str


@dataclass(frozen=True)
class FormField:
    """One item as an input: ``name`` is what the browser posts (``measure.item``)."""

    item: str
    name: str
    label: str
    widget: Widget
    options: tuple[Option, ...]
    minimum: float | None
    maximum: float | None
    step: str
    unit: str | None
    required: bool
    allowed: str
    value: str = ""
    error: str | None = None

    @property
    def id(self) -> str:
        """An HTML id for the input (``.`` is legal but awkward in CSS selectors)."""
        return "f-" + self.name.replace(".", "-")


@dataclass(frozen=True)
class MeasureForm:
    """The form of one measure at one visit."""

    key: str
    title: str
    instrument: str
    fields: tuple[FormField, ...]
    error: str | None = None


def field_name(measure: str, item: str) -> str:
    return f"{measure}.{item}"


def widget_of(item: Item) -> Widget:
    """The input an item is shown with (the module docstring gives the rule)."""
    if item.choices or item.response in (ResponseType.LIKERT, ResponseType.YES_NO):
        return "radios"
    bounded = item.minimum is not None and item.maximum is not None
    if item.response is ResponseType.NUMERIC and bounded:
        assert item.minimum is not None
        assert item.maximum is not None
        if not item.integer:
            return "slider"
        if item.maximum - item.minimum + 1 <= MAX_RADIOS:
            return "scale"
    return "number"


def _options(item: Item) -> tuple[Option, ...]:
    if item.choices:
        return tuple(Option(str(c.code), c.label) for c in item.choices)
    if item.response is ResponseType.YES_NO:
        return (Option("1", "yes"), Option("0", "no"))
    if widget_of(item) == "scale":
        assert item.minimum is not None
        assert item.maximum is not None
        low, high = int(item.minimum), int(item.maximum)
        return tuple(Option(str(v), str(v)) for v in range(low, high + 1))
    return ()


def _field(measure: str, item: Item, value: str, error: str | None) -> FormField:
    widget = widget_of(item)
    options = _options(item)
    if widget == "radios" and item.response is ResponseType.YES_NO:
        options = tuple(sorted(options, key=lambda o: o.value, reverse=True))  # yes first
    return FormField(
        item=item.id,
        name=field_name(measure, item.id),
        label=item.label,
        widget=widget,
        options=options,
        minimum=item.minimum,
        maximum=item.maximum,
        step="1" if item.integer else "any",
        unit=item.unit,
        required=item.required,
        allowed=item.allowed(),
        value=value,
        error=error,
    )


def measure_form(
    measure: str,
    title: str,
    instrument: Instrument,
    values: Mapping[str, object] | None = None,
    error: str | None = None,
) -> MeasureForm:
    """The form of ``measure`` (instrument ``instrument``): ``values`` by item id (what was
    posted, or the recorded answers), and the service's ``error``, shown beside the item it
    names (from ``item ...`` on: the field is already the participant's, visit's and measure's)
    or, when it names none, above the form."""
    given = values or {}
    where = item_in_error(instrument, error)
    beside = error[error.index(f"item {where} of ") :] if error and where else None
    fields = tuple(
        _field(measure, item, shown_value(given.get(item.id)), beside if item.id == where else None)
        for item in instrument.items
    )
    return MeasureForm(measure, title, instrument.name, fields, None if where else error)


def shown_value(value: object) -> str:
    """A posted or recorded answer as the text an input holds ('' for unanswered)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value).strip()


def item_in_error(instrument: Instrument, message: str | None) -> str | None:
    """The item of ``instrument`` a services error names (``item mm of vas: ...``), if any."""
    if not message:
        return None
    for found in _ITEM_IN_MESSAGE.finditer(message):
        if found.group(2) == instrument.name and found.group(1) in instrument.item_ids:
            return found.group(1)
    return None


def posted_values(
    measure: str, instrument: Instrument, posted: Mapping[str, str]
) -> dict[str, str]:
    """The posted text of each item of ``measure`` (blank where nothing was posted)."""
    return {
        item.id: str(posted.get(field_name(measure, item.id), "")).strip()
        for item in instrument.items
    }


def posted_answers(
    measure: str, instrument: Instrument, posted: Mapping[str, str]
) -> dict[str, object]:
    """What ``services.capture.record`` expects: every item, None where unanswered (blank),
    a code or number where the text is one, else the text itself for the service to refuse."""
    texts = posted_values(measure, instrument, posted)
    return {item: _answer(text) for item, text in texts.items()}


def _answer(text: str) -> object:
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if number.is_integer() and "." not in text else number
