"""
verify decides once per stretch between change dates: every date of a stretch decides alike.

`geogate._logs.verify.change_dates` lists the days on which some decision can
change; verify re-decides one date of each stretch and reuses the answer for
the others. These laws check that on the shipped, test and generated policy
sets: any two dates of one stretch give the same answer, rule, reason and
jurisdictions, for any place.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from geogate import Gate
from geogate._logs.verify import change_dates
from helpers.paths import DATA, FACE, POLICIES
from helpers.policygen import load_spec, policy_specs
from helpers.properties import examples

PLACES = st.sampled_from(
    [
        {"country": "FR"}, {"country": "GB"}, {"country": "HR"}, {"country": "RE"},
        {"country": "US", "subdivision": "US-IL"}, {"country": "GB", "subdivision": "GB-SCT"},
        {"country": "NO", "subdivision": "NO-30"}, {"country": "UA", "subdivision": "UA-43"},
        {"country": "CH"}, {"country": "XX"}, {"domicile": "DE"}, {"domicile": "US"},
        {"country": "US", "domicile": "FR"}, {},
    ]
)  # fmt: skip
DATES = st.dates(dt.date(1950, 1, 1), dt.date(2100, 12, 31))


@functools.cache
def _gate(policies):
    return Gate.from_path(policies)


def _same(decision):
    return (decision.allowed, decision.rule, decision.reason, decision.jurisdictions)


def _law(gate, feature, place, day, other_day):
    days = change_dates(gate.policy)
    start = days[bisect.bisect_right(days, day) - 1]
    following = bisect.bisect_right(days, day)
    end = days[following] - dt.timedelta(days=1) if following < len(days) else dt.date(2100, 12, 31)
    other = min(max(other_day, start, dt.date(1950, 1, 1)), end)
    assert _same(gate.evaluate(feature, at=day, **place)) == _same(
        gate.evaluate(feature, at=other, **place)
    ), (feature, place, day, other)


@pytest.mark.parametrize(
    "policies", [POLICIES, FACE, DATA / "flagd" / "both"], ids=["shipped", "face", "both"]
)
@examples(200)
@given(data=st.data(), place=PLACES, day=DATES, other_day=DATES)
def test_a_stretch_decides_alike(policies, data, place, day, other_day):
    gate = _gate(policies)
    feature = data.draw(st.sampled_from(sorted(gate.policy.features)))
    _law(gate, feature, place, day, other_day)


@examples(20)
@given(spec=policy_specs(partials=True), data=st.data())
def test_a_stretch_decides_alike_on_generated_sets(spec, data):
    gate, _ = load_spec(spec)
    assume(gate is not None)
    for _ in range(10):
        feature = data.draw(st.sampled_from(sorted(gate.policy.features)))
        _law(gate, feature, data.draw(PLACES), data.draw(DATES), data.draw(DATES))
