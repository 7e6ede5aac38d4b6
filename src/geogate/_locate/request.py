"""
Where a request comes from: the application, a trusted CDN header, or GeoIP.

A `RequestResolver` turns a request's headers and the address of the peer
that connected (the immediate TCP peer) into a `RequestLocation`, in this
order: a country the application gives explicitly, then the header of a
configured CDN provider (`geogate._locate.providers`), then the GeoIP lookup of the
client address (`geogate._locate.proxies` finds it), else unknown.

Headers are written by whoever sends them, so the resolver trusts them only
when the peer is inside the configured ``trusted_proxies`` networks, and only
those of the providers the application named: a forged ``CF-IPCountry`` from
anywhere else is ignored, and the result's *detail* says so.

Nothing here raises for anything in a request: garbage, oversize or repeated
headers, bytes that are not UTF-8, a peer that is not an address. The result
says what was wrong instead. Only a bad configuration raises, when the
resolver is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from geogate._world.countries import (
    LocationSource,
    LocationStatus,
    describe_value,
    foreign_region,
    header_source,
    normalize_country,
    refine_region,
    resolve_place,
    undivided_part,
    with_article,
)

from .headers import HeaderMap, Headers, header_label
from .providers import PROVIDER_TABLE, PROVIDERS, HeaderLocation, Provider, provider
from .proxies import Network, TrustedProxies

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["GeoLookup", "GeoResultLike", "RequestLocation", "RequestResolver"]

_KNOWN = LocationStatus.KNOWN
_UNKNOWN = LocationStatus.UNKNOWN
_INVALID = LocationStatus.INVALID

#: Pseudo country codes of built-in providers that `normalize_country` does not
#: know (Fastly's ``**``: no country for the address), from the providers' table.
_PROVIDER_UNKNOWN_CODES = frozenset(code for spec in PROVIDER_TABLE for code in spec.unknown_codes)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class GeoResultLike(Protocol):
    """What a GeoIP lookup returns (`geogate._locate.geo.GeoResult`)."""

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
    """Something that locates an IP address (`geogate._locate.geo.GeoDatabase`)."""

    def lookup(self, ip: object) -> GeoResultLike:
        """Locate *ip*; never raises."""


@attrs.frozen(kw_only=True)
class RequestLocation:
    """
    Where a request comes from, and how that was found.

    Attributes:
        status: ``KNOWN``, ``UNKNOWN`` or ``INVALID``, of the location used.
        country: The ISO 3166-1 alpha-2 code when *status* is ``KNOWN``.
        subdivision: The ISO 3166-2 code, when known.
        source_kind: How it was found: explicit, a provider's header, GeoIP or unknown.
        provider: The name of the provider whose header it came from, for
            ``source_kind`` `LocationSource.HEADER`; else None.
        client_ip: The client address as found through trusted proxies, or None.
        detail: One plain sentence on how the location was found and what was
            ignored, e.g. ``CF-IPCountry 'FR' from trusted proxy 10.0.0.2``.
        problem: For ``UNKNOWN`` and ``INVALID``, a phrase that completes
            "because ...".
    """

    status: LocationStatus
    country: str | None
    subdivision: str | None
    source_kind: LocationSource
    provider: str | None = None
    client_ip: str | None
    detail: str
    problem: str | None = None

    @property
    def source(self) -> str:
        """As written: ``"explicit"``, ``"header:<provider>"``, ``"geoip"`` or ``"unknown"``."""
        if self.provider is not None:
            return header_source(self.provider)
        return self.source_kind.value


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
        geoip: What locates the client address (`geogate._locate.geo.GeoDatabase`), or None.

    Raises:
        ValueError: For an unknown provider name, a provider named twice, a
            trusted proxy that is not an address or network, or an unknown
            *forwarded*.
    """

    __slots__ = ("_geoip", "_providers", "_proxies")

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
        self._proxies = TrustedProxies.from_entries(trusted_proxies, forwarded)
        self._geoip = geoip

    @property
    def providers(self) -> tuple[Provider, ...]:
        """The configured providers, in the order they are asked."""
        return self._providers

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        """The trusted networks (IPv4-mapped IPv6 networks as IPv4)."""
        return self._proxies.networks

    @property
    def forwarded(self) -> str:
        """The forwarding header read from trusted proxies, or ``"none"``."""
        return self._proxies.forwarded

    @property
    def geoip(self) -> GeoLookup | None:
        """What locates client addresses, or None."""
        return self._geoip

    def __repr__(self) -> str:
        names = [p.name for p in self._providers]
        networks = [str(n) for n in self._proxies.networks]
        return (
            f"RequestResolver(providers={names!r}, trusted_proxies={networks!r}, "
            f"forwarded={self._proxies.forwarded!r}, geoip={self._geoip!r})"
        )

    def client_ip(self, headers: Headers | HeaderMap, peer: str | None) -> str | None:
        """
        Return the client address: the peer, or through trusted proxies the forwarded one.

        None when it cannot be known (no peer, a malformed forwarding entry).
        Never raises.
        """
        try:
            found = headers if isinstance(headers, HeaderMap) else HeaderMap(headers)
            address, _ = self._proxies.client(found, self._proxies.peer(peer))
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
                source_kind=LocationSource.UNKNOWN,
                client_ip=None,
                detail=f"not located: {problem}",
                problem=problem,
            )

    def _resolve(
        self, headers: Headers | HeaderMap, peer: object, country: object, subdivision: object
    ) -> RequestLocation:
        found = headers if isinstance(headers, HeaderMap) else HeaderMap(headers)
        who = self._proxies.peer(peer)
        address, client_problem = self._proxies.client(found, who)
        client = None if address is None else str(address)
        if country is not None or subdivision is not None:
            return _explicit(country, subdivision, client)
        notes: list[str] = []
        if who.trusted:
            if found.damaged is not None and self._providers:
                problem = f"the headers from trusted proxy {who.address} could not be read: "
                problem += found.damaged
                return RequestLocation(
                    status=_INVALID,
                    country=None,
                    subdivision=None,
                    source_kind=LocationSource.UNKNOWN,
                    client_ip=client,
                    detail=f"not located: {problem}",
                    problem=problem,
                )
            for candidate in self._providers:
                read = _read(candidate, found)
                if read is not None:
                    return _from_header(
                        candidate.name, read, str(who.address), client, client_problem
                    )
        else:
            ignored = [
                read.header for p in self._providers if (read := _read(p, found)) is not None
            ]
            forwarding = self._proxies.header
            if forwarding is not None and forwarding in found:
                ignored.append(forwarding)
            if ignored:
                notes.append(f"ignored {_and(ignored)}: {who.why_untrusted}")
        return self._geolocate(client, client_problem, notes, trusted=who.trusted)

    def _geolocate(
        self, client: str | None, client_problem: str | None, notes: list[str], *, trusted: bool
    ) -> RequestLocation:
        def unknown(problem: str, kind: LocationSource = LocationSource.UNKNOWN) -> RequestLocation:
            return RequestLocation(
                status=_UNKNOWN,
                country=None,
                subdivision=None,
                source_kind=kind,
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
            return unknown(
                f"the GeoIP lookup of {client} failed ({type(error).__name__})",
                LocationSource.GEOIP,
            )
        if status != _KNOWN:
            problem = geo_problem if isinstance(geo_problem, str) and geo_problem else None
            problem = problem or f"GeoIP has no country for {client}"
            located = unknown(problem, LocationSource.GEOIP)
            located = attrs.evolve(
                located, detail="; ".join([*notes, f"not located by GeoIP: {problem}"])
            )
            return located if status != _INVALID else attrs.evolve(located, status=_INVALID)
        normalized = normalize_country(raw_country)
        if normalized.status is not _KNOWN:
            return attrs.evolve(
                unknown(str(normalized.problem), LocationSource.GEOIP), status=normalized.status
            )
        code, note = refine_region(raw_country, normalized, raw_subdivision)
        undivided = undivided_part(raw_country, code)
        if undivided is not None:
            return attrs.evolve(unknown(undivided, LocationSource.GEOIP), status=_INVALID)
        return RequestLocation(
            status=_KNOWN,
            country=normalized.code,
            subdivision=code,
            source_kind=LocationSource.GEOIP,
            client_ip=client,
            detail="; ".join([*notes, "located by GeoIP", *([note] if note else [])]),
        )


def _read(candidate: Provider, headers: HeaderMap) -> HeaderLocation | None:
    """Ask a provider; a provider that fails or answers nonsense gives an invalid answer."""
    try:
        read = candidate.read(headers)
    except Exception as error:  # noqa: BLE001 (custom providers may fail; never raise)
        return HeaderLocation(
            None,
            None,
            candidate.name,
            problem=f"the provider {candidate.name!r} failed ({type(error).__name__})",
        )
    if read is None or isinstance(read, HeaderLocation):
        return read
    return HeaderLocation(  # type: ignore[unreachable]  # a custom provider broke its contract
        None,
        None,
        candidate.name,
        problem=f"the provider {candidate.name!r} answered {with_article(type(read).__name__)}",
    )


def _from_header(
    name: str, read: HeaderLocation, peer: str, client: str | None, client_problem: str | None
) -> RequestLocation:
    label = header_label(read.header)
    tail = [client_problem] if client is None and client_problem else []

    def failed(status: LocationStatus, problem: str, what: str) -> RequestLocation:
        return RequestLocation(
            status=status,
            country=None,
            subdivision=None,
            source_kind=LocationSource.HEADER,
            provider=name,
            client_ip=client,
            detail="; ".join([f"{what} from trusted proxy {peer}: {problem}", *tail]),
            problem=problem,
        )

    if read.problem is not None:  # garbage or ambiguous: never the feature's `unknown:`
        return failed(_INVALID, read.problem, label)
    raw = read.country
    if raw is None:
        return failed(_UNKNOWN, f"{label} gave no country", label)
    what = f"{label} {describe_value(raw)}"
    if raw in _PROVIDER_UNKNOWN_CODES:
        return failed(_UNKNOWN, f"the country code {raw!r} means an unknown location", what)
    normalized = normalize_country(raw)
    if normalized.status is not _KNOWN or normalized.code is None:
        return failed(normalized.status, str(normalized.problem), what)
    foreign = foreign_region(normalized.code, read.subdivision)
    if foreign is not None:
        return failed(_INVALID, foreign, what)
    code, note = refine_region(raw, normalized, read.subdivision)
    undivided = undivided_part(raw, code)
    if undivided is not None:
        return failed(_INVALID, "; ".join([undivided, *([note] if note else [])]), what)
    if code is not None:
        what += f" and subdivision {code!r}"
    return RequestLocation(
        status=_KNOWN,
        country=normalized.code,
        subdivision=code,
        source_kind=LocationSource.HEADER,
        provider=name,
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
            source_kind=LocationSource.EXPLICIT,
            client_ip=client,
            detail=detail,
            problem=problem,
        )

    place = resolve_place(country, subdivision)
    if place.status is LocationStatus.KNOWN:
        if place.problem:  # a note (a subdivision geogate does not know), not a problem
            detail += f"; {place.problem}"
        return result(place.status, place.code, place.subdivision, None)
    return result(place.status, place.code, place.subdivision, place.problem)
