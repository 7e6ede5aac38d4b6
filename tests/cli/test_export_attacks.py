"""
``geogate export --output``: hostile destinations and interrupted writes (a review's findings).

The documented promise: FILE is "replaced whole (written beside it, then
renamed), so a flagd watching it never reads half a file", and exit 3 when
FILE cannot be written.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import subprocess
import sys

import pytest

from geogate.cli import ExitCode
from helpers.paths import POLICIES


@pytest.mark.parametrize("destination", ["", ".", "/"])
def test_an_output_without_a_file_name_is_exit_3_not_a_traceback(shipped_cli, destination):
    """
    ``--output ""`` (an unset variable in a CI script), ``.`` or ``/``:
    ``Path.with_name`` raises ValueError ("has an empty name") before the
    try block, so the command dies with a traceback and exit 1, the code for
    "the policies have errors".
    """
    result = shipped_cli("export", "--format", "flagd", "--output", destination)

    assert result.exit_code in {ExitCode.USAGE, ExitCode.ENVIRONMENT}


@pytest.mark.skipif(not pathlib.Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_standard_output_is_exit_3_not_a_traceback():
    """
    ``geogate export --format flagd > flags.json`` on a full disk: the write
    to standard output raises OSError (ENOSPC) outside any handler, so the
    command exits 1 with a traceback, the code for "the policies have errors",
    and a CI step cannot tell a torn flags.json from a policy error.
    """
    with pathlib.Path("/dev/full").open("w") as full:
        done = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
            [sys.executable, "-c", "from geogate.cli import main; main()", "export",
             "--format", "flagd", "--policies", str(POLICIES)],
            stdout=full, stderr=subprocess.PIPE, text=True, check=False, timeout=120,
        )  # fmt: skip

    assert ExitCode.ENVIRONMENT == done.returncode
    assert "Traceback" not in done.stderr


def test_a_planted_temporary_symlink_does_not_redirect_the_write(shipped_cli, tmp_path):
    """
    The temporary file's name is fixed (``.NAME.tmp`` beside FILE) and opened
    with ``write_text``, which follows a symbolic link: whoever can write the
    directory (a shared deploy folder) plants ``.flags.json.tmp -> victim``,
    and the export overwrites the victim, then renames the link to flags.json.
    """
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    target = tmp_path / "flags.json"
    (tmp_path / ".flags.json.tmp").symlink_to(victim)

    result = shipped_cli("export", "--format", "flagd", "--output", str(target))

    assert ExitCode.OK == result.exit_code
    assert "precious\n" == victim.read_text(encoding="utf-8")
    assert not target.is_symlink()


def test_two_exports_to_one_file_never_publish_a_torn_document(shipped_cli, tmp_path, monkeypatch):
    """
    Two exports of the same FILE (two CI jobs, a cron and a person) share the
    temporary path: the second truncates and rewrites ``.flags.json.tmp``
    while the first renames it into place, so FILE is the second's
    half-written document, and flagd, polling it, reads a torn file.

    Simulated deterministically: the first export's rename happens while a
    second export has written half of the same temporary file.
    """
    target = tmp_path / "flags.json"
    real_replace = pathlib.Path.replace

    def replace_while_another_export_writes(self, destination):
        with (tmp_path / ".flags.json.tmp").open("w", encoding="utf-8") as other:
            other.write('{"$schema":"https://flagd.dev/schema/v0/flags.json","fla')
        return real_replace(self, destination)

    monkeypatch.setattr(pathlib.Path, "replace", replace_while_another_export_writes)
    shipped_cli("export", "--format", "flagd", "--output", str(target))

    json.loads(target.read_text(encoding="utf-8"))


def test_an_interrupted_export_leaves_no_half_written_temporary_file(
    shipped_cli, tmp_path, monkeypatch
):
    """
    SIGTERM or Ctrl-C (KeyboardInterrupt, SystemExit) after the temporary file
    is written and before it is renamed: only OSError is cleaned up, so
    ``.flags.json.tmp`` stays behind next to the file flagd serves (and is the
    file the next export reuses).
    """
    target = tmp_path / "flags.json"

    def interrupted(self, destination):  # noqa: ARG001 (Path.replace's signature)
        raise KeyboardInterrupt

    monkeypatch.setattr(pathlib.Path, "replace", interrupted)
    # click turns it into "Aborted!" and exit 1; either way the write stopped.
    with contextlib.suppress(KeyboardInterrupt):
        shipped_cli("export", "--format", "flagd", "--output", str(target))

    assert [] == list(tmp_path.iterdir())
