"""
Where things are: built from this file, never from the working directory.

The shipped policies are both the README's example and the test suite's main
input; ``tests/data/`` holds inputs as files beside the tests.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BAD",
    "DATA",
    "FACE",
    "FACE_POLICY",
    "GOOD",
    "GOOD_POLICY",
    "POLICIES",
    "POLICYTESTS",
    "ROOT",
]

#: The repository root (the folder holding ``pyproject.toml``).
ROOT = Path(__file__).resolve().parents[2]
#: The shipped example policies, with their own cases in ``policies/tests/``.
POLICIES = ROOT / "policies"
#: Test inputs as files.
DATA = ROOT / "tests" / "data"
#: One policy file per diagnostic (a folder for problems that span files).
BAD = DATA / "bad"
#: Policies that load without a finding.
GOOD = DATA / "good"
#: The good policy file most tests start from.
GOOD_POLICY = GOOD / "policy.yaml"
#: Policy test files, good and bad.
POLICYTESTS = DATA / "policytests"
#: A face-matching policy below the country, with its policy tests.
FACE = DATA / "face"
#: Its policy file, ``face.yaml``.
FACE_POLICY = FACE / "face.yaml"
