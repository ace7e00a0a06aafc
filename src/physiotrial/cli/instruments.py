"""``physiotrial instruments list | show`` and ``physiotrial score``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from physiotrial.cli.errors import fail, reports_errors
from physiotrial.cli.render import render_instrument, render_instrument_list
from physiotrial.errors import InputFileError
from physiotrial.services.instruments import find_instrument, list_instruments, load_wording
from physiotrial.services.scoring import OutputFormat, render, score_text

app = typer.Typer(help="The outcome instruments physiotrial can capture and score.")


@app.command("list")
def list_command() -> None:
    """List every instrument with its version, items and score keys."""
    render_instrument_list(list_instruments(), Console(width=140))


@app.command("show")
@reports_errors
def show(
    name: str = typer.Argument(..., help="Instrument name (see `physiotrial instruments list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the specification as JSON."),
    wording: Path | None = typer.Option(
        None, help="Your licensed item wording (TOML or JSON: item id = text)."
    ),
) -> None:
    """Items in order with allowed values, scores with range and MCID, rules and sources."""
    instrument = find_instrument(name)
    texts = load_wording(instrument, wording) if wording else None
    if as_json:
        data = instrument.model_dump(mode="json")
        if texts:
            for item in data["items"]:
                item["wording"] = texts[item["id"]]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    render_instrument(instrument, Console(width=140), texts)


@reports_errors
def score(
    name: str = typer.Argument(..., help="Instrument name."),
    file: Path | None = typer.Argument(
        None, help="JSON object, JSON list or CSV of answers; stdin when omitted or '-'."
    ),
    output_format: str = typer.Option(
        "", "--format", help="json or csv (default: csv for CSV input, else json)."
    ),
    option: list[str] = typer.Option(
        [], "--option", help="Instrument option NAME=VALUE, e.g. cutoff=10 (repeatable)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Score answers from a JSON object (item id → answer) or a CSV (a response per row).

    CSV columns named after items are scored; other columns (participant id, visit) pass through.
    """
    if file is None or str(file) == "-":
        text, source = sys.stdin.read(), "stdin"
    else:
        try:
            text, source = file.read_text(encoding="utf-8-sig"), str(file)
        except (OSError, UnicodeDecodeError) as error:
            raise InputFileError(f"{file}: cannot be read: {error}") from None
    scored = score_text(name, text, source, _options(option))
    fmt = output_format or ("json" if text.lstrip()[:1] in "{[" else "csv")
    if fmt not in ("json", "csv"):
        raise fail(f"--format: {fmt!r} is not allowed; allowed: json, csv")
    rendered = render(scored, _as_format(fmt))
    if output is None:
        typer.echo(rendered.rstrip("\n"))
    else:
        output.write_text(rendered, encoding="utf-8")


def _as_format(fmt: str) -> OutputFormat:
    return "csv" if fmt == "csv" else "json"


def _options(pairs: list[str]) -> dict[str, float | int | str | bool]:
    options: dict[str, float | int | str | bool] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise fail(f"--option: {pair!r} is not NAME=VALUE")
        options[name.strip()] = _option_value(raw.strip())
    return options


def _option_value(raw: str) -> float | int | str | bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw
