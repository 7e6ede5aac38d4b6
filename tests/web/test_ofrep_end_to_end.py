"""
The OFREP server end to end: a real uvicorn on loopback, asked by the official Python client.

The client is OpenFeature's own OFREP provider (``openfeature-provider-ofrep``)
behind the OpenFeature SDK, so this is what an application in any language
sees: the same answers as ``gate.evaluate`` for every feature and a sample
of places (unknown and invalid ones included), FLAG_NOT_FOUND for an unknown
flag, and only reasons the protocol defines. Every response the server sends
is checked against the protocol's schemas (the ``ofrep_server`` fixture).
"""

from __future__ import annotations

import json

import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from geogate.ofrep import _REASONS
from helpers.paths import POLICIES

pytestmark = pytest.mark.slow  # a uvicorn server on loopback, the SDK over HTTP

DOMAIN = "geogate-ofrep-e2e"
#: The reasons the protocol's success body may carry.
PROTOCOL_REASONS = {"STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "UNKNOWN"}
#: Places as evaluation contexts: known, split, located by address, unknown, invalid, wrong types.
PLACES = [
    {"country": "FR"},
    {"country": "DE"},
    {"country": "GB"},
    {"country": "US"},
    {"country": "CN"},
    {"country": "RE"},
    {"country": "GL"},
    {"subdivision": "FR-974"},
    {"subdivision": "GB-NIR"},
    {"country": "US", "domicile": "DE"},
    {"ip": "81.2.69.160"},
    {"ip": "89.160.20.112"},
    {"ip": "192.0.2.1"},
    {"country": "XX"},
    {"country": "GER"},
    {"country": 42},
    {"country": ["FR"]},
    {"country": {"code": "FR"}},
    {"country": True},
    {"subdivision": "FR-Z_Z"},
    {"country": "FR", "domicile": 42},
    {"ip": "not an address"},
]


def client_for(base_url: str, headers: dict[str, str] | None = None):
    provider = OFREPProvider(
        base_url, timeout=5.0, headers_factory=(lambda: headers) if headers else None
    )
    api.set_provider(provider, domain=DOMAIN)
    return provider, api.get_client(DOMAIN)


@pytest.fixture
def of_client(ofrep_server):
    provider, client = client_for(ofrep_server.url)
    yield client
    api.clear_providers()
    provider.session.close()
    assert [] == ofrep_server.problems


@pytest.mark.parametrize("place", PLACES, ids=repr)
def test_same_answers_as_the_gate(of_client, gate, place):
    """Every feature at each place: the client gets what gate.evaluate says, never its default."""
    context = EvaluationContext(attributes=place)
    for feature in gate.features:
        decision = gate.evaluate(feature, **place)
        details = of_client.get_boolean_details(
            feature, default_value=True, evaluation_context=context
        )
        error = str(decision.error_code or "GENERAL") if decision.reason == "ERROR" else None

        assert (decision.allowed, "allow" if decision.allowed else "deny") == (
            details.value,
            details.variant,
        ), feature
        assert details.error_code is None
        assert details.reason in PROTOCOL_REASONS
        assert (_REASONS[decision.reason], str(decision.reason), error) == (
            details.reason,
            details.flag_metadata["reason"],
            details.flag_metadata.get("errorCode"),
        )
        assert (decision.rule, decision.revision, decision.explanation) == (
            details.flag_metadata.get("rule"),
            details.flag_metadata["revision"],
            details.flag_metadata["explanation"],
        )


@pytest.mark.parametrize(
    "place",
    [place for place in PLACES if all(isinstance(value, str) for value in place.values())],
    ids=repr,
)
@pytest.mark.parametrize("feature", ["llama-3.2-vision", "llama-3.2-vision-license"])
def test_same_answers_as_geogate_eval(of_client, cli, country_db, feature, place):
    """The places a command line can name: the client gets what ``geogate eval`` prints."""
    options = [f"--{name}={value}" for name, value in place.items()]
    result = cli(
        "eval",
        feature,
        *options,
        "--policies",
        str(POLICIES),
        "--geoip-db",
        str(country_db),
        "--format",
        "json",
    )
    details = of_client.get_boolean_details(
        feature, default_value=True, evaluation_context=EvaluationContext(attributes=place)
    )

    assert 0 == result.exit_code, result.output
    printed = json.loads(result.output)
    metadata = details.flag_metadata
    assert (
        printed["allowed"],
        printed["reason"],
        printed["error_code"],
        printed["rule"],
        printed["explanation"],
        printed["revision"],
    ) == (
        details.value,
        metadata["reason"],
        metadata.get("errorCode"),
        metadata.get("rule"),
        metadata["explanation"],
        metadata["revision"],
    )


def test_domicile_and_targeting_key_through_the_client(of_client, gate):
    """Domicile decides the licence feature; a targeting key changes nothing."""
    context = EvaluationContext(
        targeting_key="user-42", attributes={"country": "US", "domicile": "DE"}
    )
    details = of_client.get_boolean_details(
        "llama-3.2-vision-license", default_value=True, evaluation_context=context
    )

    expected = gate.evaluate("llama-3.2-vision-license", country="US", domicile="DE")
    assert (False, expected.rule, Reason.TARGETING_MATCH) == (
        details.value,
        details.flag_metadata["rule"],
        details.reason,
    )


def test_invalid_location_denies_even_with_a_permissive_default(of_client):
    """A wrong-typed country is a deny from the server, not an error: the default True is unused."""
    context = EvaluationContext(attributes={"country": 42})
    details = of_client.get_boolean_details(
        "llama-3.2-vision", default_value=True, evaluation_context=context
    )

    assert (False, None, Reason.UNKNOWN, "invalid", "ERROR", "INVALID_CONTEXT") == (
        details.value,
        details.error_code,
        details.reason,
        details.flag_metadata["location"],
        details.flag_metadata["reason"],
        details.flag_metadata["errorCode"],
    )


def test_unknown_flag_is_flag_not_found(of_client):
    """An unknown flag: the SDK reports FLAG_NOT_FOUND and returns the caller's default."""
    details = of_client.get_boolean_details(
        "no-such-model",
        default_value=False,
        evaluation_context=EvaluationContext(attributes={"country": "FR"}),
    )

    assert (False, ErrorCode.FLAG_NOT_FOUND, Reason.ERROR) == (
        details.value,
        details.error_code,
        details.reason,
    )
    assert details.error_message.startswith("no flag 'no-such-model' in policy sha256:")


def test_request_location_from_a_trusted_header(ofrep_server):
    """No location in the context: the server uses the request's trusted CF-IPCountry."""
    provider, client = client_for(ofrep_server.url, {"CF-IPCountry": "GB"})
    try:
        details = client.get_boolean_details("llama-3.2-vision", default_value=False)
    finally:
        api.clear_providers()
        provider.session.close()

    assert (True, "uk-multimodal-offered", "header:cloudflare") == (
        details.value,
        details.flag_metadata["rule"],
        details.flag_metadata["locationSource"],
    )
    assert [] == ofrep_server.problems
