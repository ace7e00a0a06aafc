"""The command line end to end: exit codes, one-line errors, the commands of the README."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from physiotrial.cli import app
from physiotrial.simulate.files import womac_csv

runner = CliRunner()


def test_protocol_show_prints_the_schedule() -> None:
    result = runner.invoke(app, ["protocol", "show", "popliteus-dn-koa"])
    assert result.exit_code == 0, result.output
    for text in ("Schedule", "vas_max (participant)", "M6", "d180", "Dry needling + exercise"):
        assert text in result.output


def test_protocol_show_json_is_the_validated_protocol() -> None:
    result = runner.invoke(app, ["protocol", "show", "popliteus-dn-koa", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["study"]["registry_id"] == "NCT06816940"
    assert [v["code"] for v in data["visits"]][-1] == "M6"


def test_protocol_validate_reports_every_problem_with_key_paths(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("physiotrial.protocols").joinpath("popliteus-dn-koa.toml").read_text()
    text = text.replace('instrument = "womac"', 'instrument = "womack"')
    text = text.replace("block_sizes = [2, 4]", "block_sizes = [2, 5]")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = runner.invoke(app, ["protocol", "validate", str(bad)])
    assert result.exit_code == 1
    assert "2 problems" in result.output
    assert "measures[womac].instrument: unknown instrument 'womack'" in result.output
    assert "randomisation.block_sizes[1]: 5 is not a multiple of 2" in result.output
    assert "Traceback" not in result.output


def test_protocol_validate_accepts_the_reference() -> None:
    result = runner.invoke(app, ["protocol", "validate", "popliteus-dn-koa"])
    assert result.exit_code == 0
    assert "valid protocol popliteus-dn-koa" in result.output


def test_missing_protocol_file_is_one_line() -> None:
    result = runner.invoke(app, ["protocol", "show", "no-such.toml"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: no-such.toml: no such protocol file")
    assert len(result.output.strip().splitlines()) == 1


def test_score_csv_file_of_1000_rows(tmp_path: Path) -> None:
    answers = tmp_path / "answers.csv"
    answers.write_text(womac_csv(1000, seed=3))
    result = runner.invoke(app, ["score", "womac", str(answers)])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("participant,pain,stiffness,function,total,")
    assert len(lines) == 1001


def test_score_json_from_stdin() -> None:
    result = runner.invoke(app, ["score", "vas"], input='{"mm": 55}')
    assert result.exit_code == 0
    assert json.loads(result.output)["scores"]["score"] == 55


def test_score_wrong_value_is_one_line_and_exit_1(tmp_path: Path) -> None:
    answers = tmp_path / "answers.csv"
    answers.write_text("participant,mm\nP1,40\nP2,140\n")
    result = runner.invoke(app, ["score", "vas", str(answers)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {answers}: row 2, item mm of vas: '140' is not allowed; "
        "allowed: 0 to 100 mm or blank for missing"
    )


def test_score_rejects_unknown_option_and_format() -> None:
    result = runner.invoke(app, ["score", "vas", "--option", "cut=3"], input='{"mm": 5}')
    assert result.exit_code == 1
    assert "has no option 'cut'" in result.output
    result = runner.invoke(app, ["score", "vas", "--format", "xml"], input='{"mm": 5}')
    assert result.exit_code == 1
    assert "--format: 'xml' is not allowed; allowed: json, csv" in result.output


def test_instruments_list_and_show() -> None:
    listed = runner.invoke(app, ["instruments", "list"])
    assert listed.exit_code == 0
    assert "womac" in listed.output
    shown = runner.invoke(app, ["instruments", "show", "womac", "--json"])
    data = json.loads(shown.output)
    assert [i["id"] for i in data["items"]][:3] == ["p1", "p2", "p3"]
    assert data["scores"][6]["mcid"]["value"] == 9.1
    unknown = runner.invoke(app, ["instruments", "show", "wormac"])
    assert unknown.exit_code == 1
    assert "no instrument named 'wormac'" in unknown.output


def test_instruments_show_with_licensed_wording(tmp_path: Path) -> None:
    wording = tmp_path / "wording.toml"
    wording.write_text('[vas]\nmm = "How bad was your worst knee pain this week?"\n')
    shown = runner.invoke(app, ["instruments", "show", "vas", "--wording", str(wording), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["items"][0]["wording"].startswith("How bad")
    wording.write_text('[vas]\ncm = "typo"\n')
    bad = runner.invoke(app, ["instruments", "show", "vas", "--wording", str(wording)])
    assert bad.exit_code == 1
    assert "wording for vas names unknown item cm; items: mm" in bad.output
