"""Gate.evaluate(ip=...): the GeoIP path, its precedence, its errors and its memo."""

from __future__ import annotations

import datetime as dt

import pytest

import geogate._gate.gate
import geogate._gate.slowpath
from geogate import ErrorCode, Gate, GeoDatabaseError, LocationStatus, Reason
from geogate._locate.request import RequestResolver
from geogate._web.context import handling
from helpers.mmdb import city_record, country_record, write_city_db, write_country_db
from helpers.paths import POLICIES

FEATURE = "llama-3.2-vision"
AT = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def country_db(tmp_path_factory):
    return write_country_db(
        tmp_path_factory.mktemp("geo") / "country.mmdb",
        {
            "81.2.69.0/24": country_record("GB", registered="US"),
            "89.160.20.0/24": country_record("SE", registered="DE", in_eu=True),
            "2a02:d500::/29": {
                "continent": {"code": "EU"},
                "country": {"is_in_european_union": True},
            },
        },
    )


@pytest.fixture(scope="module")
def gate(country_db):
    return Gate.from_path(POLICIES, geoip_db=country_db)


def test_ip_located_by_country_not_registered_country(gate):
    """81.2.69.x is GB (registered in the US): allowed, located by GeoIP."""
    decision = gate.evaluate(FEATURE, ip="81.2.69.160", at=AT)

    assert (True, "GB", "geoip", "uk-multimodal-offered") == (
        decision.allowed,
        decision.country,
        decision.location_source,
        decision.rule,
    )


def test_ip_in_the_eu_is_denied(gate):
    """89.160.20.x is SE: the EU rule denies it."""
    decision = gate.evaluate(FEATURE, ip="89.160.20.112", at=AT)

    assert (False, "SE", "eu-multimodal-withheld") == (
        decision.allowed,
        decision.country,
        decision.rule,
    )


def test_record_without_country_is_unknown(gate):
    """A continent-only record in the EU is still an unknown location: deny, explained."""
    decision = gate.evaluate(FEATURE, ip="2a02:d500::1", at=AT)

    assert (False, LocationStatus.UNKNOWN, Reason.DEFAULT, None) == (
        decision.allowed,
        decision.location,
        decision.reason,
        decision.error_code,
    )
    assert decision.explanation.endswith(
        "The GeoIP database gives no country for the address '2a02:d500::1' "
        "(only the continent 'EU')."
    )


def test_address_not_found_is_unknown(gate):
    """A private address is not in the database: unknown, denied."""
    decision = gate.evaluate(FEATURE, ip="10.1.2.3", at=AT)

    assert (False, LocationStatus.UNKNOWN) == (decision.allowed, decision.location)
    assert "not in the GeoIP database" in decision.explanation


@pytest.mark.parametrize("ip", [" 81.2.69.160", "81.2.69.160:443", "[::1]", "garbage", 42, b"x"])
def test_malformed_ip_is_invalid_context(gate, ip):
    """A malformed address denies with INVALID_CONTEXT, whatever the feature's unknown says."""
    decision = gate.evaluate(FEATURE, ip=ip, at=AT)

    assert (False, Reason.ERROR, ErrorCode.INVALID_CONTEXT) == (
        decision.allowed,
        decision.reason,
        decision.error_code,
    )


def test_mapped_ipv6_is_the_ipv4_address(gate):
    """::ffff:81.2.69.160 is looked up as 81.2.69.160."""
    assert "GB" == gate.evaluate(FEATURE, ip="::ffff:81.2.69.160", at=AT).country


def test_explicit_country_beats_ip(gate):
    """An explicit country given by the application wins over the IP."""
    decision = gate.evaluate(FEATURE, country="FR", ip="81.2.69.160", at=AT)

    assert ("FR", "explicit", False) == (
        decision.country,
        decision.location_source,
        decision.allowed,
    )


def test_ip_beats_the_request_location(gate):
    """An ip= argument wins over the location of the request being handled."""
    resolver = RequestResolver()
    request = resolver.resolve([], None, country="FR")
    with handling(request, gate):
        assert "GB" == gate.evaluate(FEATURE, ip="81.2.69.160", at=AT).country
        assert "FR" == gate.evaluate(FEATURE, at=AT).country


def test_ip_without_database_is_an_error(monkeypatch):
    """ip= on a gate without a GeoIP database denies and says how to configure one."""
    monkeypatch.delenv("GEOGATE_GEOIP_DB", raising=False)
    gate = Gate.from_path(POLICIES)

    decision = gate.evaluate(FEATURE, ip="81.2.69.160", at=AT)

    assert (False, Reason.ERROR, ErrorCode.GENERAL) == (
        decision.allowed,
        decision.reason,
        decision.error_code,
    )
    assert "the gate has no GeoIP database" in decision.explanation


def test_database_from_environment(country_db, monkeypatch):
    """$GEOGATE_GEOIP_DB is used when geoip_db= is not given."""
    monkeypatch.setenv("GEOGATE_GEOIP_DB", str(country_db))

    gate = Gate.from_path(POLICIES)

    assert gate.geoip is not None
    assert "GB" == gate.evaluate(FEATURE, ip="81.2.69.1", at=AT).country


def test_bad_database_fails_at_construction(tmp_path):
    """A missing database fails when the gate is built, naming the path."""
    missing = tmp_path / "nope.mmdb"

    with pytest.raises(GeoDatabaseError, match="does not exist"):
        Gate.from_path(POLICIES, geoip_db=missing)


def test_city_subdivision_rules(tmp_path):
    """A City database gives the subdivision, so subdivision rules decide."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: nir-deny, deny: [GB-NIR], reason: r}\n",
        encoding="utf-8",
    )
    db = write_city_db(
        tmp_path / "city.mmdb",
        {
            "81.2.69.0/24": city_record("GB", ["NIR", "BFS"]),
            "2.125.160.0/24": city_record("GB", ["ENG"]),
        },
    )
    gate = Gate.from_path(tmp_path / "p.yaml", geoip_db=db)

    belfast = gate.evaluate("f", ip="81.2.69.1", at=AT)
    england = gate.evaluate("f", ip="2.125.160.216", at=AT)

    assert (False, "GB-BFS", "nir-deny") == (belfast.allowed, belfast.subdivision, belfast.rule)
    assert (True, "GB-ENG") == (england.allowed, england.subdivision)


def test_memo_by_address_equals_the_slow_path(gate):
    """Today's memo by address gives what a decision at today's date gives."""
    today = dt.datetime.now(dt.UTC).date()
    for ip in ("81.2.69.160", "89.160.20.112", "2a02:d500::1", "10.0.0.1"):
        slow = gate.evaluate(FEATURE, ip=ip, at=today)
        assert [slow] * 3 == [gate.evaluate(FEATURE, ip=ip) for _ in range(3)]
        assert slow.allowed is gate.is_allowed(FEATURE, ip=ip)


def test_memo_by_address_does_not_leak_into_country(gate):
    """An ip that spells a country code is not mistaken for that country."""
    assert gate.is_allowed(FEATURE, country="GB")
    decision = gate.evaluate(FEATURE, ip="GB")
    assert (False, ErrorCode.INVALID_CONTEXT) == (decision.allowed, decision.error_code)


def test_memo_by_address_is_bounded(gate, monkeypatch):
    """The memo by address is emptied when it reaches its bound."""
    monkeypatch.setattr(geogate._gate.slowpath, "_MAX_MEMO", 4)
    for i in range(10):
        gate.evaluate(FEATURE, ip=f"81.2.69.{i}")
    assert sum(len(row) for row in gate._by_ip.values()) <= 4


def test_memo_by_address_rolls_over_at_midnight(tmp_path, country_db, monkeypatch):
    """A decision memoised by address is not served after midnight UTC."""
    (tmp_path / "p.yaml").write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: gb-until-new-year, deny: [GB], until: 2030-01-01, reason: r}\n",
        encoding="utf-8",
    )
    clock = [dt.datetime(2030, 1, 1, 23, 59, 59, tzinfo=dt.UTC).timestamp()]
    monkeypatch.setattr(geogate._gate.gate, "_now", lambda: clock[0])
    gate = Gate.from_path(tmp_path, geoip_db=country_db)

    assert [False, False] == [gate.is_allowed("f", ip="81.2.69.160") for _ in range(2)]
    clock[0] += 1
    assert gate.is_allowed("f", ip="81.2.69.160")


def test_a_database_that_cannot_be_read_denies_even_with_unknown_allow(tmp_path, country_db):
    """
    A closed or failing database is an error, not an unknown place: ``unknown: allow`` is moot.

    Before, a closed gate (or a corrupt record) gave an unknown location, which such a
    feature allowed for every address.
    """
    policy = tmp_path / "lenient.yaml"
    policy.write_text(
        "features:\n  lenient:\n    default: allow\n    unknown: allow\n    rules:\n"
        "      - {id: eu, deny: [EU], reason: Withheld in the EU.}\n",
        encoding="utf-8",
    )
    gate = Gate.from_path(policy, geoip_db=country_db)
    assert gate.evaluate("lenient", ip="10.9.9.9").allowed  # not in the database: unknown
    gate.close()
    decision = gate.evaluate("lenient", ip="89.160.20.112")
    assert (False, LocationStatus.INVALID, ErrorCode.INVALID_CONTEXT, "geoip") == (
        decision.allowed,
        decision.location,
        decision.error_code,
        decision.location_source,
    )
    assert "was closed" in decision.explanation


def test_a_part_of_a_country_from_the_database(tmp_path):
    """A record whose country is IC (the Canary Islands) is ES-CN, in the EU."""
    db = write_country_db(tmp_path / "c.mmdb", {"81.2.69.0/24": country_record("IC")})
    gate = Gate.from_path(POLICIES, geoip_db=db)
    decision = gate.evaluate(FEATURE, ip="81.2.69.1", at=AT)
    assert (False, "ES", "ES-CN", "eu-multimodal-withheld") == (
        decision.allowed,
        decision.country,
        decision.subdivision,
        decision.rule,
    )


def test_a_database_region_never_moves_the_country(tmp_path):
    """
    A City record FR with subdivision 974 (Réunion, RE) is decided as FR, as the middleware does.

    Before, ``evaluate(ip=...)`` moved it to RE while the middleware kept FR.
    """
    db = write_city_db(tmp_path / "city.mmdb", {"10.1.0.0/16": city_record("FR", ["974"])})
    policy = tmp_path / "f.yaml"
    policy.write_text(
        "features:\n  f:\n    default: allow\n    rules:\n"
        "      - {id: fr, deny: [FR], reason: r}\n",
        encoding="utf-8",
    )
    gate = Gate.from_path(policy, geoip_db=db)
    decision = gate.evaluate("f", ip="10.1.0.1")
    assert (False, "FR", None, "fr") == (
        decision.allowed,
        decision.country,
        decision.subdivision,
        decision.rule,
    )
    where = RequestResolver(geoip=gate.geoip).resolve({}, "10.1.0.1")
    with handling(where, gate):
        assert decision.allowed == gate.evaluate("f").allowed
