"""Fixtures the gate's tests share."""

from __future__ import annotations

import pytest

from geogate import Gate
from helpers.paths import POLICIES, ROOT


@pytest.fixture
def shipped(monkeypatch):
    """The shipped policies, loaded from the repository root so paths read ``policies/...``."""
    monkeypatch.chdir(ROOT)
    return Gate.from_path(POLICIES)
