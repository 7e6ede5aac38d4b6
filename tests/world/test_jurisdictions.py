"""Built-in dated jurisdictions, the traps in their membership, and custom jurisdictions."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from geogate import Jurisdiction, JurisdictionTable, Span, builtin_jurisdictions, load_policies
from geogate._world.countries import all_countries
from geogate._world.jurisdictions import describe_window

D = dt.date
TODAY = D(2026, 1, 1)

#: The 27 member states on 2026-01-01.
EU_STATES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
#: Territories with their own ISO 3166-1 code to which the EU treaties apply.
EU_TERRITORIES = frozenset({"AX", "GF", "GP", "MQ", "RE", "MF", "YT"})


@pytest.fixture(scope="module")
def table():
    return JurisdictionTable.with_custom(())


def test_builtin_names():
    """The built-in jurisdictions, in order."""
    assert [
        "EU",
        "EEA",
        "EFTA",
        "EUROZONE",
        "SCHENGEN",
        "UK",
        "UK-CROWN-DEPENDENCIES",
        "OFAC-COMPREHENSIVE",
        "WORLD",
    ] == list(builtin_jurisdictions())


def test_eu_today(table):
    """On 2026-01-01 the EU is 27 member states plus AX, GF, GP, MQ, RE, MF and YT."""
    members = table.members_at("EU", TODAY)
    assert 27 == len(EU_STATES)
    assert EU_STATES | EU_TERRITORIES == members
    assert 34 == len(members)


@pytest.mark.parametrize(
    ("country", "day", "member"),
    [
        # Outermost regions with their own ISO code are EU territory.
        ("RE", TODAY, True),
        ("GF", TODAY, True),
        ("GP", TODAY, True),
        ("MQ", TODAY, True),
        ("MF", TODAY, True),
        # Mayotte only from 2014-01-01.
        ("YT", D(2013, 12, 31), False),
        ("YT", D(2014, 1, 1), True),
        # Saint Barthelemy until 2011-12-31 only.
        ("BL", D(2011, 12, 31), True),
        ("BL", D(2012, 1, 1), False),
        ("BL", TODAY, False),
        # Greenland 1973-01-01 to 1985-01-31, never after.
        ("GL", D(1972, 12, 31), False),
        ("GL", D(1973, 1, 1), True),
        ("GL", D(1985, 1, 31), True),
        ("GL", D(1985, 2, 1), False),
        ("GL", TODAY, False),
        # The Faroes never.
        ("FO", D(1973, 1, 1), False),
        ("FO", D(1990, 1, 1), False),
        ("FO", TODAY, False),
        # The United Kingdom and Gibraltar until 2020-01-31 inclusive.
        ("GB", D(1972, 12, 31), False),
        ("GB", D(1973, 1, 1), True),
        ("GB", D(2020, 1, 31), True),
        ("GB", D(2020, 2, 1), False),
        ("GB", D(2020, 12, 31), False),
        ("GI", D(1973, 1, 1), True),
        ("GI", D(2020, 1, 31), True),
        ("GI", D(2020, 2, 1), False),
        # The Crown Dependencies never.
        ("JE", D(2000, 1, 1), False),
        ("GG", D(2000, 1, 1), False),
        ("IM", D(2000, 1, 1), False),
        # Aland with Finland from 1995.
        ("AX", D(1994, 12, 31), False),
        ("AX", D(1995, 1, 1), True),
        ("FI", D(1995, 1, 1), True),
        # Croatia from 2013-07-01.
        ("HR", D(2013, 6, 30), False),
        ("HR", D(2013, 7, 1), True),
        # Founding members from 1958, Greece 1981, Spain and Portugal 1986.
        ("FR", D(1957, 12, 31), False),
        ("FR", D(1958, 1, 1), True),
        ("GR", D(1980, 12, 31), False),
        ("GR", D(1981, 1, 1), True),
        ("ES", D(1986, 1, 1), True),
        ("BG", D(2006, 12, 31), False),
        ("BG", D(2007, 1, 1), True),
        # Not EU at all.
        ("CH", TODAY, False),
        ("NO", TODAY, False),
        ("PF", TODAY, False),
        ("NC", TODAY, False),
    ],
)
def test_eu_membership(table, country, day, member):
    """EU membership on a date, with the traps: territories, Greenland, Brexit, Faroes."""
    assert member == (country in table.members_at("EU", day))
    assert member == builtin_jurisdictions()["EU"].is_member(country, day)


@pytest.mark.parametrize(
    ("country", "day", "member"),
    [
        ("IS", D(1993, 12, 31), False),
        ("IS", D(1994, 1, 1), True),
        ("NO", D(1994, 1, 1), True),
        ("NO", TODAY, True),
        ("LI", D(1995, 4, 30), False),
        ("LI", D(1995, 5, 1), True),
        ("LI", TODAY, True),
        ("CH", D(1994, 1, 1), False),
        ("CH", TODAY, False),
        ("FR", D(1993, 12, 31), False),
        ("FR", D(1994, 1, 1), True),
        ("GB", D(2020, 1, 31), True),
        ("GB", D(2020, 2, 1), False),
        ("RE", TODAY, True),
        ("AX", TODAY, True),
        # Aland with the rest of Finland from the start (Article 126(2) declaration).
        ("AX", D(1993, 12, 31), False),
        ("AX", D(1994, 1, 1), True),
        ("FI", D(1994, 1, 1), True),
        ("YT", D(2013, 12, 31), False),
        ("YT", D(2014, 1, 1), True),
        ("HR", D(2014, 4, 11), False),
        ("HR", D(2014, 4, 12), True),
        ("GL", TODAY, False),
        ("FO", TODAY, False),
        ("SJ", TODAY, False),
    ],
)
def test_eea_membership(table, country, day, member):
    """EEA membership on a date: the EU plus IS, LI and NO with their own dates, never CH."""
    assert member == (country in table.members_at("EEA", day))


def test_eea_is_eu_plus_three_today(table):
    """Today the EEA is exactly the EU (its territories included) plus IS, LI and NO."""
    assert table.members_at("EU", TODAY) | {"IS", "LI", "NO"} == table.members_at("EEA", TODAY)


def test_efta_today(table):
    """EFTA today is IS, LI, NO and CH."""
    assert {"IS", "LI", "NO", "CH"} == table.members_at("EFTA", TODAY)


@pytest.mark.parametrize(
    ("day", "members"),
    [
        (D(1960, 5, 2), set()),
        (D(1960, 5, 3), {"AT", "CH", "DK", "GB", "NO", "PT", "SE"}),
        (D(1994, 12, 31), {"AT", "CH", "FI", "IS", "LI", "NO", "SE"}),
        (D(1995, 1, 1), {"CH", "IS", "LI", "NO"}),
    ],
)
def test_efta_history(table, day, members):
    """EFTA's earlier members are dated."""
    assert members == table.members_at("EFTA", day)


def test_uk_and_crown_dependencies(table):
    """The UK is GB; Jersey, Guernsey and the Isle of Man are not the UK."""
    assert {"GB"} == table.members_at("UK", TODAY)
    assert {"GB"} == table.members_at("UK", D(1900, 1, 1))
    assert {"JE", "GG", "IM"} == table.members_at("UK-CROWN-DEPENDENCIES", TODAY)
    for code in ("JE", "GG", "IM"):
        assert ("UK-CROWN-DEPENDENCIES", "WORLD") == table.containing(code, TODAY)


def test_world_is_every_country(table):
    """WORLD holds every ISO 3166-1 code and XK, on any date."""
    assert all_countries() == table.members_at("WORLD", TODAY)
    assert all_countries() == table.members_at("WORLD", D(1900, 1, 1))
    assert "XK" in table.members_at("WORLD", TODAY)


@pytest.mark.parametrize(
    ("country", "day", "names"),
    [
        ("FR", TODAY, ("EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD")),
        ("RE", TODAY, ("EUROZONE", "EU", "EEA", "WORLD")),
        ("NO", TODAY, ("EFTA", "SCHENGEN", "EEA", "WORLD")),
        ("CH", TODAY, ("EFTA", "SCHENGEN", "WORLD")),
        ("CU", TODAY, ("OFAC-COMPREHENSIVE", "WORLD")),
        ("SY", TODAY, ("WORLD",)),
        ("SY", D(2025, 6, 30), ("OFAC-COMPREHENSIVE", "WORLD")),
        ("GB", TODAY, ("UK", "WORLD")),
        ("GB", D(2020, 1, 31), ("UK", "EU", "EEA", "WORLD")),
        ("GB", D(1965, 1, 1), ("UK", "EFTA", "WORLD")),
        ("GL", D(1980, 1, 1), ("EU", "WORLD")),
        ("GL", TODAY, ("WORLD",)),
        ("US", TODAY, ("WORLD",)),
        ("FR", D(1957, 12, 31), ("WORLD",)),
        ("ZZ", TODAY, ()),
    ],
)
def test_containing(table, country, day, names):
    """`containing()` lists the jurisdictions holding a country, most specific first."""
    assert names == table.containing(country, day)


def test_boundaries(table):
    """Membership changes on the recorded days; UK and WORLD never change."""
    assert () == table.boundaries("UK")
    assert () == table.boundaries("WORLD")
    eu = table.boundaries("EU")
    assert eu == tuple(sorted(eu))
    for day in (D(1958, 1, 1), D(1985, 2, 1), D(2012, 1, 1), D(2014, 1, 1), D(2020, 2, 1)):
        assert day in eu


def test_span():
    """Spans are inclusive at both ends; None is open."""
    span = Span(D(2020, 1, 1), D(2020, 1, 31))
    assert [False, True, True, False] == [
        span.contains(day)
        for day in (D(2019, 12, 31), D(2020, 1, 1), D(2020, 1, 31), D(2020, 2, 1))
    ]
    assert [D(2020, 1, 1), D(2020, 2, 1)] == list(span.boundaries())
    assert Span(None, None).contains(D(1, 1, 1))
    assert [] == list(Span(None, None).boundaries())


def test_builtin_jurisdiction_attributes():
    """Built-in jurisdictions carry a description, sources and notes on traps."""
    eu = builtin_jurisdictions()["EU"]
    assert isinstance(eu, Jurisdiction)
    assert eu.builtin
    assert eu.sources
    assert (
        "Left the EU at the end of 2020-01-31 (Withdrawal Agreement); the transition period "
        "until 2020-12-31 is not membership." == eu.notes["GB"]
    )


def _custom(tmp_path, text):
    (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
    return load_policies(tmp_path).jurisdictions


def test_custom_jurisdictions_reference_builtins(tmp_path):
    """A custom jurisdiction may name built-in ones, and keeps their dates."""
    table = _custom(
        tmp_path,
        """\
jurisdictions:
  EEA-CH-UK: [EEA, CH, UK]
  NORDIC: [DK, SE, NO, FI, IS]
  NORDIC-EEA: [NORDIC, EEA]
features: {}
""",
    )
    eea = table.members_at("EEA", TODAY)
    assert eea | {"CH", "GB"} == table.members_at("EEA-CH-UK", TODAY)
    assert "LI" not in table.members_at("EEA-CH-UK", D(1995, 4, 30))
    assert "LI" in table.members_at("EEA-CH-UK", D(1995, 5, 1))
    assert "FR" not in table.members_at("EEA-CH-UK", D(1993, 12, 31))
    assert "GB" in table.members_at("EEA-CH-UK", D(1900, 1, 1))
    assert {"DK", "SE", "NO", "FI", "IS"} == table.members_at("NORDIC", D(1900, 1, 1))
    assert eea == table.members_at("NORDIC-EEA", TODAY)
    assert {"DK", "SE", "NO", "FI", "IS"} == table.members_at("NORDIC-EEA", D(1900, 1, 1))
    assert (
        "NORDIC",
        "SCHENGEN",
        "EU",
        "EEA",
        "NORDIC-EEA",
        "EEA-CH-UK",
        "WORLD",
    ) == table.containing("DK", TODAY)
    assert not table.jurisdictions["NORDIC"].builtin
    assert "Custom jurisdiction: EEA, CH, UK." == table.jurisdictions["EEA-CH-UK"].description


def test_custom_jurisdiction_merges_spans(tmp_path):
    """A country reached through two members is in on the union of their dates."""
    table = _custom(
        tmp_path,
        """\
jurisdictions:
  EU-OR-EFTA: [EU, EFTA]
features: {}
""",
    )
    assert (Span(D(1960, 5, 3), None),) == table.jurisdictions["EU-OR-EFTA"].members["DK"]
    assert (Span(D(1960, 5, 3), D(2020, 1, 31)),) == table.jurisdictions["EU-OR-EFTA"].members["GB"]
    assert "GB" not in table.members_at("EU-OR-EFTA", D(2020, 2, 1))


def test_containing_order_follows_sizes_on_the_date(tmp_path):
    """
    The order is by size on the asked date, even when sizes change on days the country's own
    memberships do not.

    FRANCE-EFTA shrinks when AT, FI and SE leave EFTA (1995-01-01) and becomes a strict subset of
    FRANCE-PLUS; FR's own memberships do not change that day.
    """
    table = _custom(
        tmp_path,
        """\
jurisdictions:
  FRANCE-EFTA: [FR, EFTA]
  FRANCE-PLUS: [FR, IS, LI, NO, CH, US, CA]
features: {}
""",
    )
    assert table.members_at("FRANCE-EFTA", TODAY) < table.members_at("FRANCE-PLUS", TODAY)
    assert (
        "FRANCE-EFTA",
        "FRANCE-PLUS",
        "EUROZONE",
        "SCHENGEN",
        "EU",
        "EEA",
        "WORLD",
    ) == table.containing("FR", TODAY)
    assert ("FRANCE-PLUS", "FRANCE-EFTA", "EU", "EEA", "WORLD") == table.containing(
        "FR", D(1994, 6, 1)
    )


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (None, None, "on every date"),
        (None, dt.date(2025, 3, 30), "until 2025-03-30"),
        (dt.date(2024, 9, 25), None, "from 2024-09-25"),
        (dt.date(2026, 6, 1), dt.date(2026, 6, 1), "on 2026-06-01"),
        (dt.date(2024, 9, 25), dt.date(2025, 3, 30), "from 2024-09-25 until 2025-03-30"),
    ],
)
def test_one_wording_for_a_window(start, end, words):
    """A rule's window, a membership and a run of dates read the same everywhere."""
    assert words == describe_window(start, end)
    assert words == Span(start, end).describe()


def test_policy_sets_without_custom_jurisdictions_share_one_built_in_table():
    """Building a table works out every timeline; without custom ones it is built once."""
    first = JurisdictionTable.with_custom(())
    assert first is JurisdictionTable.with_custom([])
    assert dict(builtin_jurisdictions()) == dict(first.jurisdictions)
    nordic = attrs.evolve(builtin_jurisdictions()["EU"], name="NORDIC")
    assert "NORDIC" in JurisdictionTable.with_custom([nordic])
    assert "NORDIC" not in JurisdictionTable.with_custom(())
