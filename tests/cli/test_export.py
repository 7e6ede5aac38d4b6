"""``geogate export --format flagd``: output, options and exit codes."""

from __future__ import annotations

import json

from geogate import Gate
from geogate._export.flagd import export_flagd, render_flagd
from geogate.cli import ExitCode
from helpers.paths import POLICIES


def test_export_prints_the_document(shipped_cli):
    """Standard output is the whole document, exit 0."""
    result = shipped_cli("export", "--format", "flagd")

    assert ExitCode.OK == result.exit_code
    assert render_flagd(export_flagd(Gate.from_path(POLICIES).policy)) == result.output


def test_export_only_the_features_asked_for(shipped_cli):
    """--feature (repeatable) keeps only those flags."""
    result = shipped_cli(
        "export",
        "--format",
        "flagd",
        "--feature",
        "llama-3.2-vision",
        "--feature",
        "llama-3.1-405b",
    )

    assert ["llama-3.1-405b", "llama-3.2-vision"] == list(json.loads(result.output)["flags"])


def test_export_writes_a_file(shipped_cli, tmp_path):
    """--output writes the file and says what it wrote on standard error."""
    target = tmp_path / "flags.json"
    result = shipped_cli("export", "--format", "flagd", "--output", str(target))

    revision = Gate.from_path(POLICIES).revision
    size = len(target.read_bytes())
    assert ExitCode.OK == result.exit_code
    assert f"wrote 5 flag(s) ({size} bytes, revision {revision}) to {target}\n" == result.stderr
    assert [target] == list(tmp_path.iterdir())


def test_export_an_unknown_feature_is_a_usage_error(shipped_cli):
    """A misspelt --feature exits 2 and suggests the id."""
    result = shipped_cli("export", "--format", "flagd", "--feature", "llama-3.2-visoin")

    assert ExitCode.USAGE == result.exit_code
    assert (
        "Error: Invalid value for '--feature': no feature 'llama-3.2-visoin' in the policies; "
        "did you mean 'llama-3.2-vision'?"
    ) in result.output


def test_export_needs_a_format(shipped_cli):
    """--format is required: a later format must not change what a script gets."""
    result = shipped_cli("export")

    assert ExitCode.USAGE == result.exit_code
    assert "Error: Missing option '--format'. Choose from:\n\tflagd" in result.output


def test_export_to_an_unwritable_place_is_an_environment_error(shipped_cli, tmp_path):
    """A FILE in a missing folder exits 3 with the reason, no traceback."""
    target = tmp_path / "missing" / "flags.json"
    result = shipped_cli("export", "--format", "flagd", "--output", str(target))

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert (
        f"geogate: cannot write {str(target)!r}: its folder does not exist; create it or "
        "choose another\n"
    ) == result.stderr


def test_export_of_policies_with_errors_exits_1(cli, tmp_path):
    """Policies that do not load are not exported: the diagnostics and exit 1."""
    (tmp_path / "bad.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - id: r\n        deny: [GER]\n        reason: x\n",
        encoding="utf-8",
    )
    result = cli("export", "--format", "flagd", "--policies", str(tmp_path))

    assert ExitCode.FINDINGS == result.exit_code
    assert "unknown country code 'GER'" in result.stderr
