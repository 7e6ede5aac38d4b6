"""
A hostile review of places below the country, written as attacks.

Each test is one attempt to make geogate allow what it should deny, or explain
a decision wrongly, through split places, the ``partial`` setting,
jurisdictions that hold subdivisions, specificity by places held, ISO
hierarchies, parts of countries, domiciles, dates, the fast-path memo, CDN
headers, OFREP, the load-time ambiguity analysis and sheer size.

Tests whose comment starts ``Was a bug`` found a defect, since fixed; the
comment says what geogate did and does now. Every other test is an attack
that failed, kept as a regression test. Costs are counted in operations,
never timed.
"""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import geogate._engine.decide
import geogate._gate.gate
import geogate._world.jurisdictions
from geogate import Effect, Gate, PolicyError, Target
from geogate._policy.model import Member
from geogate._review.walkthrough import walk_through
from geogate._world.countries import (
    SUBDIVISIONS_WITH_COUNTRY_CODE,
    _subdivision_index,
    subdivisions_of,
)
from geogate.asgi import GeogateMiddleware
from geogate.ofrep import create_app
from geogate.testing import pinned_date
from helpers.gates import feature_gate, outcome

DAY = "2026-01-01"
PROXY = ("10.0.0.2", 40000)


def decide(gate, **request):
    """Return ``(allowed, rule, country, subdivision)`` of feature ``f`` (on `DAY` unless given)."""
    request.setdefault("at", DAY)
    decision = gate.evaluate("f", **request)
    return decision.allowed, decision.rule, decision.country, decision.subdivision


def load_codes(tmp_path, rules, *, jurisdictions="", **settings):
    """Return the diagnostic codes of errors when the policy does not load, else ``[]``."""
    try:
        feature_gate(tmp_path, rules, jurisdictions=jurisdictions, **settings)
    except PolicyError as error:
        return sorted({d.code for d in error.diagnostics if d.severity == "error"})
    return []


def every_subdivision():
    """Every ISO 3166-2 code geogate knows that a policy may name (about 5,000)."""
    return sorted(
        code for code in _subdivision_index() if code not in SUBDIVISIONS_WITH_COUNTRY_CODE
    )


# --- split places and the partial setting -----------------------------------------------------


def test_was_a_bug_hard_deny_inside_is_lost_when_it_agrees_with_the_rest(tmp_path):
    # Was a bug: a hard_deny rule that decides a place inside UA (Crimea, through
    # OFAC-COMPREHENSIVE) must deny a request naming only UA "whatever partial
    # says" (docs/places.md). Because UA-43's deny equals the rest of UA's
    # default deny, UA-43 is not listed among the places that differ, so
    # `Outcome.hard_inside` is False and `partial: allow` ALLOWS a request that
    # may come from Crimea; the explanation does not even name UA-43.
    # Expected: denied, and the explanation names the hard-deny rule and UA-43.
    gate = feature_gate(
        tmp_path,
        """
        - id: kyiv-pilot
          allow: [UA-30]
          reason: A pilot in Kyiv.
        - id: sanctions
          hard_deny: [OFAC-COMPREHENSIVE]
          reason: US sanctions.
        """,
        default="deny",
        partial="allow",
    )

    decision = gate.evaluate("f", country="UA", at=DAY)

    assert (False, True, True) == (
        decision.allowed,
        "sanctions" in decision.explanation,
        "UA-43" in decision.explanation,
    )


def test_was_a_bug_hard_deny_inside_lost_when_the_rest_is_denied_by_a_rule(tmp_path):
    # Was a bug: the same hole with a deny rule on the country: US denied, US-CA
    # allowed, US-IL hard-denied, partial: allow. A request naming only US is
    # ALLOWED although it may come from Illinois, which nothing may unlock.
    # Expected: denied (a hard_deny inside always denies a country-only request).
    gate = feature_gate(
        tmp_path,
        """
        - id: us
          deny: [US]
          reason: r
        - id: california
          allow: [US-CA]
          overrides: us
          reason: r
        - id: illinois
          hard_deny: [US-IL]
          reason: r
        """,
        partial="allow",
    )

    assert (False, None, "US", None) == decide(gate, country="US")


def test_hard_deny_inside_that_differs_denies_whatever_partial_says(tmp_path):
    """The documented case holds: UA is allowed, Crimea hard-denied, partial: allow -> deny."""
    gate = feature_gate(
        tmp_path,
        """
        - id: sanctions
          hard_deny: [OFAC-COMPREHENSIVE]
          reason: US sanctions.
        """,
        partial="allow",
    )

    decision = gate.evaluate("f", country="UA", at=DAY)

    assert (False, None) == (decision.allowed, decision.rule)
    assert "a hard-deny rule decides inside" in decision.explanation
    # Before EO 13685 (2014-12-19), nothing inside UA differs.
    assert (True, None, "UA", None) == decide(gate, country="UA", at="2014-12-18")


@pytest.mark.parametrize(
    ("partial", "request_", "expected"),
    [
        ("deny", {"country": "US"}, (False, None, "US", None)),
        ("allow", {"country": "US"}, (True, None, "US", None)),
        ("allow", {"country": "US", "subdivision": "IL"}, (False, "bipa", "US", "US-IL")),
        ("allow", {"country": "us", "subdivision": "us-tx"}, (False, "bipa", "US", "US-TX")),
        ("deny", {"country": "US", "subdivision": "US-CA"}, (True, None, "US", "US-CA")),
        ("deny", {"subdivision": "US-IL"}, (False, "bipa", "US", "US-IL")),
    ],
)
def test_partial_decides_only_country_only_requests(tmp_path, partial, request_, expected):
    gate = feature_gate(tmp_path, "- {id: bipa, deny: [US-IL, US-TX], reason: r}", partial=partial)
    assert expected == decide(gate, **request_)


def test_a_place_decided_alike_everywhere_is_not_split(tmp_path):
    """US-IL denied by a rule and the rest denied by default: no split, the default's deny."""
    gate = feature_gate(
        tmp_path, "- {id: bipa, deny: [US-IL], reason: r}", default="deny", partial="allow"
    )
    decision = gate.evaluate("f", country="US", at=DAY)
    assert (False, None) == (decision.allowed, decision.rule)
    assert "by the feature's default" in decision.explanation
    assert "split" not in decision.explanation


def test_split_explanation_names_the_places_the_rest_and_the_setting(tmp_path):
    gate = feature_gate(tmp_path, "- {id: bipa, deny: [US-IL, US-TX], reason: r}")
    decision = gate.evaluate("f", country="US", at="2026-06-01")
    assert decision.explanation.endswith(
        "US is split on 2026-06-01: US-IL, US-TX are denied by rule bipa; the rest of US is "
        "allowed by the feature's default; the request named no subdivision, so the feature's "
        "partial setting (deny) applies."
    )


# --- unrecognised but well-formed subdivisions ------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        {"country": "US", "subdivision": "US-ZZ"},
        {"country": "US", "subdivision": "ZZ"},
        {"country": "US", "subdivision": "zz"},
        {"country": "US", "subdivision": "Z9Z"},
        {"subdivision": "US-ZZ"},
        {"subdivision": "UK-ZZ"},  # an alias prefix
        {"country": "UK", "subdivision": "ZZ"},
    ],
)
def test_an_unknown_subdivision_never_escapes_a_split_country(tmp_path, request_):
    """A well-formed code geogate does not know names the country only: partial, never allow."""
    gate = feature_gate(
        tmp_path,
        "- {id: pilot, allow: [US-CA, GB-SCT], reason: r}",
        default="deny",
        partial="deny",
    )
    decision = gate.evaluate("f", at=DAY, **request_)
    assert (False, "known", None) == (decision.allowed, decision.location, decision.subdivision)
    assert "is not one geogate recognises, so the request names only the country" in (
        decision.explanation
    )


@pytest.mark.parametrize(
    "subdivision",
    ["CA-ZZ", "US-IL ", " IL", "US_IL", "US-ILLI", "X" * 10_000_000, "U\u0130", "US--IL", "-"],
)
def test_a_malformed_or_foreign_subdivision_is_invalid_and_cheap(tmp_path, subdivision):
    """Garbage, another country's code, a huge string: invalid, denied, quickly."""
    gate = feature_gate(tmp_path, "- {id: pilot, allow: [US-CA], reason: r}", partial="allow")
    decision = gate.evaluate("f", country="US", subdivision=subdivision, at=DAY)
    assert (False, "invalid") == (decision.allowed, decision.location)
    assert len(decision.explanation) < 1000  # a huge value is quoted, bounded


# --- ISO hierarchies, country-coded subdivisions, parts of countries -------------------------


@pytest.fixture
def hierarchy_gate(tmp_path):
    return feature_gate(
        tmp_path,
        """
        - {id: scotland, deny: [GB-SCT], reason: r}
        - {id: ile-de-france, deny: [FR-IDF], reason: r}
        - {id: canarias, deny: [ES-CN], reason: r}
        - {id: tenerife, allow: [ES-TF], overrides: canarias, reason: r}
        - {id: grand-est, deny: [FR-GES], reason: r}
        - {id: jan-mayen, deny: [NO-22], reason: r}
        """,
        partial="allow",
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"country": "GB", "subdivision": "GB-ABD"}, (False, "scotland", "GB", "GB-ABD")),
        ({"country": "FR", "subdivision": "FR-75C"}, (False, "ile-de-france", "FR", "FR-75C")),
        ({"country": "FR", "subdivision": "FR-67"}, (False, "grand-est", "FR", "FR-67")),
        ({"country": "ES", "subdivision": "ES-TF"}, (True, "tenerife", "ES", "ES-TF")),
        ({"country": "ES", "subdivision": "ES-GC"}, (False, "canarias", "ES", "ES-GC")),
        ({"country": "IC", "subdivision": "TF"}, (True, "tenerife", "ES", "ES-TF")),
        ({"country": "IC", "subdivision": "ES-PM"}, (False, None, None, None)),  # not in IC
        ({"country": "NO", "subdivision": "NO-22"}, (False, "jan-mayen", "NO", "NO-22")),
        ({"country": "NO", "subdivision": "NO-21"}, (True, None, "SJ", None)),  # Svalbard
        ({"country": "FR", "subdivision": "FR-974"}, (True, None, "RE", None)),  # Réunion
        ({"country": "EA"}, (False, None, None, None)),  # Ceuta or Melilla? invalid
        ({"country": "EA", "subdivision": "ML"}, (True, None, "ES", "ES-ML")),
    ],
)
def test_hierarchies_and_country_coded_subdivisions(hierarchy_gate, request_, expected):
    assert expected == decide(hierarchy_gate, **request_)


@pytest.mark.parametrize("request_", [{"country": "IC"}, {"country": "ES", "subdivision": "CN"}])
def test_a_split_subdivision_gets_partial_too(tmp_path, request_):
    """IC is ES-CN; ES-TF inside it is allowed while ES-CN is denied: partial (deny)."""
    gate = feature_gate(
        tmp_path,
        """
        - {id: canarias, deny: [ES-CN], reason: r}
        - {id: tenerife, allow: [ES-TF], overrides: canarias, reason: r}
        """,
    )
    decision = gate.evaluate("f", at=DAY, **request_)
    assert (False, None, "ES-CN") == (decision.allowed, decision.rule, decision.subdivision)
    assert "the request named no subdivision inside ES-CN" in decision.explanation


def test_jan_mayen_is_in_the_eea_and_svalbard_is_not(tmp_path):
    gate = feature_gate(tmp_path, "- {id: eea, deny: [EEA], reason: r}")
    assert (False, "eea", "NO", "NO-22") == decide(gate, country="NO", subdivision="NO-22")
    assert (True, None, "SJ", None) == decide(gate, country="NO", subdivision="NO-21")
    assert (False, "eea", "AX", None) == decide(gate, country="FI", subdivision="FI-01",
                                               at="1995-06-01")  # fmt: skip
    assert (True, None, "AX", None) == decide(gate, country="AX", at="1993-12-31")
    assert (False, "eea", "AX", None) == decide(gate, country="AX", at="1994-01-01")


def test_sj_is_read_as_svalbard_outside_the_eea(tmp_path):
    # A documented choice (docs/jurisdictions.md), not a split: SJ codes Svalbard
    # and Jan Mayen, but nearly every address a provider reports as SJ is on
    # Svalbard, which the EEA Agreement leaves out (Protocol 40); Jan Mayen has
    # a staffed station and no public networks. A request for Jan Mayen that
    # names it (NO-22) is Norway, in the EEA. Treating SJ like EA (two places,
    # so invalid) would deny every Svalbard request for every feature.
    gate = feature_gate(tmp_path, "- {id: eea, deny: [EEA], reason: r}")
    assert gate.evaluate("f", country="SJ", at=DAY).allowed
    assert not gate.evaluate("f", country="NO", subdivision="NO-22", at=DAY).allowed


def test_a_policy_cannot_name_a_country_coded_subdivision(tmp_path):
    for code in ("US-PR", "FR-974", "NO-21", "FI-01"):
        assert ["subdivision-has-country-code"] == load_codes(
            tmp_path, f"- {{id: r, deny: [{code}], reason: r}}"
        )
        assert ["subdivision-has-country-code"] == load_codes(
            tmp_path,
            "- {id: r, deny: [SOMEWHERE], reason: r}",
            jurisdictions=f"SOMEWHERE: [{code}]\n",
        )


def test_parts_of_countries_in_a_split_country(tmp_path):
    """XI is GB-NIR; FX is France as a whole (split); DG is IO."""
    gate = feature_gate(
        tmp_path,
        """
        - {id: nir, deny: [GB-NIR], reason: r}
        - {id: idf, deny: [FR-IDF], reason: r}
        """,
        partial="allow",
    )
    assert (False, "nir", "GB", "GB-NIR") == decide(gate, country="XI")
    assert (False, "nir", "GB", "GB-NIR") == decide(gate, country="XI", subdivision="ZZ")
    assert (False, None, None, None) == decide(gate, country="XI", subdivision="GB-ENG")
    assert (True, None, "FR", None) == decide(gate, country="FX")  # split: partial allow
    assert (True, None, "GB", None) == decide(gate, country="GB")


# --- stale and replaced subdivision codes ----------------------------------------------------


def test_was_a_bug_a_replaced_code_inside_which_a_county_is_denied_is_allowed(tmp_path):
    # Was a bug: NO-30 (Viken) was replaced on 2024-01-01 by NO-31 (Østfold), NO-32
    # and NO-33; data/subdivisions.json keeps it known because old GeoIP
    # databases still send it. With Østfold denied, a request reported as
    # NO-30 may be in Østfold, yet geogate decides NO-30 as an unrelated
    # place: ALLOWED by default. Expected: NO-30 counts as holding the codes
    # that replaced it, so the request gets partial (deny).
    gate = feature_gate(tmp_path, "- {id: ostfold, deny: [NO-31], reason: r}")
    assert not gate.evaluate("f", country="NO", subdivision="NO-30", at=DAY).allowed


def test_was_a_bug_a_rule_on_a_retired_code_misses_its_successors_silently(tmp_path):
    # Was a bug: a rule written for NO-30 (Viken) loads without a word, and from
    # 2024 a request from NO-31 (Østfold, part of Viken) is ALLOWED: the rule
    # silently stopped covering the place it was written for. Expected:
    # either NO-30 covers NO-31/32/33, or a load-time warning says NO-30 is
    # retired and names its successors.
    gate = feature_gate(tmp_path, "- {id: viken, deny: [NO-30], reason: r}")
    decision = gate.evaluate("f", country="NO", subdivision="NO-31", at=DAY)
    warned = any("NO-30" in warning.message for warning in gate.policy.warnings)
    assert not decision.allowed or warned


# --- jurisdictions that hold subdivisions ----------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        ({"country": "UA", "subdivision": "UA-43", "at": "2014-12-18"}, True),
        ({"country": "UA", "subdivision": "UA-43", "at": "2014-12-19"}, False),
        ({"country": "UA", "subdivision": "UA-40", "at": "2014-12-19"}, False),
        ({"country": "UA", "subdivision": "UA-14", "at": "2022-02-20"}, True),
        ({"country": "UA", "subdivision": "UA-14", "at": "2022-02-21"}, False),
        ({"country": "UA", "subdivision": "UA-09", "at": "2022-02-21"}, False),
        ({"country": "SY", "at": "2025-06-30"}, False),
        ({"country": "SY", "at": "2025-07-01"}, True),
        ({"country": "UA", "at": "2014-12-18"}, True),
        ({"country": "UA", "at": "2014-12-19"}, False),  # split: partial deny
        ({"country": "ua", "subdivision": "43"}, False),
        ({"subdivision": "UA-43"}, False),
        ({"country": "RU", "subdivision": "UA-43"}, False),  # a contradiction: invalid
        ({"country": "UA", "subdivision": "UA-ZZ"}, False),  # country only, split
        ({"country": "UA", "subdivision": "UA-30"}, True),
    ],
)
def test_ofac_comprehensive_dates_and_regions(tmp_path, request_, allowed):
    gate = feature_gate(tmp_path, "- {id: ofac, deny: [OFAC-COMPREHENSIVE], reason: r}")
    request_.setdefault("at", DAY)
    assert allowed == gate.evaluate("f", **request_).allowed


def test_dated_members_and_window_edges_are_inclusive(tmp_path):
    gate = feature_gate(
        tmp_path,
        "- {id: occupied, deny: [OCCUPIED], reason: r}",
        jurisdictions="""
        OCCUPIED:
          - UA-43
          - {code: UA-14, from: 2022-02-21, until: 2022-12-31}
        """,
    )
    for at, allowed in [("2022-02-20", True), ("2022-02-21", False), ("2022-12-31", False),
                        ("2023-01-01", True)]:  # fmt: skip
        assert allowed == gate.evaluate("f", country="UA", subdivision="UA-14", at=at).allowed


def test_was_a_bug_a_member_listed_twice_with_two_windows_loses_the_second(tmp_path):
    # Was a bug: a member written twice with disjoint windows (sanctions lifted, then
    # imposed again) keeps only its first window: the second entry is dropped
    # with a mere `duplicate-target` warning whose hint ("merge their windows
    # into one entry") cannot be followed, since one entry holds one window.
    # From 2022 Crimea is ALLOWED although the policy denies it. Expected:
    # both windows hold (or the policy does not load).
    try:
        gate = feature_gate(
            tmp_path,
            "- {id: occupied, deny: [OCCUPIED], reason: r}",
            jurisdictions="""
            OCCUPIED:
              - {code: UA-43, until: 2019-12-31}
              - {code: UA-43, from: 2022-01-01}
            """,
        )
    except PolicyError:
        return
    assert [False, True, False] == [
        gate.evaluate("f", country="UA", subdivision="UA-43", at=at).allowed
        for at in ("2019-12-31", "2021-01-01", "2023-01-01")
    ]


def test_nested_jurisdictions_with_windows(tmp_path):
    """An inner jurisdiction's members count only inside the outer member's window."""
    gate = feature_gate(
        tmp_path,
        "- {id: outer, deny: [OUTER], reason: r}",
        jurisdictions="""
        INNER: [UA-43, {code: UA-14, from: 2022-02-21}]
        OUTER:
          - {code: INNER, from: 2023-01-01, until: 2023-12-31}
          - {code: OFAC-COMPREHENSIVE, from: 2025-01-01}
        """,
    )
    expected = {
        ("UA-43", "2022-12-31"): True,
        ("UA-43", "2023-01-01"): False,
        ("UA-14", "2023-12-31"): False,
        ("UA-14", "2024-01-01"): True,
        ("UA-09", "2024-12-31"): True,
        ("UA-09", "2025-01-01"): False,
    }
    found = {
        (code, at): gate.evaluate("f", country="UA", subdivision=code, at=at).allowed
        for code, at in expected
    }
    assert expected == found
    assert (True, False) == (
        gate.evaluate("f", country="CU", at="2024-12-31").allowed,
        gate.evaluate("f", country="CU", at="2025-01-01").allowed,
    )


# --- specificity and the load-time ambiguity analysis ----------------------------------------


@pytest.mark.parametrize(
    ("rules", "jurisdictions"),
    [
        # Overlapping sets of regions: UA-40 is in both, neither is inside the other.
        ("allow: [JAA]", "JAA: [UA-43, UA-40]\nJBB: [UA-40, UA-14]\n"),
        # A region plus another country is neither inside nor around UA.
        ("allow: [JAA]", "JAA: [UA-43, RU]\n"),
        # Equal places until UA-14 joins one of them.
        ("allow: [JAA]", "JAA: [UA-43, {code: UA-14, from: 2022-02-21}]\nJBB: [UA-43]\n"),
        # The same region, two jurisdictions.
        ("allow: [JAA]", "JAA: [US-IL]\nJBB: [US-IL]\n"),
        # US and US plus a region of the US are the same places.
        ("allow: [JAA]", "JAA: [US]\nJBB: [US, US-IL]\n"),
        # A rule with several targets: FR-IDF is in the deny's set and inside FR.
        ("allow: [US-IL, FR]", "JBB: [US-IL, FR-IDF]\n"),
    ],
)
def test_disagreeing_rules_without_an_order_do_not_load(tmp_path, rules, jurisdictions):
    deny = "JBB" if "JBB" in jurisdictions else "UA"
    assert ["ambiguous-rules"] == load_codes(
        tmp_path,
        f"- {{id: a, {rules}, reason: r}}\n- {{id: b, deny: [{deny}], reason: r}}",
        jurisdictions=jurisdictions,
    )


def test_ofac_comprehensive_is_not_inside_ukraine(tmp_path):
    assert ["ambiguous-rules"] == load_codes(
        tmp_path,
        "- {id: a, allow: [UA], reason: r}\n- {id: b, deny: [OFAC-COMPREHENSIVE], reason: r}",
    )


CHILD_PARENT = "JAA: [GB-SCT]\nJBB: [GB-ABD]\n"
REGIONS_COUNTRY = "JAA: [US-IL, US-TX]\nJBB: [US]\n"
SHRINKING = "JAA: [{code: UA-43, until: 2020-01-01}, UA-40]\nJBB: [UA-43, UA-40, UA-09]\n"


@pytest.mark.parametrize(
    ("deny", "jurisdictions", "request_", "expected"),
    [
        # A jurisdiction of a child region beats one of its parent; the parent is split.
        ("JBB", CHILD_PARENT, {"country": "GB", "subdivision": "GB-ABD"}, (False, "b")),
        ("JBB", CHILD_PARENT, {"country": "GB", "subdivision": "GB-SCT"}, (False, None)),
        ("JBB", CHILD_PARENT, {"country": "GB"}, (False, None)),
        # A jurisdiction of regions beats one of their country.
        ("JBB", REGIONS_COUNTRY, {"country": "US", "subdivision": "US-IL"}, (True, "a")),
        ("JBB", REGIONS_COUNTRY, {"country": "US", "subdivision": "US-CA"}, (False, "b")),
        ("JBB", REGIONS_COUNTRY, {"country": "US"}, (False, None)),
        # A region plus its own country holds the country's places: the country wins by kind.
        ("UA", "JAA: [UA-43, UA]\n", {"country": "UA", "subdivision": "UA-43"}, (False, "b")),
        ("UA", "JAA: [UA-43, UA]\n", {"country": "UA"}, (False, "b")),
        # A smaller set of regions beats a larger one on the days it is smaller only.
        ("JBB", SHRINKING, {"country": "UA", "subdivision": "UA-43", "at": "2019-01-01"},
         (True, "a")),
        ("JBB", SHRINKING, {"country": "UA", "subdivision": "UA-43", "at": "2023-01-01"},
         (False, "b")),
    ],
)  # fmt: skip
def test_specificity_by_places_held(tmp_path, deny, jurisdictions, request_, expected):
    gate = feature_gate(
        tmp_path,
        f"- {{id: a, allow: [JAA], reason: r}}\n- {{id: b, deny: [{deny}], reason: r}}",
        jurisdictions=jurisdictions,
    )
    assert expected == outcome_pair(gate, **request_)


def outcome_pair(gate, **request_):
    effect, rule = outcome(gate, **request_)
    return effect == "allow", rule


def test_a_subdivision_beats_a_jurisdiction_of_that_subdivision_alone(tmp_path):
    """Equal places go to the more specific kind, and the flip is reported as undeclared."""
    gate = feature_gate(
        tmp_path,
        "- {id: a, allow: [US-IL], reason: r}\n- {id: b, deny: [SOLO], reason: r}",
        jurisdictions="SOLO: [US-IL]\n",
    )
    assert (True, "a") == outcome_pair(gate, country="US", subdivision="US-IL")
    assert ["undeclared-override"] == [w.code for w in gate.policy.warnings]


def test_hard_deny_on_a_parent_region_beats_an_allow_on_its_child(tmp_path):
    gate = feature_gate(
        tmp_path,
        "- {id: a, allow: [GB-ABD], reason: r}\n- {id: b, hard_deny: [SCOTS], reason: r}",
        jurisdictions="SCOTS: [GB-SCT]\n",
        partial="allow",
    )
    assert (False, "b") == outcome_pair(gate, country="GB", subdivision="GB-ABD")
    assert (False, None) == outcome_pair(gate, country="GB")  # hard_deny inside


# --- domicile and location+domicile ----------------------------------------------------------


def test_was_a_bug_a_domicile_is_decided_on_the_region_a_code_implies(tmp_path):
    # Was a bug: "subdivisions don't apply to domicile; the domicile is a country".
    # Yet domicile="IC" is decided as ES-CN: with a jurisdiction of the Canary
    # Islands allowed (default deny), an account domiciled in "IC" is ALLOWED
    # while one domiciled in "ES" is denied, and both decisions report
    # domicile "ES" (the audit, which shows domicile features by country,
    # shows ES denied). Expected: "IC" is decided as the country ES (or a
    # jurisdiction holding subdivisions is refused for a domicile feature, as
    # a subdivision target is).
    rules = "- {id: canaries, allow: [CANARIES], reason: r}"
    settings = {"jurisdictions": "CANARIES: [ES-CN]\n", "default": "deny", "basis": "domicile"}
    if load_codes(tmp_path, rules, **settings) == ["subdivision-domicile"]:
        return  # fixed by refusing the jurisdiction for a domicile feature
    gate = feature_gate(tmp_path, rules, **settings)
    canary = gate.evaluate("f", domicile="IC", at=DAY)
    spain = gate.evaluate("f", domicile="ES", at=DAY)
    assert ("ES", "ES") == (canary.domicile, spain.domicile)
    assert (False, False) == (canary.allowed, spain.allowed)
    # `geogate explain` reads the domicile the same way.
    explained = walk_through(gate.policy, "f", domicile="IC", at=DAY)
    assert [Effect.DENY] == [chain.effect for chain in explained.chains]
    assert explained.decision.explanation == canary.explanation


def test_a_subdivision_target_is_refused_for_a_domicile_feature(tmp_path):
    assert ["subdivision-domicile"] == load_codes(
        tmp_path, "- {id: r, deny: [US-IL], reason: r}", basis="domicile"
    )


def test_location_and_domicile_split_domicile_fails_closed(tmp_path):
    """A domicile is a country: in a split country it gets partial; the location still counts."""
    gate = feature_gate(
        tmp_path,
        "- {id: occupied, hard_deny: [OFAC-COMPREHENSIVE], reason: r}",
        basis="location+domicile",
        partial="allow",
    )
    assert not gate.evaluate("f", country="FR", domicile="UA", at=DAY).allowed
    assert not gate.evaluate("f", country="UA", subdivision="UA-43", domicile="FR",
                             at=DAY).allowed  # fmt: skip
    assert gate.evaluate("f", country="UA", subdivision="UA-30", domicile="FR", at=DAY).allowed


def test_was_a_bug_a_domicile_split_is_explained_as_a_missing_subdivision(tmp_path):
    # Was a bug (explanation): for a domicile, "the request named no subdivision"
    # suggests sending one, but a domicile is a country and can never name a
    # subdivision. Expected: the explanation says the domicile is a country
    # (so the partial setting applies), not that the request lacked a subdivision.
    gate = feature_gate(
        tmp_path,
        "- {id: occupied, deny: [OCCUPIED], reason: r}",
        jurisdictions="OCCUPIED: [UA-43]\n",
        basis="location+domicile",
    )
    decision = gate.evaluate("f", country="FR", domicile="UA", at=DAY)
    assert not decision.allowed
    assert "named no subdivision" not in decision.explanation


# --- dates, midnight UTC and the fast-path memo ----------------------------------------------


def test_a_split_at_midnight_is_not_served_from_yesterdays_memo(tmp_path, monkeypatch):
    clock = [dt.datetime(2026, 5, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()]
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: clock[0])
    gate = feature_gate(tmp_path, "- {id: sct, deny: [GB-SCT], from: 2026-06-01, reason: r}")

    before = [gate.is_allowed("f", country=spelling) for spelling in ("GB", "gb", "UK", "uk")]
    before.append(gate.evaluate("f", country="GB").allowed)
    clock[0] += 1
    after = [gate.is_allowed("f", country=spelling) for spelling in ("GB", "gb", "UK", "uk")]
    decision = gate.evaluate("f", country="GB")

    assert [True] * 5 == before
    assert [False] * 4 == after
    assert (False, dt.date(2026, 6, 1)) == (decision.allowed, decision.as_of)
    assert "GB is split on 2026-06-01" in decision.explanation


def test_a_pinned_date_sees_a_split_that_starts_tomorrow(tmp_path, monkeypatch):
    clock = [dt.datetime(2026, 5, 31, 12, tzinfo=dt.UTC).timestamp()]
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: clock[0])
    gate = feature_gate(tmp_path, "- {id: sct, deny: [GB-SCT], from: 2026-06-01, reason: r}")
    assert gate.is_allowed("f", country="GB")  # memoised for today
    with pinned_date(gate, "2026-06-01"):
        assert not gate.is_allowed("f", country="GB")
        assert not gate.evaluate("f", country="GB").allowed
    assert gate.is_allowed("f", country="GB")
    with pinned_date(gate, "2026-05-31"):
        assert gate.is_allowed("f", country="GB")


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (dt.datetime(2026, 5, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-1))), False),
        (dt.datetime(2026, 6, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), True),
        (dt.date(2026, 5, 31), True),
        ("2026-06-01", False),
        ("2026-09-30", False),
        ("2026-10-01", True),
    ],
)
def test_window_edges_are_utc_days(tmp_path, at, allowed):
    gate = feature_gate(
        tmp_path,
        "- {id: sct, deny: [GB-SCT], from: 2026-06-01, until: 2026-09-30, reason: r}",
    )
    assert allowed == gate.evaluate("f", country="GB", at=at).allowed


def test_a_naive_datetime_is_refused_not_read_as_utc(tmp_path):
    gate = feature_gate(tmp_path, "- {id: sct, deny: [GB-SCT], reason: r}", partial="allow")
    decision = gate.evaluate("f", country="GB", at=dt.datetime(2026, 6, 1, 0, 30))  # noqa: DTZ001
    assert (False, "INVALID_CONTEXT") == (decision.allowed, decision.error_code)


# --- CDN headers (ASGI middleware) and OFREP -------------------------------------------------


@pytest.fixture
def face_gate(tmp_path):
    return feature_gate(
        tmp_path,
        """
        - {id: bipa, deny: [US-IL], reason: r}
        - {id: sanctions, hard_deny: [OFAC-COMPREHENSIVE], reason: r}
        """,
        partial="allow",
    )


def through_middleware(gate, headers):
    async def where(_request):
        decision = gate.evaluate("f")
        return JSONResponse([decision.allowed, decision.country, decision.subdivision])

    app = Starlette(routes=[Route("/", where)])
    app.add_middleware(
        GeogateMiddleware, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )
    with TestClient(app, client=PROXY) as client:
        return client.get("/", headers=headers).json()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"CF-IPCountry": "US"}, [True, "US", None]),  # partial: allow
        ({"CF-IPCountry": "US", "cf-region-code": "IL"}, [False, "US", "US-IL"]),
        ({"CF-IPCountry": "us", "cf-region-code": "il"}, [False, "US", "US-IL"]),
        ({"CF-IPCountry": "US", "cf-region-code": "US-IL"}, [False, "US", "US-IL"]),
        ({"CF-IPCountry": "US", "cf-region-code": "CA"}, [True, "US", "US-CA"]),
        ({"CF-IPCountry": "US", "cf-region-code": "ZZ"}, [True, "US", None]),
        ({"CF-IPCountry": "US", "cf-region-code": "XX"}, [True, "US", None]),
        # A region of another country contradicts the country: invalid, denied.
        ({"CF-IPCountry": "US", "cf-region-code": "GB-NIR"}, [False, None, None]),
        ({"CF-IPCountry": "US", "cf-region-code": "-"}, [True, "US", None]),
        ({"CF-IPCountry": "US", "cf-region-code": "NO REGION"}, [True, "US", None]),
        ({"CF-IPCountry": "US", "cf-region-code": "I" * 2000}, [False, None, None]),
        ({"CF-IPCountry": "US", "cf-region-code": "\u00e9".encode()}, [True, "US", None]),
        ({"CF-IPCountry": "XX", "cf-region-code": "IL"}, [False, None, None]),
        ({"CF-IPCountry": "UA"}, [False, "UA", None]),  # hard_deny inside
        ({"CF-IPCountry": "UA", "cf-region-code": "43"}, [False, "UA", "UA-43"]),
        ({"CF-IPCountry": "UA", "cf-region-code": "30"}, [True, "UA", "UA-30"]),
        ({"CF-IPCountry": "UA", "cf-region-code": "RU-CR"}, [False, "UA", None]),
        ({"CF-IPCountry": "UA", "cf-region-code": "ZZ"}, [False, "UA", None]),
    ],
)
def test_cdn_region_headers(face_gate, headers, expected):
    assert expected == through_middleware(face_gate, headers)


def test_a_region_sent_twice_with_different_values_is_invalid(face_gate):
    headers = [("CF-IPCountry", "US"), ("cf-region-code", "CA"), ("cf-region-code", "IL")]
    assert [False, None, None] == through_middleware(face_gate, headers)


def test_was_a_bug_a_sanctioned_region_under_another_country_is_dropped(face_gate):
    # Was a bug (a design choice, changed): CF-IPCountry RU with
    # cf-region-code UA-43 (Crimea, held by OFAC-COMPREHENSIVE under a
    # hard_deny) drops the region and ALLOWS the request as Russia. The same
    # place given explicitly (country="RU", subdivision="UA-43") is invalid
    # and denied. A contradiction that names a hard-denied region should fail
    # closed, as the explicit path does: denying cannot help an attacker,
    # dropping can.
    explicit = face_gate.evaluate("f", country="RU", subdivision="UA-43", at=DAY)
    assert not explicit.allowed
    allowed, _, _ = through_middleware(face_gate, {"CF-IPCountry": "RU", "cf-region-code": "UA-43"})
    assert not allowed


@pytest.mark.parametrize(
    ("context", "value", "reason"),
    [
        ({"country": "US"}, True, "DEFAULT"),  # partial: allow
        ({"country": "US", "subdivision": "US-IL"}, False, "TARGETING_MATCH"),
        ({"subdivision": "US-IL"}, False, "TARGETING_MATCH"),
        ({"subdivision": "US-ZZ"}, True, "DEFAULT"),  # the country only: partial allow
        ({"country": "UA"}, False, "DEFAULT"),  # hard_deny inside
        ({"subdivision": "UA-43"}, False, "TARGETING_MATCH"),
        ({"country": "UA", "subdivision": "UA-43 "}, False, "ERROR"),  # invalid: denied
        ({}, True, "DEFAULT"),  # the headers: US-CA
    ],
)
def test_ofrep_follows_partial_and_subdivisions(face_gate, context, value, reason):
    app = create_app(face_gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"])
    with TestClient(app, client=PROXY) as client:
        response = client.post(
            "/ofrep/v1/evaluate/flags/f",
            json={"context": context},
            headers={"CF-IPCountry": "US", "cf-region-code": "CA"},
        )
    body = response.json()
    assert (200, value, reason) == (response.status_code, body["value"], body["metadata"]["reason"])
    assert body["reason"] == ("TARGETING_MATCH" if reason == "TARGETING_MATCH" else "UNKNOWN")


# --- size: jurisdictions and rules with thousands of subdivisions ----------------------------


def write_policy(tmp_path, text):
    (tmp_path / "policy.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def big_jurisdiction_policy(codes):
    members = "".join(f"    - {code}\n" for code in codes)
    return (
        f"jurisdictions:\n  EVERYWHERE-REGIONS:\n{members}"
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: regions, deny: [EVERYWHERE-REGIONS], reason: r}\n"
        "      - {id: illinois, allow: [US-IL], overrides: regions, reason: r}\n"
    )


def counting(monkeypatch, module, name):
    """Wrap ``module.name`` so that calls are counted; return the counter."""
    calls = {"n": 0}
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_was_a_bug_loading_a_jurisdiction_of_thousands_of_subdivisions_is_quadratic(
    tmp_path, monkeypatch
):
    # Was a bug (performance): each member of a custom jurisdiction was compared
    # with every member before it to find duplicates (`CustomJurisdiction.from_node`,
    # and `_targets` for a rule's list did the same): 5,000 members took seconds.
    # Now a set finds duplicates: members are compared only on a hash collision.
    codes = every_subdivision()
    compared = {"n": 0}
    for cls in (Member, Target):
        original = cls.__eq__

        def counted(self, other, original=original):
            compared["n"] += 1
            return original(self, other)

        monkeypatch.setattr(cls, "__eq__", counted)
    Gate.from_path(write_policy(tmp_path, big_jurisdiction_policy(codes)))
    assert compared["n"] < len(codes), compared


def test_was_a_bug_a_country_only_decision_costs_the_size_of_the_jurisdiction(
    tmp_path, monkeypatch
):
    # Was a bug (performance): `best_target` compared each matching target with
    # itself, and `target_beats` of a jurisdiction with itself ran `covers` over
    # all its places twice: a request naming only GB, under a jurisdiction of
    # every subdivision, cost O(5,000) per place inside GB. Each new date,
    # spelling or unrecognised subdivision (GB-ZZ, GB-ZY, ...) paid it again.
    # Now: one decision per place inside, no place-by-place comparison of the
    # jurisdiction, and the spellings of one place share one outcome.
    gate = Gate.from_path(write_policy(tmp_path, big_jurisdiction_policy(every_subdivision())))
    places = counting(monkeypatch, geogate._engine.decide, "decide_place")
    inside = counting(monkeypatch, geogate._world.jurisdictions, "_inside")
    gate.evaluate("f", country="GB", at=DAY)
    first = places["n"]
    assert first <= len(subdivisions_of("GB")) + 1
    assert 0 == inside["n"]
    for spelling in ({"country": "gb"}, {"country": "GB", "subdivision": "GB-ZZ"},
                     {"country": "uk", "subdivision": "ZY"}):  # fmt: skip
        assert not gate.evaluate("f", at=DAY, **spelling).allowed
    assert first == places["n"]


def test_a_rule_naming_every_subdivision_of_a_country_stays_bounded(tmp_path, monkeypatch):
    """A realistic size: all ~220 codes of GB in one rule; one decision per place inside."""
    codes = subdivisions_of("GB")
    gate = feature_gate(tmp_path, f"- {{id: uk-regions, deny: [{', '.join(codes)}], reason: r}}",
                        partial="allow")  # fmt: skip
    places = counting(monkeypatch, geogate._engine.decide, "decide_place")
    decision = gate.evaluate("f", country="GB", at=DAY)
    assert decision.allowed
    assert places["n"] <= len(codes) + 1
    assert "and " in decision.explanation  # "... and N more": the list is bounded
    assert len(decision.explanation) < 1000
