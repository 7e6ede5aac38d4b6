"""
``--output FILE`` attacked: modes, long names, SIGTERM mid-write, links planted to pipes.

What a report's reader and a hostile neighbour in its folder can do to it;
``tests/cli/test_output.py`` holds the promises every command keeps.
"""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

from geogate.cli import ExitCode
from helpers.paths import POLICIES

EXPORT = ["export", "--format", "flagd", "--policies", str(POLICIES)]


def test_replacing_a_private_report_keeps_it_private(cli, tmp_path):
    """
    The operator keeps ``report`` at 0600 (it names places and revisions): the
    report that replaces it keeps 0600, as a shell's ``>`` would (it was 0644,
    readable by any local user).
    """
    target = tmp_path / "report"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o600)
    previous = os.umask(0o022)
    try:
        result = cli(*EXPORT, "--output", str(target))
    finally:
        os.umask(previous)

    assert ExitCode.OK == result.exit_code, result.output
    assert 0o600 == stat.S_IMODE(target.stat().st_mode)


def test_a_long_but_valid_file_name_is_written(cli, tmp_path):
    """
    A 250-byte name is a valid file name (``> name`` works): it is written,
    though a temporary ``.NAME.XXXXXXXX.tmp`` beside it would be over 255
    bytes (that was exit 3, "File name too long", after the work).
    """
    target = tmp_path / ("r" * 250)

    result = cli(*EXPORT, "--output", str(target))

    assert ExitCode.OK == result.exit_code, result.output
    assert target.read_text(encoding="utf-8").strip()


def test_sigterm_during_the_write_leaves_no_temporary_file(tmp_path):
    """
    A ``kill`` (a CI timeout, systemd stopping a job) during the write leaves
    no ``.report.XXXX.tmp`` behind: SIGTERM raises SystemExit while the
    temporary file exists, so it is removed.
    """
    target = tmp_path / "report"
    script = textwrap.dedent(f"""
        import os, time
        import geogate.cli._output as output
        real = os.fsync
        def slow(descriptor):
            time.sleep(30)
            real(descriptor)
        output.os.fsync = slow
        output.write_output("report\\n", {str(target)!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", script])  # noqa: S603 (this interpreter)
    try:
        deadline = time.monotonic() + 20
        while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert [] == [p.name for p in tmp_path.iterdir()]


def test_a_link_planted_at_the_output_to_a_pipe_is_replaced_not_followed(cli, tmp_path):
    """
    Whoever can write the report's folder plants ``report -> their FIFO``: the
    link is replaced, and the planter's pipe gets nothing (following it gave
    them the report, or blocked the command forever with no reader).
    """
    fifo = tmp_path / "planted-fifo"
    os.mkfifo(fifo)
    target = tmp_path / "report"
    target.symlink_to(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the planter, listening
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 1 << 20)  # room for the whole report
    try:
        result = cli(*EXPORT, "--output", str(target))
        try:
            stolen = os.read(reader, 1 << 20)
        except BlockingIOError:
            stolen = b""
    finally:
        os.close(reader)

    assert ExitCode.OK == result.exit_code, result.output
    assert (False, b"") == (target.is_symlink(), stolen)
