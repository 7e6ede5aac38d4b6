"""
Fuzz the request location: header lists, peers and provider configurations.

Each input builds a `RequestResolver` (providers with fuzzed header options,
trusted proxies, a forwarding header, a small GeoIP database or none), a list
of header lines (names and values as text or bytes, known names and
arbitrary ones) and a peer, then asks `RequestResolver.resolve` and
`RequestResolver.client_ip`. A configuration may be refused with ValueError;
after that nothing may raise. `resolve` and `client_ip` guard themselves with
a catch-all, so the harness calls what is under the guard too: an exception
that only the guard would hide is a crash.

Usage::

    python fuzz/fuzz_headers.py [-runs=N] [-max_total_time=S]
"""

from __future__ import annotations

import inspect
import ipaddress

import atheris
from _common import run, small_database

with atheris.instrument_imports():
    from geogate._locate.geo import GeoDatabase
    from geogate._locate.headers import HeaderMap
    from geogate._locate.providers import PROVIDERS, provider
    from geogate._locate.request import RequestLocation, RequestResolver
    from geogate._world.countries import LocationStatus

_DATABASE = GeoDatabase(small_database())
_NAMES = [
    "cf-ipcountry",
    "cf-region-code",
    "cloudfront-viewer-country",
    "cloudfront-viewer-country-region",
    "fastly-geo-country",
    "fastly-geo-region",
    "x-appengine-country",
    "x-appengine-region",
    "x-vercel-ip-country",
    "x-vercel-ip-country-region",
    "x-akamai-edgescape",
    "x-nf-geo",
    "x-client-region",
    "x-client-region-subdivision",
    "x-forwarded-for",
    "forwarded",
    "X-Forwarded-For",
    "CF-IPCountry",
]
_PROXIES = ["10.0.0.0/8", "127.0.0.1", "::1", "2001:db8::/32", "::ffff:10.0.0.0/104", "0.0.0.0/0"]
_PEERS = [None, "10.1.2.3", "127.0.0.1", "::1", "2001:db8::5", "::ffff:10.0.0.7", "81.2.69.1"]
_FORWARDED = ["x-forwarded-for", "forwarded", "none"]
_TEXT = 64
_PAIR = 2


def _text(fdp: atheris.FuzzedDataProvider) -> str | bytes:
    choice = fdp.ConsumeIntInRange(0, 3)
    if choice == 0:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, _TEXT))
    if choice == 1:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, _TEXT))
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, _TEXT))


def _resolver(fdp: atheris.FuzzedDataProvider) -> RequestResolver | None:
    chosen = []
    for name, factory in PROVIDERS.items():
        if not fdp.ConsumeBool():
            continue
        options: dict[str, object] = {}
        if fdp.ConsumeIntInRange(0, 7) == 0:
            option = fdp.PickValueInList(list(inspect.signature(factory).parameters))
            options[option] = fdp.PickValueInList([None, _text(fdp), *_NAMES])
        try:
            chosen.append(provider(name, **options))
        except ValueError:
            continue
    proxies = [p for p in _PROXIES if fdp.ConsumeBool()]
    if fdp.ConsumeIntInRange(0, 15) == 0:
        proxies.append(fdp.ConsumeUnicode(20))
    forwarded = fdp.PickValueInList(_FORWARDED)
    geoip = _DATABASE if fdp.ConsumeBool() else None
    try:
        return RequestResolver(
            providers=chosen, trusted_proxies=proxies, forwarded=forwarded, geoip=geoip
        )
    except ValueError:
        return None


def _headers(fdp: atheris.FuzzedDataProvider) -> object:
    lines: list[object] = []
    for _ in range(fdp.ConsumeIntInRange(0, 24)):
        if fdp.ConsumeBool():
            name: object = fdp.PickValueInList(_NAMES)
            if fdp.ConsumeBool():
                name = str(name).encode("latin-1")
        else:
            name = _text(fdp)
        value: object = _text(fdp)
        if fdp.ConsumeIntInRange(0, 31) == 0:
            value = fdp.PickValueInList([None, 7, 1.5, ["x"], b"\xff" * 2000])
        line: object = (name, value)
        if fdp.ConsumeIntInRange(0, 63) == 0:
            line = fdp.PickValueInList([(name,), [name, value], name, None])
        lines.append(line)
    shape = fdp.ConsumeIntInRange(0, 15)
    if shape == 0:
        pairs = [line for line in lines if isinstance(line, tuple) and len(line) == _PAIR]
        return {str(name): value for name, value in pairs}
    if shape == 1:
        return fdp.PickValueInList([None, "x-forwarded-for: 1.2.3.4", b"", 3, iter(lines)])
    return lines


def _peer(fdp: atheris.FuzzedDataProvider) -> object:
    if fdp.ConsumeBool():
        return fdp.PickValueInList(_PEERS)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return fdp.PickValueInList(
            [3, b"10.0.0.1", ("10.0.0.1", 80), ipaddress.ip_address("10.0.0.1")]
        )
    return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 48))


def _check(location: RequestLocation) -> None:
    if location.status is LocationStatus.KNOWN:
        country = location.country
        if not (isinstance(country, str) and len(country) == 2 and country.isupper()):  # noqa: PLR2004
            msg = f"a known location with country {country!r}: {location!r}"
            raise AssertionError(msg)
    elif location.country is not None:
        msg = f"an {location.status} location with a country: {location!r}"
        raise AssertionError(msg)
    if location.client_ip is not None:
        ipaddress.ip_address(location.client_ip)
    if location.problem is not None and location.problem.startswith(
        "resolving the location failed"
    ):
        msg = f"resolve hid an exception: {location!r}"
        raise AssertionError(msg)


def test_one_input(data: bytes) -> None:
    """Resolve one fuzzed request with one fuzzed configuration."""
    fdp = atheris.FuzzedDataProvider(data)
    resolver = _resolver(fdp)
    if resolver is None:
        return
    headers = _headers(fdp)
    peer = _peer(fdp)
    explicit: dict[str, object] = {}
    if fdp.ConsumeIntInRange(0, 7) == 0:
        explicit = {"country": fdp.ConsumeUnicode(4), "subdivision": fdp.ConsumeUnicode(6) or None}
    # Under the guards first: an exception here is a crash the guards would hide.
    proxies = resolver._proxies  # noqa: SLF001
    found = HeaderMap(headers)  # type: ignore[arg-type]
    if found.damaged is not None and found.damaged.startswith("reading them failed"):
        msg = f"HeaderMap failed on {headers!r}: {found.damaged}"
        raise AssertionError(msg)
    proxies.client(found, proxies.peer(peer))
    location = resolver._resolve(found, peer, explicit.get("country"), explicit.get("subdivision"))  # noqa: SLF001
    _check(location)
    _check(resolver.resolve(found, peer, **explicit))  # type: ignore[arg-type]
    client = resolver.client_ip(found, peer)  # type: ignore[arg-type]
    if client is not None:
        ipaddress.ip_address(client)


if __name__ == "__main__":
    run("headers", test_one_input)
