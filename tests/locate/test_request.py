"""Request location: provider headers, trusted proxies, forwarding chains, GeoIP, the order."""

from __future__ import annotations

import base64
import inspect
import ipaddress
import json
import re

import attrs
import pytest

from geogate import Gate
from geogate._locate.headers import MAX_HEADER_LINES, MAX_VALUE_LENGTH, HeaderMap
from geogate._locate.providers import PROVIDER_TABLE, PROVIDERS, HeaderLocation, provider
from geogate._locate.proxies import MAX_CHAIN_ENTRIES
from geogate._locate.request import RequestLocation, RequestResolver
from geogate._web.context import handling
from geogate._world.countries import LocationSource, LocationStatus
from helpers.paths import POLICIES

KNOWN = LocationStatus.KNOWN
UNKNOWN = LocationStatus.UNKNOWN
INVALID = LocationStatus.INVALID

PROXY = "10.0.0.2"
STRANGER = "203.0.113.9"
CLIENT = "198.51.100.7"
TRUSTED = ("10.0.0.0/8", "2001:db8::/32")


@attrs.frozen
class FakeResult:
    status: LocationStatus
    country: str | None = None
    subdivision: str | None = None
    ip: str | None = None
    problem: str | None = None


class FakeGeo:
    """A GeoLookup over a table, recording every address it is asked for."""

    def __init__(self, table: dict[str, tuple[str, str | None]] | None = None) -> None:
        self.table = table or {
            CLIENT: ("DE", "DE-BE"),
            STRANGER: ("US", None),
            "2001:db8:ffff::1": ("JP", None),
            "192.0.2.60": ("NL", None),
        }
        self.asked: list[object] = []

    def lookup(self, ip: object) -> FakeResult:
        self.asked.append(ip)
        if isinstance(ip, str) and ip in self.table:
            country, subdivision = self.table[ip]
            return FakeResult(KNOWN, country, subdivision, ip)
        return FakeResult(UNKNOWN, ip=str(ip), problem=f"the address {ip} is not in the database")


def make(**options):
    options.setdefault("providers", list(PROVIDERS))
    options.setdefault("trusted_proxies", TRUSTED)
    options.setdefault("geoip", FakeGeo())
    return RequestResolver(**options)


def pairs(*items: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    """ASGI raw headers."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in items]


def where(found: RequestLocation) -> tuple[LocationStatus, str | None, str | None, str]:
    return found.status, found.country, found.subdivision, found.source


# --- providers ------------------------------------------------------------------------


def b64(data: object, *, pad: bool = True) -> str:
    text = base64.b64encode(json.dumps(data).encode()).decode()
    return text if pad else text.rstrip("=")


NETLIFY = {"city": "San Francisco", "country": {"code": "US", "name": "United States"}}
NETLIFY_CA = {**NETLIFY, "subdivision": {"code": "CA", "name": "California"}}


@pytest.mark.parametrize(
    ("headers", "expected", "detail"),
    [
        (
            [("CF-IPCountry", "FR")],
            (KNOWN, "FR", None, "header:cloudflare"),
            "CF-IPCountry 'FR' from trusted proxy 10.0.0.2",
        ),
        (
            [("CF-IPCountry", "US"), ("cf-region-code", "CA")],
            (KNOWN, "US", "US-CA", "header:cloudflare"),
            "CF-IPCountry 'US' and subdivision 'US-CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("CloudFront-Viewer-Country", "US"), ("CloudFront-Viewer-Country-Region", "MI")],
            (KNOWN, "US", "US-MI", "header:cloudfront"),
            "CloudFront-Viewer-Country 'US' and subdivision 'US-MI' from trusted proxy 10.0.0.2",
        ),
        (
            [("Fastly-Geo-Country", "GB"), ("Fastly-Geo-Region", "NIR")],
            (KNOWN, "GB", "GB-NIR", "header:fastly"),
            "Fastly-Geo-Country 'GB' and subdivision 'GB-NIR' from trusted proxy 10.0.0.2",
        ),
        (
            [("Fastly-Geo-Country", "AX"), ("Fastly-Geo-Region", "NO REGION")],
            (KNOWN, "AX", None, "header:fastly"),
            "Fastly-Geo-Country 'AX' from trusted proxy 10.0.0.2",
        ),
        (
            [("X-AppEngine-Country", "US"), ("X-AppEngine-Region", "ca")],
            (KNOWN, "US", "US-CA", "header:appengine"),
            "X-AppEngine-Country 'US' and subdivision 'US-CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("X-AppEngine-Country", "CA"), ("X-AppEngine-Region", "?")],
            (KNOWN, "CA", None, "header:appengine"),
            "X-AppEngine-Country 'CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("X-Vercel-IP-Country", "DE"), ("X-Vercel-IP-Country-Region", "BE")],
            (KNOWN, "DE", "DE-BE", "header:vercel"),
            "X-Vercel-IP-Country 'DE' and subdivision 'DE-BE' from trusted proxy 10.0.0.2",
        ),
        (
            [
                (
                    "X-Akamai-Edgescape",
                    (
                        "georegion=246,country_code=US,region_code=CA,city=SANJOSE,"
                        "dma=807,areacode=408+669,lat=37.3353,long=-121.8938,continent=NA"
                    ),
                )
            ],
            (KNOWN, "US", "US-CA", "header:akamai"),
            "X-Akamai-Edgescape 'US' and subdivision 'US-CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("x-nf-geo", json.dumps(NETLIFY_CA))],
            (KNOWN, "US", "US-CA", "header:netlify"),
            "x-nf-geo 'US' and subdivision 'US-CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("x-nf-geo", b64(NETLIFY_CA))],
            (KNOWN, "US", "US-CA", "header:netlify"),
            "x-nf-geo 'US' and subdivision 'US-CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("x-nf-geo", b64(NETLIFY, pad=False))],
            (KNOWN, "US", None, "header:netlify"),
            "x-nf-geo 'US' from trusted proxy 10.0.0.2",
        ),
        (
            [("X-Client-Region", "US"), ("X-Client-Region-Subdivision", "USCA")],
            (KNOWN, "US", "US-CA", "header:gcp"),
            "X-Client-Region 'US' and subdivision 'US-CA' from trusted proxy 10.0.0.2",
        ),
        (
            [("X-Client-Region", "CA"), ("X-Client-Region-Subdivision", "CAON")],
            (KNOWN, "CA", "CA-ON", "header:gcp"),
            "X-Client-Region 'CA' and subdivision 'CA-ON' from trusted proxy 10.0.0.2",
        ),
    ],
)
def test_each_provider(headers, expected, detail):
    """Every built-in provider's headers, region codes turned into full ISO 3166-2 codes."""
    found = make().resolve(pairs(*headers), PROXY)
    assert expected == where(found)
    assert detail == found.detail
    assert found.problem is None
    assert PROXY == found.client_ip


@pytest.mark.parametrize(
    ("headers", "status", "problem"),
    [
        ([("CF-IPCountry", "XX")], UNKNOWN, "the country code 'XX' means an unknown location"),
        ([("CF-IPCountry", "T1")], UNKNOWN, "the country code 'T1' means an unknown location"),
        (
            [("X-AppEngine-Country", "ZZ")],
            UNKNOWN,
            "the country code 'ZZ' means an unknown location",
        ),
        (
            [("Fastly-Geo-Country", "**")],
            UNKNOWN,
            "the country code '**' means an unknown location",
        ),
        ([("X-Client-Region", "")], UNKNOWN, "an empty country means an unknown location"),
        (
            [("CF-IPCountry", "Germany")],
            INVALID,
            "'Germany' is not an ISO 3166-1 alpha-2 country code (did you mean 'DE'?)",
        ),
        (
            [("X-Akamai-Edgescape", "georegion=246,city=SANJOSE")],
            UNKNOWN,
            "X-Akamai-Edgescape gave no country",
        ),
        ([("x-nf-geo", json.dumps({"city": "Paris"}))], UNKNOWN, "x-nf-geo gave no country"),
        (
            [("x-nf-geo", "not json, not base64!")],
            INVALID,
            "x-nf-geo 'not json, not base64!' is neither JSON nor base64-encoded JSON",
        ),
        (
            [("x-nf-geo", "[1, 2]")],
            INVALID,
            "x-nf-geo '[1, 2]' is neither JSON nor base64-encoded JSON",
        ),
        ([("x-nf-geo", b64([1, 2]))], INVALID, "x-nf-geo is not a JSON object"),
        (
            [("x-nf-geo", json.dumps({"country": {"code": 250}}))],
            INVALID,
            "x-nf-geo has a country code 250 that is an int, not a string",
        ),
        (
            [("x-nf-geo", "{" * 400 + "}" * 400)],
            INVALID,
            "x-nf-geo '" + "{" * 36 + "... is neither JSON nor base64-encoded JSON",
        ),
    ],
)
def test_provider_values_that_are_not_a_country(headers, status, problem):
    """Pseudo-codes mean unknown (Tor too); garbage is invalid; the provider's answer is final."""
    geo = FakeGeo()
    found = make(geoip=geo).resolve(pairs(*headers), PROXY)
    assert (status, None, None) == (found.status, found.country, found.subdivision)
    assert problem == found.problem
    assert found.source.startswith("header:")
    assert [] == geo.asked


def test_pseudo_code_detail():
    """The detail names the header, its value, the proxy and the problem."""
    found = make().resolve(pairs(("CF-IPCountry", "T1")), PROXY)
    assert (
        "CF-IPCountry 'T1' from trusted proxy 10.0.0.2: "
        "the country code 'T1' means an unknown location"
    ) == found.detail


@pytest.mark.parametrize(
    ("headers", "subdivision", "detail"),
    [
        (
            [("CF-IPCountry", "US"), ("cf-region-code", "ZZZ")],
            None,
            (
                "CF-IPCountry 'US' from trusted proxy 10.0.0.2; ignored the subdivision 'US-ZZZ': "
                "the subdivision 'US-ZZZ' is not one geogate recognises, so the request names "
                "only the country 'US'"
            ),
        ),
        (
            [("X-Client-Region", "US"), ("X-Client-Region-Subdivision", "US")],
            None,
            (
                "X-Client-Region 'US' from trusted proxy 10.0.0.2; ignored the subdivision 'US': "
                "the subdivision 'US-US' is not one geogate recognises, so the request names "
                "only the country 'US'"
            ),
        ),
        (
            [("CloudFront-Viewer-Country", "US"), ("CloudFront-Viewer-Country-Region", "C\x00")],
            None,
            (
                "CloudFront-Viewer-Country 'US' from trusted proxy 10.0.0.2; ignored the "
                "subdivision 'US-C\\x00': 'US-C\\x00' is not an ISO 3166-2 subdivision code"
            ),
        ),
        (
            [("CF-IPCountry", "RE"), ("cf-region-code", "FR-974")],
            "FR-974",
            "CF-IPCountry 'RE' and subdivision 'FR-974' from trusted proxy 10.0.0.2",
        ),
        (
            [("CF-IPCountry", "uk"), ("cf-region-code", "nir")],
            "GB-NIR",
            "CF-IPCountry 'uk' and subdivision 'GB-NIR' from trusted proxy 10.0.0.2",
        ),
    ],
)
def test_provider_subdivisions(headers, subdivision, detail):
    """An invalid subdivision is dropped and the country kept; a valid one is normalised."""
    found = make().resolve(pairs(*headers), PROXY)
    assert KNOWN == found.status
    assert subdivision == found.subdivision
    assert detail == found.detail


def test_custom_header_names():
    """Fastly and GCP headers are whatever the service configures."""
    fastly = provider("fastly", country_header="X-Geo-Country", region_header=None)
    gcp = provider(
        "gcp", country_header="X-LB-Region", subdivision_header="X-LB-Region-Subdivision"
    )
    resolver = make(providers=[fastly, gcp])
    found = resolver.resolve(pairs(("X-Geo-Country", "SE"), ("Fastly-Geo-Region", "AB")), PROXY)
    assert (KNOWN, "SE", None, "header:fastly") == where(found)
    found = resolver.resolve(
        pairs(("X-LB-Region", "JP"), ("X-LB-Region-Subdivision", "JP13")), PROXY
    )
    assert (KNOWN, "JP", "JP-13", "header:gcp") == where(found)
    assert None is resolver.resolve(pairs(("Fastly-Geo-Country", "SE")), PROXY).country


# --- conflicts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (
            [("CF-IPCountry", "FR"), ("CF-IPCountry", "DE")],
            (
                "CF-IPCountry was sent 2 times with different values ('FR', 'DE'), "
                "so the location is ambiguous"
            ),
        ),
        (
            [("CF-IPCountry", "US"), ("cf-region-code", "CA"), ("cf-region-code", "NY")],
            (
                "cf-region-code was sent 2 times with different values ('CA', 'NY'), "
                "so the location is ambiguous"
            ),
        ),
        (
            [("X-Akamai-Edgescape", "country_code=US,region_code=CA,country_code=FR")],
            (
                "X-Akamai-Edgescape has country_code twice with different values, "
                "so the location is ambiguous"
            ),
        ),
        (
            [("X-Akamai-Edgescape", "country_code=US"), ("X-Akamai-Edgescape", "country_code=FR")],
            (
                "X-Akamai-Edgescape was sent 2 times with different values ('country_code=US', "
                "'country_code=FR'), so the location is ambiguous"
            ),
        ),
    ],
)
def test_conflicting_headers_are_ambiguous(headers, problem):
    """
    A header repeated with different values: invalid, not a pick.

    Invalid, not unknown, so a feature's ``unknown: allow`` never lets it in.
    """
    geo = FakeGeo()
    found = make(geoip=geo).resolve(pairs(*headers), PROXY)
    assert (INVALID, None, None) == (found.status, found.country, found.subdivision)
    assert problem == found.problem
    assert [] == geo.asked


def test_ambiguous_detail():
    found = make().resolve(pairs(("CF-IPCountry", "FR"), ("CF-IPCountry", "DE")), PROXY)
    assert (
        "CF-IPCountry from trusted proxy 10.0.0.2: CF-IPCountry was sent 2 times with "
        "different values ('FR', 'DE'), so the location is ambiguous"
    ) == found.detail


def test_repeated_same_value_counts_once():
    """The same value twice (in any case) is not a conflict."""
    found = make().resolve(pairs(("CF-IPCountry", "FR"), ("cf-ipcountry", "fr")), PROXY)
    assert (KNOWN, "FR", None, "header:cloudflare") == where(found)


# --- trust ----------------------------------------------------------------------------


def test_forged_header_from_untrusted_peer_is_ignored():
    """A stranger's CF-IPCountry does not count; the detail says so."""
    found = make().resolve(pairs(("CF-IPCountry", "FR")), STRANGER)
    assert (KNOWN, "US", None, "geoip") == where(found)
    assert STRANGER == found.client_ip
    assert (
        "ignored CF-IPCountry: the peer 203.0.113.9 is not a trusted proxy; located by GeoIP"
    ) == found.detail


def test_forged_headers_and_forwarding_from_untrusted_peer():
    """Every ignored header is named, the forwarding header too; the client is the peer."""
    headers = pairs(
        ("X-Forwarded-For", CLIENT),
        ("X-Vercel-IP-Country", "FR"),
        ("CF-IPCountry", "FR"),
    )
    found = make().resolve(headers, STRANGER)
    assert (KNOWN, "US", None, "geoip") == where(found)
    assert STRANGER == found.client_ip
    assert (
        "ignored CF-IPCountry, X-Vercel-IP-Country and X-Forwarded-For: the peer 203.0.113.9 "
        "is not a trusted proxy; located by GeoIP"
    ) == found.detail


@pytest.mark.parametrize(
    ("peer", "detail"),
    [
        (
            None,
            (
                "ignored CF-IPCountry: the peer address is unknown; "
                "not located: the peer address is unknown"
            ),
        ),
        (
            "localhost",
            (
                "ignored CF-IPCountry: the peer address 'localhost' is not an IP address; "
                "not located: the peer address 'localhost' is not an IP address"
            ),
        ),
        (
            " 10.0.0.2",
            (
                "ignored CF-IPCountry: the peer address ' 10.0.0.2' is not an IP address; "
                "not located: the peer address ' 10.0.0.2' is not an IP address"
            ),
        ),
        (
            3,
            (
                "ignored CF-IPCountry: the peer address 3 is not an IP address; "
                "not located: the peer address 3 is not an IP address"
            ),
        ),
    ],
)
def test_peer_that_is_not_an_address(peer, detail):
    """No peer address, or one that is not an address: nothing is trusted, nothing located."""
    found = make().resolve(pairs(("CF-IPCountry", "FR")), peer)
    assert (UNKNOWN, None, None, "unknown") == where(found)
    assert None is found.client_ip
    assert detail == found.detail


def test_without_trusted_proxies_no_header_counts():
    """Providers configured but no trusted proxies: headers never count."""
    found = make(trusted_proxies=()).resolve(pairs(("CF-IPCountry", "FR")), PROXY)
    assert (UNKNOWN, None, None, "geoip") == where(found)
    assert PROXY == found.client_ip
    assert (
        "ignored CF-IPCountry: the peer 10.0.0.2 is not a trusted proxy; "
        "not located by GeoIP: the address 10.0.0.2 is not in the database"
    ) == found.detail


def test_unconfigured_provider_is_not_read():
    """A trusted peer's headers count only for the providers the application named."""
    found = make(providers=["cloudfront"]).resolve(
        pairs(("CF-IPCountry", "FR"), ("X-Forwarded-For", CLIENT)), PROXY
    )
    assert (KNOWN, "DE", "DE-BE", "geoip") == where(found)
    assert "located by GeoIP" == found.detail


def test_first_configured_provider_wins():
    """Providers are asked in configuration order; absent ones are skipped."""
    headers = pairs(("X-Vercel-IP-Country", "FR"), ("CF-IPCountry", "DE"))
    assert "FR" == make(providers=["vercel", "cloudflare"]).resolve(headers, PROXY).country
    assert "DE" == make(providers=["cloudflare", "vercel"]).resolve(headers, PROXY).country
    only_vercel = pairs(("X-Vercel-IP-Country", "FR"))
    assert "FR" == make(providers=["cloudflare", "vercel"]).resolve(only_vercel, PROXY).country


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [
        (("10.0.0.0/8",), "::ffff:10.0.0.2"),
        (("::ffff:10.0.0.0/104",), "10.0.0.2"),
        (("::ffff:10.0.0.0/104",), "::ffff:10.0.0.2"),
        (("2001:db8::/32",), "2001:db8::7"),
        (("2001:db8::7",), "2001:DB8:0::7"),
        (("10.0.0.2",), "10.0.0.2"),
        ((ipaddress.ip_network("10.0.0.0/8"),), "10.0.0.2"),
        (("fe80::/10",), "fe80::1%eth0"),
    ],
)
def test_trusted_peer_forms(trusted, peer):
    """IPv4-mapped IPv6 peers and networks count as IPv4; single addresses and IPv6 work."""
    found = make(trusted_proxies=trusted).resolve(pairs(("CF-IPCountry", "FR")), peer)
    assert (KNOWN, "FR", None, "header:cloudflare") == where(found)


def test_ipv4_mapped_peer_is_reported_as_ipv4():
    found = make().resolve(pairs(("CF-IPCountry", "FR")), "::ffff:10.0.0.2")
    assert "CF-IPCountry 'FR' from trusted proxy 10.0.0.2" == found.detail
    assert PROXY == found.client_ip


# --- client address: X-Forwarded-For ---------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "client"),
    [
        ([CLIENT], CLIENT),
        (["6.6.6.6, 7.7.7.7, " + CLIENT], CLIENT),
        ([f"6.6.6.6, {CLIENT}, 10.0.0.3, 10.1.2.3"], CLIENT),
        (["6.6.6.6", CLIENT, "10.0.0.3"], CLIENT),
        (["10.0.0.9, 10.0.0.3"], "10.0.0.9"),
        (["10.0.0.9"], "10.0.0.9"),
        (["2001:db8:ffff::1, 2001:db8::5"], "2001:db8:ffff::1"),
        (["2001:db8:ffff::1"], "2001:db8:ffff::1"),
        (["[2001:db8:ffff::1]:4711"], "2001:db8:ffff::1"),
        (["[2001:db8:ffff::1]"], "2001:db8:ffff::1"),
        ([f"{CLIENT}:51234"], CLIENT),
        ([f"::ffff:{CLIENT}"], CLIENT),
        ([f"garbage, unknown, _hidden, , {CLIENT}, 10.0.0.3"], CLIENT),
        ([f"  {CLIENT}\t,10.0.0.3  "], CLIENT),
    ],
)
def test_x_forwarded_for_walk(lines, client):
    """Walked from the right through trusted hops; what a client wrote on the left is ignored."""
    headers = [(b"x-forwarded-for", line.encode()) for line in lines]
    resolver = make()
    assert client == resolver.client_ip(headers, PROXY)
    assert client == resolver.resolve(headers, PROXY).client_ip


def test_x_forwarded_for_spoofed_leftmost_entry():
    """A client's own X-Forwarded-For entry does not move it to another country."""
    geo = FakeGeo()
    headers = pairs(("X-Forwarded-For", f"192.0.2.60, {CLIENT}"))
    found = make(geoip=geo).resolve(headers, PROXY)
    assert (KNOWN, "DE", "DE-BE", "geoip") == where(found)
    assert [CLIENT] == geo.asked


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "6.6.6.6, garbage, 10.0.0.3",
            (
                "X-Forwarded-For has 'garbage', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "6.6.6.6, unknown, 10.0.0.3",
            (
                "X-Forwarded-For has 'unknown' in place of an address, "
                "so the client address is unknown"
            ),
        ),
        (
            "6.6.6.6, _hidden, 10.0.0.3",
            (
                "X-Forwarded-For has the obfuscated identifier '_hidden' in place of an address, "
                "so the client address is unknown"
            ),
        ),
        (
            "6.6.6.6, , 10.0.0.3",
            "X-Forwarded-For has an empty entry, so the client address is unknown",
        ),
        ("", "X-Forwarded-For has an empty entry, so the client address is unknown"),
        (
            "6.6.6.6,",
            "X-Forwarded-For has an empty entry, so the client address is unknown",
        ),
        (
            "6.6.6.6, 010.0.0.1",
            (
                "X-Forwarded-For has '010.0.0.1', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            '"198.51.100.7"',
            (
                "X-Forwarded-For has '\"198.51.100.7\"', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "198.51.100.7:99999999",
            (
                "X-Forwarded-For has '198.51.100.7:99999999', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "198.51.100.7:",
            (
                "X-Forwarded-For has '198.51.100.7:', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "[2001:db8::1]:",
            (
                "X-Forwarded-For has '[2001:db8::1]:', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "[2001:db8::1",
            (
                "X-Forwarded-For has '[2001:db8::1', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "[198.51.100.7]",
            (
                "X-Forwarded-For has '[198.51.100.7]', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "fe80::1%eth0",
            (
                "X-Forwarded-For has 'fe80::1%eth0', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "1.2.3.4\x00",
            (
                "X-Forwarded-For has '1.2.3.4\\x00', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
        (
            "١٩٨.51.100.7",
            (
                "X-Forwarded-For has '١٩٨.51.100.7', which is not an IP address, "
                "so the client address is unknown"
            ),
        ),
    ],
)
def test_x_forwarded_for_garbage_stops_the_walk(value, problem):
    """Never skip past garbage to an address further left: the client is unknown instead."""
    geo = FakeGeo()
    headers = [("X-Forwarded-For", value)]
    found = make(geoip=geo).resolve(headers, PROXY)
    assert (UNKNOWN, None, None, "unknown") == where(found)
    assert None is found.client_ip
    assert problem == found.problem
    assert f"not located: {problem}" == found.detail
    assert [] == geo.asked


def test_chain_longer_than_the_limit():
    """More trusted hops than the limit: unknown; a client within the limit is found."""
    hops = ", ".join(f"10.0.{n // 256}.{n % 256}" for n in range(MAX_CHAIN_ENTRIES + 1))
    headers = pairs(("X-Forwarded-For", hops))
    found = make().resolve(headers, PROXY)
    assert None is found.client_ip
    assert (
        "X-Forwarded-For has more than 64 trusted entries, so the client address is unknown"
    ) == found.problem
    near = pairs(("X-Forwarded-For", "garbage, " * 80 + CLIENT + ", 10.0.0.3"))
    assert CLIENT == make().client_ip(near, PROXY)
    exactly = ", ".join(f"10.0.1.{n}" for n in range(MAX_CHAIN_ENTRIES))
    assert "10.0.1.0" == make().client_ip(pairs(("X-Forwarded-For", exactly)), PROXY)


def test_oversize_forwarding_header_is_not_cut():
    """A value past the size limit is refused, never truncated to its attacker-written left."""
    value = "6.6.6.6, " * (MAX_VALUE_LENGTH // 9 + 1) + CLIENT
    found = make().resolve(pairs(("X-Forwarded-For", value)), PROXY)
    assert None is found.client_ip
    assert (
        "X-Forwarded-For is longer than 1024 characters, so the client address is unknown"
    ) == found.problem


def test_trusted_peer_without_forwarding_header_is_the_client():
    assert PROXY == make().client_ip([], PROXY)


def test_untrusted_peer_is_the_client_whatever_it_forwards():
    headers = pairs(("X-Forwarded-For", "garbage"), ("Forwarded", "for=192.0.2.60"))
    assert STRANGER == make().client_ip(headers, STRANGER)
    assert STRANGER == make(forwarded="forwarded").client_ip(headers, STRANGER)


def test_only_the_configured_forwarding_header_is_read():
    """Reading Forwarded when the proxy appends to X-Forwarded-For would let a client forge it."""
    headers = pairs(("X-Forwarded-For", CLIENT), ("Forwarded", "for=192.0.2.60"))
    assert CLIENT == make().client_ip(headers, PROXY)
    assert "192.0.2.60" == make(forwarded="forwarded").client_ip(headers, PROXY)
    assert PROXY == make(forwarded="none").client_ip(headers, PROXY)


# --- client address: RFC 7239 Forwarded ------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "client"),
    [
        (["for=192.0.2.60"], "192.0.2.60"),
        (['for="192.0.2.60"'], "192.0.2.60"),
        (['For="192.0.2.60:4711"'], "192.0.2.60"),
        (['FOR="[2001:db8:ffff::1]:4711"'], "2001:db8:ffff::1"),
        (['for="[2001:db8:ffff::1]"'], "2001:db8:ffff::1"),
        (["for=192.0.2.60;proto=http;by=203.0.113.43"], "192.0.2.60"),
        (["for=192.0.2.60; proto=http; by=203.0.113.43"], "192.0.2.60"),
        (['proto=https;for="192.0.2.60:_port";host="a;b,c"'], "192.0.2.60"),
        (["for=6.6.6.6, for=192.0.2.60, for=10.0.0.3"], "192.0.2.60"),
        (["for=6.6.6.6", "for=192.0.2.60", "for=10.0.0.3;by=10.0.0.2"], "192.0.2.60"),
        (['for="_gazonk", for=unknown, for=192.0.2.60'], "192.0.2.60"),
        (['for="10.0.0.9", for="[2001:db8::9]"'], "10.0.0.9"),
        (['for="\\1\\9\\2.0.2.60"'], "192.0.2.60"),
        (['for="[2001:db8:ffff::1]:_p-1.x"'], "2001:db8:ffff::1"),
    ],
)
def test_forwarded_walk(lines, client):
    """RFC 7239: quoted values, ports, bracketed IPv6, case-insensitive names, many elements."""
    headers = [(b"forwarded", line.encode()) for line in lines]
    assert client == make(forwarded="forwarded").client_ip(headers, PROXY)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            'for="_hidden"',
            "Forwarded has the obfuscated identifier '_hidden' in place of an address",
        ),
        ("for=unknown", "Forwarded has 'unknown' in place of an address"),
        ("for=UNKNOWN;proto=http", "Forwarded has 'unknown' in place of an address"),
        ("proto=http;by=10.0.0.2", "Forwarded has an element without for="),
        ("for=1.2.3.4, , for=10.0.0.3", "Forwarded has an empty element"),
        ("for=1.2.3.4;for=5.6.7.8", "Forwarded has for= twice in one element"),
        ("for=1.2.3.4, 10.0.0.3", "Forwarded has '10.0.0.3', which is not a parameter"),
        ('for="1.2.3.4, for=10.0.0.3', "Forwarded has an unterminated quoted string"),
        ('for="1.2.3.4"x', "Forwarded has 'for=\"1.2.3.4\"x', which is not a parameter"),
        (
            'for="2001:db8:ffff::1"',
            "Forwarded has '2001:db8:ffff::1', which is not an IP address",
        ),
        ("for=garbage", "Forwarded has 'garbage', which is not an IP address"),
        ('for="192.0.2.60:_"', "Forwarded has '192.0.2.60:_', which is not an IP address"),
        ('for="192.0.2.60:_a b"', "Forwarded has '192.0.2.60:_a b', which is not an IP address"),
        ('for="[2001:db8::1]x"', "Forwarded has '[2001:db8::1]x', which is not an IP address"),
    ],
)
def test_forwarded_garbage_stops_the_walk(value, problem):
    """Obfuscated, unknown, missing or unparsable nodes stop the walk: the client is unknown."""
    found = make(forwarded="forwarded").resolve(pairs(("Forwarded", value)), PROXY)
    assert None is found.client_ip
    assert f"{problem}, so the client address is unknown" == found.problem


def test_forwarded_unterminated_quote_on_an_earlier_line():
    """A client's broken line does not swallow the line its proxy appended."""
    headers = [(b"forwarded", b'for="6.6.6.6'), (b"forwarded", b"for=192.0.2.60")]
    assert "192.0.2.60" == make(forwarded="forwarded").client_ip(headers, PROXY)


def test_header_location_keeps_the_client_address_note():
    """A provider answers even when the chain is garbage; the detail still says so."""
    headers = pairs(("CF-IPCountry", "FR"), ("X-Forwarded-For", "garbage"))
    found = make().resolve(headers, PROXY)
    assert (KNOWN, "FR", None, "header:cloudflare") == where(found)
    assert None is found.client_ip
    assert (
        "CF-IPCountry 'FR' from trusted proxy 10.0.0.2; X-Forwarded-For has 'garbage', "
        "which is not an IP address, so the client address is unknown"
    ) == found.detail


# --- order ----------------------------------------------------------------------------


def test_explicit_wins_over_everything():
    geo = FakeGeo()
    headers = pairs(("CF-IPCountry", "FR"), ("X-Forwarded-For", CLIENT))
    found = make(geoip=geo).resolve(headers, PROXY, country="no")
    assert (KNOWN, "NO", None, "explicit") == where(found)
    assert "country 'no' given by the application" == found.detail
    assert CLIENT == found.client_ip
    assert [] == geo.asked


def test_header_wins_over_geoip():
    geo = FakeGeo()
    headers = pairs(("CF-IPCountry", "FR"), ("X-Forwarded-For", CLIENT))
    found = make(geoip=geo).resolve(headers, PROXY)
    assert (KNOWN, "FR", None, "header:cloudflare") == where(found)
    assert CLIENT == found.client_ip
    assert [] == geo.asked


def test_geoip_when_no_header():
    geo = FakeGeo()
    found = make(geoip=geo).resolve(pairs(("X-Forwarded-For", CLIENT)), PROXY)
    assert (KNOWN, "DE", "DE-BE", "geoip") == where(found)
    assert "located by GeoIP" == found.detail
    assert [CLIENT] == geo.asked


def test_geoip_not_found():
    found = make().resolve([], "192.0.2.99")
    assert (UNKNOWN, None, None, "geoip") == where(found)
    assert "the address 192.0.2.99 is not in the database" == found.problem
    assert "not located by GeoIP: the address 192.0.2.99 is not in the database" == found.detail


@pytest.mark.parametrize(
    ("options", "peer", "problem"),
    [
        (
            {"providers": (), "geoip": None},
            PROXY,
            "neither a provider nor a GeoIP database is configured",
        ),
        (
            {"geoip": None},
            PROXY,
            "no provider header was present and no GeoIP database is configured",
        ),
        (
            {"geoip": None},
            STRANGER,
            "no trusted provider header was present and no GeoIP database is configured",
        ),
    ],
)
def test_unknown_when_nothing_locates(options, peer, problem):
    found = make(**options).resolve([], peer)
    assert (UNKNOWN, None, None, "unknown") == where(found)
    assert problem == found.problem
    assert f"not located: {problem}" == found.detail


@pytest.mark.parametrize(
    ("country", "subdivision", "expected", "problem", "detail"),
    [
        ("GB", "NIR", (KNOWN, "GB", "GB-NIR"), None, "country 'GB' and subdivision 'NIR'"),
        ("gb", "gb-nir", (KNOWN, "GB", "GB-NIR"), None, "country 'gb' and subdivision 'gb-nir'"),
        ("FR", "", (KNOWN, "FR", None), None, "country 'FR' and subdivision ''"),
        (None, "US-CA", (KNOWN, "US", "US-CA"), None, "subdivision 'US-CA'"),
        (
            "XX",
            None,
            (UNKNOWN, None, None),
            "the country code 'XX' means an unknown location",
            "country 'XX'",
        ),
        (
            "GER",
            None,
            (INVALID, None, None),
            "'GER' is not an ISO 3166-1 alpha-2 country code (did you mean 'DE'?)",
            "country 'GER'",
        ),
        (
            "FR",
            "US-CA",
            (INVALID, None, None),
            "the subdivision 'US-CA' is not in the country 'FR'",
            "country 'FR' and subdivision 'US-CA'",
        ),
        (
            None,
            "CA",
            (INVALID, None, None),
            "the subdivision 'CA' needs a country or the full ISO 3166-2 code",
            "subdivision 'CA'",
        ),
        (
            250,
            None,
            (INVALID, None, None),
            "the country 250 is an int, not a string",
            "country 250",
        ),
    ],
)
def test_explicit_location(country, subdivision, expected, problem, detail):
    """The application's own country and subdivision; a bad one is not replaced by a header."""
    found = make().resolve(
        pairs(("CF-IPCountry", "FR")), PROXY, country=country, subdivision=subdivision
    )
    assert (*expected, "explicit") == where(found)
    assert problem == found.problem
    assert f"{detail} given by the application" == found.detail


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"trusted_proxies": ["10.0.0.0/33"]},
            (
                "trusted proxy '10.0.0.0/33' is not an IP address or a CIDR network "
                "('10.0.0.0/33' does not appear to be an IPv4 or IPv6 network); "
                "expected e.g. '10.0.0.0/8', '2001:db8::/32' or '192.0.2.7'"
            ),
        ),
        (
            {"trusted_proxies": ["cloudflare"]},
            (
                "trusted proxy 'cloudflare' is not an IP address or a CIDR network ('cloudflare' "
                "does not appear to be an IPv4 or IPv6 network); expected e.g. '10.0.0.0/8', "
                "'2001:db8::/32' or '192.0.2.7'"
            ),
        ),
        (
            {"trusted_proxies": ["10.0.0.1/8"]},
            (
                "trusted proxy '10.0.0.1/8' has bits set past its prefix length; "
                "did you mean '10.0.0.0/8'?"
            ),
        ),
        (
            {"trusted_proxies": "10.0.0.0/8"},
            "trusted_proxies must be a list, not the string '10.0.0.0/8'; write ['10.0.0.0/8']",
        ),
        (
            {"trusted_proxies": [10]},
            "trusted proxy 10 is an int; expected a string such as '10.0.0.0/8'",
        ),
        (
            {"providers": ["cloudflair"]},
            (
                "unknown provider 'cloudflair'; expected one of: akamai, appengine, cloudflare, "
                "cloudfront, fastly, gcp, netlify, vercel"
            ),
        ),
        (
            {"providers": "cloudflare"},
            "providers must be a list, not the string 'cloudflare'; write ['cloudflare']",
        ),
        (
            {"providers": ["cloudflare", "cloudflare"]},
            "provider 'cloudflare' is configured twice",
        ),
        (
            {"providers": [42]},
            (
                "provider 42 is neither a provider name (akamai, appengine, cloudflare, "
                "cloudfront, fastly, gcp, netlify, vercel) nor an object with a name and a "
                "read() method"
            ),
        ),
        (
            {"forwarded": "x-real-ip"},
            "forwarded must be 'x-forwarded-for', 'forwarded' or 'none', not 'x-real-ip'",
        ),
        ({"geoip": "GeoLite2-City.mmdb"}, "geoip 'GeoLite2-City.mmdb' has no lookup() method"),
    ],
)
def test_bad_configuration(options, message):
    """Configuration mistakes fail at construction, with a message that says what to write."""
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        make(**options)
    assert message == str(raised.value)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        (
            "akamia",
            {},
            (
                "unknown provider 'akamia'; expected one of: akamai, appengine, cloudflare, "
                "cloudfront, fastly, gcp, netlify, vercel"
            ),
        ),
        (
            "fastly",
            {"country": "X"},
            (
                "provider 'fastly' has no option 'country'; its options are country_header, "
                "region_header"
            ),
        ),
        (
            "gcp",
            {"region_header": "X"},
            (
                "provider 'gcp' has no option 'region_header'; its options are country_header, "
                "subdivision_header"
            ),
        ),
        (
            "fastly",
            {"country_header": "Fastly Geo"},
            (
                "the country_header option of provider 'fastly' must be a header name such as "
                "'X-Client-Region', not 'Fastly Geo'"
            ),
        ),
        (
            "gcp",
            {"subdivision_header": ""},
            (
                "the subdivision_header option of provider 'gcp' must be a header name such as "
                "'X-Client-Region', not ''"
            ),
        ),
        (
            "cloudflare",
            {"country_header": None},
            (
                "the country_header option of provider 'cloudflare' must be a header name such as "
                "'X-Client-Region', not None"
            ),
        ),
    ],
)
def test_bad_provider(name, options, message):
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        provider(name, **options)
    assert message == str(raised.value)


def test_configuration_is_visible():
    resolver = make(providers=["gcp"], trusted_proxies=["::ffff:10.0.0.0/104", "10.0.0.0/8"])
    assert ["gcp"] == [p.name for p in resolver.providers]
    assert (ipaddress.ip_network("10.0.0.0/8"),) == resolver.trusted_proxies
    assert "x-forwarded-for" == resolver.forwarded
    assert "RequestResolver(providers=['gcp'], trusted_proxies=['10.0.0.0/8'], " in repr(resolver)


# --- headers and robustness -----------------------------------------------------------


def test_header_map_forms():
    """ASGI byte pairs, text pairs and mappings; names case-insensitive; values in order."""
    raw = HeaderMap([(b"X-Forwarded-For", b"1.2.3.4"), ("x-forwarded-for", " 5.6.7.8\t")])
    assert ["1.2.3.4", "5.6.7.8"] == raw.get_all("X-FORWARDED-FOR")
    assert "x-forwarded-for" in raw
    assert ["FR"] == HeaderMap({"CF-IPCountry": "FR"}).get_all("cf-ipcountry")
    assert [] == HeaderMap().get_all("cf-ipcountry")
    assert ["\xc3\xa9"] == HeaderMap([(b"x", "é".encode())]).get_all("x")  # latin-1, as ASGI


@pytest.mark.parametrize(
    ("headers", "damaged"),
    [
        (42, "they are an int, not (name, value) pairs"),
        ("CF-IPCountry: FR", "they are a str, not (name, value) pairs"),
        ([("a", "b", "c")], "one of them is a tuple, not a (name, value) pair"),
        ([None], "one of them is a NoneType, not a (name, value) pair"),
        ([(1, "FR")], "a header name is an int, not text"),
        ([("x", "y")] * (MAX_HEADER_LINES + 1), "there are more than 512 header lines"),
    ],
)
def test_damaged_headers(headers, damaged):
    """Headers that cannot be read: never an exception; with a trusted peer, fail closed."""
    assert damaged == HeaderMap(headers).damaged
    found = make().resolve(headers, PROXY)
    assert (INVALID, None, None, "unknown") == where(found)
    assert (
        f"the headers from trusted proxy 10.0.0.2 could not be read: {damaged}"
    ) == found.problem
    assert (KNOWN, "US", None, "geoip") == where(make().resolve(headers, STRANGER))


def test_headers_that_fail_while_iterated():
    def broken():
        yield (b"cf-ipcountry", b"FR")
        raise RuntimeError

    assert "reading them failed (RuntimeError)" == HeaderMap(broken()).damaged


def test_values_that_cannot_be_used():
    headers = HeaderMap([("CF-IPCountry", 250), ("X-Forwarded-For", "x" * (MAX_VALUE_LENGTH + 1))])
    assert [] == headers.get_all("cf-ipcountry")
    assert "CF-IPCountry has a value that is an int" == headers.problem("CF-IPCountry")
    assert "x-forwarded-for is longer than 1024 characters" == headers.problem("x-forwarded-for")
    assert None is headers.problem("cf-region-code")
    found = make().resolve(headers, PROXY)
    assert (INVALID, None, None, "header:cloudflare") == where(found)
    assert "CF-IPCountry has a value that is an int" == found.problem


def test_oversize_country_is_invalid():
    found = make().resolve(pairs(("CF-IPCountry", "F" * 2000)), PROXY)
    assert (INVALID, "CF-IPCountry is longer than 1024 characters") == (found.status, found.problem)


def test_non_ascii_header_name_does_not_pass_for_a_known_one():
    """'\\u212a' (Kelvin) lowercases to 'k' in Python; header names fold ASCII only."""
    headers = HeaderMap([("X-A\u212aamai-Edgescape", "country_code=FR")])
    assert [] == headers.get_all("x-akamai-edgescape")


def test_reused_header_map():
    """A HeaderMap built once per request can be passed instead of raw headers."""
    headers = HeaderMap(pairs(("CF-IPCountry", "FR")))
    resolver = make()
    assert "FR" == resolver.resolve(headers, PROXY).country
    assert PROXY == resolver.client_ip(headers, PROXY)


class Exploding:
    name = "exploding"

    def read(self, headers):
        raise RuntimeError(headers)


class Nonsense:
    name = "nonsense"

    def read(self, _headers):
        return "FR"


class Custom:
    name = "custom"

    def read(self, headers):
        values = headers.get_all("x-country")
        return HeaderLocation(values[0], None, "X-Country") if values else None


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (Exploding(), "the provider 'exploding' failed (RuntimeError)"),
        (Nonsense(), "the provider 'nonsense' answered a str"),
    ],
)
def test_broken_custom_provider(source, problem):
    found = make(providers=[source]).resolve([], PROXY)
    assert (INVALID, None, None, f"header:{source.name}") == where(found)
    assert problem == found.problem


def test_custom_provider():
    found = make(providers=[Custom(), "cloudflare"]).resolve(pairs(("X-Country", "IT")), PROXY)
    assert (KNOWN, "IT", None, "header:custom") == where(found)
    assert "X-Country 'IT' from trusted proxy 10.0.0.2" == found.detail


class BrokenGeo:
    def lookup(self, ip):
        raise OSError(ip)


def test_geoip_that_raises():
    found = make(geoip=BrokenGeo()).resolve([], CLIENT)
    assert (UNKNOWN, None, None, "geoip") == where(found)
    assert "the GeoIP lookup of 198.51.100.7 failed (OSError)" == found.problem


def test_geoip_with_a_bad_subdivision():
    geo = FakeGeo({CLIENT: ("DE", "FR-IDF")})
    found = make(geoip=geo).resolve([], CLIENT)
    assert (KNOWN, "DE", None, "geoip") == where(found)
    assert (
        "located by GeoIP; ignored the subdivision 'FR-IDF': "
        "the subdivision 'FR-IDF' is not in the country 'DE'"
    ) == found.detail


class Unprintable:
    def __repr__(self):
        raise RuntimeError


def test_resolve_never_raises():
    """Even an object whose repr fails gives an invalid location, not an exception."""
    found = make().resolve([], PROXY, country=Unprintable())
    assert (INVALID, None, None, "unknown") == where(found)
    assert "resolving the location failed (RuntimeError)" == found.problem
    assert None is make().client_ip(42, Unprintable())


# --- a region refines the country, never changes it -----------------------------------------

#: For each provider, how a client behind a trusted proxy that passes its headers on could
#: send country *c* with region *r*.
REGION_HEADERS = {
    "cloudflare": lambda c, r: [("CF-IPCountry", c), ("cf-region-code", r)],
    "cloudfront": lambda c, r: [
        ("CloudFront-Viewer-Country", c),
        ("CloudFront-Viewer-Country-Region", r),
    ],
    "fastly": lambda c, r: [("Fastly-Geo-Country", c), ("Fastly-Geo-Region", r)],
    "appengine": lambda c, r: [("X-AppEngine-Country", c), ("X-AppEngine-Region", r)],
    "vercel": lambda c, r: [("X-Vercel-IP-Country", c), ("X-Vercel-IP-Country-Region", r)],
    "akamai": lambda c, r: [("X-Akamai-Edgescape", f"country_code={c},region_code={r}")],
    "netlify": lambda c, r: [
        ("x-nf-geo", json.dumps({"country": {"code": c}, "subdivision": {"code": r}}))
    ],
    "gcp": lambda c, r: [
        ("X-Client-Region", c),
        ("X-Client-Region-Subdivision", c + r if "-" not in r else r.replace("-", "")),
    ],
}

#: (country header, region value, the ISO 3166-1 country the region would move it to).
FORGED_REGIONS = [
    ("FR", "NC", "NC"),  # New Caledonia: FR-NC, not in the EU
    ("FR", "PF", "PF"),  # French Polynesia
    ("FR", "BL", "BL"),  # Saint Barthélemy
    ("FR", "974", "RE"),  # Réunion: in the EU, but a region still never moves a request
    ("NL", "AW", "AW"),  # Aruba
    ("NL", "CW", "CW"),  # Curaçao
    ("US", "PR", "PR"),  # Puerto Rico
    ("CN", "HK", "HK"),  # Hong Kong
    ("FI", "01", "AX"),  # Åland
    ("NO", "21", "SJ"),  # Svalbard
]


@pytest.mark.parametrize("name", sorted(REGION_HEADERS))
@pytest.mark.parametrize(("country", "region", "moved_to"), FORGED_REGIONS)
def test_a_region_never_moves_the_request_to_another_country(name, country, region, moved_to):
    """A region that ISO 3166-1 codes as a country of its own is ignored; the country stays."""
    found = make(providers=[name]).resolve(pairs(*REGION_HEADERS[name](country, region)), PROXY)
    code = f"{country}-{region}"
    assert (KNOWN, country, None, f"header:{name}") == where(found)
    assert (
        f"ignored the subdivision {code!r}: ISO 3166-1 codes it as the country {moved_to!r}, "
        f"and a region refines the country {country!r}, never changes it"
    ) in found.detail


@pytest.mark.parametrize("name", sorted(REGION_HEADERS))
def test_a_region_of_another_country_is_a_contradiction(name):
    """
    US with FR-IDF, RU with UA-43 (Crimea): the headers contradict each other, so the
    location is invalid and denied, as the same input given explicitly is. Before, the
    region was ignored, so a provider reporting Crimea under RU passed a deny on UA-43.
    """
    resolver = make(providers=[name])
    for country, region in (("US", "FR-IDF"), ("RU", "UA-43")):
        found = resolver.resolve(pairs(*REGION_HEADERS[name](country, region)), PROXY)
        assert (INVALID, None, None, f"header:{name}") == where(found)
        assert f"is in {region[:2]!r}, not in the country {country!r}" in found.detail


@pytest.mark.parametrize("name", sorted(REGION_HEADERS))
def test_a_region_that_refines_is_kept(name):
    """FR with IDF: Île-de-France, a region of France."""
    found = make(providers=[name]).resolve(pairs(*REGION_HEADERS[name]("FR", "IDF")), PROXY)
    assert (KNOWN, "FR", "FR-IDF", f"header:{name}") == where(found)


def test_a_forged_region_cannot_unlock_a_feature_withheld_in_the_eu():
    """
    The attack: a French client behind a trusted proxy sends cf-region-code NC.

    New Caledonia (NC) is not in the EU; France is. The request stays French and is denied.
    """
    gate = Gate.from_path(POLICIES)
    resolver = make(providers=["cloudflare"])
    for region in ("NC", "PF", "BL", "WF", "PM", "TF"):
        found = resolver.resolve(pairs(("CF-IPCountry", "FR"), ("cf-region-code", region)), PROXY)
        with handling(found, gate):
            decision = gate.evaluate("llama-3.2-vision", at="2026-01-01")
        assert (False, "FR", "eu-multimodal-withheld") == (
            decision.allowed,
            decision.country,
            decision.rule,
        )


# --- codes for parts of countries ----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("X-Client-Region", "IC")], (KNOWN, "ES", "ES-CN", "header:gcp")),
        (
            [("X-Client-Region", "IC"), ("X-Client-Region-Subdivision", "ESTF")],
            (KNOWN, "ES", "ES-TF", "header:gcp"),
        ),
        (
            [("X-Client-Region", "IC"), ("X-Client-Region-Subdivision", "ESM")],
            (KNOWN, "ES", "ES-CN", "header:gcp"),
        ),
        ([("X-Client-Region", "EA")], (INVALID, None, None, "header:gcp")),  # which of two?
        ([("X-Client-Region", "ea")], (INVALID, None, None, "header:gcp")),
        (
            [("X-Client-Region", "EA"), ("X-Client-Region-Subdivision", "ESML")],
            (KNOWN, "ES", "ES-ML", "header:gcp"),
        ),
        (
            [("CF-IPCountry", "EA"), ("cf-region-code", "ML")],
            (KNOWN, "ES", "ES-ML", "header:cloudflare"),
        ),
        (
            [("CF-IPCountry", "EA"), ("cf-region-code", "M")],
            (INVALID, None, None, "header:cloudflare"),
        ),
        (
            [("CF-IPCountry", "XI"), ("cf-region-code", "BFS")],
            (KNOWN, "GB", "GB-BFS", "header:cloudflare"),
        ),
        (
            [("CF-IPCountry", "XI"), ("cf-region-code", "ENG")],
            (KNOWN, "GB", "GB-NIR", "header:cloudflare"),
        ),
        ([("X-Client-Region", "XI")], (KNOWN, "GB", "GB-NIR", "header:gcp")),
        ([("CF-IPCountry", "FX")], (KNOWN, "FR", None, "header:cloudflare")),
        ([("CF-IPCountry", "AC")], (KNOWN, "SH", "SH-AC", "header:cloudflare")),
        ([("CF-IPCountry", "DG")], (KNOWN, "IO", None, "header:cloudflare")),
    ],
)
def test_codes_for_parts_of_countries_from_headers(headers, expected):
    """CLDR and exceptionally reserved codes name part of a country; a region may refine it."""
    assert expected == where(make().resolve(pairs(*headers), PROXY))


@pytest.mark.parametrize(
    ("country", "subdivision", "expected"),
    [
        ("IC", None, (KNOWN, "ES", "ES-CN", "explicit")),
        ("IC", "ES-GC", (KNOWN, "ES", "ES-GC", "explicit")),
        ("IC", "ES-M", (INVALID, None, None, "explicit")),
        ("XI", "GB-BFS", (KNOWN, "GB", "GB-BFS", "explicit")),
        ("XI", "GB-ENG", (INVALID, None, None, "explicit")),
        ("EA", "ES-ML", (KNOWN, "ES", "ES-ML", "explicit")),
        ("EA", "ES-CN", (INVALID, None, None, "explicit")),
        ("EA", None, (INVALID, None, None, "explicit")),
        ("", "ES-ML", (KNOWN, "ES", "ES-ML", "explicit")),
        ("", "??", (INVALID, None, None, "explicit")),
        ("FR", "FR-974", (KNOWN, "RE", None, "explicit")),
    ],
)
def test_explicit_parts_of_countries(country, subdivision, expected):
    """Given by the application, a contradiction is invalid (it is the caller's own input)."""
    assert expected == where(make().resolve([], PROXY, country=country, subdivision=subdivision))


@pytest.mark.parametrize(
    ("country", "subdivision"),
    [
        ("", "??"),
        ("", "ES-ML"),
        ("", "NIR"),
        (None, "GB-NIR"),
        ("EA", None),
        ("EA", "ES-ML"),
        ("IC", "TF"),
        ("XI", "GB-ENG"),
        ("FR", "FR-974"),
        ("XX", "FR-IDF"),
        ("RU", "UA-43"),
    ],
)
def test_the_resolver_and_the_gate_agree_on_explicit_input(country, subdivision):
    """A location given to the resolver decides as the same location given to the gate."""
    gate = Gate.from_path(POLICIES)
    found = make().resolve([], PROXY, country=country, subdivision=subdivision)
    for feature in gate.features:
        direct = gate.evaluate(feature, country=country, subdivision=subdivision, at="2026-01-01")
        with handling(found, gate):
            through = gate.evaluate(feature, at="2026-01-01")
        assert (direct.allowed, direct.location, direct.country, direct.subdivision) == (
            through.allowed,
            through.location,
            through.country,
            through.subdivision,
        ), (feature, country, subdivision)


def test_a_region_cannot_escape_a_deny_through_a_code_for_two_places(tmp_path):
    """
    EA (Ceuta and Melilla) with region ML is ES-ML, not plain Spain.

    Before, the region was built as 'EA-ML', ignored, and a deny on ES-ML let it through;
    EA alone, which does not say which of the two, is invalid and denied.
    """
    path = tmp_path / "u.yaml"
    path.write_text(
        "features:\n  u:\n    default: allow\n    rules:\n"
        "      - {id: ml, deny: [FR, ES-ML], reason: r}\n",
        encoding="utf-8",
    )
    gate = Gate.from_path(path)
    resolver = make(providers=["cloudflare"])
    for headers in (
        [("CF-IPCountry", "EA"), ("cf-region-code", "ML")],
        [("CF-IPCountry", "EA")],
        [("CF-IPCountry", "ea"), ("cf-region-code", "ml")],
    ):
        found = resolver.resolve(pairs(*headers), PROXY)
        with handling(found, gate):
            assert not gate.is_allowed("u"), headers


def test_the_providers_are_one_table():
    """PROVIDERS names the rows of PROVIDER_TABLE; each row's options are its headers."""
    assert [spec.name for spec in PROVIDER_TABLE] == list(PROVIDERS)
    assert all(PROVIDERS[spec.name] is spec for spec in PROVIDER_TABLE)
    parameters = inspect.signature(PROVIDERS["gcp"]).parameters
    assert {
        "country_header": "X-Client-Region",
        "subdivision_header": "X-Client-Region-Subdivision",
    } == {name: parameter.default for name, parameter in parameters.items()}
    assert "X-Akamai-Edgescape" == PROVIDERS["akamai"]().header
    with pytest.raises(TypeError, match="fastly\\(\\) got an unexpected keyword argument 'x'"):
        PROVIDERS["fastly"](x="X-Geo")


def test_a_location_source_is_a_kind_and_a_provider():
    """The kind is a LocationSource; a header's source is written ``header:<provider>``."""
    found = make(providers=[Custom()]).resolve(pairs(("X-Country", "IT")), PROXY)
    assert (LocationSource.HEADER, "custom", "header:custom") == (
        found.source_kind,
        found.provider,
        found.source,
    )
    assert LocationSource.HEADER is LocationSource.of(found.source)
    assert LocationSource.GEOIP is LocationSource.of("geoip")
    assert '["geoip", "header:custom"]' == json.dumps([LocationSource.GEOIP, found.source])
