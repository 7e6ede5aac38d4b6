"""Tamper-evidence: ``expect_revision`` and ``--expect-revision`` refuse any other content."""

from __future__ import annotations

import pytest

from geogate import Gate, GeogateError, RevisionMismatchError, check_paths
from geogate.cli import ExitCode

REVIEWED = """\
features:
  vision:
    default: allow
    rules:
      - id: eu
        deny: [EU]
        reason: Withheld in the EU.
"""
#: The same file after someone removed France from the denial: one byte away.
TAMPERED = REVIEWED.replace("deny: [EU]", "deny: [DE]")
OTHER = "sha256:" + "0" * 64


@pytest.fixture
def policies(tmp_path):
    """A directory with one reviewed policy file."""
    (tmp_path / "vision.yaml").write_text(REVIEWED, encoding="utf-8")
    return tmp_path


def revision_of(path) -> str:
    policy, _ = check_paths([path])
    assert policy is not None
    return policy.revision


def test_correct_revision_loads(policies):
    """The reviewed revision loads, and the gate remembers it."""
    reviewed = revision_of(policies)
    with Gate.from_path(policies, expect_revision=reviewed) as gate:
        assert reviewed == gate.revision
        assert reviewed == gate.expected_revision
        assert not gate.is_allowed("vision", country="FR")


def test_tampered_file_is_refused(policies):
    """A file changed after review raises RevisionMismatchError naming both revisions."""
    reviewed = revision_of(policies)
    (policies / "vision.yaml").write_text(TAMPERED, encoding="utf-8")
    tampered = revision_of(policies)
    with pytest.raises(RevisionMismatchError) as caught:
        Gate.from_path(policies, expect_revision=reviewed)
    assert reviewed == caught.value.expected
    assert tampered == caught.value.actual
    assert (
        f"the policies at {str(policies)!r} have revision {tampered!r}, but {reviewed!r} was "
        "expected; nothing was loaded. The files differ from the reviewed policy set: deploy "
        "the reviewed files, or, if this change was reviewed, expect its revision "
        "(`geogate check` prints it)"
    ) == str(caught.value)
    assert isinstance(caught.value, GeogateError)


def test_added_file_is_refused(policies):
    """An extra file in the policy directory changes the revision too."""
    reviewed = revision_of(policies)
    (policies / "extra.yaml").write_text("features: {}\n", encoding="utf-8")
    with pytest.raises(RevisionMismatchError):
        Gate.from_path(policies, expect_revision=reviewed)


@pytest.mark.parametrize("value", ["abc", "sha256:xyz", "md5:" + "0" * 64, "sha256:" + "0" * 63])
def test_malformed_revision_is_a_value_error(policies, value):
    """A malformed expect_revision is a programmer error, raised before reading."""
    with pytest.raises(ValueError, match="expect_revision must be 'sha256:' followed by 64"):
        Gate.from_path(policies, expect_revision=value)


def test_revision_is_normalised(policies):
    """Upper-case hex and surrounding blanks (as pasted) are accepted."""
    reviewed = revision_of(policies)
    upper = " sha256:" + reviewed.removeprefix("sha256:").upper() + "\n"
    with Gate.from_path(policies, expect_revision=upper) as gate:
        assert reviewed == gate.revision


def test_reload_refuses_a_change(policies):
    """A reload to other content keeps the reviewed policies and reports revision-mismatch."""
    reviewed = revision_of(policies)
    results = []
    with Gate.from_path(policies, expect_revision=reviewed, on_reload=results.append) as gate:
        (policies / "vision.yaml").write_text(TAMPERED, encoding="utf-8")
        result = gate.reload()
        assert not result.ok
        assert reviewed == result.revision
        assert not result.changed
        assert ["revision-mismatch"] == [d.code for d in result.errors]
        assert [result] == results
        assert reviewed == gate.revision
        assert not gate.is_allowed("vision", country="FR")
        # Putting the reviewed bytes back is accepted (and changes nothing).
        (policies / "vision.yaml").write_text(REVIEWED, encoding="utf-8")
        assert gate.reload().ok
        assert reviewed == gate.revision


def test_reload_without_expectation_still_swaps(policies):
    """Without expect_revision, reload behaves as before."""
    with Gate.from_path(policies) as gate:
        (policies / "vision.yaml").write_text(TAMPERED, encoding="utf-8")
        assert gate.reload().changed
        assert gate.is_allowed("vision", country="FR")


def _tamper(policies) -> tuple[str, str]:
    reviewed = revision_of(policies)
    (policies / "vision.yaml").write_text(TAMPERED, encoding="utf-8")
    return reviewed, revision_of(policies)


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "vision", "--country", "FR"],
        ["explain", "vision", "--country", "FR"],
        ["audit"],
    ],
)
def test_cli_refuses_tampered_files(cli, policies, command):
    """eval, explain and audit exit 1 with a revision-mismatch error and print no answer."""
    reviewed, tampered = _tamper(policies)
    result = cli(*command, "--policies", str(policies), "--expect-revision", reviewed)
    assert ExitCode.FINDINGS == result.exit_code
    assert (
        f"{policies}:1:1: error: the policies have revision {tampered!r}, not the expected "
        f"{reviewed!r} [revision-mismatch]"
    ) in result.output
    assert "ALLOWED" not in result.output
    assert f"the policies at {str(policies)!r} did not load (1 error(s))" in result.output


@pytest.mark.parametrize(
    "command",
    [["eval", "vision", "--country", "FR"], ["explain", "vision", "--country", "FR"], ["audit"]],
)
def test_cli_accepts_reviewed_files(cli, policies, command):
    """The reviewed revision is accepted."""
    result = cli(*command, "--policies", str(policies), "--expect-revision", revision_of(policies))
    assert ExitCode.OK == result.exit_code, result.output


def test_cli_revision_from_environment(cli, policies, monkeypatch):
    """$GEOGATE_EXPECT_REVISION is the default of --expect-revision."""
    reviewed, _ = _tamper(policies)
    monkeypatch.setenv("GEOGATE_EXPECT_REVISION", reviewed)
    result = cli("eval", "vision", "--country", "FR", "--policies", str(policies))
    assert ExitCode.FINDINGS == result.exit_code
    assert "[revision-mismatch]" in result.output


def test_cli_malformed_revision_is_a_usage_error(cli, policies):
    """A malformed --expect-revision exits 2 and says what a revision looks like."""
    result = cli("eval", "vision", "--policies", str(policies), "--expect-revision", "abc")
    assert ExitCode.USAGE == result.exit_code
    assert "--expect-revision must be 'sha256:' followed by 64 hex digits" in result.output


def test_check_exits_1_on_mismatch(cli, policies):
    """`geogate check --expect-revision` reports the mismatch as an error and exits 1."""
    reviewed, tampered = _tamper(policies)
    result = cli("check", str(policies), "--expect-revision", reviewed)
    assert ExitCode.FINDINGS == result.exit_code
    assert "[revision-mismatch]" in result.output
    assert f"1 error(s), 2 warning(s); revision {tampered}" in result.output
    assert ExitCode.OK == cli("check", str(policies), "--expect-revision", tampered).exit_code


def test_check_json_reports_mismatch(cli, policies):
    """The JSON output carries the mismatch as a diagnostic, with the actual revision."""
    reviewed, tampered = _tamper(policies)
    result = cli("check", str(policies), "--format", "json", "--expect-revision", reviewed)
    assert ExitCode.FINDINGS == result.exit_code
    assert '"code": "revision-mismatch"' in result.output
    assert f'"revision": "{tampered}"' in result.output


def test_test_command_refuses_mismatch(cli, policies):
    """`geogate test --expect-revision` exits 1 before running any case."""
    reviewed, _ = _tamper(policies)
    (policies / "tests").mkdir()
    result = cli("test", "--policies", str(policies), "--expect-revision", reviewed)
    assert ExitCode.FINDINGS == result.exit_code
    assert "[revision-mismatch]" in result.output
    assert "are not the expected revision" in result.output


def test_serve_refuses_mismatch(cli, policies):
    """`geogate serve --expect-revision` exits 1 before listening."""
    pytest.importorskip("uvicorn", reason="geogate serve needs the serve extra (uvicorn)")
    reviewed, _ = _tamper(policies)
    result = cli("serve", "--policies", str(policies), "--expect-revision", reviewed)
    assert ExitCode.FINDINGS == result.exit_code
    assert "[revision-mismatch]" in result.output
