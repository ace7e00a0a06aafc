"""The catalogue of instruments physiotrial ships, found by name.

Every module in :mod:`physiotrial.core.instruments.library` exports ``INSTRUMENTS``, a tuple of
:class:`Instrument`; the catalogue gathers them, so adding an instrument is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from physiotrial.core.instruments import library
from physiotrial.core.instruments.spec import Instrument
from physiotrial.errors import InstrumentError


@cache
def catalogue() -> dict[str, Instrument]:
    """Every shipped instrument by name, in a stable (alphabetical) order."""
    found: dict[str, Instrument] = {}
    for module_info in sorted(pkgutil.iter_modules(library.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{library.__name__}.{module_info.name}")
        for instrument in getattr(module, "INSTRUMENTS", ()):
            if instrument.name in found:
                raise RuntimeError(f"instrument {instrument.name} is defined twice")
            found[instrument.name] = instrument
    return dict(sorted(found.items()))


def get_instrument(name: str) -> Instrument:
    """The instrument called ``name``; the error lists the names that exist."""
    instruments = catalogue()
    try:
        return instruments[name]
    except KeyError:
        known = ", ".join(instruments)
        raise InstrumentError(f"no instrument named {name!r}; known instruments: {known}") from None
