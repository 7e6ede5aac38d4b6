"""The dated built-in jurisdictions EUROZONE, SCHENGEN and OFAC-COMPREHENSIVE, day by day."""

from __future__ import annotations

import datetime as dt

import pytest

from geogate._world.countries import all_countries, find_subdivision, subdivisions_of
from geogate._world.jurisdictions import builtin_jurisdictions

D = dt.date
TODAY = D(2026, 1, 1)
DAY = dt.timedelta(days=1)


def member(name, code, day):
    return builtin_jurisdictions()[name].is_member(code, day)


def boundary_cases(name, firsts, lasts=()):
    """(code, day, member): the day before and the first day of each start, around each end."""
    cases = []
    for code, first in firsts:
        cases += [(name, code, first - DAY, False), (name, code, first, True)]
    for code, last in lasts:
        cases += [(name, code, last, True), (name, code, last + DAY, False)]
    return cases


#: When each member state adopted the euro.
EURO_ADOPTION = {
    **dict.fromkeys(
        ("AT", "BE", "DE", "ES", "FI", "FR", "IE", "IT", "LU", "NL", "PT"), D(1999, 1, 1)
    ),
    "GR": D(2001, 1, 1),
    "SI": D(2007, 1, 1),
    "CY": D(2008, 1, 1),
    "MT": D(2008, 1, 1),
    "SK": D(2009, 1, 1),
    "EE": D(2011, 1, 1),
    "LV": D(2014, 1, 1),
    "LT": D(2015, 1, 1),
    "HR": D(2023, 1, 1),
    "BG": D(2026, 1, 1),
}
#: EU territories with their own ISO 3166-1 code, part of a euro member state.
EURO_TERRITORIES = {
    **dict.fromkeys(("AX", "GF", "GP", "MQ", "RE", "MF"), D(1999, 1, 1)),
    "YT": D(2014, 1, 1),  # on the euro since 1999, but EU territory only from 2014
}
#: EU member states without the euro on 2026-01-01.
NOT_EURO = ("CZ", "DK", "HU", "PL", "RO", "SE")

EUROZONE_CASES = [
    *boundary_cases("EUROZONE", [*EURO_ADOPTION.items(), *EURO_TERRITORIES.items()]),
    # Saint Barthelemy: EU territory on the euro until it became an OCT.
    *boundary_cases("EUROZONE", [("BL", D(1999, 1, 1))], [("BL", D(2011, 12, 31))]),
    # Users of the euro outside the EU are never members.
    *[
        ("EUROZONE", code, TODAY, False)
        for code in ("MC", "SM", "VA", "AD", "ME", "XK", "PM", "TF", "BL")
    ],
    *[("EUROZONE", code, TODAY, False) for code in NOT_EURO],
    ("EUROZONE", "GB", D(2010, 1, 1), False),
]


SCHENGEN_START = {
    **dict.fromkeys(("BE", "DE", "ES", "FR", "LU", "NL", "PT"), D(1995, 3, 26)),
    "IT": D(1997, 10, 26),
    "AT": D(1997, 12, 1),
    "GR": D(2000, 1, 1),
    **dict.fromkeys(("DK", "FI", "IS", "NO", "SE", "AX"), D(2001, 3, 25)),
    **dict.fromkeys(("CZ", "EE", "HU", "LT", "LV", "MT", "PL", "SI", "SK"), D(2007, 12, 21)),
    "CH": D(2008, 12, 12),
    "LI": D(2011, 12, 19),
    "HR": D(2023, 1, 1),
    "BG": D(2024, 3, 31),
    "RO": D(2024, 3, 31),
}
#: Territories outside the Schengen area although their state is in it, and non-members.
NOT_SCHENGEN = (
    *("GF", "GP", "MQ", "RE", "YT", "MF", "BL", "PM", "PF", "NC", "WF", "TF"),
    *("AW", "CW", "SX", "BQ", "SJ", "FO", "GL"),
    *("IE", "CY", "GB", "GI", "MC", "SM", "VA", "AD"),
)

SCHENGEN_CASES = [
    *boundary_cases("SCHENGEN", SCHENGEN_START.items()),
    # Bulgaria and Romania stay members across the end of land-border checks.
    ("SCHENGEN", "BG", D(2024, 12, 31), True),
    ("SCHENGEN", "BG", D(2025, 1, 1), True),
    ("SCHENGEN", "RO", D(2025, 1, 1), True),
    *[("SCHENGEN", code, TODAY, False) for code in NOT_SCHENGEN],
]

OFAC_CASES = [
    *boundary_cases(
        "OFAC-COMPREHENSIVE",
        [
            ("CU", D(1963, 7, 8)),
            ("IR", D(1995, 5, 7)),
            ("SY", D(2011, 8, 17)),
            ("UA-43", D(2014, 12, 19)),
            ("UA-40", D(2014, 12, 19)),
            ("UA-14", D(2022, 2, 21)),
            ("UA-09", D(2022, 2, 21)),
        ],
        [("SY", D(2025, 6, 30))],  # EO 14312: the programme ended effective 2025-07-01
    ),
    ("OFAC-COMPREHENSIVE", "KP", D(1950, 1, 1), True),  # no start date recorded
    ("OFAC-COMPREHENSIVE", "KP", TODAY, True),
    ("OFAC-COMPREHENSIVE", "CU", TODAY, True),
    ("OFAC-COMPREHENSIVE", "IR", TODAY, True),
    ("OFAC-COMPREHENSIVE", "SY", TODAY, False),
    # Whole provinces, never the country: the rest of Ukraine is not embargoed.
    ("OFAC-COMPREHENSIVE", "UA", TODAY, False),
    ("OFAC-COMPREHENSIVE", "UA-30", TODAY, False),  # Kyiv
    ("OFAC-COMPREHENSIVE", "RU", TODAY, False),
]


@pytest.mark.parametrize(
    ("name", "code", "day", "expected"), [*EUROZONE_CASES, *SCHENGEN_CASES, *OFAC_CASES]
)
def test_membership_around_each_boundary(name, code, day, expected):
    """Membership on the day before and the first day of each change (inclusive spans)."""
    assert expected == member(name, code, day)


def test_eurozone_today():
    """On 2026-01-01 the euro area is 21 member states and 7 EU territories."""
    members = {
        c for c in builtin_jurisdictions()["EUROZONE"].members if member("EUROZONE", c, TODAY)
    }
    assert set(EURO_ADOPTION) | set(EURO_TERRITORIES) == members
    assert (21, 28) == (len(EURO_ADOPTION), len(members))


def test_eurozone_is_always_inside_the_eu():
    """A euro area member is an EU member on every day its membership changes, and after."""
    eurozone = builtin_jurisdictions()["EUROZONE"]
    days = sorted(eurozone.boundaries() | builtin_jurisdictions()["EU"].boundaries())
    for day in days:
        for code in eurozone.members:
            if member("EUROZONE", code, day):
                assert member("EU", code, day), (code, day)


def test_schengen_today():
    """On 2026-01-01 the Schengen area is 29 states plus Aland."""
    members = {
        c for c in builtin_jurisdictions()["SCHENGEN"].members if member("SCHENGEN", c, TODAY)
    }
    assert set(SCHENGEN_START) == members
    assert 30 == len(members)


def test_schengen_notes_model_bulgaria_and_romania():
    """The partial step for BG and RO is written down where a reader looks for it."""
    notes = builtin_jurisdictions()["SCHENGEN"].notes
    assert "2024-12-31" in notes["BG"]
    assert "2025-01-01" in notes["BG"]
    assert "2024-12-31" in notes["RO"]


def test_ofac_says_it_over_blocks_and_how_to_override():
    """The description warns that whole oblasts are listed and says how to change the list."""
    ofac = builtin_jurisdictions()["OFAC-COMPREHENSIVE"]
    assert "over-blocks" in ofac.description
    assert "custom jurisdiction" in ofac.description
    assert {"UA-09", "UA-14", "UA-40", "UA-43"} <= set(ofac.members)


@pytest.mark.parametrize("name", sorted(builtin_jurisdictions()))
def test_builtin_members_are_known_places(name):
    """Every member is an ISO 3166-1 country (or XK) or a known ISO 3166-2 subdivision."""
    jurisdiction = builtin_jurisdictions()[name]
    assert jurisdiction.sources
    for code in jurisdiction.members:
        if "-" in code:
            assert find_subdivision(code) is not None, code
            assert code in subdivisions_of(code.partition("-")[0]), code
        else:
            assert code in all_countries(), code
    assert list(jurisdiction.members) == sorted(jurisdiction.members) or name == "WORLD"


# An independent oracle: Unicode CLDR's territory currencies, through Babel.


def cldr_euro_spans(territory):
    """When CLDR says the euro was legal tender in *territory*: [(from, to or None)]."""
    numbers = pytest.importorskip(
        "babel.numbers", reason="Babel (geogate[test]) is needed for the CLDR euro oracle"
    )
    found = numbers.get_territory_currencies(
        territory,
        start_date=D(1990, 1, 1),
        end_date=D(2100, 1, 1),
        tender=True,
        non_tender=False,
        include_details=True,
    )
    return [(entry["from"], entry["to"]) for entry in found if entry["currency"] == "EUR"]


#: Where EUROZONE and CLDR disagree on purpose. CLDR records where the euro is legal tender;
#: EUROZONE holds only EU territory. Mayotte used the euro from 1999 (Council Decision
#: 1999/95/EC) but joined the EU on 2014-01-01; Saint Barthelemy left the EU on 2012-01-01
#: and kept the euro.
CLDR_DISAGREES = {
    "YT": ([(D(1999, 1, 1), None)], (D(2014, 1, 1), None)),
    "BL": ([(D(1999, 1, 1), None)], (D(1999, 1, 1), D(2011, 12, 31))),
}


@pytest.mark.parametrize(
    "code", sorted(set(EURO_ADOPTION) | set(EURO_TERRITORIES) | set(NOT_EURO) | {"BL"})
)
def test_eurozone_dates_agree_with_cldr(code):
    """Every EU member's euro adoption date is CLDR's, except the two pinned territories."""
    spans = builtin_jurisdictions()["EUROZONE"].members.get(code, ())
    ours = [(span.start, span.end) for span in spans]
    cldr = cldr_euro_spans(code)
    if code in CLDR_DISAGREES:
        expected_cldr, ours_instead = CLDR_DISAGREES[code]
        assert (expected_cldr, [ours_instead]) == (cldr, ours)
    else:
        assert cldr == ours


@pytest.mark.parametrize("code", ["MC", "SM", "VA", "AD", "ME", "XK", "PM", "TF"])
def test_cldr_knows_the_non_eu_users_eurozone_leaves_out(code):
    """CLDR lists the euro in these places; EUROZONE leaves them out by design."""
    assert cldr_euro_spans(code)
    assert code not in builtin_jurisdictions()["EUROZONE"].members
