"""
Evaluate policies in an application's own unit tests (run with pytest).

Pin the decisions that matter, on fixed dates, so a policy change that breaks
them fails the build: python -m pytest examples/test_my_policies.py
"""

import datetime as dt
from pathlib import Path

import pytest

from geogate import Gate

POLICIES = Path(__file__).resolve().parent.parent / "policies"
AT = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate.from_path(POLICIES, strict=True)


@pytest.mark.parametrize("country", ["FR", "DE", "IE", "RE", "GP", "AX"])
def test_vision_is_withheld_in_the_eu(gate: Gate, country: str) -> None:
    decision = gate.evaluate("llama-3.2-vision", country=country, at=AT)
    assert (decision.allowed, decision.rule) == (False, "eu-multimodal-withheld")


@pytest.mark.parametrize("country", ["GB", "US", "NO", "CH", "GL", "JE"])
def test_vision_is_offered_outside_the_eu(gate: Gate, country: str) -> None:
    assert gate.is_allowed("llama-3.2-vision", country=country, at=AT)
