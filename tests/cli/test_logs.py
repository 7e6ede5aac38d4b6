"""``geogate logs summary``: formats, privacy, exit codes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from geogate import Gate
from geogate.cli import ExitCode
from helpers.decisionlogs import Request, log_lines, write_jsonl
from helpers.paths import POLICIES

DAY = dt.date(2026, 5, 9)


@pytest.fixture
def log(tmp_path):
    gate = Gate.from_path(POLICIES)
    calls = [
        Request("llama-3.2-vision", {"country": c}, DAY, "81.2.69.160")
        for c in ("FR", "GB", "US", "XX")
    ]
    lines = [line for line, _ in log_lines(gate, calls)]
    return write_jsonl(tmp_path / "decisions.jsonl", lines, torn=lines[0][:50])


def test_table_names_the_figures_and_the_damage(cli, log):
    """The table: totals, the breakdowns, and the torn line at file:line:col; exit 0."""
    result = cli("logs", "summary", str(log))

    assert ExitCode.OK == result.exit_code
    lines = result.stdout.splitlines()
    assert "1 file(s), 5 line(s), 1 damaged (skipped), 4 decision(s), by day" == lines[0]
    assert (
        "llama-3.2-vision: 4 decisions, 2 allowed (50.0%), 2 denied; unknown location 25.0%"
        in lines
    )
    assert f"  {log}:5:" in result.stdout
    assert result.stderr.startswith(f"geogate: 1 damaged line(s) skipped; the first: {log}:5:")


def test_json_and_csv_hold_the_same_figures(cli, log):
    """JSON for tools, CSV for spreadsheets: the same totals."""
    document = json.loads(cli("logs", "summary", str(log), "--format", "json").stdout)
    table = list(
        csv.DictReader(io.StringIO(cli("logs", "summary", str(log), "--format", "csv").stdout))
    )

    total = document["features"]["llama-3.2-vision"]["total"]
    assert (4, 2, 2, 1) == (
        total["decisions"],
        total["allowed"],
        total["denied"],
        total["unknown_location"],
    )
    assert ("geogate.logs.summary/1", 1, 5) == (
        document["schema"],
        document["damaged"],
        document["damage"][0]["line"],
    )
    first = table[0]
    assert ("llama-3.2-vision", "total", "4", "2") == (
        first["feature"],
        first["dimension"],
        first["decisions"],
        first["allowed"],
    )
    assert {"period", "jurisdiction", "place", "location_source", "outcome", "revision"} <= {
        row["dimension"] for row in table
    }


@pytest.mark.parametrize("output", ["table", "json", "csv", "markdown", "html"])
def test_no_ip_address_unless_asked(cli, log, output):
    """Addresses are personal data: no format shows one without --show-ip."""
    plain = cli("logs", "summary", str(log), "--format", output).stdout
    shown = cli("logs", "summary", str(log), "--format", output, "--show-ip").stdout

    assert "81.2.69" not in plain
    if output in {"table", "json", "html"}:
        assert "81.2.69.0/24" in shown


def test_output_file(cli, log, tmp_path):
    """--output writes the file; the damage note still goes to standard error."""
    target = tmp_path / "summary.md"
    result = cli("logs", "summary", str(log), "--format", "markdown", "--output", str(target))

    assert ExitCode.OK == result.exit_code
    assert "" == result.stdout
    assert target.read_text(encoding="utf-8").startswith("# Decisions served\n")


def test_html_page(cli, log, tmp_path):
    """--format html writes one page: the feature's section, its map, the torn line."""
    target = tmp_path / "summary.html"
    result = cli("logs", "summary", str(log), "--format", "html", "--output", str(target))

    page = target.read_text(encoding="utf-8")
    assert ExitCode.OK == result.exit_code
    assert page.startswith("<!DOCTYPE html>\n")
    assert page.endswith("</html>\n")
    assert 'data-feature="llama-3.2-vision"' in page
    assert 'data-country="FR" data-share="none"' in page
    assert f"<code>{log}:5:" in page


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["missing.jsonl"], ExitCode.ENVIRONMENT, "geogate: missing.jsonl: no such file or folder"),
        (["LOG", "--from", "2026-05-10", "--to", "2026-05-09"], ExitCode.USAGE, "is after --to"),
        (["LOG", "--from", "yesterday"], ExitCode.USAGE, "--from"),
        (["LOG", "--by", "year"], ExitCode.USAGE, "'year' is not one of"),
        ([], ExitCode.USAGE, "Missing argument 'LOG...'"),
    ],
)
def test_mistakes_are_said_plainly(cli, log, monkeypatch, arguments, code, message):
    """Usage errors exit 2, unreadable logs 3, each with one line saying what is wrong."""
    monkeypatch.chdir(log.parent)
    arguments = [str(log) if a == "LOG" else a for a in arguments]

    result = cli("logs", "summary", *arguments)

    assert (code, True) == (result.exit_code, message in result.output), result.output
    assert "Traceback" not in result.output
