"""Licensed item wording, loaded by a team that holds the licence; never shipped with physiotrial.

A wording file maps item ids to the exact text of the licensed form, per instrument. Keeping the
wording outside the package lets physiotrial ship the scoring rules of WOMAC, KOOS, PCS and the
others without reproducing copyrighted text (instruments.md, "Licence" of each instrument).
"""

from __future__ import annotations

from collections.abc import Mapping

from physiotrial.core.instruments.spec import Instrument
from physiotrial.errors import InstrumentError


def item_wording(instrument: Instrument, wording: Mapping[str, object]) -> dict[str, str]:
    """Check a wording table (item id → text) against the instrument and return it as text.

    Unknown item ids are an error (a typo would silently leave an item without its text); items
    the table leaves out keep their construct label.
    """
    unknown = sorted(set(wording) - set(instrument.item_ids))
    if unknown:
        raise InstrumentError(
            f"wording for {instrument.name} names unknown item {', '.join(unknown)}; "
            f"items: {', '.join(instrument.item_ids)}"
        )
    not_text = sorted(k for k, v in wording.items() if not isinstance(v, str) or not v.strip())
    if not_text:
        raise InstrumentError(
            f"wording for {instrument.name}: item {', '.join(not_text)} must be non-empty text"
        )
    return {item.id: str(wording.get(item.id, item.label)) for item in instrument.items}
