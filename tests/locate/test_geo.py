"""IP geolocation: geogate._locate.geo against small databases built with mmdb-writer."""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from pathlib import Path  # noqa: TC003 (fixture annotations)

import geoip2.database
import geoip2.errors
import maxminddb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geogate._locate.geo import GEOIP_DB_ENV, GeoDatabase, GeoResult, parse_address
from geogate._world.countries import LocationStatus
from geogate.exceptions import GeoDatabaseError
from helpers.mmdb import city_record, country_record, write_city_db, write_country_db, write_db
from helpers.properties import examples

KNOWN = LocationStatus.KNOWN
UNKNOWN = LocationStatus.UNKNOWN
INVALID = LocationStatus.INVALID

COUNTRY_RECORDS = {
    "81.2.69.0/24": country_record("GB", registered="US"),
    "2.125.160.216/29": country_record("GB", registered="FR"),
    "89.160.20.0/24": country_record("SE", registered="DE", in_eu=True),
    "2001:db8::/32": country_record("JP", registered="US"),
    # MaxMind's own databases alias ::ffff:0:0/96 to the IPv4 tree; this one
    # holds a different country there, so a mapped address that is not
    # normalised before the lookup lands on US instead of GB.
    "::ffff:0:0/96": country_record("US"),
    # No country: a continent that is in the EU, an anycast network, a record
    # that only has a registered country.
    "2a02:d500::/29": {"continent": {"code": "EU"}, "country": {"is_in_european_union": True}},
    "214.1.1.0/24": {"traits": {"is_anycast": True}},
    "100.64.0.0/24": {"registered_country": {"iso_code": "US"}},
    "100.64.1.0/24": {
        **country_record("PH"),
        "represented_country": {"iso_code": "US", "type": "military"},
    },
    # Codes that are not countries, and a record of the wrong shape.
    "192.0.2.0/24": country_record("EU"),
    "198.51.100.0/24": country_record("QQ"),
    "203.0.113.0/24": {"country": "GB"},
    "198.18.0.0/24": country_record("uk"),
}

CITY_RECORDS = {
    "81.2.69.0/24": city_record("GB", ["ENG", "LND"], registered="US"),
    "2.125.160.216/29": city_record("GB", ["ENG", "WBK"], registered="FR"),
    "81.2.70.0/24": city_record("GB", ["NIR"]),
    "81.2.71.0/24": city_record("GB", ["NIR", "ZZZ"]),
    "89.160.20.0/24": city_record("SE", ["E"], registered="DE"),
    "175.16.199.0/24": city_record("CN", ["22"]),
    "214.78.120.0/22": city_record("US", ["QQQ"]),
    "216.160.83.56/29": city_record("US", ["WA"], registered="GB"),
    "2001:480:10::/48": city_record("US", ["CA"]),
    "2.3.3.0/24": {"continent": {"code": "EU"}},
    "203.0.113.0/24": {**city_record("GB"), "subdivisions": [{"iso_code": 5}, {"names": {}}]},
    "198.51.100.0/24": city_record("FR", ["974"]),
    "192.0.2.0/24": city_record("GB", ["GB-NIR"]),
}


@pytest.fixture(scope="module")
def country_path(tmp_path_factory) -> Path:
    return write_country_db(tmp_path_factory.mktemp("geo") / "country.mmdb", COUNTRY_RECORDS)


@pytest.fixture(scope="module")
def city_path(tmp_path_factory) -> Path:
    return write_city_db(tmp_path_factory.mktemp("geo") / "city.mmdb", CITY_RECORDS)


@pytest.fixture
def country_db(country_path):
    with GeoDatabase(country_path) as db:
        yield db


@pytest.fixture
def city_db(city_path):
    with GeoDatabase(city_path) as db:
        yield db


@pytest.fixture(scope="module")
def shared_country_db(country_path):
    with GeoDatabase(country_path) as db:
        yield db


def known(country, ip, network, subdivision=None) -> GeoResult:
    return GeoResult(KNOWN, country=country, subdivision=subdivision, ip=ip, network=network)


# --- Opening -------------------------------------------------------------------------------


def test_opens_country_database(country_path):
    """A Country database opens with its path, type and kind."""
    with GeoDatabase(country_path) as db:
        assert (str(country_path), "GeoIP2-Country", "country") == (
            db.path,
            db.database_type,
            db.kind,
        )


@pytest.mark.parametrize(
    ("database_type", "kind"),
    [
        ("GeoIP2-Country", "country"),
        ("GeoLite2-Country", "country"),
        ("DBIP-Country-Lite", "country"),
        ("GeoIP2-City", "city"),
        ("GeoLite2-City", "city"),
        ("DBIP-City-Lite", "city"),
    ],
)
def test_database_kinds(tmp_path, database_type, kind):
    """GeoIP2, GeoLite2 and DB-IP Lite databases all work, as Country or City."""
    record = city_record("GB", ["NIR"])
    path = write_db(tmp_path / "db.mmdb", {"81.2.69.0/24": record}, database_type=database_type)
    with GeoDatabase(path) as db:
        assert kind == db.kind
        expected_sub = "GB-NIR" if kind == "city" else None
        assert known("GB", "81.2.69.1", "81.2.69.0/24", expected_sub) == db.lookup("81.2.69.1")


def test_missing_database(tmp_path):
    """A missing file is refused when the database is opened, with what to do."""
    path = str(tmp_path / "nope.mmdb")
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert path == info.value.path
    assert (
        f"the GeoIP database {path!r} does not exist; download a Country or City database "
        "(.mmdb: GeoIP2, GeoLite2 or DB-IP Lite) and give its path"
    ) == str(info.value)


def test_directory(tmp_path):
    """A directory is refused, and the message says to give the file inside it."""
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(tmp_path)
    assert (
        f"the GeoIP database {str(tmp_path)!r} is a directory; "
        "give the path of the .mmdb file in it"
    ) == str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a database\n" * 100, b"\xab\xcd\xefMaxMind.com\xff\xff"],
    ids=["empty", "text", "bad-metadata"],
)
def test_corrupt_file(tmp_path, content):
    """A file that is not a MaxMind DB is refused at construction."""
    path = tmp_path / "bad.mmdb"
    path.write_bytes(content)
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert (
        f"the GeoIP database {str(path)!r} is not a valid MaxMind DB file (it is corrupt, "
        "truncated or another kind of file); download it again"
    ) == str(info.value)


def test_truncated_database(tmp_path, country_path):
    """A database cut short (its metadata lost) is refused at construction."""
    path = tmp_path / "truncated.mmdb"
    path.write_bytes(country_path.read_bytes()[:200])
    with pytest.raises(GeoDatabaseError, match="is not a valid MaxMind DB file"):
        GeoDatabase(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable(tmp_path, country_path):
    """A file without read permission is refused, naming the OS's reason."""
    path = tmp_path / "locked.mmdb"
    path.write_bytes(country_path.read_bytes())
    path.chmod(0)
    try:
        with pytest.raises(GeoDatabaseError) as info:
            GeoDatabase(path)
    finally:
        path.chmod(0o600)
    assert (
        f"the GeoIP database {str(path)!r} cannot be read (Permission denied); "
        "check its permissions"
    ) == str(info.value)


def test_unreadable_whatever_the_user(monkeypatch, tmp_path, country_path):
    """The same refusal when opening fails for another reason, even as root."""
    path = tmp_path / "locked.mmdb"
    path.write_bytes(country_path.read_bytes())

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("geogate._locate.geo.open", refuse, raising=False)
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert (
        f"the GeoIP database {str(path)!r} cannot be read (Permission denied); "
        "check its permissions"
    ) == str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_not_a_regular_file(tmp_path):
    """A named pipe is refused without blocking on it."""
    path = tmp_path / "pipe.mmdb"
    os.mkfifo(path)
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert (
        f"the GeoIP database {str(path)!r} is not a regular file; give the path of a .mmdb file"
    ) == str(info.value)


def test_wrong_database_type(tmp_path):
    """A database that is neither Country nor City (Anonymous IP) is refused."""
    path = write_db(
        tmp_path / "anon.mmdb",
        {"1.2.0.0/16": {"is_anonymous": True, "is_anonymous_vpn": True}},
        database_type="GeoIP2-Anonymous-IP",
    )
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert str(path) == info.value.path
    assert (
        f"the GeoIP database {str(path)!r} is of type 'GeoIP2-Anonymous-IP', not a Country "
        "or City database; give the path of a GeoIP2 or GeoLite2 Country or City database, "
        "or of a DB-IP Lite Country or City database"
    ) == str(info.value)


@pytest.mark.parametrize("size", [-1, 1.5, "10", True, None])
def test_bad_cache_size(country_path, size):
    """A cache size that is not an integer >= 0 is a programmer error."""
    with pytest.raises(ValueError, match="cache_size must be an integer >= 0") as info:
        GeoDatabase(country_path, cache_size=size)
    assert f"cache_size must be an integer >= 0 (0 turns the cache off), not {size!r}" == str(
        info.value
    )


def test_from_env(monkeypatch, country_path):
    """$GEOGATE_GEOIP_DB names the database; unset or empty means none."""
    monkeypatch.delenv(GEOIP_DB_ENV, raising=False)
    assert GeoDatabase.from_env() is None
    monkeypatch.setenv(GEOIP_DB_ENV, "")
    assert GeoDatabase.from_env() is None
    monkeypatch.setenv(GEOIP_DB_ENV, str(country_path))
    db = GeoDatabase.from_env()
    assert db is not None
    with db:
        assert str(country_path) == db.path
        assert "GB" == db.lookup("81.2.69.1").country


def test_from_env_missing(monkeypatch, tmp_path):
    """A bad $GEOGATE_GEOIP_DB fails at once, like a bad path."""
    monkeypatch.setenv(GEOIP_DB_ENV, str(tmp_path / "gone.mmdb"))
    with pytest.raises(GeoDatabaseError, match="does not exist"):
        GeoDatabase.from_env()


def test_close(country_path):
    """After close, lookups give INVALID (an error), never raise; closing twice is harmless."""
    db = GeoDatabase(country_path)
    assert KNOWN == db.lookup("81.2.69.1").status
    db.close()
    db.close()
    assert GeoResult(
        INVALID, problem=f"the GeoIP database {str(country_path)!r} was closed"
    ) == db.lookup("81.2.69.1")
    assert 0 == db.cache_info().currsize


# --- Country databases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", known("GB", "81.2.69.160", "81.2.69.0/24")),
        ("2.125.160.217", known("GB", "2.125.160.217", "2.125.160.216/29")),
        ("89.160.20.1", known("SE", "89.160.20.1", "89.160.20.0/24")),
        ("2001:db8::1", known("JP", "2001:db8::1", "2001:db8::/32")),
        ("2001:DB8:0:0::1", known("JP", "2001:db8::1", "2001:db8::/32")),
        ("100.64.1.7", known("PH", "100.64.1.7", "100.64.1.0/24")),
        ("198.18.0.1", known("GB", "198.18.0.1", "198.18.0.0/24")),
    ],
)
def test_country_not_registered_country(shared_country_db, ip, expected):
    """The location is the record's country, never registered_country nor represented_country."""
    assert expected == shared_country_db.lookup(ip)


def test_registered_country_differs_in_the_data(country_path):
    """The trap is real: the raw record's registered_country is another country."""
    with geoip2.database.Reader(str(country_path)) as reader:
        response = reader.country("81.2.69.160")
    assert ("GB", "US") == (response.country.iso_code, response.registered_country.iso_code)


@pytest.mark.parametrize(
    ("ip", "network", "why"),
    [
        ("2a02:d500::1", "2a02:d500::/29", "only the continent 'EU'"),
        ("214.1.1.1", "214.1.1.0/24", "an anycast network"),
        ("100.64.0.1", "100.64.0.0/24", "no location"),
    ],
)
def test_record_without_country(shared_country_db, ip, network, why):
    """A record without a country is UNKNOWN, whatever is_in_european_union or continent say."""
    assert GeoResult(
        UNKNOWN,
        ip=ip,
        network=network,
        problem=f"the GeoIP database gives no country for the address {ip!r} ({why})",
    ) == shared_country_db.lookup(ip)


@pytest.mark.parametrize(
    ("ip", "code"),
    [("192.0.2.1", "'EU'"), ("198.51.100.1", "'QQ'")],
)
def test_country_code_that_is_not_a_country(shared_country_db, ip, code):
    """A pseudo-code (EU, the continent) or garbage in the database is UNKNOWN, not a place."""
    result = shared_country_db.lookup(ip)
    assert (
        GeoResult(
            UNKNOWN,
            ip=ip,
            network=result.network,
            problem=f"the GeoIP database gives {code} for the address {ip!r}, "
            "which is not a country",
        )
        == result
    )


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "127.0.0.1", "192.168.1.1", "169.254.1.1", "::1", "fc00::1", "8.8.8.8"]
)
def test_not_found(shared_country_db, ip):
    """Private, reserved and absent addresses are not found: UNKNOWN."""
    result = shared_country_db.lookup(ip)
    assert (UNKNOWN, None, ip, f"the address {ip!r} is not in the GeoIP database") == (
        result.status,
        result.country,
        result.ip,
        result.problem,
    )
    assert result.network is not None
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(result.network)


@pytest.mark.parametrize(
    "ip",
    [
        "::ffff:81.2.69.160",
        "::FFFF:81.2.69.160",
        "::ffff:5102:45a0",
        "0:0:0:0:0:ffff:81.2.69.160",
        ipaddress.IPv6Address("::ffff:81.2.69.160"),
    ],
)
def test_ipv4_mapped_is_normalised(country_path, shared_country_db, ip):
    """An IPv4-mapped IPv6 address is looked up as its IPv4 address."""
    assert known("GB", "81.2.69.160", "81.2.69.0/24") == shared_country_db.lookup(ip)
    with geoip2.database.Reader(str(country_path)) as reader:  # without normalising: US
        assert "US" == reader.country(str(ip)).country.iso_code


@pytest.mark.parametrize(
    "ip",
    [ipaddress.IPv4Address("81.2.69.160"), ipaddress.ip_address("81.2.69.160")],
)
def test_address_objects(shared_country_db, ip):
    """ipaddress objects are accepted as well as strings."""
    assert known("GB", "81.2.69.160", "81.2.69.0/24") == shared_country_db.lookup(ip)


def test_str_subclass(shared_country_db):
    """A str subclass is looked up as the plain string, whatever its __hash__ and __str__ do."""

    class Odd(str):
        __slots__ = ()

        def __hash__(self):
            raise TypeError

        def __str__(self):
            return "10.0.0.1"

    assert known("GB", "81.2.69.160", "81.2.69.0/24") == shared_country_db.lookup(
        Odd("81.2.69.160")
    )


def test_ipv4_only_database(tmp_path):
    """An IPv4-only database answers IPv6 with UNKNOWN and IPv4-mapped addresses as IPv4."""
    path = write_country_db(
        tmp_path / "v4.mmdb", {"81.2.69.0/24": country_record("GB")}, ip_version=4
    )
    with GeoDatabase(path) as db:
        assert known("GB", "81.2.69.1", "81.2.69.0/24") == db.lookup("::ffff:81.2.69.1")
        assert GeoResult(
            UNKNOWN,
            ip="2001:db8::1",
            problem="the address '2001:db8::1' is not in the GeoIP database "
            "(it holds IPv4 addresses only)",
        ) == db.lookup("2001:db8::1")


# --- Bad input -------------------------------------------------------------------------------

BAD_STRINGS = [
    ("", "the IP address is an empty string"),
    (" 81.2.69.160", "the IP address ' 81.2.69.160' has white space around it"),
    ("81.2.69.160\n", "the IP address '81.2.69.160\\n' has white space around it"),
    ("81.2.69.160\u00a0", "the IP address '81.2.69.160\\xa0' has white space around it"),
    (
        "81.2.69.160:443",
        "the IP address '81.2.69.160:443' has a port; give the bare address, without the port",
    ),
    (
        "[2001:db8::1]",
        (
            "the IP address '[2001:db8::1]' is in brackets; give the bare address, "
            "without brackets or a port"
        ),
    ),
    (
        "[2001:db8::1]:443",
        (
            "the IP address '[2001:db8::1]:443' is in brackets; give the bare address, "
            "without brackets or a port"
        ),
    ),
    (
        "fe80::1%eth0",
        (
            "the IP address 'fe80::1%eth0' has an IPv6 zone id, which only a link-local "
            "address has, never a client's public address"
        ),
    ),
    ("garbage", "'garbage' is not an IP address"),
    ("81.2.69", "'81.2.69' is not an IP address"),
    ("81.2.69.256", "'81.2.69.256' is not an IP address"),
    ("081.2.69.160", "'081.2.69.160' is not an IP address"),
    ("81.2.69.160/24", "'81.2.69.160/24' is not an IP address"),
    ("81,2,69,160", "'81,2,69,160' is not an IP address"),
    ("\u0661.\u0662.\u0663.\u0664", "'\u0661.\u0662.\u0663.\u0664' is not an IP address"),
    ("unknown", "'unknown' is not an IP address"),
    ("81.2.69.160, 10.0.0.1", "'81.2.69.160, 10.0.0.1' is not an IP address"),
    (
        "1" * 46,
        "the IP address '" + "1" * 36 + "... "
        "is longer than any IP address (46 characters, at most 45)",
    ),
    (
        "x" * 100_000,
        "the IP address '" + "x" * 36 + "... "
        "is longer than any IP address (100000 characters, at most 45)",
    ),
]


@pytest.mark.parametrize(("value", "problem"), BAD_STRINGS)
def test_invalid_strings(shared_country_db, value, problem):
    """Malformed strings are INVALID, with a problem that quotes them (shortened)."""
    assert GeoResult(INVALID, problem=problem) == shared_country_db.lookup(value)


def test_longest_address_is_accepted(shared_country_db):
    """45 characters is the longest text form of an IP address, and it is accepted."""
    longest = "0000:0000:0000:0000:0000:ffff:255.255.255.255"
    assert 45 == len(longest)
    assert UNKNOWN == shared_country_db.lookup(longest).status


def test_zone_id_on_address_object(shared_country_db):
    """An IPv6Address with a zone id is INVALID too."""
    assert GeoResult(
        INVALID,
        problem="the IP address 'fe80::1%eth0' has an IPv6 zone id, which only a link-local "
        "address has, never a client's public address",
    ) == shared_country_db.lookup(ipaddress.IPv6Address("fe80::1%eth0"))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "the IP address None is of type 'NoneType', not a string"),
        (1359103392, "the IP address 1359103392 is of type 'int', not a string"),
        (True, "the IP address True is of type 'bool', not a string"),
        (1.5, "the IP address 1.5 is of type 'float', not a string"),
        (b"81.2.69.160", "the IP address b'81.2.69.160' is of type 'bytes', not a string"),
        (
            bytearray(b"81.2.69.160"),
            "the IP address bytearray(b'81.2.69.160') is of type 'bytearray', not a string",
        ),
        (["81.2.69.160"], "the IP address ['81.2.69.160'] is of type 'list', not a string"),
        ({"ip": 1}, "the IP address {'ip': 1} is of type 'dict', not a string"),
        (
            ipaddress.ip_network("81.2.69.0/24"),
            "the IP address IPv4Network('81.2.69.0/24') is of type 'IPv4Network', not a string",
        ),
    ],
)
def test_invalid_types(shared_country_db, value, problem):
    """Anything but a string or an ipaddress address is INVALID, naming its type."""
    assert GeoResult(INVALID, problem=problem) == shared_country_db.lookup(value)


def test_parse_address():
    """parse_address is the same validation, usable on its own (e.g. for peer addresses)."""
    assert ipaddress.IPv4Address("81.2.69.160") == parse_address("::ffff:81.2.69.160")
    assert ipaddress.IPv6Address("2001:db8::1") == parse_address("2001:db8::1")
    assert GeoResult(INVALID, problem="'x' is not an IP address") == parse_address("x")


# --- City databases --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country", "subdivision"),
    [
        ("81.2.69.160", "GB", "GB-LND"),  # [ENG, LND]: the most specific
        ("2.125.160.217", "GB", "GB-WBK"),
        ("81.2.70.1", "GB", "GB-NIR"),
        ("81.2.71.1", "GB", "GB-NIR"),  # ZZZ is not ISO 3166-2: the next one counts
        ("89.160.20.1", "SE", "SE-E"),
        ("175.16.199.1", "CN", None),  # the old numeric code; ISO now says CN-JL
        ("214.78.120.1", "US", None),
        ("216.160.83.57", "US", "US-WA"),
        ("2001:480:10::1", "US", "US-CA"),
        ("203.0.113.1", "GB", None),  # iso_code of the wrong type, or missing
        ("198.51.100.1", "FR", None),  # 974, Réunion, is RE: a region never moves a country
        ("192.0.2.1", "GB", None),  # a full code where the part after the hyphen belongs
    ],
)
def test_city_subdivisions(city_db, ip, country, subdivision):
    """City databases give the most specific valid ISO 3166-2 subdivision; the country counts."""
    result = city_db.lookup(ip)
    assert (KNOWN, country, subdivision, ip) == (
        result.status,
        result.country,
        result.subdivision,
        result.ip,
    )


def test_city_uses_country_not_registered(city_db):
    """City records too: country GB, registered US."""
    assert known("GB", "81.2.69.160", "81.2.69.0/24", "GB-LND") == city_db.lookup(
        "::ffff:81.2.69.160"
    )


def test_city_without_country(city_db):
    """A City record with only a continent is UNKNOWN."""
    assert GeoResult(
        UNKNOWN,
        ip="2.3.3.3",
        network="2.3.3.0/24",
        problem="the GeoIP database gives no country for the address '2.3.3.3' "
        "(only the continent 'EU')",
    ) == city_db.lookup("2.3.3.3")


def test_country_database_has_no_subdivision(tmp_path):
    """A Country database built from City-shaped records still gives no subdivision."""
    path = write_country_db(tmp_path / "c.mmdb", {"81.2.70.0/24": city_record("GB", ["NIR"])})
    with GeoDatabase(path) as db:
        assert known("GB", "81.2.70.1", "81.2.70.0/24") == db.lookup("81.2.70.1")


# --- Damaged data ----------------------------------------------------------------------------


def test_record_of_wrong_shape(country_path):
    """A record whose country is not a GeoIP2 country record gives no country: UNKNOWN."""
    with GeoDatabase(country_path) as db:
        assert GeoResult(
            UNKNOWN,
            ip="203.0.113.9",
            network="203.0.113.0/24",
            problem="the GeoIP database gives no country for the address '203.0.113.9' "
            "(no location)",
        ) == db.lookup("203.0.113.9")


def _corrupt_data_section(source: Path, target: Path) -> Path:
    """Copy *source* with its data section overwritten, the tree and metadata intact."""
    with maxminddb.open_database(str(source)) as reader:
        metadata = reader.metadata()
    data = bytearray(source.read_bytes())
    start = metadata.node_count * metadata.record_size // 4 + 16  # tree, then 16 zero bytes
    end = data.rfind(b"\xab\xcd\xefMaxMind.com")
    data[start:end] = b"\xff" * (end - start)
    target.write_bytes(bytes(data))
    return target


def test_corrupt_data_section(caplog, tmp_path, country_path):
    """A corrupt data section opens (it is only read per lookup); lookups give INVALID."""
    caplog.set_level(logging.DEBUG, logger="geogate")
    path = _corrupt_data_section(country_path, tmp_path / "corrupt.mmdb")
    with GeoDatabase(path) as db:
        results = [db.lookup(ip) for ip in ("81.2.69.1", "81.2.69.1", "89.160.20.1", "::1")]
    assert [
        GeoResult(
            INVALID,
            ip="81.2.69.1",
            problem="the GeoIP database could not be read for the address '81.2.69.1'",
        ),
        GeoResult(
            INVALID,
            ip="81.2.69.1",
            problem="the GeoIP database could not be read for the address '81.2.69.1'",
        ),
        GeoResult(
            INVALID,
            ip="89.160.20.1",
            problem="the GeoIP database could not be read for the address '89.160.20.1'",
        ),
    ] == results[:3]
    assert "not in the GeoIP database" in (results[3].problem or "")
    # One error, then quieter: a damaged file must not flood the log at request rate.
    assert [logging.ERROR, logging.DEBUG] == [r.levelno for r in caplog.records]
    assert "InvalidDatabaseError" in caplog.records[0].getMessage()
    assert (
        caplog.records[0].getMessage().endswith("; further read errors are logged at DEBUG level")
    )


class _ExplodingReader:
    """A reader whose lookups fail in a way nobody planned for."""

    def __init__(self, reader):
        self._reader = reader

    def get_with_prefix_len(self, ip):
        raise MemoryError(ip)


def _reader_of(db: GeoDatabase):
    """The reader of the file *db* has open (tests swap it for a wrapper)."""
    return db._live[0].reader


def _set_reader(db: GeoDatabase, reader) -> None:
    db._live[0].reader = reader


def test_unexpected_reader_error(country_path):
    """Even an error outside the usual ones (here MemoryError) gives INVALID (an error)."""
    db = GeoDatabase(country_path)
    _set_reader(db, _ExplodingReader(_reader_of(db)))
    with db:
        assert GeoResult(
            INVALID,
            ip="81.2.69.1",
            problem="the GeoIP database could not be read for the address '81.2.69.1'",
        ) == db.lookup("81.2.69.1")


# --- Cache -----------------------------------------------------------------------------------


class _CountingReader:
    """Wrap the database reader, counting the lookups that reach it."""

    def __init__(self, reader):
        self._reader = reader
        self.calls = 0

    def get_with_prefix_len(self, ip):
        self.calls += 1
        return self._reader.get_with_prefix_len(ip)


def _counting(db: GeoDatabase) -> _CountingReader:
    counting = _CountingReader(_reader_of(db))
    _set_reader(db, counting)
    return counting


def test_cache_serves_hot_addresses(country_path):
    """A hot mix of a few thousand addresses reaches the reader once per address."""
    hot = [f"81.2.69.{i}" for i in range(256)] + [f"2001:db8::{i:x}" for i in range(2000)]
    with GeoDatabase(country_path) as db:
        counting = _counting(db)
        first = [db.lookup(ip) for ip in hot]
        for _ in range(5):
            assert first == [db.lookup(ip) for ip in hot]
        assert len(hot) == counting.calls
        info = db.cache_info()
        assert (5 * len(hot), len(hot), 65_536, len(hot)) == (
            info.hits,
            info.misses,
            info.maxsize,
            info.currsize,
        )


def test_cache_is_keyed_by_the_raw_string(country_path):
    """Two spellings of one address are two cache entries, with the same answer."""
    with GeoDatabase(country_path) as db:
        counting = _counting(db)
        assert db.lookup("2001:db8::1") == db.lookup("2001:DB8::1")
        assert 2 == counting.calls


def test_cache_clear(country_path):
    """cache_clear empties the cache, so the next lookups reach the reader again."""
    with GeoDatabase(country_path) as db:
        counting = _counting(db)
        db.lookup("81.2.69.1")
        db.cache_clear()
        assert 0 == db.cache_info().currsize
        db.lookup("81.2.69.1")
        assert 2 == counting.calls


def test_cache_is_bounded(country_path):
    """The cache holds at most cache_size entries."""
    with GeoDatabase(country_path, cache_size=8) as db:
        for i in range(100):
            db.lookup(f"81.2.69.{i}")
        assert 8 == db.cache_info().currsize


def test_cache_disabled(country_path):
    """cache_size=0 sends every lookup to the reader."""
    with GeoDatabase(country_path, cache_size=0) as db:
        counting = _counting(db)
        for _ in range(3):
            assert "GB" == db.lookup("81.2.69.1").country
        assert 3 == counting.calls
        assert 0 == db.cache_info().currsize


def test_long_strings_never_reach_the_cache(country_path):
    """Strings longer than any address are refused before the cache: it stays small in bytes."""
    with GeoDatabase(country_path) as db:
        for n in range(300):
            value = f"{n:03d}" + "1" * 999_997
            assert GeoResult(
                INVALID,
                problem=f"the IP address '{value[:36]}... is longer than any IP address "
                "(1000000 characters, at most 45)",
            ) == db.lookup(value)
        info = db.cache_info()
        assert (0, 0, 0) == (info.hits, info.misses, info.currsize)


def test_long_inputs_of_other_types_never_reach_the_cache(country_path):
    """A long str subclass, and an IPv6 address with a long zone id, are not cached either."""

    class Text(str):
        __slots__ = ()

    zoned = ipaddress.IPv6Address("fe80::1%" + "x" * 1_000_000)
    with GeoDatabase(country_path) as db:
        assert INVALID == db.lookup(Text("1" * 1_000_000)).status
        assert GeoResult(
            INVALID,
            problem="the IP address 'fe80::1%" + "x" * 28 + "... has an IPv6 zone "
            "id, which only a link-local address has, never a client's public address",
        ) == db.lookup(zoned)
        assert 0 == db.cache_info().currsize
        assert "GB" == db.lookup(Text("81.2.69.1")).country
        assert "GB" == db.lookup(ipaddress.IPv4Address("81.2.69.1")).country
        assert 2 == db.cache_info().currsize


def test_cache_off_for_subclasses_too(country_path):
    """cache=False and network=False hold for a str subclass and an address object as well."""

    class Text(str):
        __slots__ = ()

    with GeoDatabase(country_path) as db:
        for value in (Text("81.2.69.1"), ipaddress.IPv4Address("81.2.69.1")):
            assert GeoResult(KNOWN, country="GB", ip="81.2.69.1") == db.lookup(
                value, cache=False, network=False
            )
        assert 0 == db.cache_info().currsize


def test_unhashable_input_does_not_break_the_cache(shared_country_db):
    """Lists, dicts and sets are refused before the cache sees them."""
    for value in ([1], {"a": 1}, {1}, bytearray(b"1")):
        assert INVALID == shared_country_db.lookup(value).status
    assert "GB" == shared_country_db.lookup("81.2.69.1").country


# --- Threads and properties ------------------------------------------------------------------


@pytest.mark.slow
def test_thread_safety(country_path):
    """Many threads looking up a shared mix get the same answers as one thread."""
    mix = [f"81.2.69.{i}" for i in range(64)] + ["2001:db8::1", "10.0.0.1", "x", None, "214.1.1.1"]
    with GeoDatabase(country_path, cache_size=16) as db:  # small: entries are evicted under load
        expected = [db.lookup(ip) for ip in mix]
        failures: list[object] = []
        barrier = threading.Barrier(16)

        def work(offset: int) -> None:
            barrier.wait()
            for round_ in range(40):
                ips = mix[offset + round_ :] + mix[: offset + round_]
                got = [db.lookup(ip) for ip in ips]
                want = expected[offset + round_ :] + expected[: offset + round_]
                if got != want:
                    failures.append((offset, round_))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [] == failures


ANYTHING = st.one_of(
    st.text(),
    st.text(alphabet="0123456789abcdefABCDEF:.%[] \t\n/,-"),
    st.binary(),
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.ip_addresses().map(str),
    st.ip_addresses(),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.lists(st.integers()),
    st.dictionaries(st.text(), st.integers()),
)


@examples(500)
@given(value=ANYTHING)
def test_never_raises(shared_country_db, value):
    """lookup never raises, and its answer is consistent with its status."""
    result = shared_country_db.lookup(value)
    assert isinstance(result, GeoResult)
    if result.status is KNOWN:
        assert result.country is not None
        assert result.problem is None
        assert result.ip is not None
    else:
        assert result.country is None
        assert result.problem
    if result.status is INVALID:
        assert result.ip is None


@examples(300)
@given(address=st.ip_addresses(v=4))
def test_mapped_and_plain_agree(shared_country_db, address):
    """An IPv4 address and its IPv4-mapped IPv6 form always give the same answer."""
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert shared_country_db.lookup(str(address)) == shared_country_db.lookup(str(mapped))


@examples(300)
@given(address=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_network_agrees_with_geoip2(country_path, shared_country_db, address):
    """The network geogate reports is the one geoip2's traits.network gives."""
    result = shared_country_db.lookup(str(address))
    if result.status is INVALID or result.ip is None:
        return
    with geoip2.database.Reader(str(country_path)) as reader:
        try:
            expected = str(reader.country(result.ip).traits.network)
        except geoip2.errors.AddressNotFoundError as error:
            expected = str(error.network)
        except (TypeError, ValueError):  # records of the wrong shape: not compared
            return
    assert expected == result.network
