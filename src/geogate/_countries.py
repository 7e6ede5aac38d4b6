"""
ISO 3166 normalisation on top of pycountry.

Everything that turns a string somebody typed (in a policy file, a header, a
function call) into an ISO 3166-1 alpha-2 country code or an ISO 3166-2
subdivision code lives here, together with the aliases, the pseudo-codes that
mean "unknown location", and the suggestions offered for a bad code.
"""

from __future__ import annotations

import difflib
import enum
import functools
from typing import TYPE_CHECKING, Any

import attrs
import pycountry

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ALIASES",
    "UNKNOWN_CODES",
    "LocationStatus",
    "Normalized",
    "all_countries",
    "country_name",
    "describe_value",
    "find_subdivision",
    "normalize_country",
    "normalize_subdivision",
    "subdivision_chain",
    "subdivision_name",
    "subdivisions_of",
    "suggest_country",
    "with_article",
]

#: Codes that are not ISO 3166-1 but that other conventions use for a country.
#: ``UK`` and ``EL`` are the European Union's own abbreviations for the United
#: Kingdom and Greece.
ALIASES: dict[str, str] = {"UK": "GB", "EL": "GR"}

#: Pseudo-codes that geolocation sources and CDNs send when they do not know
#: the country: Cloudflare ``XX`` and ``T1`` (Tor), App Engine ``ZZ``, MaxMind's
#: legacy ``A1`` (anonymous proxy), ``A2`` (satellite), ``O1`` (other), ``AP``
#: (Asia/Pacific) and ``EU`` (Europe, the continent, not the Union).
UNKNOWN_CODES: frozenset[str] = frozenset({"XX", "T1", "ZZ", "A1", "A2", "O1", "AP", "EU", "?", ""})

#: Kosovo: a user-assigned code that CLDR, the EU and the GeoIP vendors use.
_EXTRA_COUNTRIES: dict[str, str] = {"XK": "Kosovo"}

#: ISO 3166-2 subdivisions that ISO 3166-1 also codes as countries of their own.
#: A request located in ``FR`` + ``FR-974`` is in Réunion (``RE``), which is EU
#: territory, while ``FR`` + ``FR-PF`` is French Polynesia (``PF``), which is not.
SUBDIVISIONS_WITH_COUNTRY_CODE: dict[str, str] = {
    "CN-HK": "HK",
    "CN-MO": "MO",
    "CN-TW": "TW",
    "FI-01": "AX",
    "FR-971": "GP",
    "FR-972": "MQ",
    "FR-973": "GF",
    "FR-974": "RE",
    "FR-976": "YT",
    "FR-BL": "BL",
    "FR-MF": "MF",
    "FR-NC": "NC",
    "FR-PF": "PF",
    "FR-PM": "PM",
    "FR-TF": "TF",
    "FR-WF": "WF",
    "NL-AW": "AW",
    "NL-BQ1": "BQ",
    "NL-BQ2": "BQ",
    "NL-BQ3": "BQ",
    "NL-CW": "CW",
    "NL-SX": "SX",
    "NO-21": "SJ",
    "NO-22": "SJ",
    "US-AS": "AS",
    "US-GU": "GU",
    "US-MP": "MP",
    "US-PR": "PR",
    "US-UM": "UM",
    "US-VI": "VI",
}


#: Olympic (IOC) codes that people type for a country and that are not ISO alpha-3.
_IOC_CODES: dict[str, str] = {
    "DEN": "DK",
    "GER": "DE",
    "GRE": "GR",
    "NED": "NL",
    "POR": "PT",
    "SUI": "CH",
}


class LocationStatus(enum.StrEnum):
    """Whether location input named a place, said "unknown", or could not be understood."""

    KNOWN = "known"
    UNKNOWN = "unknown"
    INVALID = "invalid"


@attrs.frozen
class Normalized:
    """
    The result of normalising one location string.

    Attributes:
        status: Whether the input named a place, said "unknown", or was invalid.
        code: The normalised code when *status* is ``KNOWN``, else ``None``.
        problem: For ``UNKNOWN`` and ``INVALID``, a phrase saying why, written
            to complete "because ..." in an explanation.
    """

    status: LocationStatus
    code: str | None = None
    problem: str | None = None


def with_article(noun: str) -> str:
    """Put "a" or "an" before *noun*: ``with_article("int")`` is ``"an int"``."""
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


@functools.cache
def all_countries() -> frozenset[str]:
    """Return every ISO 3166-1 alpha-2 code pycountry knows, plus ``XK``."""
    codes = {country.alpha_2 for country in pycountry.countries}
    codes.update(_EXTRA_COUNTRIES)
    return frozenset(codes)


@functools.cache
def country_name(code: str) -> str:
    """Return a short English name for a country code (``GB`` -> ``United Kingdom``)."""
    if code in _EXTRA_COUNTRIES:
        return _EXTRA_COUNTRIES[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


@functools.cache
def find_subdivision(code: str) -> Any:  # noqa: ANN401 (pycountry has no types)
    """Return pycountry's record for an ISO 3166-2 code, or None."""
    return pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]


def subdivisions_of(country: str) -> list[str]:
    """Return the ISO 3166-2 codes of *country*, sorted."""
    found = pycountry.subdivisions.get(country_code=country)  # type: ignore[no-untyped-call]
    return sorted(s.code for s in found or ())


@functools.cache
def subdivision_name(code: str) -> str:
    """Return the English or local name pycountry gives a subdivision code."""
    subdivision = find_subdivision(code)
    return code if subdivision is None else str(subdivision.name)


#: How much of a bad value an explanation quotes.
QUOTE_LIMIT = 40


def describe_value(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Quote a value for a message, shortened to *limit* characters."""
    text = value if isinstance(value, str) and limit > QUOTE_LIMIT else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.cache
def _spellings() -> dict[str, Normalized]:
    """Every ASCII spelling of every code and alias, normalised once (the common case)."""
    table: dict[str, Normalized] = {}
    for alias, code in (*((c, c) for c in all_countries()), *ALIASES.items()):
        known = Normalized(LocationStatus.KNOWN, code=code)
        first, second = alias[0], alias[1]
        for spelling in (
            alias,
            alias.lower(),
            first + second.lower(),
            first.lower() + second,
        ):
            table[spelling] = known
    return table


def normalize_country(value: object) -> Normalized:
    """
    Normalise a country code given at run time or in a policy file.

    Case-insensitive; ``UK`` means ``GB`` and ``EL`` means ``GR``; the pseudo
    codes in `UNKNOWN_CODES` and ``None`` mean an unknown location; anything
    else that is not an ISO 3166-1 alpha-2 code (or ``XK``) is invalid.
    Surrounding white space is not stripped and non-ASCII letters are not
    case-folded (``"ß".upper()`` is ``SS``, South Sudan): both make the input
    invalid, so a mangled value is never mistaken for a clean one.
    """
    if value is None:
        return Normalized(LocationStatus.UNKNOWN, problem="no country was given")
    if type(value) is str:
        known = _spellings().get(value)
        if known is not None:
            return known
    if not isinstance(value, str):
        return Normalized(
            LocationStatus.INVALID,
            problem=f"the country {describe_value(value)} is {with_article(type(value).__name__)}, "
            "not a string",
        )
    if value.isascii():
        upper = value.upper()
        if upper in UNKNOWN_CODES:
            what = "an empty country" if upper == "" else f"the country code {value!r}"
            return Normalized(LocationStatus.UNKNOWN, problem=f"{what} means an unknown location")
        upper = ALIASES.get(upper, upper)
        if upper in all_countries():
            return Normalized(LocationStatus.KNOWN, code=upper)
    hint = suggest_country(value)
    problem = f"{describe_value(value)} is not an ISO 3166-1 alpha-2 country code"
    if hint:
        problem += f" (did you mean {hint!r}?)"
    return Normalized(LocationStatus.INVALID, problem=problem)


def normalize_subdivision(value: object, country: str | None) -> Normalized:
    """
    Normalise an ISO 3166-2 subdivision code.

    Accepts the full code (``GB-NIR``) or, when *country* is known, the part
    after the hyphen (``NIR``), in any case. A subdivision of another country
    than *country* is invalid: the input contradicts itself. A subdivision that
    ISO 3166-1 also codes as a country agrees with that code (``RE`` and
    ``FR-974``, Réunion).
    """
    if value is None or value == "":
        return Normalized(LocationStatus.UNKNOWN, problem="no subdivision was given")
    if not isinstance(value, str):
        return Normalized(
            LocationStatus.INVALID,
            problem=f"the subdivision {describe_value(value)} is "
            f"{with_article(type(value).__name__)}, not a string",
        )
    if not value.isascii():
        return Normalized(
            LocationStatus.INVALID,
            problem=f"{describe_value(value)} is not an ISO 3166-2 subdivision code",
        )
    upper = value.upper()
    if "-" not in upper:
        if country is None:
            return Normalized(
                LocationStatus.INVALID,
                problem=f"the subdivision {describe_value(value)} needs a country "
                "or the full ISO 3166-2 code",
            )
        upper = f"{country}-{upper}"
    prefix, _, rest = upper.partition("-")
    prefix = ALIASES.get(prefix, prefix)
    upper = f"{prefix}-{rest}"
    if find_subdivision(upper) is None:
        return Normalized(
            LocationStatus.INVALID,
            problem=f"{describe_value(value)} is not an ISO 3166-2 subdivision code",
        )
    if country is not None and country not in {prefix, SUBDIVISIONS_WITH_COUNTRY_CODE.get(upper)}:
        return Normalized(
            LocationStatus.INVALID,
            problem=f"the subdivision {upper!r} is not in the country {country!r}",
        )
    return Normalized(LocationStatus.KNOWN, code=upper)


@functools.cache
def subdivision_chain(code: str) -> tuple[str, ...]:
    """
    Return *code* followed by its parents, innermost first.

    ``GB-BFS`` (Belfast) gives ``("GB-BFS", "GB-NIR")``.
    """
    chain: list[str] = []
    current: str | None = code
    while current is not None and current not in chain:
        chain.append(current)
        subdivision = find_subdivision(current)
        current = None if subdivision is None else subdivision.parent_code
    return tuple(chain)


@functools.cache
def _alpha3_and_names() -> dict[str, str]:
    table: dict[str, str] = {}
    for country in pycountry.countries:
        table[country.alpha_3] = country.alpha_2
        for attribute in ("name", "common_name", "official_name"):
            name = getattr(country, attribute, None)
            if name:
                table[name.upper()] = country.alpha_2
    for code, name in _EXTRA_COUNTRIES.items():
        table[name.upper()] = code
    table["XKX"] = "XK"
    return table


def suggest_country(value: str, candidates: Iterable[str] = ()) -> str | None:
    """
    Suggest the code somebody probably meant.

    Aliases come first (difflib alone turns ``UK`` into ``UZ``), then alpha-3
    codes and English names (``GER`` is not ISO, but ``DEU`` and ``Germany``
    are; ``GER`` is the IOC code), then close matches among *candidates* and
    all country codes.
    """
    upper = value.strip().upper()
    if upper in ALIASES:
        return ALIASES[upper]
    if upper in _IOC_CODES:
        return _IOC_CODES[upper]
    named = _alpha3_and_names().get(upper)
    if named is not None:
        return named
    if upper in all_countries():
        return upper
    pool = sorted({*candidates, *all_countries()})
    matches = difflib.get_close_matches(upper, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None
