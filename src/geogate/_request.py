"""
Where a request comes from: CDN country headers, trusted proxies, GeoIP.

A `RequestResolver` turns a request's headers and the address of the peer
that connected (the immediate TCP peer) into a `RequestLocation`, in this
order: a country the application gives explicitly, then the header of a
configured CDN provider, then the GeoIP lookup of the client address, else
unknown.

Headers are written by whoever sends them, so the resolver trusts them only
when the peer is inside the configured ``trusted_proxies`` networks, and only
those of the providers the application named: a forged ``CF-IPCountry`` from
anywhere else is ignored, and the result's *detail* says so. The client address
is the peer itself unless the peer is trusted; then the configured forwarding
header (``X-Forwarded-For`` or RFC 7239 ``Forwarded``, never both) is walked
from the right, through trusted proxies only. An entry that is not an address
stops the walk: the client address is then unknown rather than chosen by
whoever wrote the left part of the header.

The order of the providers matters: the first configured provider whose
headers are present answers. A trusted proxy passes on the headers its client
sent, so configure only the providers that really stand in front of the
application, and the one that overwrites its headers first.

Nothing here raises for anything in a request: garbage, oversize or repeated
headers, bytes that are not UTF-8, a peer that is not an address. The result
says what was wrong instead. Only a bad configuration raises, when the
resolver is built.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, Protocol, TypeAlias

import attrs

from ._countries import (
    ALIASES,
    SUBDIVISIONS_WITH_COUNTRY_CODE,
    LocationStatus,
    Normalized,
    describe_value,
    normalize_country,
    normalize_subdivision,
)

__all__ = [
    "MAX_CHAIN_ENTRIES",
    "MAX_HEADER_LINES",
    "MAX_VALUE_LENGTH",
    "PROVIDERS",
    "AkamaiProvider",
    "GeoLookup",
    "GeoResultLike",
    "HeaderLocation",
    "HeaderMap",
    "HeaderPairProvider",
    "Headers",
    "NetlifyProvider",
    "Provider",
    "RequestLocation",
    "RequestResolver",
    "provider",
]

#: Request headers: ASGI's raw ``(name, value)`` byte pairs, text pairs, or a
#: mapping from name to value. Names are case-insensitive.
Headers: TypeAlias = Iterable[tuple[str | bytes, str | bytes]] | Mapping[str, str]

#: The longest header value read; a longer one is refused, never cut short.
MAX_VALUE_LENGTH = 1024
#: The most header lines read from one request; past that the headers are damaged.
MAX_HEADER_LINES = 512
#: The most entries of a forwarding header walked through.
MAX_CHAIN_ENTRIES = 64

_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_KNOWN = LocationStatus.KNOWN
_UNKNOWN = LocationStatus.UNKNOWN
_INVALID = LocationStatus.INVALID

#: Pseudo country codes of one provider that `normalize_country` does not know:
#: Fastly's ``**`` (no country for the address).
_PROVIDER_UNKNOWN_CODES = frozenset({"**"})
#: Region values that mean "no region": Fastly's ``NO REGION``, App Engine's ``?``.
_NO_REGION = frozenset({"", "?", "NO REGION"})
#: RFC 9110 ``tchar``: the characters of a header name.
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_OBFUSCATED = frozenset("._-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_BITS = 32
_V6_BITS = 128


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _label(name: str) -> str:
    """Show a header name in a message: as it is when it is a clean name, else quoted."""
    if name and len(name) <= 40 and all(char in _TCHARS for char in name):  # noqa: PLR2004
        return name
    return describe_value(name)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- headers --------------------------------------------------------------------------


class HeaderMap:
    """
    A request's headers, read once: case-insensitive, every value kept in order.

    Byte names and values are decoded as latin-1, as ASGI specifies, so no
    byte sequence fails to decode; a value that is not text, or that is
    longer than `MAX_VALUE_LENGTH`, is not kept, and `problem` says so for
    its header. Building a map never raises: when the headers cannot be read
    at all (not a list of pairs, more than `MAX_HEADER_LINES` lines),
    *damaged* says why, and whatever was read before stays readable.

    Attributes:
        damaged: Why the headers could not all be read, or None.
    """

    __slots__ = ("_problems", "_values", "damaged")

    def __init__(self, headers: Headers | None = None) -> None:
        self._values: dict[str, list[str]] = {}
        self._problems: dict[str, str] = {}
        self.damaged: str | None = None
        if headers is None:
            return
        try:
            self._read(headers)
        except Exception as error:  # noqa: BLE001 (any iterable may fail half-way; never raise)
            self.damaged = f"reading them failed ({type(error).__name__})"

    def _read(self, headers: object) -> None:
        if isinstance(headers, str | bytes) or not isinstance(headers, Iterable):
            self.damaged = f"they are {_a(type(headers).__name__)}, not (name, value) pairs"
            return
        pairs: Iterable[object] = headers.items() if isinstance(headers, Mapping) else headers
        for count, pair in enumerate(pairs):
            if count >= MAX_HEADER_LINES:
                self.damaged = f"there are more than {MAX_HEADER_LINES} header lines"
                return
            if not isinstance(pair, tuple | list) or len(pair) != 2:  # noqa: PLR2004
                self.damaged = f"one of them is {_a(type(pair).__name__)}, not a (name, value) pair"
                return
            raw_name, raw_value = pair
            if isinstance(raw_name, bytes):
                raw_name = raw_name.decode("latin-1")
            if not isinstance(raw_name, str):
                self.damaged = f"a header name is {_a(type(raw_name).__name__)}, not text"
                return
            # Only ASCII letters are folded: str.lower() would turn the Kelvin
            # sign into "k" and let a strange name pass for a known one.
            name = raw_name.lower() if raw_name.isascii() else raw_name
            if isinstance(raw_value, bytes):
                raw_value = raw_value.decode("latin-1")
            if not isinstance(raw_value, str):
                kind = _a(type(raw_value).__name__)
                self._problems.setdefault(name, f"has a value that is {kind}")
                continue
            if len(raw_value) > MAX_VALUE_LENGTH:
                self._problems.setdefault(name, f"is longer than {MAX_VALUE_LENGTH} characters")
                continue
            self._values.setdefault(name, []).append(raw_value.strip(" \t"))

    def get_all(self, name: str) -> list[str]:
        """Return every usable value of the header *name*, in the order received."""
        return list(self._values.get(name.lower(), ()))

    def problem(self, name: str) -> str | None:
        """
        Say why a value of the header *name* could not be used, or return None.

        The sentence names the header as *name* spells it:
        ``X-Forwarded-For is longer than 1024 characters``.
        """
        problem = self._problems.get(name.lower())
        return None if problem is None else f"{_label(name)} {problem}"

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return key in self._values or key in self._problems

    def __repr__(self) -> str:
        return f"HeaderMap({sorted(self._values)!r}, damaged={self.damaged!r})"


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
            f"{_label(name)} was sent {len(values)} times with different values "
            f"({shown}{more}), so the location is ambiguous"
        )
        return _Value(problem=problem, ambiguous=True)
    return _Value(values[0])


# --- providers ------------------------------------------------------------------------


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
        ambiguous: Whether *problem* is an ambiguity (the location is then
            unknown) rather than garbage (the location is then invalid).
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
                f"that is {_a(type(code).__name__)}, not a string",
            )
        subdivision_record = data.get("subdivision")
        region = subdivision_record.get("code") if isinstance(subdivision_record, dict) else None
        region = region if isinstance(region, str) else None
        return HeaderLocation(code, _region_code(code, region, "iso"), self.header)


def _header_option(provider_name: str, option: str, value: object, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or not all(char in _TCHARS for char in value):
        msg = (
            f"the {option} option of provider {provider_name!r} must be a header name "
            f"such as 'X-Client-Region', not {describe_value(value)}"
        )
        raise ValueError(msg)
    return value


def _pair(
    name: str,
    country_header: object,
    region_header: object,
    region_style: Literal["iso", "cldr"] = "iso",
    region_option: str = "region_header",
) -> HeaderPairProvider:
    country = _header_option(name, "country_header", country_header, optional=False)
    assert country is not None  # noqa: S101 (for mypy: not optional)
    region = _header_option(name, region_option, region_header, optional=True)
    return HeaderPairProvider(name, country, region, region_style)


def _cloudflare(
    *, country_header: str = "CF-IPCountry", region_header: str | None = "cf-region-code"
) -> Provider:
    """Cloudflare: ``CF-IPCountry`` (``XX`` unknown, ``T1`` Tor) and ``cf-region-code``."""
    return _pair("cloudflare", country_header, region_header)


def _cloudfront(
    *,
    country_header: str = "CloudFront-Viewer-Country",
    region_header: str | None = "CloudFront-Viewer-Country-Region",
) -> Provider:
    """Amazon CloudFront: ``CloudFront-Viewer-Country`` and ``-Country-Region``."""
    return _pair("cloudfront", country_header, region_header)


def _fastly(
    *,
    country_header: str = "Fastly-Geo-Country",
    region_header: str | None = "Fastly-Geo-Region",
) -> Provider:
    """Fastly: headers the service sets from ``client.geo.country_code`` and ``.region``."""
    return _pair("fastly", country_header, region_header)


def _appengine(
    *,
    country_header: str = "X-AppEngine-Country",
    region_header: str | None = "X-AppEngine-Region",
) -> Provider:
    """Google App Engine: ``X-AppEngine-Country`` (``ZZ`` unknown) and ``X-AppEngine-Region``."""
    return _pair("appengine", country_header, region_header)


def _vercel(
    *,
    country_header: str = "X-Vercel-IP-Country",
    region_header: str | None = "X-Vercel-IP-Country-Region",
) -> Provider:
    """Vercel: ``X-Vercel-IP-Country`` and ``X-Vercel-IP-Country-Region``."""
    return _pair("vercel", country_header, region_header)


def _akamai(*, header: str = "X-Akamai-Edgescape") -> Provider:
    """Akamai EdgeScape: ``country_code=`` and ``region_code=`` in ``X-Akamai-Edgescape``."""
    checked = _header_option("akamai", "header", header, optional=False)
    return AkamaiProvider(header=str(checked))


def _netlify(*, header: str = "x-nf-geo") -> Provider:
    """Netlify: the ``x-nf-geo`` JSON object, plain or base64."""
    checked = _header_option("netlify", "header", header, optional=False)
    return NetlifyProvider(header=str(checked))


def _gcp(
    *,
    country_header: str = "X-Client-Region",
    subdivision_header: str | None = "X-Client-Region-Subdivision",
) -> Provider:
    """Google Cloud load balancers: custom headers from ``{client_region}`` and ``{client_region_subdivision}``."""  # noqa: E501
    return _pair("gcp", country_header, subdivision_header, "cldr", "subdivision_header")


#: The built-in providers by name; each factory takes keyword options (header names).
PROVIDERS: Mapping[str, Callable[..., Provider]] = {
    "akamai": _akamai,
    "appengine": _appengine,
    "cloudflare": _cloudflare,
    "cloudfront": _cloudfront,
    "fastly": _fastly,
    "gcp": _gcp,
    "netlify": _netlify,
    "vercel": _vercel,
}


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


# --- GeoIP ----------------------------------------------------------------------------


class GeoResultLike(Protocol):
    """What a GeoIP lookup returns (`geogate._geo.GeoResult`)."""

    @property
    def status(self) -> LocationStatus:
        """KNOWN, UNKNOWN or INVALID."""

    @property
    def country(self) -> str | None:
        """The ISO 3166-1 alpha-2 code when KNOWN."""

    @property
    def subdivision(self) -> str | None:
        """The ISO 3166-2 code, when the database has one."""

    @property
    def ip(self) -> str | None:
        """The address looked up."""

    @property
    def problem(self) -> str | None:
        """Why the status is not KNOWN."""


class GeoLookup(Protocol):
    """Something that locates an IP address (`geogate._geo.GeoDatabase`)."""

    def lookup(self, ip: object) -> GeoResultLike:
        """Locate *ip*; never raises."""


# --- addresses ------------------------------------------------------------------------


def _address(value: object) -> _Address | None:
    """Parse an address; IPv4-mapped IPv6 becomes IPv4 and a zone id is dropped."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address: _Address = value
    elif isinstance(value, str) and value.isascii() and len(value) <= 64:  # noqa: PLR2004
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
    else:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


def _network(entry: object) -> _Network:
    """Parse one ``trusted_proxies`` entry; ValueError with a message a person can act on."""
    network: _Network
    if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
        network = entry
    elif isinstance(entry, ipaddress.IPv4Address | ipaddress.IPv6Address):
        network = ipaddress.ip_network(entry)
    elif isinstance(entry, str):
        try:
            network = ipaddress.ip_network(entry)
        except ValueError as error:
            try:
                loose = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                msg = (
                    f"trusted proxy {describe_value(entry)} is not an IP address or a CIDR "
                    f"network ({error}); expected e.g. '10.0.0.0/8', '2001:db8::/32' or "
                    "'192.0.2.7'"
                )
                raise ValueError(msg) from None
            msg = (
                f"trusted proxy {entry!r} has bits set past its prefix length; "
                f"did you mean {str(loose)!r}?"
            )
            raise ValueError(msg) from None
    else:
        msg = (
            f"trusted proxy {describe_value(entry)} is {_a(type(entry).__name__)}; "
            "expected a string such as '10.0.0.0/8'"
        )
        raise ValueError(msg)  # noqa: TRY004 (configuration errors are ValueErrors here)
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        # Peers are compared as IPv4, so an IPv4-mapped network is one too.
        start = int(network.network_address) & 0xFFFFFFFF
        prefix = network.prefixlen - (_V6_BITS - _V4_BITS)
        return ipaddress.IPv4Network((start, prefix))
    return network


def _node(text: str, header: str, *, bare_ipv6: bool) -> tuple[_Address | None, str | None]:
    """
    Parse one forwarding entry: ``192.0.2.7``, ``192.0.2.7:443``, ``[2001:db8::1]:443``.

    Returns the address, or None and why the entry is not one.
    """
    if not text:
        return None, f"{header} has an empty entry"
    if text.lower() == "unknown":
        return None, f"{header} has 'unknown' in place of an address"
    if text.startswith("_"):
        return None, (
            f"{header} has the obfuscated identifier {describe_value(text)} in place of an address"
        )
    host, colon, port = text, "", ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        colon, port = rest[:1], rest[1:]
        if not bracket or colon not in {"", ":"} or ":" not in host:
            host = ""  # unclosed, followed by something else, or a bracketed IPv4 address
    elif text.count(":") == 1:
        host, colon, port = text.partition(":")
    elif ":" in text and not bare_ipv6:
        host = ""  # RFC 7239 puts IPv6 addresses in brackets
    valid_port = not colon or _is_port(port)
    address = _address(host) if valid_port and "%" not in host else None
    if address is None:
        return None, f"{header} has {describe_value(text)}, which is not an IP address"
    return address, None


def _is_port(port: str) -> bool:
    """RFC 7239 ``node-port``: 1 to 5 digits, or ``_`` and an obfuscated port."""
    if port.isascii() and port.isdigit():
        return len(port) <= 5  # noqa: PLR2004
    return port[:1] == "_" and len(port) > 1 and all(char in _OBFUSCATED for char in port)


def _split_quoted(text: str, separator: str) -> list[str] | None:
    """Split on *separator* outside quoted strings; None for an unterminated quote."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        return None
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str | None:
    if not value.startswith('"'):
        return value if '"' not in value else None
    if len(value) < 2 or not value.endswith('"'):  # noqa: PLR2004
        return None
    body, out, escaped = value[1:-1], [], False
    for char in body:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _forwarded_for(element: str) -> tuple[str | None, str | None]:
    """Return the ``for=`` value of one RFC 7239 element, or why there is none."""
    pairs = _split_quoted(element, ";")
    if pairs is None:
        return None, "Forwarded has an unterminated quoted string"
    found: dict[str, str] = {}
    for pair in pairs:
        if not pair.strip(" \t"):
            continue
        key, equals, value = pair.partition("=")
        key = key.strip(" \t").lower()
        unquoted = _unquote(value.strip(" \t"))
        if not equals or not key or not all(char in _TCHARS for char in key) or unquoted is None:
            return None, f"Forwarded has {describe_value(pair.strip())}, which is not a parameter"
        if key in found:
            return None, f"Forwarded has {key}= twice in one element"
        found[key] = unquoted
    if not found:
        return None, "Forwarded has an empty element"
    if "for" not in found:
        return None, "Forwarded has an element without for="
    return found["for"], None


def _chain(header: str, lines: list[str]) -> list[tuple[str | None, str | None]]:
    """Split forwarding header lines into entries, in order: (entry, None) or (None, problem)."""
    entries: list[tuple[str | None, str | None]] = []
    for line in lines:
        if header == "Forwarded":
            elements = _split_quoted(line, ",")
            if elements is None:  # a quote left open swallows the rest of the line
                entries.append((None, "Forwarded has an unterminated quoted string"))
                continue
            entries.extend(_forwarded_for(element) for element in elements)
        else:
            entries.extend((entry.strip(" \t"), None) for entry in line.split(","))
    return entries


# --- resolution -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RequestLocation:
    """
    Where a request comes from, and how that was found.

    Attributes:
        status: ``KNOWN``, ``UNKNOWN`` or ``INVALID``, of the location used.
        country: The ISO 3166-1 alpha-2 code when *status* is ``KNOWN``.
        subdivision: The ISO 3166-2 code, when known.
        source: ``"explicit"``, ``"header:<provider>"``, ``"geoip"`` or ``"unknown"``.
        client_ip: The client address as found through trusted proxies, or None.
        detail: One plain sentence on how the location was found and what was
            ignored, e.g. ``CF-IPCountry 'FR' from trusted proxy 10.0.0.2``.
        problem: For ``UNKNOWN`` and ``INVALID``, a phrase that completes
            "because ...".
    """

    status: LocationStatus
    country: str | None
    subdivision: str | None
    source: str
    client_ip: str | None
    detail: str
    problem: str | None = None


@attrs.frozen
class _Peer:
    address: _Address | None
    trusted: bool
    why_untrusted: str


_FORWARDING_HEADERS = {"x-forwarded-for": "X-Forwarded-For", "forwarded": "Forwarded"}


class RequestResolver:
    """
    Find where a request comes from: explicit > trusted provider header > GeoIP > unknown.

    Args:
        providers: Provider names (``"cloudflare"``, see `PROVIDERS`) or
            `Provider` objects, in the order they are asked.
        trusted_proxies: The networks of the proxies and CDN edges that connect
            to the application (``"10.0.0.0/8"``, ``"2001:db8::/32"``, or single
            addresses). Headers count only from these peers; none by default.
        forwarded: The forwarding header the trusted proxies append to:
            ``"x-forwarded-for"``, ``"forwarded"`` (RFC 7239), or ``"none"``.
        geoip: What locates the client address (`geogate._geo.GeoDatabase`), or None.

    Raises:
        ValueError: For an unknown provider name, a provider named twice, a
            trusted proxy that is not an address or network, or an unknown
            *forwarded*.
    """

    __slots__ = ("_forwarded", "_geoip", "_networks", "_providers")

    def __init__(
        self,
        *,
        providers: Iterable[str | Provider] = (),
        trusted_proxies: Iterable[str] = (),
        forwarded: Literal["x-forwarded-for", "forwarded", "none"] = "x-forwarded-for",
        geoip: GeoLookup | None = None,
    ) -> None:
        for option, value in (("providers", providers), ("trusted_proxies", trusted_proxies)):
            if isinstance(value, str | bytes):
                msg = f"{option} must be a list, not the string {value!r}; write [{value!r}]"
                raise ValueError(msg)  # noqa: TRY004 (configuration errors are ValueErrors here)
        chosen: list[Provider] = []
        for item in providers:
            if isinstance(item, str):
                found = provider(item)
            elif isinstance(getattr(item, "name", None), str) and callable(
                getattr(item, "read", None)
            ):
                found = item
            else:
                msg = (
                    f"provider {describe_value(item)} is neither a provider name "
                    f"({', '.join(PROVIDERS)}) nor an object with a name and a read() method"
                )
                raise ValueError(msg)  # noqa: TRY004 (configuration errors are ValueErrors here)
            if any(other.name == found.name for other in chosen):
                msg = f"provider {found.name!r} is configured twice"
                raise ValueError(msg)
            chosen.append(found)
        if forwarded not in {"x-forwarded-for", "forwarded", "none"}:
            msg = (
                f"forwarded must be 'x-forwarded-for', 'forwarded' or 'none', "
                f"not {describe_value(forwarded)}"
            )
            raise ValueError(msg)
        if geoip is not None and not callable(getattr(geoip, "lookup", None)):
            msg = f"geoip {describe_value(geoip)} has no lookup() method"
            raise ValueError(msg)
        self._providers: tuple[Provider, ...] = tuple(chosen)
        self._networks: tuple[_Network, ...] = tuple(
            dict.fromkeys(_network(entry) for entry in trusted_proxies)
        )
        self._forwarded = forwarded
        self._geoip = geoip

    @property
    def providers(self) -> tuple[Provider, ...]:
        """The configured providers, in the order they are asked."""
        return self._providers

    @property
    def trusted_proxies(self) -> tuple[_Network, ...]:
        """The trusted networks (IPv4-mapped IPv6 networks as IPv4)."""
        return self._networks

    @property
    def forwarded(self) -> str:
        """The forwarding header read from trusted proxies, or ``"none"``."""
        return self._forwarded

    @property
    def geoip(self) -> GeoLookup | None:
        """What locates client addresses, or None."""
        return self._geoip

    def __repr__(self) -> str:
        names = [p.name for p in self._providers]
        networks = [str(n) for n in self._networks]
        return (
            f"RequestResolver(providers={names!r}, trusted_proxies={networks!r}, "
            f"forwarded={self._forwarded!r}, geoip={self._geoip!r})"
        )

    def _trusted(self, address: _Address) -> bool:
        return any(address in network for network in self._networks)

    def _peer(self, peer: object) -> _Peer:
        address = _address(peer)
        if address is None:
            why = (
                "the peer address is unknown"
                if peer is None
                else f"the peer address {describe_value(peer)} is not an IP address"
            )
            return _Peer(None, trusted=False, why_untrusted=why)
        trusted = self._trusted(address)
        return _Peer(
            address, trusted=trusted, why_untrusted=f"the peer {address} is not a trusted proxy"
        )

    def _client(self, headers: HeaderMap, peer: _Peer) -> tuple[_Address | None, str | None]:
        """Return the client address, or None and why it is unknown."""
        if not peer.trusted or self._forwarded == "none":
            return peer.address, None if peer.address is not None else peer.why_untrusted
        address, problem = self._walk(headers, peer)
        if address is None:
            return None, f"{problem}, so the client address is unknown"
        return address, None

    def _walk(self, headers: HeaderMap, peer: _Peer) -> tuple[_Address | None, str | None]:
        """Walk the forwarding header from the right, through trusted proxies."""
        header = _FORWARDING_HEADERS[self._forwarded]
        if headers.damaged is not None:
            return None, f"the headers could not be read: {headers.damaged}"
        problem = headers.problem(header)
        if problem is not None:
            return None, problem
        lines = headers.get_all(header)
        if not lines:
            return peer.address, None
        entries = _chain(header, lines)
        address: _Address | None = None
        for walked, (entry, unusable) in enumerate(reversed(entries)):
            if walked == MAX_CHAIN_ENTRIES:
                return None, f"{header} has more than {MAX_CHAIN_ENTRIES} trusted entries"
            if entry is None:
                return None, unusable
            address, problem = _node(entry, header, bare_ipv6=header != "Forwarded")
            if address is None:
                return None, problem
            if not self._trusted(address):
                return address, None
        return address, None  # every hop is trusted: the leftmost is the client

    def client_ip(self, headers: Headers | HeaderMap, peer: str | None) -> str | None:
        """
        Return the client address: the peer, or through trusted proxies the forwarded one.

        None when it cannot be known (no peer, a malformed forwarding entry).
        Never raises.
        """
        try:
            found = headers if isinstance(headers, HeaderMap) else HeaderMap(headers)
            address, _ = self._client(found, self._peer(peer))
        except Exception:  # noqa: BLE001 (the promise is to never raise)
            return None
        return None if address is None else str(address)

    def resolve(
        self,
        headers: Headers | HeaderMap,
        peer: str | None,
        *,
        country: object = None,
        subdivision: object = None,
    ) -> RequestLocation:
        """
        Find where the request comes from; never raises.

        Args:
            headers: The request headers (ASGI pairs, a mapping, or a `HeaderMap`).
            peer: The address of the immediate peer (ASGI ``scope["client"][0]``,
                WSGI ``REMOTE_ADDR``).
            country: A country the application knows (from the account), which
                wins over everything else.
            subdivision: An ISO 3166-2 code the application knows.
        """
        try:
            return self._resolve(headers, peer, country, subdivision)
        except Exception as error:  # noqa: BLE001 (the promise is to never raise)
            problem = f"resolving the location failed ({type(error).__name__})"
            return RequestLocation(
                status=_INVALID,
                country=None,
                subdivision=None,
                source="unknown",
                client_ip=None,
                detail=f"not located: {problem}",
                problem=problem,
            )

    def _resolve(
        self, headers: Headers | HeaderMap, peer: object, country: object, subdivision: object
    ) -> RequestLocation:
        found = headers if isinstance(headers, HeaderMap) else HeaderMap(headers)
        who = self._peer(peer)
        address, client_problem = self._client(found, who)
        client = None if address is None else str(address)
        if country is not None or subdivision is not None:
            return _explicit(country, subdivision, client)
        notes: list[str] = []
        if who.trusted:
            if found.damaged is not None and self._providers:
                problem = f"the headers from trusted proxy {who.address} could not be read: "
                problem += found.damaged
                return RequestLocation(
                    status=_UNKNOWN,
                    country=None,
                    subdivision=None,
                    source="unknown",
                    client_ip=client,
                    detail=f"not located: {problem}",
                    problem=problem,
                )
            for source in self._providers:
                read = _read(source, found)
                if read is not None:
                    return _from_header(source.name, read, str(who.address), client, client_problem)
        else:
            ignored = [
                read.header for p in self._providers if (read := _read(p, found)) is not None
            ]
            forwarding = _FORWARDING_HEADERS.get(self._forwarded)
            if forwarding is not None and forwarding in found:
                ignored.append(forwarding)
            if ignored:
                notes.append(f"ignored {_and(ignored)}: {who.why_untrusted}")
        return self._geolocate(client, client_problem, notes, trusted=who.trusted)

    def _geolocate(
        self, client: str | None, client_problem: str | None, notes: list[str], *, trusted: bool
    ) -> RequestLocation:
        def unknown(problem: str, source: str = "unknown") -> RequestLocation:
            return RequestLocation(
                status=_UNKNOWN,
                country=None,
                subdivision=None,
                source=source,
                client_ip=client,
                detail="; ".join([*notes, f"not located: {problem}"]),
                problem=problem,
            )

        if self._geoip is None:
            if not self._providers:
                return unknown("neither a provider nor a GeoIP database is configured")
            if trusted:
                return unknown("no provider header was present and no GeoIP database is configured")
            return unknown(
                "no trusted provider header was present and no GeoIP database is configured"
            )
        if client is None:
            return unknown(str(client_problem))
        try:
            result = self._geoip.lookup(client)
            status = result.status
            raw_country, raw_subdivision = result.country, result.subdivision
            geo_problem = result.problem
        except Exception as error:  # noqa: BLE001 (someone else's code; never raise)
            return unknown(f"the GeoIP lookup of {client} failed ({type(error).__name__})", "geoip")
        if status != _KNOWN:
            problem = geo_problem if isinstance(geo_problem, str) and geo_problem else None
            problem = problem or f"GeoIP has no country for {client}"
            located = unknown(problem, "geoip")
            located = attrs.evolve(
                located, detail="; ".join([*notes, f"not located by GeoIP: {problem}"])
            )
            return located if status != _INVALID else attrs.evolve(located, status=_INVALID)
        normalized = normalize_country(raw_country)
        if normalized.status is not _KNOWN:
            return attrs.evolve(unknown(str(normalized.problem), "geoip"), status=normalized.status)
        code, note = _subdivision(raw_subdivision, normalized)
        return RequestLocation(
            status=_KNOWN,
            country=normalized.code,
            subdivision=code,
            source="geoip",
            client_ip=client,
            detail="; ".join([*notes, "located by GeoIP", *([note] if note else [])]),
        )


def _read(source: Provider, headers: HeaderMap) -> HeaderLocation | None:
    """Ask a provider; a provider that fails or answers nonsense gives an invalid answer."""
    try:
        read = source.read(headers)
    except Exception as error:  # noqa: BLE001 (custom providers may fail; never raise)
        return HeaderLocation(
            None,
            None,
            source.name,
            problem=f"the provider {source.name!r} failed ({type(error).__name__})",
        )
    if read is None or isinstance(read, HeaderLocation):
        return read
    return HeaderLocation(  # type: ignore[unreachable]  # a custom provider broke its contract
        None,
        None,
        source.name,
        problem=f"the provider {source.name!r} answered {_a(type(read).__name__)}",
    )


def _subdivision(value: object, country: Normalized) -> tuple[str | None, str | None]:
    """Validate a subdivision of a known country: (code, None) or (None, why it was dropped)."""
    if value is None or value == "":
        return None, None
    checked = normalize_subdivision(value, country.code)
    if checked.status is _KNOWN:
        return checked.code, None
    return None, f"ignored the subdivision {describe_value(value)}: {checked.problem}"


def _disagrees(subdivision: str, country: str) -> bool:
    """Whether a full subdivision code names another country than *country*."""
    prefix, hyphen, _ = subdivision.upper().partition("-")
    if not hyphen:
        return False
    prefix = ALIASES.get(prefix, prefix)
    return country not in {prefix, SUBDIVISIONS_WITH_COUNTRY_CODE.get(subdivision.upper())}


def _from_header(
    name: str, read: HeaderLocation, peer: str, client: str | None, client_problem: str | None
) -> RequestLocation:
    label = _label(read.header)
    source = f"header:{name}"
    tail = [client_problem] if client is None and client_problem else []

    def failed(status: LocationStatus, problem: str, what: str) -> RequestLocation:
        return RequestLocation(
            status=status,
            country=None,
            subdivision=None,
            source=source,
            client_ip=client,
            detail="; ".join([f"{what} from trusted proxy {peer}: {problem}", *tail]),
            problem=problem,
        )

    if read.problem is not None:
        return failed(_UNKNOWN if read.ambiguous else _INVALID, read.problem, label)
    raw = read.country
    if raw is None:
        return failed(_UNKNOWN, f"{label} gave no country", label)
    what = f"{label} {describe_value(raw)}"
    if raw in _PROVIDER_UNKNOWN_CODES:
        return failed(_UNKNOWN, f"the country code {raw!r} means an unknown location", what)
    normalized = normalize_country(raw)
    if normalized.status is not _KNOWN or normalized.code is None:
        return failed(normalized.status, str(normalized.problem), what)
    sub = read.subdivision
    if isinstance(sub, str) and _disagrees(sub, normalized.code):
        problem = (
            f"{what} disagrees with the subdivision {describe_value(sub)} from the same "
            "provider, so the location is ambiguous"
        )
        return failed(_UNKNOWN, problem, what)
    code, note = _subdivision(sub, normalized)
    if code is not None:
        what += f" and subdivision {code!r}"
    return RequestLocation(
        status=_KNOWN,
        country=normalized.code,
        subdivision=code,
        source=source,
        client_ip=client,
        detail="; ".join([f"{what} from trusted proxy {peer}", *([note] if note else []), *tail]),
    )


def _explicit(country: object, subdivision: object, client: str | None) -> RequestLocation:
    """The location the application gave; a bad subdivision makes it invalid."""
    parts = []
    if country is not None:
        parts.append(f"country {describe_value(country)}")
    if subdivision is not None:
        parts.append(f"subdivision {describe_value(subdivision)}")
    detail = f"{' and '.join(parts)} given by the application"

    def result(
        status: LocationStatus, code: str | None, sub: str | None, problem: str | None
    ) -> RequestLocation:
        return RequestLocation(
            status=status,
            country=code,
            subdivision=sub,
            source="explicit",
            client_ip=client,
            detail=detail,
            problem=problem,
        )

    if country is None:
        checked = normalize_subdivision(subdivision, None)
        if checked.status is not _KNOWN or checked.code is None:
            return result(checked.status, None, None, checked.problem)
        return result(_KNOWN, checked.code.partition("-")[0], checked.code, None)
    normalized = normalize_country(country)
    if normalized.status is not _KNOWN:
        return result(normalized.status, None, None, normalized.problem)
    if subdivision is None or subdivision == "":
        return result(_KNOWN, normalized.code, None, None)
    checked = normalize_subdivision(subdivision, normalized.code)
    if checked.status is not _KNOWN:
        return result(_INVALID, None, None, checked.problem)
    return result(_KNOWN, normalized.code, checked.code, None)
