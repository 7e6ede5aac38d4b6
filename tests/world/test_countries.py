"""Country and subdivision normalisation, subdivision chains and suggestions."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
from unittest import mock

import pycountry
import pytest

from geogate import Gate
from geogate._world.countries import (
    PARTS_OF_COUNTRIES,
    SUBDIVISIONS_WITH_COUNTRY_CODE,
    LocationStatus,
    Normalized,
    _supplemented_subdivisions,
    _SupplementedSubdivision,
    all_countries,
    country_name,
    find_subdivision,
    normalize_country,
    normalize_subdivision,
    resolve_place,
    subdivision_chain,
    subdivision_name,
    subdivisions_of,
    suggest_country,
)
from helpers.paths import POLICIES

KNOWN = LocationStatus.KNOWN
UNKNOWN = LocationStatus.UNKNOWN
INVALID = LocationStatus.INVALID


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("FR", "FR"),
        ("fr", "FR"),
        ("Fr", "FR"),
        ("fR", "FR"),
        ("UK", "GB"),
        ("uk", "GB"),
        ("GB", "GB"),
        ("EL", "GR"),
        ("el", "GR"),
        ("GR", "GR"),
        ("XK", "XK"),
        ("xk", "XK"),
        ("RE", "RE"),
        ("AX", "AX"),
    ],
)
def test_known_countries(value, code):
    """Codes are case-insensitive; UK means GB and EL means GR; XK is Kosovo."""
    assert Normalized(KNOWN, code=code) == normalize_country(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "no country was given"),
        ("", "an empty country means an unknown location"),
        ("XX", "the country code 'XX' means an unknown location"),
        ("xx", "the country code 'xx' means an unknown location"),
        ("T1", "the country code 'T1' means an unknown location"),
        ("t1", "the country code 't1' means an unknown location"),
        ("ZZ", "the country code 'ZZ' means an unknown location"),
        ("A1", "the country code 'A1' means an unknown location"),
        ("A2", "the country code 'A2' means an unknown location"),
        ("O1", "the country code 'O1' means an unknown location"),
        ("AP", "the country code 'AP' means an unknown location"),
        ("EU", "the country code 'EU' means an unknown location"),
        ("eu", "the country code 'eu' means an unknown location"),
        ("?", "the country code '?' means an unknown location"),
    ],
)
def test_unknown_countries(value, problem):
    """Pseudo-codes, the continent EU, '?', empty and missing mean an unknown location."""
    assert Normalized(UNKNOWN, problem=problem) == normalize_country(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("GER", "'GER' is not an ISO 3166-1 alpha-2 country code (did you mean 'DE'?)"),
        ("GBR", "'GBR' is not an ISO 3166-1 alpha-2 country code (did you mean 'GB'?)"),
        ("Germany", "'Germany' is not an ISO 3166-1 alpha-2 country code (did you mean 'DE'?)"),
        ("GB-NIR", "'GB-NIR' is not an ISO 3166-1 alpha-2 country code"),
        (" FR", "' FR' is not an ISO 3166-1 alpha-2 country code (did you mean 'FR'?)"),
        ("FR ", "'FR ' is not an ISO 3166-1 alpha-2 country code (did you mean 'FR'?)"),
        ("FR\n", "'FR\\n' is not an ISO 3166-1 alpha-2 country code (did you mean 'FR'?)"),
        (" ", "' ' is not an ISO 3166-1 alpha-2 country code"),
        (
            "\u0131t",  # dotless i: upper() gives 'IT'
            "'\u0131t' is not an ISO 3166-1 alpha-2 country code (did you mean 'IT'?)",
        ),
        (
            "\u017fe",  # long s: upper() gives 'SE'
            "'\u017fe' is not an ISO 3166-1 alpha-2 country code (did you mean 'SE'?)",
        ),
        (
            "\u00df",  # sharp s: upper() gives 'SS', South Sudan
            "'\u00df' is not an ISO 3166-1 alpha-2 country code (did you mean 'SS'?)",
        ),
        (
            "X" * 100,
            "'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX... is not an ISO 3166-1 alpha-2 country code",
        ),
        (5, "the country 5 is an int, not a string"),
        (1.5, "the country 1.5 is a float, not a string"),
        (True, "the country True is a bool, not a string"),
        (b"FR", "the country b'FR' is a bytes, not a string"),
        (["FR"], "the country ['FR'] is a list, not a string"),
        ({"FR": 1}, "the country {'FR': 1} is a dict, not a string"),
    ],
)
def test_invalid_countries(value, problem):
    """Anything else is invalid, and the problem says why; white space is not stripped."""
    assert Normalized(INVALID, problem=problem) == normalize_country(value)


def test_every_iso_code_is_known_in_any_case():
    """Every ISO 3166-1 alpha-2 code (and XK) normalises to itself, upper or lower case."""
    codes = {country.alpha_2 for country in pycountry.countries} | {"XK"}
    assert codes == set(all_countries())
    for code in sorted(codes):
        assert Normalized(KNOWN, code=code) == normalize_country(code)
        assert Normalized(KNOWN, code=code) == normalize_country(code.lower())


@pytest.mark.parametrize(
    ("code", "name"),
    [("GB", "United Kingdom"), ("XK", "Kosovo"), ("RE", "Réunion"), ("TW", "Taiwan")],
)
def test_country_name(code, name):
    """Countries have a short English name."""
    assert name == country_name(code)


@pytest.mark.parametrize(
    ("value", "country", "code"),
    [
        ("NIR", "GB", "GB-NIR"),
        ("nir", "GB", "GB-NIR"),
        ("GB-NIR", "GB", "GB-NIR"),
        ("gb-nir", "GB", "GB-NIR"),
        ("GB-NIR", None, "GB-NIR"),
        ("UK-NIR", None, "GB-NIR"),
        ("uk-nir", "GB", "GB-NIR"),
        ("GB-BFS", "GB", "GB-BFS"),
        ("CN", "ES", "ES-CN"),
        ("EL-I", None, "GR-I"),
        ("FR-974", "FR", "FR-974"),
        ("974", "FR", "FR-974"),
        # A subdivision that ISO 3166-1 also codes as a country agrees with that code.
        ("FR-974", "RE", "FR-974"),
        ("FI-01", "AX", "FI-01"),
    ],
)
def test_known_subdivisions(value, country, code):
    """Full codes, or the part after the hyphen with a country, in any case."""
    assert Normalized(KNOWN, code=code) == normalize_subdivision(value, country)


@pytest.mark.parametrize(
    ("value", "country", "status", "problem"),
    [
        (None, "GB", UNKNOWN, "no subdivision was given"),
        ("", "GB", UNKNOWN, "no subdivision was given"),
        ("GB-NIR", "FR", INVALID, "the subdivision 'GB-NIR' is not in the country 'FR'"),
        ("FR-974", "GP", INVALID, "the subdivision 'FR-974' is not in the country 'GP'"),
        ("NIR", None, INVALID, "the subdivision 'NIR' needs a country or the full ISO 3166-2 code"),
        ("XX-YY", None, INVALID, "'XX-YY' is not an ISO 3166-2 subdivision code"),
        ("ZZZZ", "GB", INVALID, "'ZZZZ' is not an ISO 3166-2 subdivision code"),
        ("Z_Z", "GB", INVALID, "'Z_Z' is not an ISO 3166-2 subdivision code"),
        (" NIR", "GB", INVALID, "' NIR' is not an ISO 3166-2 subdivision code"),
        ("n\u0131r", "GB", INVALID, "'n\u0131r' is not an ISO 3166-2 subdivision code"),
        (5, "GB", INVALID, "the subdivision 5 is an int, not a string"),
        (["NIR"], "GB", INVALID, "the subdivision ['NIR'] is a list, not a string"),
    ],
)
def test_bad_subdivisions(value, country, status, problem):
    """Missing, contradictory, unknown and mistyped subdivisions say why."""
    assert Normalized(status, problem=problem) == normalize_subdivision(value, country)


@pytest.mark.parametrize(
    ("value", "country", "code"),
    [("ZZZ", "GB", "GB"), ("GB-ZZZ", "GB", "GB"), ("US-ZZ", None, "US"), ("9", "FR", "FR")],
)
def test_well_formed_but_unrecognised_subdivisions_name_their_country(value, country, code):
    """
    Newer (or older) than geogate's data: not invalid, but unknown, with the
    country it belongs to, so the request is decided as one naming the country.
    """
    found = normalize_subdivision(value, country)
    full = value if "-" in value else f"{code}-{value}"
    assert (
        Normalized(
            UNKNOWN,
            code=code,
            problem=f"the subdivision {full!r} is not one geogate recognises, so the request "
            f"names only the country {code!r}",
        )
        == found
    )


@pytest.mark.parametrize(
    ("code", "chain"),
    [
        ("GB-BFS", ("GB-BFS", "GB-NIR")),
        ("GB-NIR", ("GB-NIR",)),
        ("ES-TF", ("ES-TF", "ES-CN")),
        ("FR-75C", ("FR-75C", "FR-IDF")),
        ("ZZ-ZZ", ("ZZ-ZZ",)),
    ],
)
def test_subdivision_chain(code, chain):
    """A subdivision is followed by its parents, innermost first."""
    assert chain == subdivision_chain(code)


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("GER", "DE"),
        ("ger", "DE"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("germany", "DE"),
        ("UK", "GB"),
        ("uk", "GB"),
        ("EL", "GR"),
        ("NED", "NL"),
        ("SUI", "CH"),
        ("GBR", "GB"),
        ("XKX", "XK"),
        ("Kosovo", "XK"),
        (" fr ", "FR"),
    ],
)
def test_suggestions(value, suggestion):
    """Aliases, IOC codes, alpha-3 codes and names come before fuzzy matching."""
    assert suggestion == suggest_country(value)


def test_uk_is_not_suggested_as_uzbekistan():
    """difflib alone would turn 'UK' into 'UZ'; the alias wins."""
    assert suggest_country("UK") != "UZ"
    assert "GB" == suggest_country("UK")


def test_suggestion_among_candidates():
    """Close matches are looked for among the given candidates too."""
    assert "NORDIC" == suggest_country("NORDIK", ["NORDIC", "EEA"])


def test_no_suggestion_for_nonsense():
    """Nothing close: no suggestion."""
    assert None is suggest_country("0123456789")


# Codes for parts of countries


@pytest.mark.parametrize(
    ("value", "country", "subdivision"),
    [
        ("IC", "ES", "ES-CN"),
        ("ic", "ES", "ES-CN"),
        ("EA", "ES", None),
        ("FX", "FR", None),
        ("fx", "FR", None),
        ("XI", "GB", "GB-NIR"),
        ("AC", "SH", "SH-AC"),
        ("TA", "SH", "SH-TA"),
        ("CP", "FR", "FR-CP"),
        ("DG", "IO", None),
    ],
)
def test_codes_for_parts_of_countries(value, country, subdivision):
    """IC, EA, FX, XI and the other reserved or CLDR codes name part of a real country."""
    assert Normalized(KNOWN, code=country, subdivision=subdivision) == normalize_country(value)


def test_parts_of_countries_name_real_places():
    """Every part names an ISO country, and ISO 3166-2 codes of that country."""
    for code, part in PARTS_OF_COUNTRIES.items():
        assert code not in all_countries()
        assert part.country in all_countries()
        for subdivision in part.subdivisions:
            record = pycountry.subdivisions.get(code=subdivision)
            assert (part.country, None) == (record.country_code, record.parent_code)


@pytest.mark.parametrize("value", ["EZ", "UN", "QO", "SU", "YU", "AN", "CS"])
def test_codes_naming_no_single_place_stay_invalid(value):
    """The euro area, the UN, outlying Oceania and withdrawn codes are no place."""
    assert INVALID == normalize_country(value).status


# Bounded work and memory for request input


@pytest.mark.slow
def test_huge_subdivisions_are_refused_unread_and_unremembered():
    """
    300 distinct 1 MB subdivision strings add nothing to the process.

    Before, each was remembered by an unbounded cache (about 290 MB).
    """
    gate = Gate.from_path(POLICIES)
    gate.evaluate("llama-3.2-vision", country="GB", subdivision="NIR")  # warm the tables
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for number in range(300):
            value = f"{number:06d}" * (2**20 // 6)
            decision = gate.evaluate("llama-3.2-vision", country="GB", subdivision=value)
            assert (False, INVALID) == (decision.allowed, decision.location)
            del value
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 2**20  # less than one of them


def test_distinct_garbage_countries_are_cheap_and_unremembered():
    """A distinct bad country string is refused with dictionary look-ups only (no difflib)."""
    with mock.patch("difflib.get_close_matches", side_effect=AssertionError("difflib")):
        for value in ("FRR", "Q7", "x" * 10_000, "Germany", "GER", "\ud800"):
            assert INVALID == normalize_country(value).status


# Jan Mayen, Svalbard and the subdivision supplement


@pytest.mark.parametrize(
    ("country", "subdivision", "expected"),
    [
        # Jan Mayen is Norway's, in the EEA (only Svalbard is excluded, Protocol 40).
        ("NO", "NO-22", Normalized(KNOWN, code="NO", subdivision="NO-22")),
        ("NO", "22", Normalized(KNOWN, code="NO", subdivision="NO-22")),
        (None, "NO-22", Normalized(KNOWN, code="NO", subdivision="NO-22")),
        # Svalbard is SJ, which ISO 3166-1 codes as a country of its own.
        ("NO", "NO-21", Normalized(KNOWN, code="SJ")),
        (None, "NO-21", Normalized(KNOWN, code="SJ")),
        ("SJ", None, Normalized(KNOWN, code="SJ")),
    ],
)
def test_jan_mayen_is_norway_and_svalbard_is_sj(country, subdivision, expected):
    """NO-22 stays a subdivision of Norway; NO-21 becomes SJ."""
    assert expected == resolve_place(country, subdivision)


def test_svalbard_alone_has_its_own_country_code():
    """Only Svalbard maps to a country code among Norway's subdivisions."""
    assert {"NO-21": "SJ"} == {
        code: own for code, own in SUBDIVISIONS_WITH_COUNTRY_CODE.items() if code.startswith("NO-")
    }
    assert "NO-22" in subdivisions_of("NO")


#: Norway's counties from 2024-01-01, and the ones they replaced.
NORWAY_2024 = {
    "NO-31": "Østfold",
    "NO-32": "Akershus",
    "NO-33": "Buskerud",
    "NO-39": "Vestfold",
    "NO-40": "Telemark",
    "NO-55": "Troms",
    "NO-56": "Finnmark",
}
NORWAY_REPLACED = {"NO-30": "Viken", "NO-38": "Vestfold og Telemark", "NO-54": "Troms og Finnmark"}
#: The county each 2024 county was split from.
NORWAY_SPLIT_FROM = {
    **dict.fromkeys(("NO-31", "NO-32", "NO-33"), "NO-30"),
    **dict.fromkeys(("NO-39", "NO-40"), "NO-38"),
    **dict.fromkeys(("NO-55", "NO-56"), "NO-54"),
}


@pytest.mark.parametrize("code", sorted(NORWAY_2024))
def test_norway_2024_counties_are_known(code):
    """The supplement's codes resolve, are named, have a chain and are listed for their country."""
    assert Normalized(KNOWN, code="NO", subdivision=code) == resolve_place("NO", code)
    assert Normalized(KNOWN, code="NO", subdivision=code) == resolve_place(None, code)
    assert Normalized(KNOWN, code=code) == normalize_subdivision(code.removeprefix("NO-"), "NO")
    assert NORWAY_2024[code] == subdivision_name(code)
    # Inside the county it was split from, so a rule on the old code still covers it.
    assert (code, NORWAY_SPLIT_FROM[code]) == subdivision_chain(code)
    assert code in subdivisions_of("NO")
    assert "NO" == find_subdivision(code).country_code


@pytest.mark.parametrize("code", sorted(NORWAY_REPLACED))
def test_replaced_norwegian_counties_stay_known(code):
    """Old GeoIP databases still send NO-30, NO-38 and NO-54: they stay known, dated."""
    assert Normalized(KNOWN, code="NO", subdivision=code) == resolve_place("NO", code)
    assert NORWAY_REPLACED[code] == subdivision_name(code)
    assert code in subdivisions_of("NO")
    record = {r.code: r for r in _supplemented_subdivisions()}[code]
    assert (dt.date(2023, 12, 31), dt.date(2020, 1, 1)) == (record.until, record.since)
    assert set(record.replaced_by) <= set(NORWAY_2024)


def test_supplement_records_are_complete_and_consistent():
    """Every entry is dated, sourced, of a real country; replaced codes point at added ones."""
    records = _supplemented_subdivisions()
    codes = [r.code for r in records]
    assert sorted(codes) == codes
    assert set(NORWAY_2024) | set(NORWAY_REPLACED) == set(codes)
    added = {r.code for r in records if r.until is None}
    for record in records:
        assert record.country_code in all_countries()
        assert record.code.startswith(f"{record.country_code}-")
        assert record.source.startswith("https://")
        assert record.until is None or record.since <= record.until
        assert set(record.replaced_by) <= added
        if record.until is not None:
            assert record.replaced_by, f"{record.code} ended without a successor"
            for successor in record.replaced_by:
                assert record.until + dt.timedelta(days=1) == find_record(successor).since


def find_record(code):
    return {r.code: r for r in _supplemented_subdivisions()}[code]


@pytest.mark.parametrize(
    "record",
    [r for r in _supplemented_subdivisions() if r.until is None],
    ids=lambda r: r.code,
)
def test_pycountry_has_not_caught_up(record):
    """
    Fails when pycountry learns a code geogate adds, so the supplement does not outlive its use.

    Replaced codes (with an ``until``) are not checked: pycountry still has them, and once
    it drops them the supplement keeps them known.
    """
    assert pycountry.subdivisions.get(code=record.code) is None, (
        f"pycountry now knows {record.code}: remove it from data/subdivisions.json"
    )


def test_supplement_rejects_unknown_keys():
    """A mistyped key in the package data is a programmer error, said plainly."""
    entry = {
        "code": "NO-31",
        "country": "NO",
        "name": "Østfold",
        "type": "County",
        "parent": None,
        "form": "2024-01-01",
        "source": "https://example.org",
    }
    with pytest.raises(ValueError, match="unknown keys") as raised:
        _SupplementedSubdivision.from_json(entry)
    assert (
        "unknown keys ['form'] in the entry for 'NO-31' in data/subdivisions.json; expected "
        "some of ['code', 'country', 'from', 'name', 'parent', 'replaced_by', 'source', "
        "'type', 'until']"
    ) == str(raised.value)
