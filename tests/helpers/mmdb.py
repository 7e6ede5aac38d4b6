"""
Build small MaxMind DB files for tests and benchmarks, with mmdb-writer.

The records are plain GeoIP2-shaped dictionaries, keyed by network::

    write_country_db(
        tmp_path / "country.mmdb",
        {
            "81.2.69.0/24": country_record("GB", registered="US"),
            "2a02:d500::/29": {"continent": {"code": "EU"}},
        },
    )

IPv4 networks in an IPv6 database are stored where MaxMind stores them, in
``::/96``, which is also where readers look IPv4 addresses up. Unlike MaxMind's
own databases, these have no alias for ``::ffff:0:0/96``: an IPv4-mapped
address is only found if the caller maps it to IPv4 first, or if a record is
written for ``::ffff:0:0/96`` itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter  # type: ignore[import-untyped]
from netaddr import IPSet

__all__ = [
    "city_record",
    "country_record",
    "write_city_db",
    "write_country_db",
    "write_db",
]

_CONTINENTS = {
    "AU": "OC",
    "BT": "AS",
    "CN": "AS",
    "JP": "AS",
    "PH": "AS",
    "CA": "NA",
    "US": "NA",
}


def country_record(
    country: str | None,
    *,
    registered: str | None = None,
    continent: str | None = None,
    in_eu: bool | None = None,
) -> dict[str, Any]:
    """
    Return a GeoIP2 Country record.

    *registered* defaults to *country*; *continent* to a guess (``EU`` for
    countries not listed in ``_CONTINENTS``).
    """
    record: dict[str, Any] = {}
    if country is not None:
        record["country"] = {"iso_code": country, "names": {"en": country}}
        if in_eu is not None:
            record["country"]["is_in_european_union"] = in_eu
        record["continent"] = {"code": continent or _CONTINENTS.get(country, "EU")}
    elif continent is not None:
        record["continent"] = {"code": continent}
    registered = registered or country
    if registered is not None:
        record["registered_country"] = {"iso_code": registered}
    return record


def city_record(
    country: str | None,
    subdivisions: tuple[str, ...] | list[str] = (),
    *,
    registered: str | None = None,
    city: str | None = None,
) -> dict[str, Any]:
    """Return a GeoIP2 City record; *subdivisions* largest first, as MaxMind orders them."""
    record = country_record(country, registered=registered)
    if subdivisions:
        record["subdivisions"] = [
            {"iso_code": code, "names": {"en": code}} for code in subdivisions
        ]
    if city is not None:
        record["city"] = {"names": {"en": city}}
    return record


def write_db(
    path: str | Path,
    records: dict[str, dict[str, Any]],
    *,
    database_type: str,
    ip_version: int = 6,
) -> Path:
    """Write *records* (network or address -> record) as a MaxMind DB at *path*."""
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=["en"],
        description={"en": f"geogate test {database_type} database"},
        ipv4_compatible=ip_version == 6,
    )
    for network, record in records.items():
        writer.insert_network(IPSet([network]), record)
    path = Path(path)
    writer.to_db_file(str(path))
    return path


def write_country_db(
    path: str | Path,
    records: dict[str, dict[str, Any]],
    *,
    database_type: str = "GeoIP2-Country",
    ip_version: int = 6,
) -> Path:
    """Write a Country database (*database_type* must contain ``Country``)."""
    assert "Country" in database_type, database_type
    return write_db(path, records, database_type=database_type, ip_version=ip_version)


def write_city_db(
    path: str | Path,
    records: dict[str, dict[str, Any]],
    *,
    database_type: str = "GeoIP2-City",
    ip_version: int = 6,
) -> Path:
    """Write a City database (*database_type* must contain ``City``)."""
    assert "City" in database_type, database_type
    return write_db(path, records, database_type=database_type, ip_version=ip_version)
