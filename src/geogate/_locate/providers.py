"""
The CDN and load-balancer providers that put the client's country in a header.

A `Provider` reads its own headers from a `HeaderMap` and says what they hold,
as sent, in a `HeaderLocation`; normalising the country and deciding whether
the headers count (they do only from a trusted proxy) is the resolver's job.
`PROVIDER_TABLE` holds every fact about the built-in ones, one row each (its
headers, how the region is read, what a deployer must know, where it is
documented); `PROVIDERS` maps their names to the rows, which build the
providers, and `provider()` builds one with other header names.

The order of the providers matters: the first configured provider whose
headers are present answers. A trusted proxy passes on the headers its client
sent, so configure only the providers that really stand in front of the
application, and the one that overwrites its headers first.
"""

from __future__ import annotations

import base64
import binascii
import enum
import inspect
import json
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from geogate._world.countries import describe_value, with_article

from .headers import TOKEN_CHARACTERS, HeaderMap, header_label

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "PROVIDERS",
    "PROVIDER_TABLE",
    "AkamaiProvider",
    "HeaderLocation",
    "HeaderOption",
    "HeaderPairProvider",
    "NetlifyProvider",
    "Provider",
    "ProviderSpec",
    "RegionFormat",
    "provider",
]

#: Region values that mean "no region": Fastly's ``NO REGION``, App Engine's ``?``.
_NO_REGION = frozenset({"", "?", "NO REGION"})


@attrs.frozen
class HeaderLocation:
    """
    What one provider's headers said, before any normalisation.

    Attributes:
        country: The country value as sent (``"FR"``, ``"XX"``, garbage), or
            None when the headers are present but name no country.
        subdivision: The full ISO 3166-2 code built from the provider's region
            (``"US-CA"``), not yet validated; None when the provider gave none.
        header: The name of the header the country came from, for explanations.
        problem: Why the headers cannot be used at all (repeated with
            different values, undecodable), or None.
        ambiguous: Whether *problem* is an ambiguity rather than garbage
            (for the explanation: the location is invalid either way, and
            denied whatever the feature's ``unknown`` setting says).
    """

    country: str | None
    subdivision: str | None
    header: str
    problem: str | None = attrs.field(default=None, kw_only=True)
    ambiguous: bool = attrs.field(default=False, kw_only=True)


class Provider(Protocol):
    """A source of country headers: a CDN or load balancer in front of the application."""

    @property
    def name(self) -> str:
        """The provider's name, as in ``source="header:<name>"``."""

    def read(self, headers: HeaderMap) -> HeaderLocation | None:
        """Read the provider's headers; None when they are absent."""


@attrs.frozen
class _Value:
    """One header's single value, or why it has none that can be used."""

    text: str | None = None
    problem: str | None = None
    ambiguous: bool = False

    def failure(self, header: str, country: str | None = None) -> HeaderLocation:
        return HeaderLocation(country, None, header, problem=self.problem, ambiguous=self.ambiguous)


def _single(headers: HeaderMap, name: str, *, fold: bool = True) -> _Value:
    """
    Return the one value of a header, or why there is none that can be used.

    Neither text nor problem: the header is absent. A header repeated with
    the same value counts once; with different values it is ambiguous.
    """
    problem = headers.problem(name)
    if problem is not None:
        return _Value(problem=problem)
    values = headers.get_all(name)
    if not values:
        return _Value()
    distinct = list(dict.fromkeys(value.upper() if fold else value for value in values))
    if len(distinct) > 1:
        shown = ", ".join(describe_value(value) for value in distinct[:3])
        more = ", ..." if len(distinct) > 3 else ""  # noqa: PLR2004
        problem = (
            f"{header_label(name)} was sent {len(values)} times with different values "
            f"({shown}{more}), so the location is ambiguous"
        )
        return _Value(problem=problem, ambiguous=True)
    return _Value(values[0])


def _region_code(country: str, region: str | None, style: str) -> str | None:
    """Build the full ISO 3166-2 code from a provider's region value."""
    if region is None or region.strip().upper() in _NO_REGION:
        return None
    if "-" in region:
        return region
    if style == "cldr":  # Unicode CLDR subdivision ids: "USCA" is US-CA
        return f"{region[:2]}-{region[2:]}" if len(region) > 2 else region  # noqa: PLR2004
    return f"{country.upper()}-{region}"


@attrs.frozen
class HeaderPairProvider:
    """
    A provider that sends the country in one header and the region in another.

    Attributes:
        name: The provider's name (``"cloudflare"``).
        country_header: The header with the ISO 3166-1 alpha-2 country code.
        region_header: The header with the region, or None.
        region_style: ``"iso"`` when the region is the part of the ISO 3166-2
            code after the hyphen (``CA`` for ``US-CA``), ``"cldr"`` when it is
            a Unicode CLDR subdivision id that includes the country (``USCA``).
    """

    name: str
    country_header: str
    region_header: str | None = None
    region_style: Literal["iso", "cldr"] = "iso"

    def read(self, headers: HeaderMap) -> HeaderLocation | None:
        """Read the country and region headers; None when the country header is absent."""
        value = _single(headers, self.country_header)
        country = value.text
        if country is None:
            return None if value.problem is None else value.failure(self.country_header)
        region = None
        if self.region_header is not None:
            value = _single(headers, self.region_header)
            if value.problem is not None:
                return value.failure(self.country_header, country)
            region = value.text
        return HeaderLocation(
            country, _region_code(country, region, self.region_style), self.country_header
        )


@attrs.frozen
class AkamaiProvider:
    """
    Akamai EdgeScape: ``X-Akamai-Edgescape: georegion=246,country_code=US,region_code=CA,...``.

    Attributes:
        name: ``"akamai"``.
        header: The EdgeScape header.
    """

    name: str = "akamai"
    header: str = "X-Akamai-Edgescape"

    def read(self, headers: HeaderMap) -> HeaderLocation | None:
        """Read ``country_code`` and ``region_code`` from the EdgeScape header."""
        value = _single(headers, self.header, fold=False)
        raw = value.text
        if raw is None:
            return None if value.problem is None else value.failure(self.header)
        fields: dict[str, str] = {}
        for part in raw.split(","):
            key, equals, text = part.partition("=")
            key = key.strip().lower()
            if not equals or key not in {"country_code", "region_code"}:
                continue
            text = text.strip()
            if fields.setdefault(key, text) != text:
                return HeaderLocation(
                    None,
                    None,
                    self.header,
                    problem=f"{self.header} has {key} twice with different values, "
                    "so the location is ambiguous",
                    ambiguous=True,
                )
        country = fields.get("country_code")
        if country is None:
            return HeaderLocation(None, None, self.header)
        return HeaderLocation(
            country, _region_code(country, fields.get("region_code"), "iso"), self.header
        )


def _decode_json_or_base64(raw: str) -> object:
    """Decode a JSON object sent as is or base64-encoded; raise ValueError if neither."""
    text = raw.strip()
    if not text.startswith("{"):
        try:
            decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as error:
            msg = "not base64"
            raise ValueError(msg) from error
        text = decoded.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except RecursionError as error:
        msg = "nested too deeply"
        raise ValueError(msg) from error


@attrs.frozen
class NetlifyProvider:
    """
    Netlify: ``x-nf-geo``, a JSON object, plain or base64-encoded.

    Attributes:
        name: ``"netlify"``.
        header: The geolocation header.
    """

    name: str = "netlify"
    header: str = "x-nf-geo"

    def read(self, headers: HeaderMap) -> HeaderLocation | None:
        """Read ``country.code`` and ``subdivision.code`` from the JSON object."""
        value = _single(headers, self.header, fold=False)
        raw = value.text
        if raw is None:
            return None if value.problem is None else value.failure(self.header)
        try:
            data = _decode_json_or_base64(raw)
        except ValueError:
            return HeaderLocation(
                None,
                None,
                self.header,
                problem=f"{self.header} {describe_value(raw)} is neither JSON "
                "nor base64-encoded JSON",
            )
        if not isinstance(data, dict):
            return HeaderLocation(
                None, None, self.header, problem=f"{self.header} is not a JSON object"
            )
        country_record = data.get("country")
        code = country_record.get("code") if isinstance(country_record, dict) else None
        if code is None:
            return HeaderLocation(None, None, self.header)
        if not isinstance(code, str):
            return HeaderLocation(
                None,
                None,
                self.header,
                problem=f"{self.header} has a country code {describe_value(code)} "
                f"that is {with_article(type(code).__name__)}, not a string",
            )
        subdivision_record = data.get("subdivision")
        region = subdivision_record.get("code") if isinstance(subdivision_record, dict) else None
        region = region if isinstance(region, str) else None
        return HeaderLocation(code, _region_code(code, region, "iso"), self.header)


def _header_option(provider_name: str, option: str, value: object, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if (
        not isinstance(value, str)
        or not value
        or not all(char in TOKEN_CHARACTERS for char in value)
    ):
        msg = (
            f"the {option} option of provider {provider_name!r} must be a header name "
            f"such as 'X-Client-Region', not {describe_value(value)}"
        )
        raise ValueError(msg)
    return value


class RegionFormat(enum.StrEnum):
    """How a provider sends the region (the subdivision) of the client's country."""

    #: A second header with the part of the ISO 3166-2 code after the hyphen (``CA``).
    ISO = "iso"
    #: A second header with a Unicode CLDR subdivision id, country included (``USCA``).
    CLDR = "cldr"
    #: ``region_code=`` (ISO, after the hyphen) beside ``country_code=`` in Akamai's one header.
    EDGESCAPE = "edgescape"
    #: ``subdivision.code`` (ISO, after the hyphen) beside ``country.code`` in one JSON header.
    JSON = "json"


@attrs.frozen
class HeaderOption:
    """
    One header a built-in provider reads, as a keyword option of its factory.

    Attributes:
        option: The keyword (``country_header``, ``region_header``, ``header``).
        default: The header's name unless the option gives another.
        required: False when the option may be None: the provider then reads
            no such header (no region).
    """

    option: str
    default: str
    required: bool = True


@attrs.frozen(kw_only=True)
class ProviderSpec:
    """
    One built-in provider: a row of `PROVIDER_TABLE`, and the factory `PROVIDERS` names.

    Called with keyword options (other header names), it builds the provider:
    ``PROVIDERS["fastly"](region_header=None)``.

    Attributes:
        name: The name in ``providers=[...]``, `PROVIDERS` and ``header:<name>``.
        vendor: Who runs it, for people.
        headers: The headers it reads, as options with their defaults, in order.
        region: How the region is read.
        unknown_codes: Codes it sends for an address it cannot place that are
            not ISO's or CLDR's own (``XX``, ``ZZ``, ``T1`` are unknown to
            every provider already; Fastly's ``**`` is not).
        notes: What a deployer must know: special values, who sets the headers.
        docs: Where the provider documents its headers.
    """

    name: str
    vendor: str
    headers: tuple[HeaderOption, ...]
    region: RegionFormat
    unknown_codes: tuple[str, ...] = ()
    notes: str
    docs: str

    @property
    def __signature__(self) -> inspect.Signature:
        """The factory's keyword options and their defaults, for `provider` and ``help()``."""
        return inspect.Signature(
            [
                inspect.Parameter(h.option, inspect.Parameter.KEYWORD_ONLY, default=h.default)
                for h in self.headers
            ],
            return_annotation="Provider",
        )

    def __call__(self, **options: object) -> Provider:
        """Build the provider, with header names changed by *options*."""
        known = [h.option for h in self.headers]
        unknown = [name for name in options if name not in known]
        if unknown:
            msg = f"{self.name}() got an unexpected keyword argument {unknown[0]!r}"
            raise TypeError(msg)
        names = [
            _header_option(self.name, h.option, options.get(h.option, h.default),
                           optional=not h.required)
            for h in self.headers
        ]  # fmt: skip
        if self.region is RegionFormat.EDGESCAPE:
            return AkamaiProvider(name=self.name, header=str(names[0]))
        if self.region is RegionFormat.JSON:
            return NetlifyProvider(name=self.name, header=str(names[0]))
        style: Literal["iso", "cldr"] = "cldr" if self.region is RegionFormat.CLDR else "iso"
        return HeaderPairProvider(self.name, str(names[0]), names[1], style)


def _pair(
    country: str, region: str, *, region_option: str = "region_header"
) -> tuple[HeaderOption, ...]:
    return (
        HeaderOption("country_header", country),
        HeaderOption(region_option, region, required=False),
    )


#: Every built-in provider, one row each, by name.
PROVIDER_TABLE: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="akamai",
        vendor="Akamai",
        headers=(HeaderOption("header", "X-Akamai-Edgescape"),),
        region=RegionFormat.EDGESCAPE,
        notes="EdgeScape (Content Targeting) data, sent only when a property rule adds the "
        "header: `georegion=246,country_code=US,region_code=CA,...`",
        docs="Akamai's EdgeScape documentation (techdocs.akamai.com)",
    ),
    ProviderSpec(
        name="appengine",
        vendor="Google App Engine",
        headers=_pair("X-AppEngine-Country", "X-AppEngine-Region"),
        region=RegionFormat.ISO,
        notes="`ZZ` is an unknown country; App Engine removes these headers when a client "
        "sends them",
        docs="https://cloud.google.com/appengine/docs/standard/reference/request-headers",
    ),
    ProviderSpec(
        name="cloudflare",
        vendor="Cloudflare",
        headers=_pair("CF-IPCountry", "cf-region-code"),
        region=RegionFormat.ISO,
        notes="`XX` is an unknown country and `T1` Tor; `cf-region-code` comes with the "
        "'Add visitor location headers' managed transform",
        docs="https://developers.cloudflare.com/rules/transform/managed-transforms/reference/",
    ),
    ProviderSpec(
        name="cloudfront",
        vendor="Amazon CloudFront",
        headers=_pair("CloudFront-Viewer-Country", "CloudFront-Viewer-Country-Region"),
        region=RegionFormat.ISO,
        notes="added only when an origin request policy (or cache policy) includes them",
        docs="https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
        "adding-cloudfront-headers.html",
    ),
    ProviderSpec(
        name="fastly",
        vendor="Fastly",
        headers=_pair("Fastly-Geo-Country", "Fastly-Geo-Region"),
        region=RegionFormat.ISO,
        unknown_codes=("**",),
        notes="headers the service sets itself from `client.geo.country_code` and "
        "`client.geo.region` (names configurable); `**` is no country for the address",
        docs="https://www.fastly.com/documentation/reference/vcl/variables/geolocation/",
    ),
    ProviderSpec(
        name="gcp",
        vendor="Google Cloud load balancers",
        headers=_pair(
            "X-Client-Region", "X-Client-Region-Subdivision", region_option="subdivision_header"
        ),
        region=RegionFormat.CLDR,
        notes="custom request headers the load balancer fills from `{client_region}` and "
        "`{client_region_subdivision}` (names configurable; `USCA` is US-CA)",
        docs="https://cloud.google.com/load-balancing/docs/https/custom-headers",
    ),
    ProviderSpec(
        name="netlify",
        vendor="Netlify",
        headers=(HeaderOption("header", "x-nf-geo"),),
        region=RegionFormat.JSON,
        notes="a JSON object (`country.code`, `subdivision.code`), plain or base64-encoded",
        docs="Netlify's geolocation header, as Netlify Edge Functions' `context.geo` reads it",
    ),
    ProviderSpec(
        name="vercel",
        vendor="Vercel",
        headers=_pair("X-Vercel-IP-Country", "X-Vercel-IP-Country-Region"),
        region=RegionFormat.ISO,
        notes="set by Vercel's edge on every request",
        docs="https://vercel.com/docs/headers/request-headers",
    ),
)

#: The built-in providers by name; each factory takes keyword options (header names).
PROVIDERS: Mapping[str, Callable[..., Provider]] = {spec.name: spec for spec in PROVIDER_TABLE}


def provider(name: str, **options: object) -> Provider:
    """
    Return the built-in provider *name*, with header names changed by *options*.

    ``provider("fastly", country_header="X-Geo-Country", region_header=None)``;
    ``provider("gcp", country_header="X-Client-Region",
    subdivision_header="X-Client-Region-Subdivision")``.

    Raises:
        ValueError: For an unknown provider, an unknown option, or an option
            that is not a header name.
    """
    factory = PROVIDERS.get(name) if isinstance(name, str) else None
    if factory is None:
        msg = f"unknown provider {describe_value(name)}; expected one of: {', '.join(PROVIDERS)}"
        raise ValueError(msg)
    accepted = list(inspect.signature(factory).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        msg = (
            f"provider {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(accepted)}"
        )
        raise ValueError(msg)
    return factory(**options)
