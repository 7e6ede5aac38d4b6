"""Fixtures the web integrations' tests share: a GeoIP database and a gate that uses it."""

from __future__ import annotations

import pytest

from geogate import Gate
from helpers.mmdb import country_record, write_country_db
from helpers.paths import POLICIES


@pytest.fixture(scope="module")
def country_db(tmp_path_factory):
    """A Country database: 81.2.69.0/24 is GB, 89.160.20.0/24 SE (in the EU), 216.160.83.0/24 US."""
    return write_country_db(
        tmp_path_factory.mktemp("geo") / "country.mmdb",
        {
            "81.2.69.0/24": country_record("GB"),
            "89.160.20.0/24": country_record("SE", in_eu=True),
            "216.160.83.0/24": country_record("US"),
        },
    )


@pytest.fixture(scope="module")
def gate(country_db):
    """A gate on the shipped policies that locates addresses with `country_db`."""
    return Gate.from_path(POLICIES, geoip_db=country_db)
