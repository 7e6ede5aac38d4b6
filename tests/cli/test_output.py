"""
``--output FILE`` of every command that has one: replaced whole, never through a planted link.

``audit``, ``export``, ``logs summary`` and ``logs verify`` write a report or
a document that someone else reads (a ticket, a flagd watching the file, a CI
artifact). Each writes FILE beside itself and renames it into place; a
symbolic link at FILE is replaced, not followed; a pipe or a character
device (``/dev/stdout``, a FIFO) is written to as a shell's ``>`` would; and
a file that cannot be written is exit 3 with one line, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import stat
import threading

import pytest

from geogate import Gate
from geogate.cli import ExitCode
from helpers.decisionlogs import Request, log_lines, write_jsonl
from helpers.paths import POLICIES

pytest.importorskip("duckdb", reason="geogate logs needs DuckDB: the logs extra")


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    gate = Gate.from_path(POLICIES)
    calls = [Request("llama-3.2-vision", {"country": c}, dt.date(2026, 5, 9)) for c in ("FR", "GB")]
    lines = [line for line, _ in log_lines(gate, calls)]
    gate.close()
    return write_jsonl(tmp_path_factory.mktemp("logs") / "d.jsonl", lines)


#: Each command with an --output, its arguments ("{log}": a decision log).
COMMANDS = {
    "audit": ["audit"],
    "audit --format html": ["audit", "--format", "html"],
    "export": ["export", "--format", "flagd"],
    "logs summary": ["logs", "summary", "{log}"],
    "logs verify": ["logs", "verify", "{log}", "--policies", str(POLICIES)],
}


def _arguments(command, log):
    return [str(log) if a == "{log}" else a for a in COMMANDS[command]]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_planted_link_at_the_output_is_replaced_not_followed(shipped_cli, log, tmp_path, command):
    """
    Whoever can write the folder a report goes to plants ``report -> victim``:
    the report replaces the link, and the victim keeps its content.
    """
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    target = tmp_path / "report"
    target.symlink_to(victim)

    result = shipped_cli(*_arguments(command, log), "--output", str(target))

    assert ExitCode.OK == result.exit_code, result.output
    assert ("precious\n", False) == (victim.read_text(encoding="utf-8"), target.is_symlink())
    assert target.read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_pipe_is_written_to_and_stays_a_pipe(shipped_cli, log, tmp_path, command):
    """``--output`` naming a FIFO (as ``/dev/stdout`` names a pipe) writes into it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()

    result = shipped_cli(*_arguments(command, log), "--output", str(fifo))
    reader.join(timeout=30)

    assert ExitCode.OK == result.exit_code, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert b"\x1b[" not in received[0]
    assert received[0].strip()


@pytest.mark.skipif(not pathlib.Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_full_device_is_exit_3_with_a_message(shipped_cli, log, tmp_path, command):
    """A write that fails (here ENOSPC, through a link to ``/dev/full``): exit 3, one line."""
    target = tmp_path / "report"
    target.symlink_to("/dev/full")

    result = shipped_cli(*_arguments(command, log), "--output", str(target))

    assert ExitCode.ENVIRONMENT == result.exit_code, result.output
    assert "No space left on device" in result.output
    assert stat.S_ISCHR(pathlib.Path("/dev/full").stat().st_mode)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_folder_or_no_name_is_refused_and_nothing_is_left_behind(
    shipped_cli, log, tmp_path, command
):
    """``--output`` naming a folder, or no file at all: an error, and no temporary file."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for destination in (str(folder), ""):
        result = shipped_cli(*_arguments(command, log), "--output", destination)
        assert result.exit_code in {ExitCode.USAGE, ExitCode.ENVIRONMENT}, result.output
    assert [folder] == list(tmp_path.iterdir())
