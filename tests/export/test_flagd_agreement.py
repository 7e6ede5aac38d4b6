"""
flagd's own evaluator, on `geogate export --format flagd`, says what the gate says.

Every comparison runs flagd's in-process resolver (``FlagdProvider``, ``FILE``
mode, through the OpenFeature SDK) with its clock set to the second, and the gate
for the UTC day of that second: the value must be the gate's ``allowed`` and the
variant must name the gate's effect and its deciding rule.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from geogate import Gate
from geogate._world.countries import all_countries, subdivisions_of
from helpers.flagd import (
    SAMPLE,
    UNREAD_INPUTS,
    FlagdFile,
    both_inputs,
    change_dates,
    compare,
    domicile_inputs,
    instants,
    location_inputs,
)
from helpers.paths import DATA, FACE, POLICIES
from helpers.policygen import (
    BLOC_MEMBERS,
    REGION_MEMBERS,
    SET_TARGETS,
    examples,
    load_spec,
    policy_specs,
)

#: Countries probed on generated sets in the quick runs: in BLOC, EU, EFTA, UK, or none.
QUICK_COUNTRIES = ("AT", "CH", "FR", "GB", "IS", "JP", "RE", "UA", "US")
#: A policy decided on location and domicile together.
BOTH = DATA / "flagd" / "both"


@pytest.fixture(scope="module")
def shipped():
    return Gate.from_path(POLICIES)


@pytest.fixture(scope="module")
def shipped_flagd(shipped, tmp_path_factory):
    served = FlagdFile(shipped.policy, tmp_path_factory.mktemp("shipped"))
    yield served
    served.close()


@pytest.fixture
def flagd_of(tmp_path):
    opened = []

    def open_(policy, features=None):
        served = FlagdFile(policy, tmp_path, features)
        opened.append(served)
        return served

    yield open_
    for served in opened:
        served.close()


def sweep(gate, flagd, countries, days, *, quick=False, few_homes=False):
    """
    Compare every feature on its inputs at `instants` of *days*.

    *quick*: only the edges of each day, and three domiciles; *few_homes*: three domiciles.
    """
    few = quick or few_homes
    homes = ("FR", "xx", 42) if few else ("FR", "IE", "US", "xx", None, 42, "FRA")
    disagreements = []
    for feature in sorted(gate.policy.features):
        basis = str(gate.policy.features[feature].basis)
        if basis == "location":
            inputs = location_inputs(gate.policy, countries)
        elif basis == "domicile":
            inputs = domicile_inputs(countries)
        else:
            inputs = both_inputs(gate.policy, countries, homes)
        moments = instants(days, edges_only=quick)
        for (seconds, day), attributes in itertools.product(moments, inputs):
            found = compare(gate, flagd, feature, attributes, seconds, day)
            if found is not None:
                disagreements.append(found)
    return disagreements


@pytest.mark.parametrize(
    "policies",
    [
        pytest.param(POLICIES, id="shipped"),
        pytest.param(FACE, id="face", marks=pytest.mark.slow),
        pytest.param(BOTH, id="both", marks=pytest.mark.slow),
    ],
)
def test_policies_agree_on_a_sample(policies, flagd_of):
    """Sampled countries, every odd input and named subdivision, around every change date."""
    gate = Gate.from_path(policies)
    flagd = flagd_of(gate.policy)
    assert [] == sweep(gate, flagd, SAMPLE, change_dates(gate.policy), quick=True)
    assert flagd.evaluations > 2_000


@pytest.mark.slow
@pytest.mark.parametrize("policies", [POLICIES, FACE, BOTH], ids=["shipped", "face", "both"])
def test_policies_agree_everywhere(policies, flagd_of):
    """Every country and XK, every odd input and named subdivision, around every change date."""
    gate = Gate.from_path(policies)
    flagd = flagd_of(gate.policy)
    countries = tuple(sorted(all_countries()))
    assert [] == sweep(gate, flagd, countries, change_dates(gate.policy))
    assert flagd.evaluations > 40_000


def test_the_clock_is_flagd_s_and_a_date_is_a_utc_day(shipped, flagd_of):
    """eu-multimodal-withheld starts on 2024-09-25: the second before midnight UTC allows."""
    flagd = flagd_of(shipped.policy)
    midnight = int(dt.datetime(2024, 9, 25, tzinfo=dt.UTC).timestamp())
    seen = []
    for seconds in (midnight - 1, midnight):
        with flagd.at(seconds):
            details = flagd.details("llama-3.2-vision", {"country": "FR"})
        seen.append((details.value, details.variant))
    assert [(True, "allow:default"), (False, "deny:eu-multimodal-withheld")] == seen


@pytest.mark.parametrize("attributes", UNREAD_INPUTS, ids=repr)
def test_inputs_the_export_cannot_read_are_denied(shipped, flagd_of, attributes):
    """What the export does not read ends in deny:unrecognised, never the flag's allow."""
    flagd = flagd_of(shipped.policy)
    midnight = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())
    with flagd.at(midnight):
        found = {
            feature: (
                flagd.details(feature, attributes).value,
                flagd.details(feature, attributes).variant,
            )
            for feature in shipped.policy.features
        }
    basis = {f: str(shipped.policy.features[f].basis) for f in shipped.policy.features}
    expected = {
        feature: (False, "deny:unknown")
        if basis[feature] == "domicile" and "ip" not in attributes
        else (False, "deny:unrecognised")
        for feature in shipped.policy.features
    }
    assert expected == found


def test_a_flag_that_targeting_does_not_reach_denies(shipped, flagd_of):
    """The default variant, served if targeting ever returned null, is a deny."""
    flagd = flagd_of(shipped.policy)
    flags = flagd.document["flags"]
    assert {("deny:unrecognised", False)} == {
        (flag["defaultVariant"], flag["variants"][flag["defaultVariant"]])
        for flag in flags.values()
    }


def _load(spec):
    """Load *spec*; discard it (`hypothesis.assume`) only when its rules are ambiguous."""
    gate, errors = load_spec(spec)
    assert {code for severity, code, _ in errors if severity == "error"} <= {"ambiguous-rules"}
    event("refused: ambiguous rules" if gate is None else "loaded")
    assume(gate is not None)
    event(f"bases: {sorted({str(f.basis) for f in gate.policy.features.values()})}")
    return gate


def _countries_of():
    named = {t for t in (*SET_TARGETS, *BLOC_MEMBERS, *REGION_MEMBERS) if len(t) == 2}
    named &= set(all_countries())
    return tuple(sorted(named | {"FR", "DE", "US", "UA", "RU", "GB", "JP", "IS", "LI"}))


@pytest.mark.slow
@examples(15)
@given(spec=policy_specs(partials=True))
def test_generated_policy_sets_agree(spec, tmp_path_factory):
    """Random sets (windows, custom and dated jurisdictions, subdivisions, every basis) agree."""
    gate = _load(spec)
    flagd = FlagdFile(gate.policy, tmp_path_factory.mktemp("flagd"))
    try:
        days = change_dates(gate.policy)
        assert [] == sweep(gate, flagd, QUICK_COUNTRIES, days, quick=True)
    finally:
        flagd.close()


@pytest.mark.slow
@examples(10)
@given(spec=policy_specs(partials=True))
def test_generated_policy_sets_agree_everywhere(spec, tmp_path_factory):
    """As above, with the days around each change date, not only its edges."""
    gate = _load(spec)
    flagd = FlagdFile(gate.policy, tmp_path_factory.mktemp("flagd"))
    try:
        days = change_dates(gate.policy)
        assert [] == sweep(gate, flagd, _countries_of(), days, few_homes=True)
    finally:
        flagd.close()


@given(day=st.dates(dt.date(1971, 1, 1), dt.date(2200, 1, 1)), seconds=st.integers(0, 86_399))
@examples(50)
def test_any_second_of_a_day_is_that_day(day, seconds, shipped, shipped_flagd):
    """Between change dates too: flagd at any second of a UTC day answers as on that day."""
    midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    for feature, country in itertools.product(sorted(shipped.policy.features), ("FR", "GB", "US")):
        attributes = {"domicile" if "license" in feature else "country": country}
        assert compare(shipped, shipped_flagd, feature, attributes, midnight + seconds, day) is None


@pytest.mark.slow
@pytest.mark.parametrize("policies", [FACE, POLICIES], ids=["face", "shipped"])
def test_every_iso_subdivision_agrees(policies, flagd_of):
    """
    Every ISO 3166-2 code geogate knows, with its country, at the start of each recent stretch.

    Alone (without the country) on one day. For face.yaml, the stretches since
    2019 hold every subdivision rule; the shipped policies name no subdivision,
    so one day checks that every code is read as its country's rest.
    """
    gate = Gate.from_path(policies)
    flagd = flagd_of(gate.policy)
    codes = sorted(code for country in all_countries() for code in subdivisions_of(country))
    days = [day for day in change_dates(gate.policy) if day.year >= 2019]
    days = days if policies == FACE else [dt.date(2026, 6, 1)]
    disagreements = []
    for feature in sorted(gate.policy.features):
        if str(gate.policy.features[feature].basis) == "domicile":
            continue
        for day, code in itertools.product(days, codes):
            seconds = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
            places = [{"country": code.partition("-")[0], "subdivision": code}]
            if day == dt.date(2026, 6, 1):
                places.append({"subdivision": code})
            for attributes in places:
                found = compare(gate, flagd, feature, attributes, seconds, day)
                if found is not None:
                    disagreements.append(found)
    assert [] == disagreements
    assert flagd.evaluations > 20_000


_ANY_VALUE = st.one_of(
    st.none(),
    st.sampled_from(["FR", "fr", "GB", "UK", "us", "US", "UA", "XX", "IC", "ES", "RE", "", "?"]),
    st.sampled_from(["US-IL", "us-il", "IL", "US-ZZ", "UA-43", "FR-974", "GB-SCT", "ES-CN"]),
    st.text(max_size=6),
    st.integers(-2, 2),
    st.booleans(),
)


@examples(500)
@given(
    attributes=st.fixed_dictionaries(
        {}, optional={"country": _ANY_VALUE, "subdivision": _ANY_VALUE, "domicile": _ANY_VALUE}
    ),
    day=st.sampled_from([dt.date(2024, 9, 24), dt.date(2024, 9, 25), dt.date(2026, 6, 1)]),
)
def test_any_input_agrees_or_is_denied_as_unrecognised(attributes, day, shipped, shipped_flagd):
    """Outside what the export reads, flagd denies (deny:unrecognised); inside it, it agrees."""
    midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    for feature in sorted(shipped.policy.features):
        found = compare(shipped, shipped_flagd, feature, attributes, midnight, day)
        if found is not None:
            assert (False, "deny:unrecognised") == found["flagd"][:2], found


def test_a_rule_named_like_what_else_decides_keeps_its_own_variant(tmp_path, flagd_of):
    """A rule with the id ``default`` is ``deny:rule:default``, not the default's variant."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: deny\n    rules:\n"
        "      - id: default\n        deny: [FR]\n        reason: x\n"
        "      - id: unrecognised\n        allow: [DE]\n        reason: y\n",
        encoding="utf-8",
    )
    flagd = flagd_of(Gate.from_path(tmp_path).policy)
    with flagd.at(0):
        found = [
            (flagd.details("f", {"country": c}).value, flagd.details("f", {"country": c}).variant)
            for c in ("FR", "DE", "JP")
        ]
    assert [
        (False, "deny:rule:default"),
        (True, "allow:rule:unrecognised"),
        (False, "deny:default"),
    ] == found
