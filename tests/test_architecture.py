"""The layer rule of DESIGN.md, enforced by walking every import in src/physiotrial.

core is pure (standard library, pydantic, numpy); store knows SQLAlchemy and nothing above it;
analysis takes DataFrames and never a session; report takes analysis results and never the store;
cli and web call services and never each other.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "physiotrial"

# layer → physiotrial layers it may import (errors and settings are importable by all but core,
# which may import only errors).
ALLOWED: dict[str, set[str]] = {
    "core": {"core", "errors"},
    "store": {"store", "core", "errors", "settings"},
    "analysis": {"analysis", "core", "errors"},
    "report": {"report", "analysis", "core", "errors"},
    "services": {"services", "store", "analysis", "report", "core", "errors", "settings"},
    "cli": {
        "cli",
        "services",
        "simulate",
        "demo",
        "analysis",
        "report",
        "core",
        "errors",
        "settings",
    },
    "web": {"web", "services", "core", "errors", "settings"},
    "simulate": {"simulate", "services", "core", "errors", "settings"},
    "demo": {"demo", "services", "simulate", "analysis", "report", "core", "errors", "settings"},
    "protocols": set(),
    "errors": set(),
    "settings": {"errors"},
    "__init__": set(),
}
CORE_THIRD_PARTY = {"pydantic", "numpy"}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = {_layer(p) for p in _modules()} - set(ALLOWED)
    assert not unknown, f"add these to the layer table in DESIGN.md and here: {unknown}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_what_its_layer_may(path: Path) -> None:
    layer = _layer(path)
    for name in _imports(path):
        top = name.split(".")[0]
        if top == "physiotrial":
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else "__init__"
            assert target in (layer, "__init__") or target in ALLOWED[layer], (
                f"{path.relative_to(PACKAGE)} ({layer}) imports {name}"
            )
        elif layer == "core":
            assert top in STDLIB or top in CORE_THIRD_PARTY, (
                f"core must stay pure; {path.relative_to(PACKAGE)} imports {name}"
            )


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from physiotrial.store import schema\nimport sqlalchemy\n")
    assert _imports(bad) == ["physiotrial.store", "sqlalchemy"]
    assert "store" not in ALLOWED["core"]
