"""
IP address to location through a MaxMind DB (GeoIP2, GeoLite2 or DB-IP Lite).

`GeoDatabase` opens one reader (MODE_AUTO) when it is built and refuses a
database it cannot use there and then, with a `GeoDatabaseError` that names the
path and says what to do.

The reader is `maxminddb`'s, the one geoip2's ``Reader`` is built on: geogate
reads the same GeoIP2 fields (``country.iso_code``, ``subdivisions[].iso_code``,
``traits.is_anycast``, ``continent.code``) from the decoded record, without
building geoip2's model objects, which costs about half of a
``geoip2.database.Reader.country()`` call. That is what lets a decision by IP
cost less than a bare geoip2 lookup.

After it is built, `GeoDatabase.lookup` never raises: every
address, good or bad, gives a `GeoResult` whose status is ``KNOWN``,
``UNKNOWN`` or ``INVALID``, and whose *problem* says why it is not ``KNOWN``.

The location is the database's ``country`` record, never ``registered_country``
(the country where the network's owner registered it, which is often another
one) and never ``represented_country``. A record without a country (an anycast
network, a record that only names a continent) is an unknown location, whatever
its continent or ``is_in_european_union`` say.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import socket
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Self, TypeAlias

import maxminddb

from ._countries import LocationStatus, describe_value, normalize_country, normalize_subdivision
from .exceptions import GeoDatabaseError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["GEOIP_DB_ENV", "MAX_ADDRESS_LENGTH", "GeoDatabase", "GeoResult", "parse_address"]

#: The environment variable `GeoDatabase.from_env` reads.
GEOIP_DB_ENV = "GEOGATE_GEOIP_DB"

#: The longest text form of an IP address without a zone id:
#: ``0000:0000:0000:0000:0000:ffff:255.255.255.255``.
MAX_ADDRESS_LENGTH = 45

_DEFAULT_CACHE_SIZE = 65_536
_WHOLE_ADDRESS = 32

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: A canonical IPv4 address: four decimal octets, no leading zeros, nothing else.
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV4 = 4

_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

logger = logging.getLogger("geogate")


class GeoResult(NamedTuple):
    """
    What a GeoIP database says about one address.

    A named tuple rather than an attrs class: one is built for every address
    looked up, and a tuple costs a quarter as much to build.

    Attributes:
        status: ``KNOWN`` when the database gives a country; ``UNKNOWN`` when
            the address is not in the database, its record has no country, or
            the database could not be read; ``INVALID`` when the input is not
            an IP address.
        country: The ISO 3166-1 alpha-2 code of the record's ``country``
            (never ``registered_country``), when *status* is ``KNOWN``.
        subdivision: The most specific ISO 3166-2 code of the record's
            subdivisions that pycountry knows (``GB-NIR``); City databases
            only, else ``None``.
        ip: The address that was looked up, normalised (an IPv4-mapped IPv6
            address becomes its IPv4 address); ``None`` when the input was
            invalid.
        network: The database network the address fell in (``81.2.69.0/24``);
            for an address that is not in the database, the empty network
            around it; None when the lookup was asked not to compute it.
        problem: For ``UNKNOWN`` and ``INVALID``, a phrase saying why, written
            to complete "because ..." in an explanation.
    """

    status: LocationStatus
    country: str | None = None
    subdivision: str | None = None
    ip: str | None = None
    network: str | None = None
    problem: str | None = None


def _invalid(problem: str) -> GeoResult:
    return GeoResult(LocationStatus.INVALID, problem=problem)


def parse_address(value: str | _Address) -> _Address | GeoResult:
    """
    Turn an address given as text or as an `ipaddress` object into the address to look up.

    Returns the address, with an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``)
    replaced by its IPv4 address, or an ``INVALID`` `GeoResult` that says what
    is wrong. White space is not stripped, and neither ports nor brackets are
    removed: a value in such a shape came from a mis-read header, and guessing
    what it meant could locate the wrong address. IPv6 zone ids
    (``fe80::1%eth0``) are refused: they only qualify link-local addresses,
    which are never a client's public address.
    """
    if isinstance(value, str):
        if (
            not value
            or len(value) > MAX_ADDRESS_LENGTH
            or value[0].isspace()
            or value[-1].isspace()
            or value[0] == "["
            or "%" in value
        ):
            return _invalid(_text_problem(value))
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return _invalid(_text_problem(value))
    else:
        address = value
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return _invalid(_zone_problem(describe_value(str(address))))
        mapped = address.ipv4_mapped
        if mapped is not None:
            return mapped
    return address


def _text_problem(value: str) -> str:
    """Say what is wrong with *value*, a string that is not an IP address."""
    shown = describe_value(value)
    if not value:
        return "the IP address is an empty string"
    if len(value) > MAX_ADDRESS_LENGTH:
        return (
            f"the IP address {shown} is longer than any IP address "
            f"({len(value)} characters, at most {MAX_ADDRESS_LENGTH})"
        )
    if value != value.strip():
        return f"the IP address {shown} has white space around it"
    if value.startswith("["):
        return (
            f"the IP address {shown} is in brackets; give the bare address, "
            "without brackets or a port"
        )
    if "%" in value:
        return _zone_problem(shown)
    host, colon, port = value.rpartition(":")
    if colon and port.isascii() and port.isdigit() and "." in host and ":" not in host:
        return f"the IP address {shown} has a port; give the bare address, without the port"
    return f"{shown} is not an IP address"


def _zone_problem(shown: str) -> str:
    return (
        f"the IP address {shown} has an IPv6 zone id, which only a link-local "
        "address has, never a client's public address"
    )


def _network_of(address: _Address, prefix: int) -> str:
    """Return the network the database matched (the reader gives its prefix length)."""
    prefix = max(0, min(prefix, address.max_prefixlen))
    host_bits = address.max_prefixlen - prefix
    first = type(address)(int(address) >> host_bits << host_bits)
    return f"{first}/{prefix}"


def _dotted_quad_network(ip: str, prefix: int) -> str:
    """Return the network of a canonical dotted quad, masked with C-level helpers."""
    if prefix == _WHOLE_ADDRESS:
        return f"{ip}/32"
    host_bits = 32 - max(0, min(prefix, 32))
    number = int.from_bytes(socket.inet_aton(ip), "big") >> host_bits << host_bits
    return f"{socket.inet_ntoa(number.to_bytes(4, 'big'))}/{32 - host_bits}"


def _field(record: object, *keys: str) -> object:
    """Return ``record[keys[0]][keys[1]]...``, or None wherever the shape differs."""
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _database_kind(database_type: str) -> Literal["country", "city"] | None:
    if "City" in database_type:
        return "city"
    if "Country" in database_type:
        return "country"
    return None


class GeoDatabase:
    """
    A GeoIP Country or City database, opened once, looked up by IP address.

    GeoIP2, GeoLite2 and DB-IP Lite databases all work. Lookups are
    thread-safe and go through a bounded LRU cache keyed by the input string.

    Args:
        path: The ``.mmdb`` file.
        cache_size: How many lookups to remember; ``0`` turns the cache off.

    Raises:
        GeoDatabaseError: The file is missing, unreadable, not a MaxMind DB, or
            neither a Country nor a City database.

    Attributes:
        path: The path as given, as a string.
        database_type: The database's own type, from its metadata
            (``GeoIP2-City``, ``DBIP-Country-Lite``).
        kind: ``"city"`` or ``"country"``: which lookup the database answers.
    """

    path: str
    database_type: str
    kind: Literal["country", "city"]

    def __init__(
        self, path: str | os.PathLike[str], *, cache_size: int = _DEFAULT_CACHE_SIZE
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            msg = f"cache_size must be an integer >= 0 (0 turns the cache off), not {cache_size!r}"
            raise ValueError(msg)
        self.path = os.fspath(path)
        self._reader = _open_reader(self.path)
        metadata = self._reader.metadata()
        self.database_type = str(metadata.database_type)
        kind = _database_kind(self.database_type)
        if kind is None:
            self._reader.close()
            msg = (
                f"the GeoIP database {self.path!r} is of type {self.database_type!r}, "
                "not a Country or City database; give the path of a GeoIP2 or GeoLite2 "
                "Country or City database, or of a DB-IP Lite Country or City database"
            )
            raise GeoDatabaseError(self.path, msg)
        self.kind = kind
        self._ipv4_only = metadata.ip_version == _IPV4
        self._closed = False
        self._error_lock = threading.Lock()
        self._error_logged = False
        self._cached = functools.lru_cache(maxsize=cache_size)(self._resolve)

    @classmethod
    def from_env(cls) -> GeoDatabase | None:
        """
        Open the database named by ``$GEOGATE_GEOIP_DB``; ``None`` when it is unset or empty.

        Raises:
            GeoDatabaseError: As the constructor.
        """
        path = os.environ.get(GEOIP_DB_ENV, "")
        return cls(path) if path else None

    def __repr__(self) -> str:
        return f"GeoDatabase({self.path!r}, database_type={self.database_type!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database; later lookups give ``UNKNOWN``. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._cached.cache_clear()
        self._reader.close()

    def cache_clear(self) -> None:
        """Forget every remembered lookup (benchmarks use it to measure cold lookups)."""
        self._cached.cache_clear()

    def cache_info(self) -> functools._CacheInfo:
        """Return the lookup cache's hits, misses, maximum size and current size."""
        return self._cached.cache_info()

    def lookup(self, ip: object, *, cache: bool = True, network: bool = True) -> GeoResult:
        """
        Locate *ip*, a string or an `ipaddress.IPv4Address` / `IPv6Address`.

        Never raises: bad input gives ``INVALID``, an address the database
        does not place in a country gives ``UNKNOWN``, each with a *problem*.
        With ``cache=False`` the address cache is neither read nor filled, and
        with ``network=False`` the matched network is not computed: a gate
        deciding by IP needs neither (it remembers its decisions by address).
        """
        try:
            if self._closed:
                return GeoResult(
                    LocationStatus.UNKNOWN,
                    problem=f"the GeoIP database {self.path!r} was closed",
                )
            kind = type(ip)
            if kind is str or kind is ipaddress.IPv4Address or kind is ipaddress.IPv6Address:
                if cache:
                    return self._cached(ip)
                return self._resolve(ip, network=network)  # type: ignore[arg-type]
            if isinstance(ip, str):  # a subclass: look up a plain copy, its hash is its own
                return self._cached(str.__str__(ip))
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
                return self._resolve(ip)
            return _invalid(
                f"the IP address {describe_value(ip)} is of type {kind.__name__!r}, not a string"
            )
        except Exception as error:  # noqa: BLE001 (the promise is to never raise)
            self._report(describe_value(ip), error)
            return GeoResult(
                LocationStatus.UNKNOWN,
                problem=f"the GeoIP database could not be read for {describe_value(ip)}",
            )

    def _resolve(self, value: str | _Address, *, network: bool = True) -> GeoResult:
        if type(value) is str and _DOTTED_QUAD.fullmatch(value):
            # The common case: a canonical IPv4 address needs no `ipaddress`
            # parsing, which costs half as much as the lookup itself.
            return self._read(value, None, network=network)
        address = parse_address(value)
        if isinstance(address, GeoResult):
            return address
        ip = str(address)
        if self._ipv4_only and isinstance(address, ipaddress.IPv6Address):
            return GeoResult(
                LocationStatus.UNKNOWN,
                ip=ip,
                problem=f"the address {ip!r} is not in the GeoIP database "
                "(it holds IPv4 addresses only)",
            )
        return self._read(ip, address, network=network)

    def _read(self, ip: str, address: _Address | None, *, network: bool = True) -> GeoResult:
        """Look *ip* up; *address* is its parsed form, or None for a canonical dotted quad."""
        try:
            record, prefix = self._reader.get_with_prefix_len(ip)
            if not network:
                matched = None
            elif address is None:
                matched = _dotted_quad_network(ip, prefix)
            else:
                matched = _network_of(address, prefix)
            if record is None:
                return GeoResult(
                    LocationStatus.UNKNOWN,
                    ip=ip,
                    network=matched,
                    problem=f"the address {ip!r} is not in the GeoIP database",
                )
            return self._from_record(ip, matched, record)
        except Exception as error:  # noqa: BLE001 (a corrupt record must not fail a request)
            self._report(repr(ip), error)
            return GeoResult(
                LocationStatus.UNKNOWN,
                ip=ip,
                problem=f"the GeoIP database could not be read for the address {ip!r}",
            )

    def _from_record(self, ip: str, network: str | None, record: object) -> GeoResult:
        country_record = record.get("country") if type(record) is dict else None
        code = country_record.get("iso_code") if type(country_record) is dict else None
        if code is None:
            continent = _field(record, "continent", "code")
            if _field(record, "traits", "is_anycast") is True:
                why = "an anycast network"
            elif isinstance(continent, str):
                why = f"only the continent {continent!r}"
            else:
                why = "no location"
            return GeoResult(
                LocationStatus.UNKNOWN,
                ip=ip,
                network=network,
                problem=f"the GeoIP database gives no country for the address {ip!r} ({why})",
            )
        country = normalize_country(code)
        if country.status is not LocationStatus.KNOWN or country.code is None:
            return GeoResult(
                LocationStatus.UNKNOWN,
                ip=ip,
                network=network,
                problem=f"the GeoIP database gives {describe_value(code)} for the address "
                f"{ip!r}, which is not a country",
            )
        subdivision = None
        subdivisions = _field(record, "subdivisions") if self.kind == "city" else None
        for entry in reversed(subdivisions if isinstance(subdivisions, list) else []):
            part = _field(entry, "iso_code")  # largest first in the database
            if not isinstance(part, str) or not part or "-" in part:
                continue
            found = normalize_subdivision(f"{country.code}-{part}", country.code)
            if found.status is LocationStatus.KNOWN:
                subdivision = found.code
                break
        return GeoResult(
            LocationStatus.KNOWN,
            country=country.code,
            subdivision=subdivision,
            ip=ip,
            network=network,
        )

    def _report(self, shown: str, error: Exception) -> None:
        with self._error_lock:
            first, self._error_logged = not self._error_logged, True
        log = logger.error if first else logger.debug
        log(
            "the GeoIP database %r could not be read for the address %s: %s: %s%s",
            self.path,
            shown,
            type(error).__name__,
            error,
            "; further read errors are logged at DEBUG level" if first else "",
        )


def _open_reader(path: str) -> maxminddb.Reader:
    """Open *path* as a MaxMind DB or raise a `GeoDatabaseError` that says what to do."""
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        msg = (
            f"the GeoIP database {path!r} does not exist; download a Country or City "
            "database (.mmdb: GeoIP2, GeoLite2 or DB-IP Lite) and give its path"
        )
        raise GeoDatabaseError(path, msg) from None
    except (OSError, ValueError) as error:
        msg = f"the GeoIP database {path!r} cannot be read ({_reason(error)}); check the path"
        raise GeoDatabaseError(path, msg) from error
    if stat.S_ISDIR(mode):
        msg = f"the GeoIP database {path!r} is a directory; give the path of the .mmdb file in it"
        raise GeoDatabaseError(path, msg)
    if not stat.S_ISREG(mode):
        msg = f"the GeoIP database {path!r} is not a regular file; give the path of a .mmdb file"
        raise GeoDatabaseError(path, msg)
    try:
        with open(path, "rb"):  # noqa: PTH123 (only to tell "unreadable" from "corrupt")
            pass
    except OSError as error:
        msg = (
            f"the GeoIP database {path!r} cannot be read ({_reason(error)}); check its permissions"
        )
        raise GeoDatabaseError(path, msg) from error
    try:
        return maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except Exception as error:
        msg = (
            f"the GeoIP database {path!r} is not a valid MaxMind DB file (it is corrupt, "
            "truncated or another kind of file); download it again"
        )
        raise GeoDatabaseError(path, msg) from error


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
