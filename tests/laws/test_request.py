"""Laws of the request resolver, checked with hypothesis: it never raises, forgeries never count."""

from __future__ import annotations

import base64
import ipaddress

import attrs
from hypothesis import given
from hypothesis import strategies as st

from geogate._locate.headers import HeaderMap
from geogate._locate.providers import PROVIDERS
from geogate._locate.request import RequestLocation, RequestResolver
from geogate._world.countries import LocationStatus
from helpers.properties import examples

TRUSTED = ("10.0.0.0/8", "2001:db8::/32")
NETWORKS = [ipaddress.ip_network(network) for network in TRUSTED]
COUNTRIES = ["DE", "FR", "US", "JP", "BR", "NL"]
SOURCES = {"explicit", "geoip", "unknown"} | {f"header:{name}" for name in PROVIDERS}


@attrs.frozen
class Result:
    status: LocationStatus
    country: str | None = None
    subdivision: str | None = None
    ip: str | None = None
    problem: str | None = None


class EveryAddressGeo:
    """Places every address in a country that depends on the address (some in none)."""

    def lookup(self, ip: object) -> Result:
        text = str(ip)
        index = sum(text.encode()) % (len(COUNTRIES) + 1)
        if index == len(COUNTRIES):
            return Result(LocationStatus.UNKNOWN, ip=text, problem="not in the database")
        return Result(LocationStatus.KNOWN, COUNTRIES[index], None, text)


def resolver(forwarded="x-forwarded-for"):
    return RequestResolver(
        providers=list(PROVIDERS),
        trusted_proxies=TRUSTED,
        forwarded=forwarded,
        geoip=EveryAddressGeo(),
    )


NAMES = [
    "CF-IPCountry",
    "cf-region-code",
    "CloudFront-Viewer-Country",
    "CloudFront-Viewer-Country-Region",
    "Fastly-Geo-Country",
    "Fastly-Geo-Region",
    "X-AppEngine-Country",
    "X-AppEngine-Region",
    "X-Vercel-IP-Country",
    "X-Vercel-IP-Country-Region",
    "X-Akamai-Edgescape",
    "x-nf-geo",
    "X-Client-Region",
    "X-Client-Region-Subdivision",
    "X-Forwarded-For",
    "Forwarded",
]
VALUES = [
    "FR",
    "us",
    "XX",
    "T1",
    "ZZ",
    "**",
    "CA",
    "USCA",
    "NO REGION",
    "?",
    "",
    "country_code=FR,region_code=IDF",
    '{"country": {"code": "DE"}, "subdivision": {"code": "BE"}}',
    base64.b64encode(b'{"country": {"code": "JP"}}').decode(),
    "198.51.100.7, 10.0.0.3",
    "garbage, 10.0.0.3",
    'for="[2001:db8:ffff::1]:4711";proto=https, for=10.0.0.3',
    'for="_hidden"',
    'for="1.2.3.4',
]

names = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES).map(str.lower),
    st.sampled_from(NAMES).map(lambda name: name.lower().encode()),
    st.text(max_size=20),
    st.binary(max_size=20),
)
values = st.one_of(
    st.sampled_from(VALUES),
    st.sampled_from(VALUES).map(str.encode),
    st.text(max_size=60),
    st.binary(max_size=60),
    st.text(min_size=1000, max_size=1100, alphabet="0123456789., "),
)
header_lists = st.lists(st.tuples(names, values), max_size=12)
weird_headers = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=10), st.integers())),
    st.lists(
        st.one_of(st.none(), st.integers(), st.tuples(names), st.tuples(names, values, values))
    ),
    st.lists(st.tuples(st.one_of(names, st.integers()), st.one_of(values, st.none(), st.floats()))),
)
any_headers = st.one_of(header_lists, weird_headers)
addresses = st.ip_addresses().map(str)
peers = st.one_of(
    st.none(),
    st.sampled_from(["10.0.0.2", "::ffff:10.0.0.2", "2001:db8::5", "203.0.113.9", "", "garbage"]),
    addresses,
    st.text(max_size=45),
    st.integers(),
    st.binary(max_size=16),
)
explicit = st.one_of(st.none(), st.none(), st.text(max_size=8), st.integers())


def _trusted(peer: object) -> bool:
    try:
        address = ipaddress.ip_address(peer)  # type: ignore[arg-type]
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in NETWORKS)


untrusted_peers = st.one_of(
    st.none(),
    st.text(max_size=45),
    addresses,
    st.sampled_from(["203.0.113.9", "::ffff:203.0.113.9", "2001:db9::1"]),
).filter(lambda peer: not _trusted(peer))


def check(found: RequestLocation) -> None:
    """The invariants of every result."""
    assert isinstance(found, RequestLocation)
    assert found.source in SOURCES
    assert isinstance(found.detail, str)
    assert found.detail
    assert (found.status is LocationStatus.KNOWN) == (found.country is not None)
    assert (found.status is LocationStatus.KNOWN) == (found.problem is None)
    assert found.subdivision is None or found.country is not None
    if found.client_ip is not None:
        ipaddress.ip_address(found.client_ip)


@examples(400)
@given(any_headers, peers, explicit, explicit, st.sampled_from(["x-forwarded-for", "forwarded"]))
def test_resolve_never_raises(headers, peer, country, subdivision, forwarded):
    """Any headers (text, bytes, garbage types), any peer, any explicit input: a result."""
    check(resolver(forwarded).resolve(headers, peer, country=country, subdivision=subdivision))


@examples(300)
@given(any_headers)
def test_header_map_never_raises(headers):
    found = HeaderMap(headers)
    for name in NAMES:
        assert all(isinstance(value, str) for value in found.get_all(name))
        assert len(found.get_all(name)) <= 512


@examples(400)
@given(header_lists, untrusted_peers, st.sampled_from(["x-forwarded-for", "forwarded"]))
def test_untrusted_headers_never_change_the_location(headers, peer, forwarded):
    """What an untrusted peer sends changes nothing but the explanation."""
    chosen = resolver(forwarded)
    forged = chosen.resolve(headers, peer)
    plain = chosen.resolve([], peer)
    check(forged)
    assert (plain.status, plain.country, plain.subdivision, plain.source, plain.client_ip) == (
        forged.status,
        forged.country,
        forged.subdivision,
        forged.source,
        forged.client_ip,
    )


@examples(300)
@given(
    st.text(max_size=300),
    addresses.filter(lambda peer: not _trusted(peer)),
    st.lists(
        st.sampled_from(["10.0.0.3", "10.1.2.3", "2001:db8::7", "::ffff:10.9.9.9"]), max_size=10
    ),
)
def test_spoofed_left_entries_never_choose_the_client(prefix, client, hops):
    """Whatever a client writes before its own address, the client found is its address."""
    value = ", ".join([prefix, client, *hops])
    found = resolver().client_ip([("X-Forwarded-For", value)], "10.0.0.2")
    expected = ipaddress.ip_address(client)
    if isinstance(expected, ipaddress.IPv6Address) and expected.ipv4_mapped is not None:
        expected = expected.ipv4_mapped
    assert str(expected) == found


@examples(300)
@given(
    st.text(max_size=300),
    addresses.filter(lambda peer: not _trusted(peer)),
    st.lists(st.sampled_from(["10.0.0.3", "[2001:db8::7]:80", '"10.1.2.3:443"']), max_size=10),
)
def test_forwarded_client_is_the_real_one_or_unknown(prefix, client, hops):
    """
    RFC 7239: a client's garbage may make its address unknown, never another one.

    On a line of its own, the client's text cannot reach the proxy's line at all.
    """
    node = f'"[{client}]"' if ":" in client else client
    appended = ", ".join([f"for={node}", *(f"for={hop}" for hop in hops)])
    expected = ipaddress.ip_address(client)
    if isinstance(expected, ipaddress.IPv6Address) and expected.ipv4_mapped is not None:
        expected = expected.ipv4_mapped
    chosen = resolver("forwarded")
    same_line = chosen.client_ip([("Forwarded", f"{prefix}, {appended}")], "10.0.0.2")
    assert same_line in {str(expected), None}
    own_line = chosen.client_ip([("Forwarded", prefix), ("Forwarded", appended)], "10.0.0.2")
    assert str(expected) == own_line


def test_an_unrecognised_subdivision_is_a_note_not_a_problem():
    """Known locations have no problem; the note on an unrecognised subdivision is in the detail."""
    found = resolver("x-forwarded-for").resolve(None, None, country="AC", subdivision="0")
    check(found)
    assert ("SH", "SH-AC") == (found.country, found.subdivision)
    assert "the subdivision 'SH-0' is not one geogate recognises" in found.detail
