"""
Conformance of geogate._locate.geo with MaxMind's official test databases.

The databases come from the public maxmind/MaxMind-DB repository (see the
README beside them). They live outside this repository, in
``../shared/testdata/maxmind/``, or wherever $GEOGATE_MAXMIND_TESTDATA points.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from geogate._locate.geo import GeoDatabase, GeoResult
from geogate._world.countries import LocationStatus
from geogate.exceptions import GeoDatabaseError
from helpers.paths import ROOT

KNOWN = LocationStatus.KNOWN
UNKNOWN = LocationStatus.UNKNOWN

TESTDATA = Path(
    os.environ.get("GEOGATE_MAXMIND_TESTDATA") or ROOT.parent / "shared" / "testdata" / "maxmind"
)

if not (TESTDATA / "GeoIP2-Country-Test.mmdb").is_file():
    pytest.skip(
        f"MaxMind's test databases are not in {str(TESTDATA)!r}: copy the test-data folder "
        "of github.com/maxmind/MaxMind-DB there, or set $GEOGATE_MAXMIND_TESTDATA",
        allow_module_level=True,
    )

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


@pytest.fixture(scope="module", params=["GeoIP2-Country-Test", "GeoLite2-Country-Test"])
def country_db(request):
    with GeoDatabase(TESTDATA / f"{request.param}.mmdb") as db:
        yield db


@pytest.fixture(scope="module")
def city_db():
    with GeoDatabase(TESTDATA / "GeoIP2-City-Test.mmdb") as db:
        yield db


def test_types():
    """The official databases open with their own types and the right kind."""
    kinds = {}
    for name in ("GeoIP2-Country-Test", "GeoLite2-Country-Test", "GeoIP2-City-Test"):
        with GeoDatabase(TESTDATA / f"{name}.mmdb") as db:
            kinds[name] = (db.database_type, db.kind)
    assert {
        "GeoIP2-Country-Test": ("GeoIP2-Country", "country"),
        "GeoLite2-Country-Test": ("GeoLite2-Country", "country"),
        "GeoIP2-City-Test": ("GeoIP2-City", "city"),
    } == kinds


@pytest.mark.parametrize(
    ("ip", "country", "network"),
    [
        # country GB, registered_country US
        ("81.2.69.160", "GB", "81.2.69.160/27"),
        ("::ffff:81.2.69.160", "GB", "81.2.69.160/27"),
        # country GB, registered_country FR
        ("2.125.160.216", "GB", "2.125.160.216/29"),
        # country SE, registered_country DE
        ("89.160.20.112", "SE", "89.160.20.112/28"),
        # country BT, registered_country RO
        ("67.43.156.1", "BT", "67.43.156.0/24"),
        # country US, registered_country GB
        ("216.160.83.56", "US", "216.160.83.56/29"),
        # country PH, represented_country US (a military base)
        ("202.196.224.1", "PH", "202.196.224.0/20"),
    ],
)
def test_country_not_registered_country(country_db, ip, country, network):
    """Where country and registered_country differ, the location is the country."""
    expected = GeoResult(KNOWN, country=country, ip=ip.removeprefix("::ffff:"), network=network)
    assert expected == country_db.lookup(ip)


def test_registered_country_differs_in_the_data():
    """The trap exists in the official data: the record says GB, registered US."""
    import geoip2.database  # noqa: PLC0415 (only this test reads the raw record)

    with geoip2.database.Reader(str(TESTDATA / "GeoIP2-Country-Test.mmdb")) as reader:
        response = reader.country("81.2.69.160")
    assert ("GB", "US") == (response.country.iso_code, response.registered_country.iso_code)


def test_continent_only(country_db):
    """2a02:d500::/29 has only a continent (EU): an unknown location."""
    assert GeoResult(
        UNKNOWN,
        ip="2a02:d500::1",
        network="2a02:d500::/29",
        problem="the GeoIP database gives no country for the address '2a02:d500::1' "
        "(only the continent 'EU')",
    ) == country_db.lookup("2a02:d500::1")


def test_anycast_without_country():
    """GeoIP2-Country-Test's 214.1.1.0/24 is anycast with no country: unknown."""
    with GeoDatabase(TESTDATA / "GeoIP2-Country-Test.mmdb") as db:
        assert GeoResult(
            UNKNOWN,
            ip="214.1.1.1",
            network="214.1.1.0/24",
            problem="the GeoIP database gives no country for the address '214.1.1.1' "
            "(an anycast network)",
        ) == db.lookup("214.1.1.1")


@pytest.mark.parametrize("ip", ["10.0.0.1", "127.0.0.1", "1.1.1.1", "::1", "2001:db8::1"])
def test_not_found(country_db, ip):
    """Addresses the database does not hold are UNKNOWN, with the empty network around them."""
    result = country_db.lookup(ip)
    assert (UNKNOWN, ip, f"the address {ip!r} is not in the GeoIP database") == (
        result.status,
        result.ip,
        result.problem,
    )
    assert result.network is not None


@pytest.mark.parametrize(
    ("ip", "country", "subdivision"),
    [
        ("81.2.69.160", "GB", "GB-ENG"),
        ("2.125.160.216", "GB", "GB-WBK"),  # [ENG, WBK]: the most specific
        ("89.160.20.112", "SE", "SE-E"),
        ("216.160.83.56", "US", "US-WA"),  # registered_country GB
        ("214.78.120.1", "US", "US-CA"),
        ("2001:480:10::1", "US", "US-CA"),
        ("214.0.1.1", "AU", "AU-VIC"),
        ("175.16.199.1", "CN", None),  # MaxMind's '22' is the pre-2017 ISO code of Jilin
        ("67.43.156.1", "BT", None),  # no subdivisions
        ("202.196.224.1", "PH", None),
    ],
)
def test_city_subdivisions(city_db, ip, country, subdivision):
    """City lookups give the country and the most specific valid ISO 3166-2 code."""
    result = city_db.lookup(ip)
    assert (KNOWN, country, subdivision) == (result.status, result.country, result.subdivision)


@pytest.mark.parametrize(
    ("ip", "why"),
    [("2.3.3.3", "only the continent 'EU'"), ("214.1.1.1", "an anycast network")],
)
def test_city_without_country(city_db, ip, why):
    """City records without a country are UNKNOWN."""
    result = city_db.lookup(ip)
    assert (UNKNOWN, f"the GeoIP database gives no country for the address {ip!r} ({why})") == (
        result.status,
        result.problem,
    )


def test_anonymous_ip_is_refused():
    """GeoIP2-Anonymous-IP is neither a Country nor a City database."""
    path = str(TESTDATA / "GeoIP2-Anonymous-IP-Test.mmdb")
    with pytest.raises(GeoDatabaseError) as info:
        GeoDatabase(path)
    assert (
        f"the GeoIP database {path!r} is of type 'GeoIP2-Anonymous-IP', not a Country or "
        "City database; give the path of a GeoIP2 or GeoLite2 Country or City database, or "
        "of a DB-IP Lite Country or City database"
    ) == str(info.value)


CORRUPT = [
    "invalid-data-record-offset",
    "libmaxminddb-corrupt-search-tree",
    "bad-unicode-in-map-key",
]
PROBES = ["1.1.1.1", "1.1.1.32", "0.0.0.1", "128.0.0.1", "255.255.255.255", "::1", "x"]


@pytest.mark.parametrize("name", CORRUPT)
def test_corrupt_databases_are_refused(name):
    """As shipped, each corrupt database is refused at construction (bad, or of type 'Test')."""
    with pytest.raises(GeoDatabaseError):
        GeoDatabase(TESTDATA / f"{name}.mmdb")


def _as_city(name: str, tmp_path: Path) -> Path:
    """Copy a corrupt database, its metadata type 'Test' relabelled 'City' (same length)."""
    data = (TESTDATA / f"{name}.mmdb").read_bytes()
    start = data.rfind(METADATA_MARKER)
    head, meta = data[:start], data[start:]
    # b"D" is the control byte of a 4-byte UTF-8 string in the MaxMind DB format.
    target = tmp_path / f"{name}.mmdb"
    target.write_bytes(head + meta.replace(b"Mdatabase_typeDTest", b"Mdatabase_typeDCity", 1))
    return target


@pytest.mark.parametrize("name", CORRUPT)
def test_corrupt_databases_never_raise(name, tmp_path, caplog):
    """Relabelled City to pass the type check, each is either refused or never raises."""
    caplog.set_level(logging.DEBUG, logger="geogate")
    path = _as_city(name, tmp_path)
    try:
        db = GeoDatabase(path)
    except GeoDatabaseError as error:
        refusal = str(error)
    else:
        with db:
            assert "City" == db.database_type
            results = [db.lookup(ip) for ip in PROBES]
        assert all(r.status is not KNOWN for r in results), results
        assert all(r.problem for r in results)
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) <= 1
        return
    assert "is not a valid MaxMind DB file" in refusal


def test_corrupt_outcomes(tmp_path):
    """What each corrupt database does once relabelled (pinned so that a change is noticed)."""
    outcomes = {}
    for name in CORRUPT:
        try:
            db = GeoDatabase(_as_city(name, tmp_path))
        except GeoDatabaseError:
            outcomes[name] = "refused"
            continue
        with db:
            outcomes[name] = sorted(
                {(r.problem or "").split(" for ")[0] for r in map(db.lookup, PROBES[:5])}
            )
    assert {
        "invalid-data-record-offset": "refused",
        # The search tree is corrupt for libmaxminddb, not for the Python readers: every
        # address finds {'ip': 'test'}, a record without a country.
        "libmaxminddb-corrupt-search-tree": ["the GeoIP database gives no country"],
        # Tree errors, and a UnicodeDecodeError (not an InvalidDatabaseError) for 255.255.255.255.
        "bad-unicode-in-map-key": ["the GeoIP database could not be read"],
    } == outcomes


# --- Reopening ------------------------------------------------------------------------------


def _install(name: str, path: Path) -> None:
    """Put a copy of an official database at *path* as geoipupdate does: aside, then renamed."""
    shutil.copyfile(TESTDATA / f"{name}.mmdb", path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)


def test_reopen(tmp_path):
    """Country replaced by City reopens as City; Anonymous-IP and corrupt ones are refused."""
    path = tmp_path / "GeoIP.mmdb"
    _install("GeoIP2-Country-Test", path)
    with GeoDatabase(path) as db:
        assert ("GeoIP2-Country", "GB", None) == (
            db.database_type,
            db.lookup("81.2.69.160").country,
            db.lookup("81.2.69.160").subdivision,
        )
        _install("GeoIP2-City-Test", path)
        assert db.reopen()
        city = ("GeoIP2-City", "city", "GB-ENG")
        assert city == (db.database_type, db.kind, db.lookup("81.2.69.160").subdivision)
        for refused in ("GeoIP2-Anonymous-IP-Test", *CORRUPT):
            _install(refused, path)
            with pytest.raises(GeoDatabaseError):
                db.reopen()
            assert city == (db.database_type, db.kind, db.lookup("81.2.69.160").subdivision)
