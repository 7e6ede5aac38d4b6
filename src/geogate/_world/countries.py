"""
ISO 3166 normalisation on top of pycountry.

Everything that turns a string somebody typed (in a policy file, a header, a
function call) into an ISO 3166-1 alpha-2 country code or an ISO 3166-2
subdivision code lives here, together with the aliases, the pseudo-codes that
mean "unknown location", and the suggestions offered for a bad code.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import functools
import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import pycountry

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ALIASES",
    "MAX_SUBDIVISION_LENGTH",
    "PARTS_OF_COUNTRIES",
    "UNKNOWN_CODES",
    "LocationSource",
    "LocationStatus",
    "Normalized",
    "PartOfCountry",
    "all_countries",
    "country_name",
    "describe_value",
    "find_subdivision",
    "foreign_region",
    "header_source",
    "normalize_country",
    "normalize_subdivision",
    "part_of_country",
    "refine_region",
    "resolve_place",
    "subdivision_chain",
    "subdivision_name",
    "subdivisions_of",
    "suggest_country",
    "undivided_part",
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


@attrs.frozen
class PartOfCountry:
    """
    A code that is not an ISO 3166-1 alpha-2 code but names a part of one country.

    Attributes:
        country: The ISO 3166-1 alpha-2 code of the country it is part of.
        subdivisions: The ISO 3166-2 codes that make up the part, when ISO has
            them (``EA``: Ceuta and Melilla); empty when it has none.
        name: What the code names, in English.
        source: Who uses the code, so a reader can check it.
    """

    country: str
    subdivisions: tuple[str, ...]
    name: str
    source: str

    @property
    def subdivision(self) -> str | None:
        """The one ISO 3166-2 code the part is, if it is exactly one."""
        return self.subdivisions[0] if len(self.subdivisions) == 1 else None

    def contains(self, subdivision: str) -> bool:
        """Tell whether the ISO 3166-2 code *subdivision* (of `country`) lies in this part."""
        if subdivision in SUBDIVISIONS_WITH_COUNTRY_CODE:
            return False  # a territory with its own ISO 3166-1 code is never part of these
        return not self.subdivisions or not set(self.subdivisions).isdisjoint(
            subdivision_chain(subdivision)
        )


_EXCEPTIONAL = "ISO 3166-1 exceptionally reserved code"
_CLDR = "Unicode CLDR region code"

#: Codes that sources send for a part of a country, read as that country (and
#: subdivision, where ISO 3166-2 has exactly one): never unknown, never
#: invalid, so a request from the Canary Islands is decided as one from Spain's
#: ES-CN, where the EU applies. ISO 3166-1 reserves AC, CP, DG, EA, FX, IC and
#: TA exceptionally; Unicode CLDR uses AC, CP, DG, EA, IC and TA as region
#: codes (so Google Cloud's ``client_region`` can send them); XI is Northern
#: Ireland's prefix for VAT and EORI numbers under the Windsor Framework. EZ
#: (the euro area), UN and QO (outlying Oceania) name no single place and stay
#: invalid; EU stays an unknown location (GeoIP's continent code).
PARTS_OF_COUNTRIES: dict[str, PartOfCountry] = {
    "AC": PartOfCountry("SH", ("SH-AC",), "Ascension Island", f"{_EXCEPTIONAL}; {_CLDR}"),
    "CP": PartOfCountry("FR", ("FR-CP",), "Clipperton Island", f"{_EXCEPTIONAL}; {_CLDR}"),
    "DG": PartOfCountry("IO", (), "Diego Garcia", f"{_EXCEPTIONAL}; {_CLDR}"),
    "EA": PartOfCountry("ES", ("ES-CE", "ES-ML"), "Ceuta and Melilla", f"{_EXCEPTIONAL}; {_CLDR}"),
    "FX": PartOfCountry("FR", (), "Metropolitan France", _EXCEPTIONAL),
    "IC": PartOfCountry("ES", ("ES-CN",), "the Canary Islands", f"{_EXCEPTIONAL}; {_CLDR}"),
    "TA": PartOfCountry("SH", ("SH-TA",), "Tristan da Cunha", f"{_EXCEPTIONAL}; {_CLDR}"),
    "XI": PartOfCountry(
        "GB", ("GB-NIR",), "Northern Ireland", "UK VAT and EORI prefix (HMRC, Windsor Framework)"
    ),
}


def part_of_country(value: object) -> PartOfCountry | None:
    """Return the part of a country a country input names (``ic``: the Canary Islands), or None."""
    if not isinstance(value, str) or len(value) != len("IC") or not value.isascii():
        return None
    return PARTS_OF_COUNTRIES.get(value.upper())


#: ISO 3166-2 subdivisions that ISO 3166-1 also codes as countries of their own.
#: A request located in ``FR`` + ``FR-974`` is in Réunion (``RE``), which is EU
#: territory, while ``FR`` + ``FR-PF`` is French Polynesia (``PF``), which is not.
#: Svalbard (``NO-21``) is ``SJ``, outside the EEA (EEA Agreement, Protocol 40);
#: Jan Mayen (``NO-22``) stays Norway: ``SJ`` codes both islands, but Jan Mayen
#: is in the EEA and Schengen with the rest of Norway.
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


class LocationSource(enum.StrEnum):
    """
    Where a request's location came from, by kind.

    A source is written (in a `Decision`, a decision log, OFREP metadata) as
    its value, except a CDN header's, which is written ``header:<provider>``
    (`header_source`): providers are open-ended (an application may configure
    its own), so the enum names the kind and the provider's name travels
    beside it.
    """

    #: The caller gave a country or subdivision, whatever its type or value.
    EXPLICIT = "explicit"
    #: The caller gave an IP address, or the client address was looked up.
    GEOIP = "geoip"
    #: A trusted CDN or load-balancer header; written ``header:<provider>``.
    HEADER = "header"
    #: No location was given and none was found.
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, source: str) -> LocationSource:
        """Return the kind of a written source: ``header:cloudflare`` is `HEADER`."""
        kind, _, _ = source.partition(":")
        return cls(kind)


def header_source(provider: str) -> str:
    """Write the source of a location found in *provider*'s header: ``header:cloudflare``."""
    return f"{LocationSource.HEADER}:{provider}"


class Normalized(NamedTuple):
    """
    The result of normalising one location string.

    A named tuple rather than an attrs class: one is built for every bad
    value a request sends, and a tuple costs a third as much to build.

    Attributes:
        status: Whether the input named a place, said "unknown", or was invalid.
        code: The normalised code when *status* is ``KNOWN``, else ``None``.
        subdivision: The ISO 3166-2 code a code for part of a country implies
            (``IC``, the Canary Islands: ``ES-CN``), else ``None``.
        problem: For ``UNKNOWN`` and ``INVALID``, a phrase saying why, written
            to complete "because ..." in an explanation.
    """

    status: LocationStatus
    code: str | None = None
    problem: str | None = None
    subdivision: str | None = None


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
def _country_names() -> dict[str, str]:
    names = {
        country.alpha_2: str(getattr(country, "common_name", None) or country.name)
        for country in pycountry.countries
    }
    names.update(_EXTRA_COUNTRIES)
    return names


def country_name(code: str) -> str:
    """Return a short English name for a country code (``GB`` -> ``United Kingdom``)."""
    return _country_names().get(code, code)


@attrs.frozen(kw_only=True)
class _SupplementedSubdivision:
    """
    An ISO 3166-2 code from ``data/subdivisions.json``: newer than pycountry, or since replaced.

    The attribute names are pycountry's, so a record stands in for one.

    Attributes:
        code: The ISO 3166-2 code (``NO-31``).
        country_code: The ISO 3166-1 alpha-2 code of its country.
        name: Its name, in the local language as ISO gives it.
        type: Its kind (``County``).
        parent_code: The code of the subdivision it lies in, or ``None``.
        since: The first day the code named a place.
        until: The last day it did, or ``None`` while it still does.
        replaced_by: The codes that replaced it, when it was replaced.
        source: Where the facts come from.
    """

    code: str
    country_code: str
    name: str
    type: str
    parent_code: str | None
    since: dt.date
    until: dt.date | None
    replaced_by: tuple[str, ...]
    source: str

    _KEYS = frozenset(
        {"code", "country", "name", "type", "parent", "from", "until", "replaced_by", "source"}
    )

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> _SupplementedSubdivision:
        """Build a record from one entry of ``data/subdivisions.json``."""
        unknown = sorted(set(entry) - cls._KEYS)
        if unknown:
            msg = (
                f"unknown keys {unknown!r} in the entry for {entry.get('code')!r} in "
                f"data/subdivisions.json; expected some of {sorted(cls._KEYS)!r}"
            )
            raise ValueError(msg)
        until = entry.get("until")
        return cls(
            code=entry["code"],
            country_code=entry["country"],
            name=entry["name"],
            type=entry["type"],
            parent_code=entry.get("parent"),
            since=dt.date.fromisoformat(entry["from"]),
            until=None if until is None else dt.date.fromisoformat(until),
            replaced_by=tuple(entry.get("replaced_by", ())),
            source=entry["source"],
        )


@functools.cache
def _supplemented_subdivisions() -> tuple[_SupplementedSubdivision, ...]:
    """Return the dated supplement to pycountry's ISO 3166-2 data, read once."""
    raw = json.loads(
        resources.files("geogate").joinpath("data/subdivisions.json").read_text("utf-8")
    )
    return tuple(_SupplementedSubdivision.from_json(entry) for entry in raw["subdivisions"])


@functools.cache
def _subdivision_index() -> dict[str, Any]:
    """
    Every ISO 3166-2 record geogate knows, by code (built once; no input grows it).

    pycountry's records, plus the codes in ``data/subdivisions.json`` that it
    does not have yet (Norway's 2024 counties); where both have a code,
    pycountry's record is used.
    """
    index: dict[str, Any] = {record.code: record for record in _supplemented_subdivisions()}
    index.update((subdivision.code, subdivision) for subdivision in pycountry.subdivisions)
    return index


@functools.cache
def _codes_by_country() -> dict[str, tuple[str, ...]]:
    """The known ISO 3166-2 codes of each country, sorted (built once)."""
    grouped: dict[str, list[str]] = {}
    for code, record in _subdivision_index().items():
        grouped.setdefault(str(record.country_code), []).append(code)
    return {country: tuple(sorted(codes)) for country, codes in grouped.items()}


#: The longest ISO 3166-2 code (``GB-NIR``); a longer input is refused unread.
MAX_SUBDIVISION_LENGTH = 6

#: What follows the country in an ISO 3166-2 code: one to three letters or digits.
_WELL_FORMED = re.compile(r"[A-Z0-9]{1,3}")


def find_subdivision(code: str) -> Any:  # noqa: ANN401 (pycountry has no types)
    """Return the record for an ISO 3166-2 code (pycountry's or the supplement's), or None."""
    return _subdivision_index().get(code)


def subdivisions_of(country: str) -> list[str]:
    """Return the ISO 3166-2 codes of *country* geogate knows, the supplement's too, sorted."""
    return list(_codes_by_country().get(country, ()))


def subdivision_name(code: str) -> str:
    """Return the English or local name ISO gives a subdivision code, or the code."""
    subdivision = find_subdivision(code)
    return code if subdivision is None else str(subdivision.name)


#: How much of a bad value an explanation quotes.
QUOTE_LIMIT = 40


def describe_value(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Quote a value for a message, shortened to *limit* characters."""
    if isinstance(value, str):
        # Only the start is shown: a megabyte of input is not copied to show 40 characters.
        text = value[: limit + 1] if limit > QUOTE_LIMIT else repr(value[: limit + 1])
    else:
        try:
            text = repr(value)
        except (ValueError, RecursionError):
            # An int past Python's 4,300-digit conversion limit, a list nested too deep.
            text = f"<a {type(value).__name__} too large to quote>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _case_spellings(code: str) -> tuple[str, ...]:
    first, second = code[0], code[1]
    return (code, code.lower(), first + second.lower(), first.lower() + second)


@functools.cache
def _spellings() -> dict[str, Normalized]:
    """Every ASCII spelling of every code, alias and part of a country, normalised once."""
    table: dict[str, Normalized] = {}
    for alias, code in (*((c, c) for c in all_countries()), *ALIASES.items()):
        known = Normalized(LocationStatus.KNOWN, code=code)
        table.update(dict.fromkeys(_case_spellings(alias), known))
    for alias, part in PARTS_OF_COUNTRIES.items():
        known = Normalized(LocationStatus.KNOWN, code=part.country, subdivision=part.subdivision)
        table.update(dict.fromkeys(_case_spellings(alias), known))
    return table


#: Longest country input that gets a suggestion: the longest English country name
#: is shorter. A longer input is invalid without further work.
_MAX_SUGGESTED = 64


def normalize_country(value: object) -> Normalized:
    """
    Normalise a country code given at run time or in a policy file.

    Case-insensitive; ``UK`` means ``GB`` and ``EL`` means ``GR``; a code
    for part of a country (`PARTS_OF_COUNTRIES`: ``IC``, ``EA``, ``FX``,
    ``XI``, ...) means that country, with its subdivision where ISO 3166-2 has
    one; the pseudo codes in `UNKNOWN_CODES` and ``None`` mean an unknown
    location; anything else that is not an ISO 3166-1 alpha-2 code (or
    ``XK``) is invalid. Surrounding white space is not stripped and non-ASCII
    letters are not case-folded (``"ß".upper()`` is ``SS``, South Sudan): both
    make the input invalid, so a mangled value is never mistaken for a clean
    one. Suggestions for an invalid value are dictionary look-ups only, so a
    distinct bad value costs no more than a good one.
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
    if len(value) <= len("??") and value.isascii():
        upper = value.upper()
        if upper in UNKNOWN_CODES:
            what = "an empty country" if upper == "" else f"the country code {value!r}"
            return Normalized(LocationStatus.UNKNOWN, problem=f"{what} means an unknown location")
        known = _spellings().get(upper)  # a str subclass
        if known is not None:
            return known
    hint = suggest_country(value, fuzzy=False) if len(value) <= _MAX_SUGGESTED else None
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
    if len(value) > MAX_SUBDIVISION_LENGTH or not value.isascii():
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
    if prefix in PARTS_OF_COUNTRIES:  # a region sent after EA or XI: EA-ML is ES-ML
        prefix = PARTS_OF_COUNTRIES[prefix].country
    upper = f"{prefix}-{rest}"
    if find_subdivision(upper) is None:
        if _WELL_FORMED.fullmatch(rest) is None or prefix not in all_countries():
            return Normalized(
                LocationStatus.INVALID,
                problem=f"{describe_value(value)} is not an ISO 3166-2 subdivision code",
            )
        if country is not None and country != prefix:
            return Normalized(
                LocationStatus.INVALID,
                problem=f"the subdivision {upper!r} is not in the country {country!r}",
            )
        # Well formed, but newer (or older) than geogate's data: the request
        # names its country only, and the explanation says why.
        return Normalized(
            LocationStatus.UNKNOWN,
            code=prefix,
            problem=f"the subdivision {upper!r} is not one geogate recognises, so the "
            f"request names only the country {prefix!r}",
        )
    if country is not None and country not in {prefix, SUBDIVISIONS_WITH_COUNTRY_CODE.get(upper)}:
        return Normalized(
            LocationStatus.INVALID,
            problem=f"the subdivision {upper!r} is not in the country {country!r}",
        )
    return Normalized(LocationStatus.KNOWN, code=upper)


def refine_region(
    country: object, normalized: Normalized, region: object
) -> tuple[str | None, str | None]:
    """
    Return the subdivision a region refines a known country to, and why a region was ignored.

    A region refines the country; it never changes it. A region of another
    country (``FR`` with ``US-CA``; request resolvers refuse it first, as a
    contradiction: `foreign_region`), one that ISO 3166-1 codes as a country of
    its own (``FR`` with ``FR-NC``, New Caledonia), one outside the part of a
    country the code names (``XI``, Northern Ireland, with ``GB-ENG``), or one
    that is not a code is ignored: the location stays the country (with the
    subdivision a code such as ``IC`` implies), and the note says why.
    """
    implied = normalized.subdivision
    if region is None or region == "":
        return implied, None
    shown = describe_value(region)
    checked = normalize_subdivision(region, normalized.code)
    if checked.status is not LocationStatus.KNOWN or checked.code is None:
        return implied, f"ignored the subdivision {shown}: {checked.problem}"
    own = SUBDIVISIONS_WITH_COUNTRY_CODE.get(checked.code)
    if own is not None and own != normalized.code:
        return implied, (
            f"ignored the subdivision {checked.code!r}: ISO 3166-1 codes it as the country "
            f"{own!r}, and a region refines the country {normalized.code!r}, never changes it"
        )
    part = part_of_country(country)
    if part is not None and not part.contains(checked.code):
        return implied, (
            f"ignored the subdivision {checked.code!r}: it is not in {country!r} ({part.name})"
        )
    return checked.code, None


def foreign_region(country: str, region: object) -> str | None:
    """
    Say why *region* contradicts *country*, when ISO 3166-2 places it in another country.

    ``RU`` with ``UA-43`` (Crimea) contradicts itself, whoever sends it: a
    provider that says both is not believed either way, and the location is
    invalid (denied). A region that is not a code, or that ISO 3166-1 codes as
    a country of its own (``FR`` with ``FR-NC``), is not a contradiction:
    `refine_region` ignores it.
    """
    if not isinstance(region, str) or "-" not in region or len(region) > MAX_SUBDIVISION_LENGTH:
        return None
    prefix, _, rest = region.upper().partition("-")
    prefix = ALIASES.get(prefix, prefix)
    if prefix in PARTS_OF_COUNTRIES:
        prefix = PARTS_OF_COUNTRIES[prefix].country
    code = f"{prefix}-{rest}"
    record = find_subdivision(code)
    if record is None or prefix == country or SUBDIVISIONS_WITH_COUNTRY_CODE.get(code):
        return None
    return (
        f"the region {code!r} ({subdivision_name(code)}) is in {prefix!r}, not in the "
        f"country {country!r} given with it, so the location contradicts itself"
    )


def resolve_place(country: object, subdivision: object = None) -> Normalized:
    """
    Normalise a country and an optional subdivision given together into one place.

    The rules, shared by the gate and the request resolver: a subdivision
    that ISO 3166-1 codes as a country of its own (``FR-974``, Réunion) is
    that country; a subdivision alone names its country (``GB-NIR`` is in
    ``GB``); one that contradicts the country (``RU`` and ``UA-43``) makes the
    place invalid; an empty one counts as not given. A code for part of a
    country (``IC``, the Canary Islands) is that country and its subdivision,
    and a subdivision outside that part contradicts it; a code for several
    places needs one of them (`undivided_part`). A country that says the
    place is unknown (``XX``, ``T1`` for Tor, ``A1`` for an anonymous proxy)
    stays unknown whatever subdivision comes with it.

    Returns the place with its ISO 3166-1 *code* and, when there is one, its
    ISO 3166-2 *subdivision*.
    """
    normalized = normalize_country(country)
    if subdivision is None or subdivision == "":
        if normalized.status is LocationStatus.KNOWN:
            problem = undivided_part(country, normalized.subdivision)
            if problem is not None:
                return Normalized(LocationStatus.INVALID, problem=problem)
        return normalized
    if normalized.status is LocationStatus.INVALID:
        return normalized
    if normalized.status is LocationStatus.UNKNOWN and isinstance(country, str) and country:
        problem = (
            f"{normalized.problem}, whatever the subdivision {describe_value(subdivision)} says"
        )
        return Normalized(LocationStatus.UNKNOWN, problem=problem)
    sub = normalize_subdivision(subdivision, normalized.code)
    if sub.status is LocationStatus.UNKNOWN and sub.code is not None:
        # A subdivision geogate does not recognise: the country alone, with a note.
        if normalized.status is LocationStatus.KNOWN:
            undivided = undivided_part(country, normalized.subdivision)
            if undivided is not None:
                return Normalized(LocationStatus.INVALID, problem=undivided)
            if normalized.subdivision is None:
                return normalized._replace(problem=sub.problem)
            named = f"{normalized.subdivision!r}, which {describe_value(country)} implies"
            problem = (sub.problem or "").replace(f"the country {normalized.code!r}", named)
            return normalized._replace(problem=problem)
        return Normalized(LocationStatus.KNOWN, sub.code, problem=sub.problem)
    if sub.status is not LocationStatus.KNOWN or sub.code is None:
        return Normalized(LocationStatus.INVALID, problem=sub.problem)
    part = part_of_country(country)
    if part is not None and not part.contains(sub.code):
        problem = (
            f"the subdivision {sub.code!r} is not in {country!r} ({part.name}), so the "
            "location contradicts itself"
        )
        return Normalized(LocationStatus.INVALID, problem=problem)
    own = SUBDIVISIONS_WITH_COUNTRY_CODE.get(sub.code)
    if own is not None:
        return Normalized(LocationStatus.KNOWN, own)
    return Normalized(LocationStatus.KNOWN, sub.code.partition("-")[0], subdivision=sub.code)


def undivided_part(country: object, subdivision: str | None) -> str | None:
    """
    Say why a code for several places given without one of them is no location.

    ``EA`` is Ceuta and Melilla, two places with ISO 3166-2 codes of their own
    (``ES-CE``, ``ES-ML``); without one of them, a rule about either could
    not be applied, so the location is invalid. None when *country* is not
    such a code or *subdivision* says which.
    """
    part = part_of_country(country)
    if part is None or len(part.subdivisions) < 2 or subdivision is not None:  # noqa: PLR2004
        return None
    return (
        f"{describe_value(country)} names {part.name} together, and no subdivision says "
        f"which ({' or '.join(part.subdivisions)})"
    )


@functools.cache
def _chains() -> dict[str, tuple[str, ...]]:
    """
    The chain of every ISO 3166-2 code, built once (no input grows it).

    A code that replaced a retired one lies inside it (``NO-31``, Østfold, in
    ``NO-30``, Viken, which it replaced in 2024): old GeoIP databases still
    send the retired code, and a rule on it still covers the places it named.
    """
    index = _subdivision_index()
    replaced = {
        new: record.code for record in _supplemented_subdivisions() for new in record.replaced_by
    }
    chains: dict[str, tuple[str, ...]] = {}
    for code in index:
        chain: list[str] = []
        current: str | None = code
        while current is not None and current not in chain:
            chain.append(current)
            record = index.get(current)
            parent = None if record is None else record.parent_code
            current = parent or replaced.get(current)
        chains[code] = tuple(chain)
    return chains


def subdivision_chain(code: str) -> tuple[str, ...]:
    """
    Return *code* followed by its parents, innermost first.

    ``GB-BFS`` (Belfast) gives ``("GB-BFS", "GB-NIR")``; a code ISO 3166-2
    does not have gives itself alone.
    """
    return _chains().get(code) or (code,)


@functools.cache
def _named() -> dict[str, str]:
    """What each alias, IOC code, alpha-3 code, English name and code suggests, in one table."""
    return {
        **{code: code for code in all_countries()},
        **_alpha3_and_names(),
        **_IOC_CODES,
        **ALIASES,
    }


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


def suggest_country(
    value: str, candidates: Iterable[str] = (), *, fuzzy: bool = True
) -> str | None:
    """
    Suggest the code somebody probably meant.

    Aliases come first (difflib alone turns ``UK`` into ``UZ``), then alpha-3
    codes and English names (``GER`` is not ISO, but ``DEU`` and ``Germany``
    are; ``GER`` is the IOC code), then, when *fuzzy*, close matches among
    *candidates* and all country codes. Without *fuzzy* it costs a few
    dictionary look-ups (run-time input); with it, a difflib search (policy files).
    """
    upper = value.strip().upper()
    named = _named().get(upper)
    if named is not None:
        return named
    if not fuzzy:
        return None
    pool = sorted({*candidates, *all_countries()})
    matches = difflib.get_close_matches(upper, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None
