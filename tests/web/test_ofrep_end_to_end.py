"""
The OFREP server end to end: a real uvicorn on loopback, asked by the official client.

The client is OpenFeature's own OFREP provider (``openfeature-provider-ofrep``)
behind the OpenFeature SDK, so this is what an application in any language
sees: the same answers as the Python gate, FLAG_NOT_FOUND for an unknown flag,
and reasons the protocol defines.
"""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from geogate.ofrep import create_app

pytestmark = pytest.mark.slow  # a uvicorn server on loopback, the SDK over HTTP

DOMAIN = "geogate-ofrep-e2e"
#: The reasons the protocol's success response may carry, and the ones geogate uses.
PROTOCOL_REASONS = {reason.value for reason in Reason}
GEOGATE_REASONS = {Reason.TARGETING_MATCH, Reason.DEFAULT}
COUNTRIES = ["FR", "DE", "GB", "US", "CN", "RE", "GL", "XX", "GER"]
STARTUP_SECONDS = 10


@pytest.fixture(scope="module")
def server(shipped_gate):
    """Serve the gate on a free loopback port in a thread; stop it afterwards."""
    app = create_app(shipped_gate, providers=["cloudflare"], trusted_proxies=["127.0.0.1/32"])
    # Port 0: the system picks a free port; the bound socket says which.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
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
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(STARTUP_SECONDS)


def client_for(base_url: str, headers: dict[str, str] | None = None):
    provider = OFREPProvider(
        base_url, timeout=5.0, headers_factory=(lambda: headers) if headers else None
    )
    api.set_provider(provider, domain=DOMAIN)
    return provider, api.get_client(DOMAIN)


@pytest.fixture
def of_client(server):
    provider, client = client_for(server)
    yield client
    api.clear_providers()
    provider.session.close()


@pytest.mark.parametrize("country", COUNTRIES)
def test_same_answers_as_the_gate(of_client, shipped_gate, country):
    """Every feature, several countries: the client gets what gate.evaluate says."""
    context = EvaluationContext(attributes={"country": country})
    for feature in shipped_gate.features:
        decision = shipped_gate.evaluate(feature, country=country)
        details = of_client.get_boolean_details(
            feature, default_value=True, evaluation_context=context
        )

        assert (decision.allowed, "allow" if decision.allowed else "deny") == (
            details.value,
            details.variant,
        ), feature
        assert details.error_code is None
        assert details.reason in GEOGATE_REASONS
        assert details.reason in PROTOCOL_REASONS
        expected_reason = "TARGETING_MATCH" if decision.rule else "DEFAULT"
        assert expected_reason == details.reason
        assert (decision.rule, decision.revision, decision.explanation) == (
            details.flag_metadata.get("rule"),
            details.flag_metadata["revision"],
            details.flag_metadata["explanation"],
        )


def test_domicile_and_targeting_key_through_the_client(of_client, shipped_gate):
    """Domicile decides the licence feature; a targeting key changes nothing."""
    context = EvaluationContext(
        targeting_key="user-42", attributes={"country": "US", "domicile": "DE"}
    )
    details = of_client.get_boolean_details(
        "llama-3.2-vision-license", default_value=True, evaluation_context=context
    )

    expected = shipped_gate.evaluate("llama-3.2-vision-license", country="US", domicile="DE")
    assert (False, expected.rule, Reason.TARGETING_MATCH) == (
        details.value,
        details.flag_metadata["rule"],
        details.reason,
    )


def test_unknown_location_denies_even_with_a_permissive_default(of_client):
    """A bad location is a deny from the server, not an error: the default True is not used."""
    context = EvaluationContext(attributes={"country": 42})
    details = of_client.get_boolean_details(
        "llama-3.2-vision", default_value=True, evaluation_context=context
    )

    assert (False, None, Reason.DEFAULT, "invalid") == (
        details.value,
        details.error_code,
        details.reason,
        details.flag_metadata["location"],
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


def test_request_location_from_a_trusted_header(server):
    """No location in the context: the server uses the request's trusted CF-IPCountry."""
    provider, client = client_for(server, {"CF-IPCountry": "GB"})
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
