"""
IP address to location through a MaxMind DB (GeoIP2, GeoLite2 or DB-IP Lite).

`GeoDatabase` opens one reader when it is built and refuses a database it
cannot use there and then, with a `GeoDatabaseError` that names the path and
says what to do.

The reader is `maxminddb`'s, the one geoip2's ``Reader`` is built on: geogate
reads the same GeoIP2 fields (``country.iso_code``, ``subdivisions[].iso_code``,
``traits.is_anycast``, ``continent.code``) from the decoded record, without
building geoip2's model objects, which costs about half of a
``geoip2.database.Reader.country()`` call. That is what lets a decision by IP
cost less than a bare geoip2 lookup.

The reader never maps the file it was given: it maps a private copy (see
`GeoDatabase`), so that replacing, overwriting or truncating the file can
neither kill the process with SIGBUS nor change answers under it, and
`GeoDatabase.reopen` swaps in a new file whole.

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

import contextlib
import functools
import ipaddress
import logging
import os
import re
import socket
import stat
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, NamedTuple, Protocol, Self, TypeAlias

import maxminddb

from geogate._world.countries import (
    LocationStatus,
    describe_value,
    normalize_country,
    normalize_subdivision,
    refine_region,
    undivided_part,
)
from geogate.exceptions import GeoDatabaseError

if TYPE_CHECKING:
    from collections.abc import Callable
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
            the address is not in the database or its record has no country
            (the place is genuinely unknown); ``INVALID`` when the input is not
            an IP address, or when the database could not be read for it (it
            was closed, or the record is corrupt): an error, which a gate
            denies whatever a feature's ``unknown`` setting says.
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


#: A file's identity and version: its inode, its size in bytes, and its
#: modification and status-change times in nanoseconds (the status-change
#: time cannot be set back by ``os.utime``, the modification time can).
Signature: TypeAlias = tuple[int, int, int, int]

#: How many times a file that changes while it is copied is read.
_COPY_ATTEMPTS = 3
#: The pause before reading a file that changed again, to let its writer finish.
_RETRY_DELAY = 0.05
#: The chunk size of a copy made by reading and writing (where sendfile cannot).
_CHUNK = 1 << 20


def _signature(status: os.stat_result) -> Signature:
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class _Reader(Protocol):
    """What a lookup needs of a `maxminddb` reader."""

    def get_with_prefix_len(self, ip_address: str | _Address, /) -> tuple[object, int]: ...


class _ClosedReader:
    """The reader of a closed database: it reads nothing."""

    def get_with_prefix_len(self, ip_address: str | _Address, /) -> tuple[object, int]:
        msg = f"the GeoIP database was closed before {ip_address!r} was looked up"
        raise ValueError(msg)


class _OpenDatabase:
    """
    One database file as opened: its reader, what its metadata says and its signature.

    Everything a lookup needs from one file. `GeoDatabase` keeps it in one
    tuple with the cache of its answers and replaces that tuple whole, so a
    lookup uses one file's reader with that file's cache, never one file's
    reader with another's cache. It logs its own first read error at ERROR
    level, and the later ones at DEBUG level.
    """

    __slots__ = (
        "_error_lock",
        "_error_logged",
        "database_type",
        "ipv4_only",
        "kind",
        "path",
        "reader",
        "signature",
    )

    def __init__(
        self,
        path: str,
        reader: _Reader,
        signature: Signature,
        database_type: str,
        kind: Literal["country", "city"],
        *,
        ipv4_only: bool,
    ) -> None:
        self.path = path
        self.reader = reader
        self.signature = signature
        self.database_type = database_type
        self.kind = kind
        self.ipv4_only = ipv4_only
        self._error_lock = threading.Lock()
        self._error_logged = False

    @classmethod
    def open(cls, path: str) -> _OpenDatabase:
        """Open a private copy of *path*, or raise a `GeoDatabaseError` that says what to do."""
        reader, signature = _open_private_copy(path)
        try:
            metadata = reader.metadata()
        except Exception as error:
            reader.close()  # nobody else has it yet
            raise _not_a_database(path) from error
        database_type = str(metadata.database_type)
        kind = _database_kind(database_type)
        if kind is None:
            reader.close()
            msg = (
                f"the GeoIP database {path!r} is of type {database_type!r}, "
                "not a Country or City database; give the path of a GeoIP2 or GeoLite2 "
                "Country or City database, or of a DB-IP Lite Country or City database"
            )
            raise GeoDatabaseError(path, msg)
        ipv4_only = metadata.ip_version == _IPV4
        return cls(path, reader, signature, database_type, kind, ipv4_only=ipv4_only)

    def closed(self) -> _OpenDatabase:
        """Return the same database without its reader, whose reference is dropped."""
        return _OpenDatabase(
            self.path,
            _ClosedReader(),
            self.signature,
            self.database_type,
            self.kind,
            ipv4_only=self.ipv4_only,
        )

    def resolve(self, value: str | _Address, *, network: bool = True) -> GeoResult:
        """Locate *value*, a string of at most `MAX_ADDRESS_LENGTH` characters or an address."""
        if type(value) is str and _DOTTED_QUAD.fullmatch(value):
            # The common case: a canonical IPv4 address needs no `ipaddress`
            # parsing, which costs half as much as the lookup itself.
            return self._read(value, None, network=network)
        address = parse_address(value)
        if isinstance(address, GeoResult):
            return address
        ip = str(address)
        if self.ipv4_only and isinstance(address, ipaddress.IPv6Address):
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
            record, prefix = self.reader.get_with_prefix_len(ip)
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
            self.report(repr(ip), error)
            return GeoResult(
                LocationStatus.INVALID,
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
        region = None
        subdivisions = _field(record, "subdivisions") if self.kind == "city" else None
        for entry in reversed(subdivisions if isinstance(subdivisions, list) else []):
            part = _field(entry, "iso_code")  # largest first in the database
            if not isinstance(part, str) or not part or "-" in part:
                continue
            found = normalize_subdivision(f"{country.code}-{part}", country.code)
            if found.status is LocationStatus.KNOWN:
                region = found.code
                break
        # As a CDN's region: it refines the record's country, never moves it
        # (a record FR with subdivision 974 stays FR); IC is ES-CN.
        subdivision, _ = refine_region(code, country, region)
        undivided = undivided_part(code, subdivision)
        if undivided is not None:
            return GeoResult(LocationStatus.INVALID, ip=ip, network=network, problem=undivided)
        return GeoResult(
            LocationStatus.KNOWN,
            country=country.code,
            subdivision=subdivision,
            ip=ip,
            network=network,
        )

    def report(self, shown: str, error: Exception) -> None:
        """Log a read error: the first at ERROR level, the later ones at DEBUG level."""
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


#: What `GeoDatabase` swaps whole: one file as opened, and the cache of its answers.
_Live: TypeAlias = tuple[
    _OpenDatabase,
    "functools._lru_cache_wrapper[GeoResult]",  # noqa: SLF001 (typeshed's name for it)
]


class GeoDatabase:
    """
    A GeoIP Country or City database, looked up by IP address, reopened when its file changes.

    GeoIP2, GeoLite2 and DB-IP Lite databases all work. Lookups are
    thread-safe and go through a bounded LRU cache keyed by the input string
    (at most `MAX_ADDRESS_LENGTH` characters: longer strings are refused
    before the cache sees them).

    **The file is copied, never mapped.** A reader that maps the file itself
    dies with SIGBUS when the file is truncated or copied over in place, and
    answers wrongly when it is rewritten in place. So the database is read
    once into a private copy (on Linux an anonymous memory file, sealed so
    that nothing can shrink or rewrite it; elsewhere an unlinked temporary
    file), and maxminddb's C reader maps that copy, at the C reader's speed.
    The file is checked to be the same (inode, size, modification time)
    before and after it is copied, and read again if it changed meanwhile.
    The copy costs the database's size in memory per process: processes that
    open it after forking do not share it through the page cache.

    **Replacing the database.** Nothing done to the file can disturb the
    database as opened: lookups keep answering from it until `reopen` is
    called. geoipupdate writes the new database to a temporary file in the
    same directory and renames it over the old one, so the path names the
    whole new file at once, while the old file lives on until its last
    reader lets it go. Do the same by hand: write the new file in the same
    file system, then ``mv`` (`os.replace`) it into place. Copying over the
    file in place (``cp new.mmdb GeoLite2-Country.mmdb``) or truncating it is
    safe for the running process too, but not for a `reopen` that runs while
    the copy is under way: it may find a half-written file, which it refuses
    (`GeoDatabaseError`, the old database kept) or, if the bytes written so
    far still read as a database, opens until the next `reopen` sees the
    file change again.

    Args:
        path: The ``.mmdb`` file.
        cache_size: How many lookups to remember; ``0`` turns the cache off.

    Raises:
        GeoDatabaseError: The file is missing, unreadable, not a MaxMind DB,
            neither a Country nor a City database, or kept changing while it
            was read.

    Attributes:
        path: The path as given, as a string.
        database_type: The database's own type, from its metadata
            (``GeoIP2-City``, ``DBIP-Country-Lite``); updated by `reopen`.
        kind: ``"city"`` or ``"country"``: which lookup the database answers;
            updated by `reopen`.
        signature: The inode, size, and modification and status-change times
            (ns) of the file as it was opened, or reopened last.
    """

    path: str

    def __init__(
        self, path: str | os.PathLike[str], *, cache_size: int = _DEFAULT_CACHE_SIZE
    ) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            msg = f"cache_size must be an integer >= 0 (0 turns the cache off), not {cache_size!r}"
            raise ValueError(msg)
        self.path = os.fspath(path)
        self._cache_size = cache_size
        self._closed = False
        self._lock = threading.Lock()  # one reopen or close at a time; lookups never wait
        self._live: _Live = self._with_cache(_OpenDatabase.open(self.path))
        _LIVE.add(self)

    def _with_cache(self, opened: _OpenDatabase) -> _Live:
        return (opened, functools.lru_cache(maxsize=self._cache_size)(opened.resolve))

    @classmethod
    def from_env(cls) -> GeoDatabase | None:
        """
        Open the database named by ``$GEOGATE_GEOIP_DB``; ``None`` when it is unset or empty.

        Raises:
            GeoDatabaseError: As the constructor.
        """
        path = os.environ.get(GEOIP_DB_ENV, "")
        return cls(path) if path else None

    @property
    def database_type(self) -> str:
        return self._live[0].database_type

    @property
    def kind(self) -> Literal["country", "city"]:
        return self._live[0].kind

    @property
    def signature(self) -> Signature:
        return self._live[0].signature

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

    def changed(self) -> bool:
        """
        Say whether the file at `path` is no longer the one opened.

        True when its inode, size or modification time differ from
        `signature`, or when it is gone or cannot be examined; a cheap
        ``stat``, for a watcher to call often.
        """
        try:
            now = _signature(Path(self.path).stat())
        except (OSError, ValueError):
            return True
        return now != self._live[0].signature

    def reopen(self) -> bool:
        """
        Open the file at `path` again if it `changed`, and say whether it did.

        The new file is checked as the constructor checks it. Only once it has
        passed are its reader and a new, empty cache swapped in, together:
        lookups already under way finish on the old file and fill only its
        cache; later lookups use the new one. The old reader is not closed,
        since a lookup in another thread may still be reading it: it is
        unmapped when the last of them lets it go.

        Returns:
            True when the new file was opened; False when the file is
            unchanged, or the database was closed (it stays closed).

        Raises:
            GeoDatabaseError: The new file is missing, unreadable, not a
                MaxMind DB, neither a Country nor a City database, or kept
                changing while it was read. The database as opened before
                keeps answering, and the next call tries again.
        """
        with self._lock:
            if self._closed or not self.changed():
                return False
            self._live = self._with_cache(_OpenDatabase.open(self.path))
            return True

    def close(self) -> None:
        """
        Close the database; later lookups give ``UNKNOWN``. Closing twice is harmless.

        The reader is let go rather than closed under lookups that may still
        be using it: its memory is released when the last of them returns.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._live = self._with_cache(self._live[0].closed())

    def cache_clear(self) -> None:
        """Forget every remembered lookup (benchmarks use it to measure cold lookups)."""
        self._live[1].cache_clear()

    def cache_info(self) -> functools._CacheInfo:
        """Return the lookup cache's hits, misses, maximum size and current size."""
        return self._live[1].cache_info()

    def lookup(self, ip: object, *, cache: bool = True, network: bool = True) -> GeoResult:
        """
        Locate *ip*, a string or an `ipaddress.IPv4Address` / `IPv6Address`.

        Never raises: bad input gives ``INVALID``, an address the database
        does not place in a country gives ``UNKNOWN``, each with a *problem*.
        With ``cache=False`` the address cache is neither read nor filled, and
        with ``network=False`` the matched network is not computed: a gate
        deciding by IP needs neither (it remembers its decisions by address).
        """
        opened, cached = self._live  # read once: one file's reader with that file's cache
        try:
            if self._closed:
                return GeoResult(
                    LocationStatus.INVALID,
                    problem=f"the GeoIP database {self.path!r} was closed",
                )
            if type(ip) is not str:
                return _lookup_other(opened, cached, ip, cache=cache, network=network)
            if len(ip) > MAX_ADDRESS_LENGTH:  # before the cache: its keys stay short
                return _invalid(_text_problem(ip))
            if cache:
                return cached(ip)
            return opened.resolve(ip, network=network)
        except Exception as error:  # noqa: BLE001 (the promise is to never raise)
            opened.report(describe_value(ip), error)
            return GeoResult(
                LocationStatus.INVALID,
                problem=f"the GeoIP database could not be read for {describe_value(ip)}",
            )


def _lookup_other(
    opened: _OpenDatabase,
    cached: Callable[[str | _Address], GeoResult],
    ip: object,
    *,
    cache: bool,
    network: bool,
) -> GeoResult:
    """Look up what is not a plain string: a str subclass, an address object; refuse the rest."""
    if isinstance(ip, str):  # a subclass: look up a plain copy, its hash is its own
        plain = str.__str__(ip)
        if len(plain) > MAX_ADDRESS_LENGTH:
            return _invalid(_text_problem(plain))
        return cached(plain) if cache else opened.resolve(plain, network=network)
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        # Only plain addresses without a zone id are cached: a zone id is any
        # text, of any length, and a subclass may hash as it likes.
        kind = type(ip)
        exact = kind is ipaddress.IPv4Address or (
            kind is ipaddress.IPv6Address and ip.scope_id is None  # type: ignore[union-attr]
        )
        return cached(ip) if cache and exact else opened.resolve(ip, network=network)
    return _invalid(
        f"the IP address {describe_value(ip)} is of type {type(ip).__name__!r}, not a string"
    )


def _open_private_copy(path: str) -> tuple[maxminddb.Reader, Signature]:
    """
    Open a reader on a private copy of *path*; return it with the signature of the file copied.

    The file must keep its signature from before the copy to after it, and
    still be the file at *path*; a file that changed meanwhile is read again,
    up to `_COPY_ATTEMPTS` times in all.
    """
    _check_regular_file(path)
    for attempt in range(_COPY_ATTEMPTS):
        if attempt:
            time.sleep(_RETRY_DELAY)
        with _open_source(path) as source:
            signature = _signature(os.fstat(source.fileno()))
            copy = _PrivateCopy(path)
            try:
                copied = _copy(path, source, copy.fd, signature[1])
                if copied == signature[1] and _unchanged(path, source, signature):
                    copy.seal()
                    return _open_reader(path, copy.name), signature
            finally:
                copy.release()
    msg = (
        f"the GeoIP database {path!r} changed while it was being read, {_COPY_ATTEMPTS} "
        "times; write a new database to a temporary file in the same directory and rename "
        "it into place (as geoipupdate does) rather than writing over the file in place"
    )
    raise GeoDatabaseError(path, msg)


def _check_regular_file(path: str) -> None:
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        raise _missing(path) from None
    except (OSError, ValueError) as error:
        msg = f"the GeoIP database {path!r} cannot be read ({_reason(error)}); check the path"
        raise GeoDatabaseError(path, msg) from error
    if stat.S_ISDIR(mode):
        msg = f"the GeoIP database {path!r} is a directory; give the path of the .mmdb file in it"
        raise GeoDatabaseError(path, msg)
    if not stat.S_ISREG(mode):
        msg = f"the GeoIP database {path!r} is not a regular file; give the path of a .mmdb file"
        raise GeoDatabaseError(path, msg)


def _open_source(path: str) -> BinaryIO:
    try:
        return open(path, "rb")  # noqa: PTH123 (a module global that tests replace)
    except FileNotFoundError:  # renamed away since it was examined
        raise _missing(path) from None
    except OSError as error:
        msg = (
            f"the GeoIP database {path!r} cannot be read ({_reason(error)}); check its permissions"
        )
        raise GeoDatabaseError(path, msg) from error


def _unchanged(path: str, source: BinaryIO, signature: Signature) -> bool:
    """Say whether *source* still has *signature* and is still the file at *path*."""
    try:
        now = _signature(os.fstat(source.fileno()))
        return now == signature == _signature(Path(path).stat())
    except OSError:
        return False


class _PrivateCopy:
    """
    A file only this process can reach, to copy the database into.

    On Linux, an anonymous memory file (memfd) that the reader opens as
    ``/proc/self/fd/N``, sealed once written so that it cannot shrink, grow
    or be written to again, even through ``/proc``. Elsewhere, or without
    ``/proc``, a temporary file that only this user can read, removed once the
    reader has it open. Either way the reader keeps a mapping of its own (it
    closes the descriptors it opened), so `release` closes this descriptor as
    soon as the reader is open, and the copy lives as long as the reader's
    mapping.
    """

    __slots__ = ("_temporary", "fd", "name")

    def __init__(self, path: str) -> None:
        memfd = _memfd()
        if memfd is not None:
            self.fd, self.name, self._temporary = memfd, f"/proc/self/fd/{memfd}", False
            return
        try:
            self.fd, self.name = tempfile.mkstemp(prefix="geogate-geoip-", suffix=".mmdb")
        except OSError as error:
            msg = (
                f"the GeoIP database {path!r} cannot be copied into a temporary file "
                f"({_reason(error)}); set $TMPDIR to a writable directory"
            )
            raise GeoDatabaseError(path, msg) from error
        self._temporary = True

    def seal(self) -> None:
        """Forbid any change to the memory file (a temporary file is removed instead)."""
        if not self._temporary and sys.platform == "linux":
            import fcntl  # noqa: PLC0415 (Linux only, as memfd is)

            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
            with contextlib.suppress(OSError):  # a defence in depth, not a requirement
                fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, seals)

    def release(self) -> None:
        """Close this descriptor, and remove a temporary file: the reader has its own mapping."""
        os.close(self.fd)
        if self._temporary:
            with contextlib.suppress(OSError):  # Windows keeps a file that is mapped
                Path(self.name).unlink()


def _memfd() -> int | None:
    """Create an anonymous memory file that can be sealed; None where there is none, or no /proc."""
    create = getattr(os, "memfd_create", None)
    if create is None or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return int(create("geogate-geoip", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING))
    except OSError:  # out of descriptors or memory, or forbidden: a temporary file will do
        return None


def _copy(path: str, source: BinaryIO, target: int, size: int) -> int:
    """Copy the first *size* bytes of *source* to *target*; return how many there were."""
    copied = 0
    try:
        if hasattr(os, "sendfile"):
            with contextlib.suppress(OSError):  # not to this kind of file: read and write
                while copied < size:
                    sent = os.sendfile(target, source.fileno(), copied, size - copied)
                    if not sent:  # the file is shorter now
                        return copied
                    copied += sent
        source.seek(copied)
        while copied < size:
            chunk = source.read(min(_CHUNK, size - copied))
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(target, view) :]
            copied += len(chunk)
    except OSError as error:
        msg = f"the GeoIP database {path!r} cannot be read ({_reason(error)}); check the file"
        raise GeoDatabaseError(path, msg) from error
    return copied


def _open_reader(path: str, name: str) -> maxminddb.Reader:
    """Open the copy at *name* of the database at *path*, with the C reader where there is one."""
    try:
        # MODE_AUTO: the C extension's mapping, else the pure Python reader's
        # mapping; either maps the private copy, which nothing can truncate.
        return maxminddb.open_database(name, maxminddb.MODE_AUTO)
    except Exception as error:
        raise _not_a_database(path) from error


def _missing(path: str) -> GeoDatabaseError:
    msg = (
        f"the GeoIP database {path!r} does not exist; download a Country or City "
        "database (.mmdb: GeoIP2, GeoLite2 or DB-IP Lite) and give its path"
    )
    return GeoDatabaseError(path, msg)


def _not_a_database(path: str) -> GeoDatabaseError:
    msg = (
        f"the GeoIP database {path!r} is not a valid MaxMind DB file (it is corrupt, "
        "truncated or another kind of file); download it again"
    )
    return GeoDatabaseError(path, msg)


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


#: Every database open, for the hook that mends a forked child's locks.
_LIVE: weakref.WeakSet[GeoDatabase] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """
    Give each database new locks in a child made by `os.fork`.

    Only the forking thread lives on in the child: a lock that another thread
    held at the fork (a `GeoDatabase.reopen` copying a file) would stay held
    forever, and the child's next reopen or close would hang.
    """
    for database in list(_LIVE):
        database._lock = threading.Lock()  # noqa: SLF001 (this module's own class)
        database._live[0]._error_lock = threading.Lock()  # noqa: SLF001


if hasattr(os, "register_at_fork"):  # pragma: no branch (POSIX)
    os.register_at_fork(after_in_child=_after_fork_in_child)
