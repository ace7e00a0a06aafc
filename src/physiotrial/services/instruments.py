"""Looking up instruments and loading a team's licensed wording from a local file."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from physiotrial.core.instruments import Instrument, catalogue, get_instrument
from physiotrial.core.instruments.wording import item_wording
from physiotrial.errors import InputFileError


def list_instruments() -> list[Instrument]:
    """Every shipped instrument, by name."""
    return list(catalogue().values())


def find_instrument(name: str) -> Instrument:
    """One instrument; the error lists the names that exist."""
    return get_instrument(name)


def load_wording(instrument: Instrument, path: Path) -> dict[str, str]:
    """Item id → licensed text from a TOML or JSON file: either a flat table of item ids, or a
    table per instrument name (``[womac]``) so one file can hold several instruments."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot be read: {error}") from None
    try:
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputFileError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'TOML'}: {error}"
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected a table of item id → text")
    table = data.get(instrument.name, data)
    if not isinstance(table, dict):
        raise InputFileError(f"{path}: [{instrument.name}] must be a table of item id → text")
    return item_wording(instrument, table)
