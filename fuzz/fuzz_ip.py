"""
Fuzz the IP normaliser: strings and bytes -> `parse_address` and `GeoDatabase.lookup`.

`parse_address` must give an address or an INVALID result; what it accepts
must be a real IP address (the standard library agrees) with no zone id, and
IPv4-mapped addresses come back as IPv4. `GeoDatabase.lookup` (City and
Country databases, cached and not) must never raise, and it guards itself
with a catch-all, so the harness also calls what is under the guard: an
exception only the guard would hide is a crash.

Usage::

    python fuzz/fuzz_ip.py [-runs=N] [-max_total_time=S]
"""

from __future__ import annotations

import ipaddress

import atheris
from _common import run, small_database

with atheris.instrument_imports():
    from geogate._locate.geo import GeoDatabase, GeoResult, parse_address
    from geogate._world.countries import LocationStatus

_CITY = GeoDatabase(small_database(), cache_size=64)
_COUNTRY = GeoDatabase(small_database(city=False), cache_size=0)


def _value(data: bytes) -> str:
    """Most inputs as UTF-8 text; the rest byte for byte, surrogates and all."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape")


def _check_parsed(text: str, parsed: object) -> None:
    if isinstance(parsed, GeoResult):
        if parsed.status is not LocationStatus.INVALID or not parsed.problem:
            msg = f"parse_address({text!r}) gave {parsed!r}"
            raise AssertionError(msg)
        return
    if not isinstance(parsed, ipaddress.IPv4Address | ipaddress.IPv6Address):
        msg = f"parse_address({text!r}) gave {parsed!r}"
        raise AssertionError(msg)  # noqa: TRY004 (an assertion, not a type check)
    standard = ipaddress.ip_address(text)
    if isinstance(parsed, ipaddress.IPv6Address) and (
        parsed.scope_id is not None or parsed.ipv4_mapped is not None
    ):
        msg = f"parse_address({text!r}) kept a zone id or a mapped address: {parsed!r}"
        raise AssertionError(msg)
    if parsed != standard and parsed != getattr(standard, "ipv4_mapped", None):
        msg = f"parse_address({text!r}) gave {parsed!r}, the standard library {standard!r}"
        raise AssertionError(msg)


def _check_result(text: str, result: object) -> None:
    if not isinstance(result, GeoResult):
        msg = f"lookup({text!r}) gave {result!r}"
        raise AssertionError(msg)  # noqa: TRY004 (an assertion, not a type check)
    if result.problem is not None and "could not be read" in result.problem:
        msg = f"lookup({text!r}) hid an exception: {result!r}"
        raise AssertionError(msg)
    if result.status is LocationStatus.KNOWN and not (
        isinstance(result.country, str) and len(result.country) == 2  # noqa: PLR2004
    ):
        msg = f"lookup({text!r}) gave a known result without a country: {result!r}"
        raise AssertionError(msg)


def test_one_input(data: bytes) -> None:
    """Normalise and look up *data* as text, and a few other shapes of it."""
    text = _value(data)
    parsed = parse_address(text)
    _check_parsed(text, parsed)
    for database in (_CITY, _COUNTRY):
        _check_result(text, database._live[0].resolve(text))  # noqa: SLF001 (under the guard)
        _check_result(text, database.lookup(text))
        _check_result(text, database.lookup(text, cache=False, network=False))
    if not isinstance(parsed, GeoResult):
        _check_result(text, _CITY.lookup(parsed))
        _check_result(text, _CITY.lookup(parsed, cache=False))
    if data[:1] == b"\x00":
        for odd in (data, bytearray(data), len(data), None, [text]):
            result = _CITY.lookup(odd)
            if result.status is LocationStatus.KNOWN:
                msg = f"lookup({odd!r}) located a value that is not an address: {result!r}"
                raise AssertionError(msg)


if __name__ == "__main__":
    run("ip", test_one_input)
