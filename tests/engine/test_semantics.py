"""
The decision semantics through `Gate`: which rule decides, dates, places, bad input.

And the load-time analysis: ambiguous rules, undeclared and pointless overrides.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from geogate import (
    Effect,
    ErrorCode,
    Feature,
    Gate,
    JurisdictionTable,
    LocationStatus,
    PolicyError,
    PolicySet,
    Position,
    Reason,
    Rule,
    RuleKind,
    Target,
    TargetKind,
    UnknownFeatureError,
)
from geogate._engine.decide import CompiledRule, OutcomeKind, decide, resolve_location
from helpers.gates import DAY, feature_gate, outcome, write_policy


def load_error(tmp_path, text):
    """Return the diagnostics of a policy file that must not load."""
    with pytest.raises(PolicyError) as excinfo:
        Gate.from_path(write_policy(tmp_path, text))
    return [(d.severity, d.code, d.message) for d in excinfo.value.diagnostics]


# hard_deny


def test_hard_deny_beats_everything(tmp_path):
    """A hard_deny decides, even against a more specific country or subdivision allow."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: sanctions, hard_deny: [EU], reason: Export control.}
        - {id: fr-allow, allow: [FR], reason: France is fine.}
        - {id: idf-allow, allow: [FR-IDF], reason: Paris region is fine.}
        """,
    )
    assert ("deny", "sanctions") == outcome(gate, country="FR")
    assert ("deny", "sanctions") == outcome(gate, country="FR", subdivision="FR-IDF")
    assert ("deny", "sanctions") == outcome(gate, country="FR", subdivision="75C")
    assert ("allow", None) == outcome(gate, country="US")
    assert () == gate.warnings


def test_hard_deny_explanation(tmp_path):
    """The explanation says a hard-deny rule decided."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: sanctions, hard_deny: [RU], reason: Export control.}
        - {id: ru-allow, allow: [RU], reason: Fine.}
        """,
    )
    decision = gate.evaluate("f", country="RU", at=DAY)
    assert decision.explanation.startswith(
        "f is denied in RU (Russian Federation) by hard-deny rule sanctions (policy sha256:"
    )
    assert decision.explanation.endswith("as of 2026-01-01): Export control.")


# Specificity


@pytest.fixture
def layered(tmp_path):
    return feature_gate(
        tmp_path,
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: fr-allow, allow: [FR], overrides: eu-deny, reason: r}
        - {id: idf-deny, deny: [FR-IDF], overrides: fr-allow, reason: r}
        - {id: paris-allow, allow: [FR-75C], overrides: idf-deny, reason: r}
        - {id: canaries-allow, allow: [ES-CN], overrides: eu-deny, reason: r}
        """,
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"country": "DE"}, ("deny", "eu-deny")),
        # FR is split (FR-IDF is denied inside): a request naming only FR gets
        # the feature's partial setting, deny.
        ({"country": "FR"}, ("deny", None)),
        # So is FR-IDF (Paris is allowed inside it).
        ({"country": "FR", "subdivision": "FR-IDF"}, ("deny", None)),
        ({"country": "FR", "subdivision": "IDF"}, ("deny", None)),
        ({"country": "FR", "subdivision": "FR-75C"}, ("allow", "paris-allow")),
        ({"country": "FR", "subdivision": "FR-ARA"}, ("allow", "fr-allow")),
        # ES is split too (the Canary Islands are allowed inside).
        ({"country": "ES"}, ("deny", None)),
        ({"country": "ES", "subdivision": "ES-CN"}, ("allow", "canaries-allow")),
        ({"country": "ES", "subdivision": "ES-TF"}, ("allow", "canaries-allow")),
        ({"subdivision": "ES-TF"}, ("allow", "canaries-allow")),
        ({"country": "US"}, ("allow", None)),
    ],
)
def test_subdivision_beats_country_beats_jurisdiction(layered, request_, expected):
    """A subdivision (inner before outer) beats a country, which beats a jurisdiction."""
    assert expected == outcome(layered, **request_)
    assert () == layered.warnings


def test_jurisdiction_strict_subset(tmp_path):
    """Between jurisdictions, the one whose membership is a strict subset decides."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: world-allow, allow: [WORLD], reason: r}
        - {id: wide-deny, deny: [EU-CH], overrides: world-allow, reason: r}
        - {id: eu-allow, allow: [EU], overrides: wide-deny, reason: r}
        """,
        jurisdictions="EU-CH: [EU, CH]\n",
    )
    assert ("allow", "eu-allow") == outcome(gate, country="FR")
    assert ("deny", "wide-deny") == outcome(gate, country="CH")
    assert ("allow", "world-allow") == outcome(gate, country="US")
    assert ("allow", "eu-allow") == outcome(gate, country="GB", at="2020-01-31")
    assert ("allow", "world-allow") == outcome(gate, country="GB", at="2020-02-01")
    assert ("allow", "world-allow") == outcome(gate, country="FR", at="1957-12-31")
    assert () == gate.warnings


def test_eu_is_not_a_subset_of_the_eea_in_2007(tmp_path):
    """
    BG and RO joined the EU on 2007-01-01 but the EEA only on 2007-08-01.

    So for seven months the EU was not a strict subset of the EEA, and allow EU against deny
    EEA is ambiguous; found at load time.
    """
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: eea-deny, deny: [EEA], reason: r}
              - {id: eu-allow, allow: [EU], overrides: eea-deny, reason: r}
        """,
    )
    assert [
        (
            "error",
            "ambiguous-rules",
            (
                "rules 'eea-deny' and 'eu-allow' of 'f' disagree for AT (Austria) from 2007-01-01 "
                "until 2007-07-31 and from 2013-07-01 until 2014-04-11, and neither is more "
                "specific than the other"
            ),
        )
    ] == errors


def test_eu_within_the_eea_after_2015(tmp_path):
    """With the gaps of 2007 and 2013-2014 out of the window, EU is more specific than EEA."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: eea-deny, deny: [EEA], from: 2015-01-01, reason: r}
        - {id: eu-allow, allow: [EU], overrides: eea-deny, from: 2015-01-01, reason: r}
        """,
    )
    assert ("allow", "eu-allow") == outcome(gate, country="FR")
    assert ("deny", "eea-deny") == outcome(gate, country="NO")
    assert ("allow", None) == outcome(gate, country="CH")
    assert () == gate.warnings


def test_custom_jurisdiction_specificity(tmp_path):
    """A custom jurisdiction is ordered against built-in ones by strict subset too."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: benelux-allow, allow: [BENELUX], overrides: eu-deny, reason: r}
        """,
        jurisdictions="BENELUX: [BE, NL, LU]\n",
    )
    assert ("allow", "benelux-allow") == outcome(gate, country="NL")
    assert ("deny", "eu-deny") == outcome(gate, country="FR")
    assert ("allow", None) == outcome(gate, country="CH")


def test_agreeing_rules_tie_broken_by_id(tmp_path):
    """Equally specific rules that agree: the smallest rule id is named."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: zz-deny, deny: [FR], reason: r}
        - {id: aa-deny, deny: [FR], reason: r}
        """,
    )
    assert ("deny", "aa-deny") == outcome(gate, country="FR")


# Windows


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2025-12-31", ("deny", None)),
        ("2026-01-01", ("allow", "pilot")),
        ("2026-03-15", ("allow", "pilot")),
        ("2026-06-30", ("allow", "pilot")),
        ("2026-07-01", ("deny", None)),
    ],
)
def test_window_inclusive_on_both_ends(tmp_path, day, expected):
    """`from` and `until` are both inclusive."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: pilot, allow: [IE], from: 2026-01-01, until: 2026-06-30, reason: r}
        """,
        default="deny",
    )
    assert expected == outcome(gate, country="IE", at=day)


def test_open_windows(tmp_path):
    """A window open at one end applies from the start or until the end only."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: after, deny: [FR], from: 2026-01-01, reason: r}
        - {id: before, deny: [DE], until: 2026-01-01, reason: r}
        """,
    )
    assert ("allow", None) == outcome(gate, country="FR", at="2025-12-31")
    assert ("deny", "after") == outcome(gate, country="FR", at="2999-12-31")
    assert ("deny", "before") == outcome(gate, country="DE", at="1900-01-01")
    assert ("deny", "before") == outcome(gate, country="DE", at="2026-01-01")
    assert ("allow", None) == outcome(gate, country="DE", at="2026-01-02")


def test_membership_dates_are_honoured(tmp_path):
    """A jurisdiction rule follows its membership dates: GB left the EU after 2020-01-31."""
    gate = feature_gate(tmp_path, "- {id: eu-deny, deny: [EU], reason: r}")
    assert ("deny", "eu-deny") == outcome(gate, country="GB", at="2020-01-31")
    assert ("allow", None) == outcome(gate, country="GB", at="2020-02-01")
    assert ("allow", None) == outcome(gate, country="YT", at="2013-12-31")
    assert ("deny", "eu-deny") == outcome(gate, country="YT", at="2014-01-01")
    assert ("allow", None) == outcome(gate, country="FO", at="1980-01-01")
    assert ("deny", "eu-deny") == outcome(gate, country="GL", at="1980-01-01")
    assert ("allow", None) == outcome(gate, country="GL", at=DAY)
    assert ("allow", None) == outcome(gate, country="JE", at="2000-01-01")


# Defaults and unknown locations


def test_default_when_no_rule(tmp_path):
    """No candidate rule: the feature's default decides, with reason DEFAULT."""
    gate = feature_gate(tmp_path, "- {id: fr, allow: [FR], reason: r}", default="deny")
    decision = gate.evaluate("f", country="US", at=DAY)
    assert (False, "deny", None, Reason.DEFAULT, None, LocationStatus.KNOWN) == (
        decision.allowed,
        decision.effect,
        decision.rule,
        decision.reason,
        decision.error_code,
        decision.location,
    )


def test_feature_without_rules(tmp_path):
    """A feature may have no rules: the default decides everywhere."""
    gate = Gate.from_path(write_policy(tmp_path, "features:\n  f:\n    default: deny\n"))
    assert ("deny", None) == outcome(gate, country="FR")


UNKNOWN_INPUTS = [
    {"country": None},
    {},
    {"country": ""},
    {"country": "XX"},
    {"country": "EU"},
    {"country": "T1"},
    {"country": "A1"},
    {"country": "ZZ"},
    {"country": "XX", "subdivision": "FR-IDF"},
]

#: Not a code, or a contradiction: denied whatever `unknown:` says.
INVALID_INPUTS = [
    {"country": "GER"},
    {"country": " FR"},
    {"country": "FR", "subdivision": "GB-NIR"},
    {"country": "FR", "subdivision": "NOPE"},
    {"country": "GER", "subdivision": "NIR"},
    {"subdivision": "NIR"},
    {"country": "RU", "subdivision": "UA-43"},
    {"country": "IC", "subdivision": "ES-M"},
    {"country": "XI", "subdivision": "GB-ENG"},
    {"country": "EA", "subdivision": "ES-CN"},
    {"country": "FX", "subdivision": "FR-974"},
    {"country": "EZ"},
    {"country": "QO"},
]


@pytest.mark.parametrize("request_", UNKNOWN_INPUTS)
@pytest.mark.parametrize(("unknown", "allowed"), [(None, False), ("deny", False), ("allow", True)])
def test_unknown_location_gets_the_unknown_setting(tmp_path, request_, unknown, allowed):
    """A genuinely unknown location gets the feature's `unknown`, deny when not set."""
    settings = {} if unknown is None else {"unknown": unknown}
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", **settings)
    decision = gate.evaluate("f", at=DAY, **request_)
    assert (allowed, None, Reason.DEFAULT, None, LocationStatus.UNKNOWN, ()) == (
        decision.allowed,
        decision.rule,
        decision.reason,
        decision.error_code,
        decision.location,
        decision.jurisdictions,
    )


@pytest.mark.parametrize("request_", INVALID_INPUTS)
@pytest.mark.parametrize("unknown", [None, "deny", "allow"])
def test_invalid_location_denies_whatever_unknown_says(tmp_path, request_, unknown):
    """An invalid location denies even with ``unknown: allow`` (invalid is not unknown)."""
    settings = {} if unknown is None else {"unknown": unknown}
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", **settings)
    decision = gate.evaluate("f", at=DAY, **request_)
    assert (
        False,
        None,
        Reason.ERROR,
        ErrorCode.INVALID_CONTEXT,
        LocationStatus.INVALID,
        (),
        "explicit",
    ) == (
        decision.allowed,
        decision.rule,
        decision.reason,
        decision.error_code,
        decision.location,
        decision.jurisdictions,
        decision.location_source,
    )


def test_unknown_and_invalid_explanations_say_why(tmp_path):
    """The explanation of an unknown or invalid location names the problem."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", unknown="allow")
    rev = gate.revision[:19]
    assert (
        f"f is denied because the location is invalid (policy {rev}, as of 2026-01-01), "
        "whatever the feature's setting for unknown locations says: 'GER' is not an ISO "
        "3166-1 alpha-2 country code (did you mean 'DE'?)."
    ) == gate.evaluate("f", country="GER", at=DAY).explanation
    assert (
        f"f is denied because the location is invalid (policy {rev}, as of 2026-01-01), "
        "whatever the feature's setting for unknown locations says: The subdivision 'UA-43' "
        "is not in the country 'RU'."
    ) == gate.evaluate("f", country="RU", subdivision="UA-43", at=DAY).explanation
    assert (
        f"f is allowed by the feature's setting for unknown locations (policy {rev}, as of "
        "2026-01-01): The country code 'XX' means an unknown location."
    ) == gate.evaluate("f", country="XX", at=DAY).explanation


# Wrong types


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        ({"country": 33}, "The country 33 is an int, not a string."),
        ({"country": ["FR"]}, "The country ['FR'] is a list, not a string."),
        ({"country": {"FR": 1}}, "The country {'FR': 1} is a dict, not a string."),
        ({"country": b"FR"}, "The country b'FR' is a bytes, not a string."),
        ({"country": True}, "The country True is a bool, not a string."),
        ({"country": "FR", "subdivision": 75}, "The subdivision 75 is an int, not a string."),
        ({"country": "FR", "domicile": ["FR"]}, "The domicile ['FR'] is a list, not a string."),
    ],
)
def test_wrong_types_are_invalid_context(tmp_path, request_, problem):
    """Wrong types deny with INVALID_CONTEXT, even when unknown locations are allowed."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", unknown="allow")
    decision = gate.evaluate("f", at=DAY, **request_)
    assert (False, Reason.ERROR, ErrorCode.INVALID_CONTEXT, LocationStatus.INVALID) == (
        decision.allowed,
        decision.reason,
        decision.error_code,
        decision.location,
    )
    assert f"f is denied (policy {gate.revision[:19]}, as of 2026-01-01): {problem}" == (
        decision.explanation
    )
    assert not gate.is_allowed("f", at=DAY, **request_)


# Unknown features


def test_unknown_feature_denies_and_warns_once(tmp_path, caplog):
    """An unknown feature id denies with FLAG_NOT_FOUND and logs one warning."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}")
    with caplog.at_level(logging.WARNING, logger="geogate"):
        decisions = [gate.evaluate("ff", country="US") for _ in range(3)]
        assert not gate.is_allowed("ff", country="US")
        gate.evaluate("zzz", country="US")
    rev = gate.revision[:19]
    hint = " (did you mean 'f'?)"
    assert [
        ("geogate", logging.WARNING, f"geogate: no feature 'ff' in policy {rev}; denying{hint}"),
        ("geogate", logging.WARNING, f"geogate: no feature 'zzz' in policy {rev}; denying"),
    ] == caplog.record_tuples
    for decision in decisions:
        assert (False, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND, "ff") == (
            decision.allowed,
            decision.reason,
            decision.error_code,
            decision.feature,
        )


def test_unknown_feature_strict_raises(tmp_path):
    """A strict gate raises UnknownFeatureError for an unknown feature id."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", strict=True)
    with pytest.raises(UnknownFeatureError) as excinfo:
        gate.evaluate("ff", country="FR")
    assert "no feature 'ff' in the loaded policies; did you mean 'f'?" == str(excinfo.value)
    assert ("ff", ("f",)) == (excinfo.value.feature, excinfo.value.known)
    with pytest.raises(UnknownFeatureError) as excinfo:
        gate.is_allowed("zzz", country="FR")
    assert "no feature 'zzz' in the loaded policies; known features: f" == str(excinfo.value)
    assert isinstance(excinfo.value, LookupError)
    assert ("deny", "eu") == outcome(gate, country="FR")


# Basis


@pytest.fixture
def domicile_gate(tmp_path):
    return feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", basis="domicile")


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"country": "US", "domicile": "FR"}, ("deny", "eu")),
        ({"country": "FR", "domicile": "US"}, ("allow", None)),
        ({"domicile": "us"}, ("allow", None)),
        ({"country": "US"}, ("deny", None)),
        ({"country": "US", "domicile": "XX"}, ("deny", None)),
        ({"country": "US", "domicile": "GER"}, ("deny", None)),
    ],
)
def test_basis_domicile(domicile_gate, request_, expected):
    """``basis: domicile`` decides on the domicile; a missing domicile is unknown."""
    assert expected == outcome(domicile_gate, **request_)


def test_basis_domicile_decision_fields(domicile_gate):
    """The decision reports both the request's country and the domicile."""
    decision = domicile_gate.evaluate("f", country="US", domicile="FR", at=DAY)
    assert ("US", "FR", ("EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD")) == (
        decision.country,
        decision.domicile,
        decision.jurisdictions,
    )
    assert decision.explanation.startswith(
        "f is denied for an account domiciled in FR (France, in the EU) by rule eu"
    )
    missing = domicile_gate.evaluate("f", country="US", at=DAY)
    assert (LocationStatus.UNKNOWN, None) == (missing.location, missing.domicile)
    assert missing.explanation.endswith("as of 2026-01-01): No domicile was given.")


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"country": "US", "domicile": "US"}, ("allow", None)),
        ({"country": "FR", "domicile": "US"}, ("deny", "eu")),
        ({"country": "US", "domicile": "FR"}, ("deny", "eu")),
        ({"country": "FR", "domicile": "FR"}, ("deny", "eu")),
        ({"country": "US"}, ("deny", None)),
        ({"country": "XX", "domicile": "US"}, ("deny", None)),
        ({"domicile": "US"}, ("deny", None)),
    ],
)
def test_basis_location_and_domicile(tmp_path, request_, expected):
    """``location+domicile`` needs both signals, and both must allow."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", basis="location+domicile")
    assert expected == outcome(gate, **request_)


@pytest.mark.parametrize(
    "request_",
    [
        {"country": "FR"},
        {"country": "XX", "domicile": "FR"},
        {"country": "FR", "domicile": "XX"},
    ],
)
def test_location_and_domicile_both_must_allow_with_unknown_allow(tmp_path, request_):
    """With ``unknown: allow``, a known signal that is denied still denies."""
    gate = feature_gate(
        tmp_path,
        "- {id: eu, deny: [EU], reason: r}",
        basis="location+domicile",
        unknown="allow",
    )
    assert ("deny", "eu") == outcome(gate, **request_)


# Subdivisions with their own country code


@pytest.mark.parametrize(
    ("request_", "country", "expected"),
    [
        ({"country": "FR", "subdivision": "FR-974"}, "RE", ("deny", "eu")),
        ({"country": "FR", "subdivision": "974"}, "RE", ("deny", "eu")),
        ({"country": "RE", "subdivision": "FR-974"}, "RE", ("deny", "eu")),
        ({"subdivision": "FR-974"}, "RE", ("deny", "eu")),
        ({"country": "FR", "subdivision": "FR-PF"}, "PF", ("allow", None)),
        ({"country": "FR", "subdivision": "FR-976"}, "YT", ("deny", "eu")),
        ({"country": "FI", "subdivision": "FI-01"}, "AX", ("deny", "eu")),
        ({"country": "NL", "subdivision": "NL-AW"}, "AW", ("allow", None)),
        ({"country": "FR", "subdivision": ""}, "FR", ("deny", "eu")),
        ({"country": "GB", "subdivision": "GB-NIR"}, "GB", ("allow", None)),
        ({"country": "UK", "subdivision": "NIR"}, "GB", ("allow", None)),
    ],
)
def test_subdivision_mapping(tmp_path, request_, country, expected):
    """FR + FR-974 is Reunion (EU); FR + FR-PF is French Polynesia (not EU)."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}")
    decision = gate.evaluate("f", at=DAY, **request_)
    assert (country, expected) == (decision.country, (str(decision.effect), decision.rule))


def test_subdivision_is_reported(tmp_path):
    """The decision names the innermost subdivision, and the chain decides."""
    gate = feature_gate(tmp_path, "- {id: nir, deny: [GB-NIR], reason: r}")
    decision = gate.evaluate("f", country="GB", subdivision="bfs", at=DAY)
    assert ("GB", "GB-BFS", "nir") == (decision.country, decision.subdivision, decision.rule)
    assert ("allow", None) == outcome(gate, country="GB", subdivision="GB-SCT")
    # GB alone is split: the partial setting (deny by default) decides.
    assert ("deny", None) == outcome(gate, country="GB")


@pytest.mark.parametrize("country", ["XX", "T1", "A1", "ZZ", "EU"])
def test_a_country_that_says_unknown_is_not_placed_by_a_subdivision(tmp_path, country):
    """
    A provider that says it does not know the country (XX, Tor, an anonymous
    proxy) is believed: a subdivision beside it does not make the place known,
    so the feature's ``unknown:`` setting decides, never a rule or the default.
    """
    gate = feature_gate(tmp_path, "- {id: nir, allow: [GB-NIR], reason: r}", default="deny")
    decision = gate.evaluate("f", country=country, subdivision="GB-NIR", at=DAY)
    assert decision.location is LocationStatus.UNKNOWN
    assert (decision.allowed, decision.rule, decision.country) == (False, None, None)
    assert "whatever the subdivision 'GB-NIR' says" in decision.explanation
    # Not given at all (None or empty) is different: the subdivision names its country.
    for absent in (None, ""):
        known = gate.evaluate("f", country=absent, subdivision="GB-NIR", at=DAY)
        assert (known.allowed, known.rule, known.country) == (True, "nir", "GB")


# The evaluation date


@pytest.mark.parametrize(
    "at",
    [
        dt.date(2026, 1, 1),
        "2026-01-01",
        dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        + dt.timedelta(hours=1),
    ],
)
def test_at_accepts_dates(tmp_path, at):
    """`at` accepts a date, an aware datetime (taken in UTC) and 'YYYY-MM-DD'."""
    gate = feature_gate(tmp_path, "- {id: new, deny: [FR], from: 2026-01-01, reason: r}")
    decision = gate.evaluate("f", country="FR", at=at)
    assert (dt.date(2026, 1, 1), "new") == (decision.as_of, decision.rule)


def test_aware_datetime_is_taken_in_utc(tmp_path):
    """An aware datetime counts by its UTC date, not its local date."""
    gate = feature_gate(tmp_path, "- {id: new, deny: [FR], from: 2026-01-01, reason: r}")
    late = dt.datetime(2025, 12, 31, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    early = dt.datetime(2026, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert ("deny", "new") == outcome(gate, country="FR", at=late)
    assert ("allow", None) == outcome(gate, country="FR", at=early)


@pytest.mark.parametrize(
    ("at", "shown"),
    [
        (dt.datetime(2026, 1, 1, 12, 0), "datetime.datetime(2026, 1, 1, 12, 0)"),  # noqa: DTZ001
        ("2026/01/01", "'2026/01/01'"),
        ("2026-13-01", "'2026-13-01'"),
        ("tomorrow", "'tomorrow'"),
        (20260101, "20260101"),
        (1.5, "1.5"),
    ],
)
def test_at_rejects_naive_datetimes_and_garbage(tmp_path, at, shown):
    """A naive datetime or a non-date denies with INVALID_CONTEXT and says why."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}", unknown="allow")
    decision = gate.evaluate("f", country="US", at=at)
    assert (False, Reason.ERROR, ErrorCode.INVALID_CONTEXT) == (
        decision.allowed,
        decision.reason,
        decision.error_code,
    )
    assert decision.explanation.endswith(
        f": The evaluation date {shown} is not a date; pass a datetime.date, an aware datetime "
        "or 'YYYY-MM-DD'."
    )


def test_at_rejects_week_dates(tmp_path):
    """Only 'YYYY-MM-DD' strings are dates."""
    gate = feature_gate(tmp_path, "- {id: eu, deny: [EU], reason: r}")
    assert ErrorCode.INVALID_CONTEXT == gate.evaluate("f", country="US", at="2026-W01-1").error_code


# Run-time ambiguity (refused at load time, so only reachable by building rules by hand)


def _rule(rule_id, kind, *codes):
    targets = tuple(Target(TargetKind.JURISDICTION, code, Position("x")) for code in codes)
    return Rule(
        id=rule_id, feature="f", kind=kind, targets=targets, reason="r", position=Position("x")
    )


def test_unordered_disagreement_fails_closed():
    """Rules that disagree without an order deny, naming both (should never reach run time)."""
    table = JurisdictionTable.with_custom(())
    rules = (_rule("z-allow", RuleKind.ALLOW, "EEA"), _rule("a-deny", RuleKind.DENY, "EFTA"))
    feature = Feature(id="f", default=Effect.ALLOW, rules=rules, position=Position("x"))
    compiled = [CompiledRule.from_rule(rule) for rule in rules]
    result = decide(feature, compiled, resolve_location("NO"), dt.date(2026, 1, 1), table)
    assert (OutcomeKind.AMBIGUOUS, Effect.DENY, ("a-deny", "z-allow")) == (
        result.kind,
        result.effect,
        tuple(rule.id for rule in result.tied),
    )
    policy = PolicySet(
        features={"f": feature}, jurisdictions=table, revision="sha256:" + "0" * 64, files=()
    )
    decision = Gate(policy).evaluate("f", country="NO", at=DAY)
    assert (False, Reason.ERROR, ErrorCode.GENERAL, None) == (
        decision.allowed,
        decision.reason,
        decision.error_code,
        decision.rule,
    )
    assert (
        "f is denied in NO (Norway) (policy sha256:000000000000, as of 2026-01-01): the rules "
        "a-deny, z-allow disagree and none is more specific, so the gate fails closed."
    ) == decision.explanation


# Load-time analysis


def test_ambiguous_rules_are_a_load_error(tmp_path):
    """Disagreeing rules with no order between them: an error naming both, a place and a date."""
    errors = load_error(
        tmp_path,
        """\
        jurisdictions:
          NORDIC: [DK, SE, NO]
        features:
          f:
            default: allow
            rules:
              - id: nordic-allow
                allow: [NORDIC]
                reason: r
              - id: eu-deny
                deny: [EU]
                reason: r
        """,
    )
    assert [
        (
            "error",
            "ambiguous-rules",
            (
                "rules 'eu-deny' and 'nordic-allow' of 'f' disagree for DK (Denmark) "
                "from 1973-01-01, and neither is more specific than the other"
            ),
        )
    ] == errors


def test_ambiguity_only_on_overlapping_dates(tmp_path):
    """Rules whose windows never overlap are not ambiguous."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: old-allow, allow: [EEA], until: 2019-12-31, reason: r}
        - {id: new-deny, deny: [EFTA], from: 2020-01-01, reason: r}
        """,
    )
    assert ("allow", "old-allow") == outcome(gate, country="NO", at="2019-12-31")
    assert ("deny", "new-deny") == outcome(gate, country="NO", at="2020-01-01")


def test_ambiguous_on_one_day(tmp_path):
    """An overlap of one day is found and named."""
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: a, allow: [FR], until: 2026-01-01, reason: r}
              - {id: b, deny: [FR], from: 2026-01-01, reason: r}
        """,
    )
    assert [
        (
            "error",
            "ambiguous-rules",
            (
                "rules 'a' and 'b' of 'f' disagree for FR (France) on 2026-01-01, and neither is "
                "more specific than the other"
            ),
        )
    ] == errors


def test_equal_jurisdictions_are_ambiguous(tmp_path):
    """A custom jurisdiction with the same members as a built-in one is not more specific."""
    errors = load_error(
        tmp_path,
        """\
        jurisdictions:
          GREAT-BRITAIN: [GB]
        features:
          f:
            default: allow
            rules:
              - {id: uk-deny, deny: [UK], reason: r}
              - {id: gb-allow, allow: [GREAT-BRITAIN], reason: r}
        """,
    )
    assert [
        (
            "error",
            "ambiguous-rules",
            (
                "rules 'gb-allow' and 'uk-deny' of 'f' disagree for GB (United Kingdom) on every "
                "date, and neither is more specific than the other"
            ),
        )
    ] == errors


def test_same_subdivision_both_ways_is_ambiguous(tmp_path):
    """Two subdivision rules on the same place that disagree are refused."""
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: a, allow: [GB-NIR], reason: r}
              - {id: b, deny: [GB-NIR], reason: r}
        """,
    )
    assert [
        (
            "error",
            "ambiguous-rules",
            (
                "rules 'a' and 'b' of 'f' disagree for GB-NIR (Northern Ireland, United Kingdom) "
                "on every date, and neither is more specific than the other"
            ),
        )
    ] == errors


def test_hard_deny_settles_an_overlap(tmp_path):
    """Where a hard_deny applies, disagreeing soft rules below it are not ambiguous."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: sanctions, hard_deny: [NORDIC], reason: r}
        - {id: nordic-allow, allow: [NORDIC], reason: r}
        - {id: eu-deny, deny: [EU], reason: r}
        """,
        jurisdictions="NORDIC: [DK, SE, NO]\n",
    )
    assert ("deny", "sanctions") == outcome(gate, country="DK")


def test_undeclared_override_is_a_warning(tmp_path):
    """A rule that flips a broader one without `overrides:` loads, with a warning."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: ie-allow, allow: [IE], reason: r}
        """,
    )
    assert [
        (
            "warning",
            "undeclared-override",
            (
                "features.f.rules[ie-allow] (allow) overrides the broader rule 'eu-deny' (deny) "
                "for IE (Ireland) from 1973-01-01 without declaring it"
            ),
            "add 'overrides: eu-deny' to make the exception explicit for reviewers",
        )
    ] == [(d.severity, d.code, d.message, d.hint) for d in gate.warnings]
    assert ("allow", "ie-allow") == outcome(gate, country="IE")


def test_declared_override_gives_no_warning(tmp_path):
    """Declaring the override silences the warning."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: ie-allow, allow: [IE], overrides: [eu-deny], reason: r}
        """,
    )
    assert () == gate.warnings


def test_override_of_missing_rule(tmp_path):
    """`overrides:` naming a rule the feature does not have is an error, with a suggestion."""
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: eu-deny, deny: [EU], reason: r}
              - {id: ie-allow, allow: [IE], overrides: eu-dney, reason: r}
        """,
    )
    assert [
        (
            "error",
            "unknown-rule",
            "features.f.rules[ie-allow] overrides 'eu-dney', which is not a rule of 'f'",
        )
    ] == errors


def test_override_of_another_features_rule(tmp_path):
    """A rule can only override rules of its own feature."""
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: ie-allow, allow: [IE], overrides: xyz, reason: r}
          g:
            default: allow
            rules:
              - {id: xyz, deny: [EU], reason: r}
        """,
    )
    message = "features.f.rules[ie-allow] overrides 'xyz', which is not a rule of 'f'"
    assert [("error", "unknown-rule", message)] == errors


def test_override_of_hard_deny(tmp_path):
    """Nothing overrides a hard_deny, so declaring it is an error."""
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: sanctions, hard_deny: [RU], reason: r}
              - {id: ru-allow, allow: [RU], overrides: sanctions, reason: r}
        """,
    )
    assert [
        (
            "error",
            "override-hard-deny",
            (
                "features.f.rules[ru-allow] overrides the hard_deny rule 'sanctions'; nothing "
                "overrides a hard_deny"
            ),
        )
    ] == errors


def test_self_override(tmp_path):
    """A rule cannot override itself."""
    errors = load_error(
        tmp_path,
        """\
        features:
          f:
            default: allow
            rules:
              - {id: a, allow: [IE], overrides: a, reason: r}
        """,
    )
    assert [
        ("error", "self-override", "features.f.rules[a] declares that it overrides itself")
    ] == (errors)


@pytest.mark.parametrize(
    "rules",
    [
        # The windows never overlap.
        """\
        - {id: eu-deny, deny: [EU], until: 2000-12-31, reason: r}
        - {id: ie-allow, allow: [IE], overrides: eu-deny, from: 2010-01-01, reason: r}
        """,
        # The places never overlap.
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: ie-allow, allow: [CH], overrides: eu-deny, reason: r}
        """,
        # Same effect: nothing is overridden.
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: ie-allow, deny: [IE], overrides: eu-deny, reason: r}
        """,
        # The declared rule is the broader one: it never decides against the narrower.
        """\
        - {id: ie-allow, allow: [IE], reason: r}
        - {id: eu-deny, deny: [EU], overrides: ie-allow, reason: r}
        """,
    ],
)
def test_override_without_effect(tmp_path, rules):
    """An `overrides:` that never takes effect is a warning."""
    gate = feature_gate(tmp_path, rules)
    codes = [(d.severity, d.code) for d in gate.warnings]
    assert ("warning", "override-without-effect") in codes


def test_override_without_effect_message(tmp_path):
    """The warning names both rules."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: eu-deny, deny: [EU], until: 2000-12-31, reason: r}
        - {id: ie-allow, allow: [IE], overrides: eu-deny, from: 2010-01-01, reason: r}
        """,
    )
    assert [
        (
            "warning",
            "override-without-effect",
            (
                "features.f.rules[ie-allow] declares 'overrides: eu-deny', but there is no place "
                "and date where it decides against 'eu-deny'"
            ),
        )
    ] == [(d.severity, d.code, d.message) for d in gate.warnings]


def test_undeclared_override_names_the_rule_just_below(tmp_path):
    """In a chain of exceptions, each rule declares the one it flips, not the ones further down."""
    gate = feature_gate(
        tmp_path,
        """\
        - {id: eu-deny, deny: [EU], reason: r}
        - {id: fr-allow, allow: [FR], overrides: eu-deny, reason: r}
        - {id: idf-deny, deny: [FR-IDF], overrides: fr-allow, reason: r}
        - {id: paris-allow, allow: [FR-75C], overrides: eu-deny, reason: r}
        """,
    )
    assert [
        (
            "undeclared-override",
            (
                "features.f.rules[paris-allow] (allow) overrides the broader rule 'idf-deny' "
                "(deny) for FR-75C (Paris, France) on every date without declaring it"
            ),
        )
    ] == [(d.code, d.message) for d in gate.warnings]
