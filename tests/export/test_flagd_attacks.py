"""
Hostile inputs to `geogate export --format flagd`'s targeting (a review's findings).

Every test here asks flagd's own in-process evaluator (`helpers.flagd.FlagdFile`)
with the caller's default ``True``, the worst a careless caller can pass: an
error inside the targeting makes the SDK return that default, so a request
geogate denies would be allowed. The document must deny instead.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from geogate import Gate
from helpers.flagd import FlagdFile
from helpers.paths import FACE_POLICY

#: Noon on a day after every rule of face.yaml opened.
NOON = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def face():
    return Gate.from_path(FACE_POLICY)


@pytest.fixture(scope="module")
def face_flagd(face, tmp_path_factory):
    served = FlagdFile(face.policy, tmp_path_factory.mktemp("face-attacks"))
    yield served
    served.close()


def ask(flagd, attributes):
    with flagd.at(int(NOON.timestamp())):
        return flagd.details("face-match", attributes)


@pytest.mark.parametrize("attribute", ["country", "subdivision", "domicile"])
def test_a_deeply_nested_list_is_denied_not_an_evaluation_error(
    face, face_flagd, attribute, caplog
):
    """
    A list nested 400 deep (what ``json.loads`` gives for a request body's
    ``[[[...]]]``) is a wrong type: geogate denies it as invalid. The document's
    type check (`_typed`) is ``cat(value) === value``, and json-logic's ``cat``
    stringifies a list recursively (``to_string``), so flagd's evaluator raises
    RecursionError inside the targeting and the SDK returns the caller's
    default: ``True``, an allow.
    """
    depth = 400
    value = json.loads("[" * depth + "]" * depth)
    caplog.set_level(logging.CRITICAL)

    decision = face.evaluate("face-match", at=NOON.date(), **{attribute: value})
    details = ask(face_flagd, {attribute: value})

    assert decision.allowed is False
    assert (None, False, "deny:invalid") == (details.error_code, details.value, details.variant)


@pytest.mark.parametrize("attribute", ["country", "subdivision", "domicile"])
def test_a_huge_integer_is_denied_not_an_evaluation_error(face_flagd, attribute, caplog):
    """
    An int of more than 4,300 digits: ``cat`` calls ``str()`` on it, which
    raises ValueError (Python's integer string conversion limit) inside the
    targeting, and the SDK returns the caller's default ``True``.
    """
    caplog.set_level(logging.CRITICAL)

    details = ask(face_flagd, {attribute: 10**5000})

    assert (None, False, "deny:invalid") == (details.error_code, details.value, details.variant)


@pytest.mark.parametrize("attribute", ["country", "subdivision", "domicile"])
def test_the_gate_denies_a_huge_integer_instead_of_raising(face, attribute):
    """
    The reference itself: `Gate.evaluate` "never raises for bad input", but its
    explanation calls ``repr()`` on the value (`describe_value`), which raises
    ValueError for an int of more than 4,300 digits.
    """
    decision = face.evaluate("face-match", at=NOON.date(), **{attribute: 10**5000})

    assert decision.allowed is False
