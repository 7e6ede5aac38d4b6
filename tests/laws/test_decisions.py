"""
Laws of single decisions, checked with hypothesis.

Rule and file order never change a decision; denying the EU denies its territories;
every ISO code gets exactly one decision; normalising a code twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import textwrap
from pathlib import Path

import pycountry
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from geogate import Gate, LocationStatus, Reason, builtin_jurisdictions
from geogate._world.countries import (
    SUBDIVISIONS_WITH_COUNTRY_CODE,
    normalize_country,
    normalize_subdivision,
)
from helpers.paths import POLICIES
from helpers.policygen import JURISDICTIONS, examples, feature_strategy, feature_yaml, load

ISO_CODES = sorted({country.alpha_2 for country in pycountry.countries} | {"XK"})
EU = builtin_jurisdictions()["EU"]


# Random policy sets: rule order and file order never change a decision.

PROBES = [
    ("FR", None),
    ("FR", "FR-75C"),
    ("FR", "FR-974"),
    ("DE", None),
    ("GB", None),
    ("GB", "GB-BFS"),
    ("NO", None),
    ("CH", None),
    ("IE", None),
    ("SE", None),
    ("DK", None),
    ("IS", None),
    ("US", None),
    ("GL", None),
    ("XX", None),
]
FIXED_DAYS = [dt.date(1990, 1, 1), dt.date(2007, 3, 1), dt.date(2020, 1, 31), dt.date(2026, 1, 1)]


def _answers(gate, days):
    return [
        (
            feature,
            country,
            subdivision,
            day,
            decision.allowed,
            decision.effect,
            decision.rule,
            decision.reason,
            decision.error_code,
            decision.location,
            decision.jurisdictions,
        )
        for feature in ("f", "g")
        for country, subdivision in PROBES
        for day in days
        for decision in [gate.evaluate(feature, country=country, subdivision=subdivision, at=day)]
    ]


@pytest.mark.slow
@examples(100)
@given(
    f=feature_strategy,
    g=feature_strategy,
    data=st.data(),
    day=st.dates(dt.date(1950, 1, 1), dt.date(2040, 12, 31)),
)
def test_decisions_do_not_depend_on_rule_or_file_order(f, g, data, day):
    """Shuffling rules, swapping files and moving definitions never changes a decision."""
    f_order = data.draw(st.permutations(range(len(f[2]))))
    g_order = data.draw(st.permutations(range(len(g[2]))))
    plain = {
        "a.yaml": JURISDICTIONS + "features:\n" + feature_yaml("f", f, range(len(f[2]))),
        "b.yaml": "features:\n" + feature_yaml("g", g, range(len(g[2]))),
    }
    shuffled = {
        "a.yaml": "features:\n" + feature_yaml("g", g, g_order),
        "b.yaml": "features:\n" + feature_yaml("f", f, f_order),
        "c.yaml": JURISDICTIONS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        first, first_errors = load(Path(tmp) / "plain", plain)
        second, second_errors = load(Path(tmp) / "shuffled", shuffled)
    assert first_errors == second_errors
    if first is None or second is None:
        assert first is second
        event("refused at load time")
        return
    event("loaded")
    assert {(d.code, d.message) for d in first.warnings} == {
        (d.code, d.message) for d in second.warnings
    }
    days = [*FIXED_DAYS, day]
    assert _answers(first, days) == _answers(second, days)


# deny: [EU] never allows EU territory while it is EU territory.

EU_POLICY = """\
features:
  eu-deny:
    default: allow
    rules:
      - {id: eu-deny-rule, deny: [EU], reason: Not in the EU.}
  world-but-eu:
    default: deny
    rules:
      - {id: world, allow: [WORLD], reason: Everywhere.}
      - {id: world-but-eu-rule, deny: [EU], overrides: world, reason: Not in the EU.}
  eu-and-efta:
    default: allow
    rules:
      - {id: efta, allow: [EFTA], reason: EFTA is fine.}
      - {id: eu-and-efta-rule, deny: [EU], reason: Not in the EU.}
      - {id: us, allow: [US, CH], reason: Fine.}
"""


@pytest.fixture(scope="module")
def eu_gate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eu")
    (folder / "policy.yaml").write_text(EU_POLICY, encoding="utf-8")
    return Gate.from_path(folder)


SUBDIVISION_REQUESTS = sorted(
    (code.partition("-")[0], code) for code in SUBDIVISIONS_WITH_COUNTRY_CODE
)


@examples(400)
@given(
    request_=st.sampled_from([(code, None) for code in ISO_CODES] + SUBDIVISION_REQUESTS),
    day=st.dates(dt.date(1950, 1, 1), dt.date(2100, 12, 31)),
)
def test_deny_eu_never_allows_eu_territory(eu_gate, request_, day):
    """A `deny: [EU]` rule denies every EU member and territory on every day it is one."""
    country, subdivision = request_
    for feature in ("eu-deny", "world-but-eu", "eu-and-efta"):
        decision = eu_gate.evaluate(feature, country=country, subdivision=subdivision, at=day)
        assert LocationStatus.KNOWN == decision.location
        if EU.is_member(decision.country, day):
            assert (False, f"{feature}-rule") == (decision.allowed, decision.rule)
            assert "EU" in decision.jurisdictions
        else:
            assert "EU" not in decision.jurisdictions
            if feature != "eu-and-efta":
                assert decision.allowed


# Every ISO 3166-1 code gets exactly one decision.


@examples(8)
@given(day=st.dates(dt.date(1950, 1, 1), dt.date(2100, 12, 31)))
def test_every_iso_code_gets_one_decision(day):
    """Every code and XK: a known location, one rule or the default, allowed iff effect allow."""
    gate = Gate.from_path(POLICIES)
    for feature in gate.features:
        for code in ISO_CODES:
            decision = gate.evaluate(feature, country=code, domicile=code, at=day)
            assert (code, LocationStatus.KNOWN, None) == (
                decision.country,
                decision.location,
                decision.error_code,
            )
            assert decision.reason in {Reason.TARGETING_MATCH, Reason.DEFAULT}
            assert (decision.reason is Reason.TARGETING_MATCH) == (decision.rule is not None)
            assert decision.allowed == (decision.effect == "allow")
            assert decision.allowed is gate.is_allowed(feature, country=code, domicile=code, at=day)
            assert decision == gate.evaluate(feature, country=code, domicile=code, at=day)


# Normalisation is idempotent.

country_inputs = (
    st.text(max_size=4)
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=3)
    | st.sampled_from([*ISO_CODES, "UK", "EL", "XX", "EU", "T1", "?"]).flatmap(
        lambda code: st.sampled_from([code, code.lower(), code.capitalize()])
    )
    | st.none()
    | st.integers()
)


@examples(500)
@given(value=country_inputs)
def test_country_normalisation_is_idempotent(value):
    """
    Normalising a normalised code gives the same code; case never changes the status.

    (A code for part of a country, such as IC, also gives the part's subdivision, which
    the country code alone does not.)
    """
    normalized = normalize_country(value)
    if normalized.status is LocationStatus.KNOWN:
        assert normalized._replace(subdivision=None) == normalize_country(normalized.code)
        assert normalized.code in ISO_CODES
    else:
        assert normalized.code is None
        assert normalized.problem
    if isinstance(value, str) and value.isascii():
        assert (normalized.status, normalized.code) == (
            normalize_country(value.swapcase()).status,
            normalize_country(value.swapcase()).code,
        )


SUBDIVISION_CODES = sorted(subdivision.code for subdivision in pycountry.subdivisions)


@examples(300)
@given(
    code=st.sampled_from(SUBDIVISION_CODES),
    lower=st.booleans(),
    short=st.booleans(),
    with_country=st.booleans(),
)
def test_subdivision_normalisation_is_idempotent(code, lower, short, with_country):
    """A normalised subdivision code normalises to itself, with or without its country."""
    country = code.partition("-")[0]
    written = code.partition("-")[2] if short else code
    written = written.lower() if lower else written
    given_country = country if (with_country or short) else None
    normalized = normalize_subdivision(written, given_country)
    assert (LocationStatus.KNOWN, code) == (normalized.status, normalized.code)
    assert normalized == normalize_subdivision(normalized.code, None)
    assert normalized == normalize_subdivision(normalized.code, country)


def test_random_policy_yaml_shape():
    """The generator writes the YAML the loader expects (a guard for the property above)."""
    feature = ("allow", "deny", [("deny", ["EU", "GB-NIR"], dt.date(2020, 1, 1), 10)])
    assert textwrap.dedent(
        """\
              f:
                default: allow
                unknown: deny
                rules:
                  - {id: f-r0, deny: [EU, GB-NIR], reason: r, from: 2020-01-01, until: 2020-01-11}
            """
    ) == textwrap.dedent(feature_yaml("f", feature, [0]))
