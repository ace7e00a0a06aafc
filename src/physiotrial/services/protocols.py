"""Finding and reading protocols: a built-in name or a path to a TOML file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from physiotrial.core.care_plan import parse_study_file
from physiotrial.core.protocol import Protocol
from physiotrial.errors import InputFileError

_BUILTIN = "physiotrial.protocols"


def builtin_protocols() -> list[str]:
    """Names of the protocols shipped with physiotrial."""
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in resources.files(_BUILTIN).iterdir()
        if entry.name.endswith(".toml")
    )


def protocol_text(name_or_path: str) -> tuple[str, str]:
    """The TOML text of a built-in protocol or a file, and the name to show in messages."""
    if name_or_path in builtin_protocols():
        resource = resources.files(_BUILTIN).joinpath(f"{name_or_path}.toml")
        return resource.read_text(encoding="utf-8"), name_or_path
    path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(builtin_protocols())
        raise InputFileError(
            f"{name_or_path}: no such protocol file, and not a built-in protocol ({known})"
        )
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot be read: {error}") from None


def load_protocol(name_or_path: str) -> Protocol:
    """A validated protocol; :class:`ProtocolError` lists every problem in the file."""
    text, source = protocol_text(name_or_path)
    return parse_study_file(text, source)
