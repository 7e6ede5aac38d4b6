"""
Fixtures the web integrations' tests share: a GeoIP database, a gate that uses it, and an OFREP
server on loopback.
"""

from __future__ import annotations

import threading
import time

import pytest

from geogate import Gate
from helpers.mmdb import country_record, write_country_db
from helpers.ofrep_spec import SpecCheckingApp
from helpers.paths import POLICIES

#: Seconds uvicorn may take to start (and to stop).
STARTUP_SECONDS = 10


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


@pytest.fixture(scope="module")
def ofrep_server(gate):
    """
    Serve `gate` over OFREP with uvicorn on a free loopback port, in a thread.

    Yields the `SpecCheckingApp` it serves, with its ``url`` set: every response is checked
    against the protocol's schemas, ``problems`` lists those that broke them (the tests
    assert it is empty), and the teardown fails if any remain. The peer 127.0.0.1 is a
    trusted proxy, so a ``CF-IPCountry`` header locates requests without a location in
    their context.
    """
    uvicorn = pytest.importorskip("uvicorn")
    from geogate.ofrep import create_app  # noqa: PLC0415 (the serve extra)

    checking = SpecCheckingApp(
        create_app(gate, providers=["cloudflare"], trusted_proxies=["127.0.0.1/32"])
    )
    # Port 0: the system picks a free port; the bound socket says which.
    config = uvicorn.Config(
        checking, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not served.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            served.should_exit = True
            pytest.fail("uvicorn did not start on loopback")
        time.sleep(0.01)
    port = served.servers[0].sockets[0].getsockname()[1]
    try:
        checking.url = f"http://127.0.0.1:{port}"
        yield checking
    finally:
        served.should_exit = True
        thread.join(STARTUP_SECONDS)
    assert [] == checking.problems, "OFREP responses that break the protocol's schemas"
    assert checking.checked > 0
