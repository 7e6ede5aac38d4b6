"""The examples run, and say what docs/getting-started.md says they say."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.paths import ROOT

pytestmark = pytest.mark.slow  # each example runs in a fresh interpreter

EXAMPLES = ROOT / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and files)
        [sys.executable, *args], capture_output=True, text=True, check=False, cwd=ROOT
    )


def test_quickstart():
    """The quick-start example prints the decisions the documentation quotes."""
    result = run(str(EXAMPLES / "quickstart.py"))

    assert 0 == result.returncode, result.stderr
    lines = result.stdout.splitlines()
    assert "False eu-multimodal-withheld" == lines[0]
    assert lines[1].startswith("llama-3.2-vision is denied in FR (France, in the EU) by rule ")
    assert ["GB True", "GL True", "RE False", "True"] == lines[2:6]
    assert ["2025-03-30 False", "2025-03-31 True"] == lines[-2:]


def test_request_handler():
    """The request-handler example falls back to the text model in the EU."""
    result = run(str(EXAMPLES / "request_handler.py"))

    assert 0 == result.returncode, result.stderr
    assert "DE -> llama-3.1-405b" in result.stdout.splitlines()
    assert "GB -> llama-3.2-vision" in result.stdout.splitlines()
    assert "None -> none" in result.stdout.splitlines()


def test_policy_unit_tests_example():
    """The example of policies pinned in an application's own tests passes."""
    result = run(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES / "test_my_policies.py")
    )

    assert 0 == result.returncode, result.stdout + result.stderr
    assert "12 passed" in result.stdout
