"""Every command the README shows exists and has help text (docs tested like code)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from physiotrial.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(
    {
        tuple(shlex.split(line.split("#")[0].split("|")[-1])[1:3])
        for line in README.splitlines()
        if re.match(r"\s+(.*\| )?physiotrial ", line)
    }
)


def test_readme_shows_the_two_commands_a_newcomer_needs() -> None:
    assert "make demo" in README
    assert "make test" in README
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_readme_command_has_help(words: tuple[str, ...]) -> None:
    path = [w for w in words if not w.startswith("-") and not w.endswith((".csv", ".json"))]
    groups = ("protocol", "instruments", "site", "user", "audit", "randomisation")
    path = path[:2] if path and path[0] in groups else path[:1]
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (words, result.output)
    assert "Usage" in result.output


def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Python block runs as written, from the repository root."""
    block = README.split("```python\n", 1)[1].split("```", 1)[0]
    root = Path(__file__).resolve().parents[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "average" in printed
    assert "converged" in printed
