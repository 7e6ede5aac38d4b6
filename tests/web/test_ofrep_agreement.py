"""
The OFREP server and the in-process OpenFeature provider agree on every context, bad ones included.

The same contexts go to `geogate.openfeature.GeogateProvider` through the
OpenFeature SDK and to the OFREP server through Starlette's test client: the
value, the variant, geogate's reason and error code, the location status and
the explanation are the same. OFREP's top-level reason is the protocol's
(``UNKNOWN`` for geogate's ``DEFAULT`` and ``ERROR``); geogate's is in
``metadata.reason`` and the error code in ``metadata.errorCode``, where the
provider has its reason and ``flag_metadata["error_code"]``. Neither takes the
error path, so a permissive default never lets a request in.

A context without a location (null counts as not given) is decided on the
request's own location: the server's client, and for the provider the same
request as geogate's web middleware would have located it.
"""

from __future__ import annotations

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from geogate._locate.request import RequestResolver
from geogate._web.context import handling
from geogate.ofrep import create_app
from geogate.openfeature import GeogateProvider
from helpers.ofrep_spec import SpecClient

FEATURES = ("llama-3.2-vision", "llama-3.2-vision-license")
DOMAIN = "geogate-ofrep-agreement"
#: The client's address: GB in the tests' GeoIP database.
PEER = "81.2.69.160"
#: Every JSON type that is not a string, and null (which both read as "not given").
WRONG = [42, 1.5, True, False, [], ["FR"], {}, {"code": "FR"}, None]
#: A wrong value at each attribute, alone where it locates, beside a good country where it does
#: not (domicile, at), so that it is the only problem.
CONTEXTS = [
    *({name: value} for name in ("country", "subdivision", "ip") for value in WRONG),
    *({"country": "FR", name: value} for name in ("domicile", "at") for value in WRONG),
    {"country": "FR"},
    {"country": "gb"},
    {"country": "US", "domicile": "DE"},
    {"subdivision": "FR-974"},
    {"country": "XX"},
    {"country": "GER"},
    {"country": "FR", "domicile": "GER"},
    {"ip": "81.2.69.160"},
    {"ip": "not an address"},
    {"country": "FR", "at": "2024-01-01"},
    {},
]


@pytest.fixture(scope="module")
def server(gate):
    with SpecClient(create_app(gate), client=(PEER, 40000)) as client:
        yield client


@pytest.fixture(scope="module")
def in_process(gate):
    api.set_provider(GeogateProvider(gate), domain=DOMAIN)
    client = api.get_client(DOMAIN)
    where = RequestResolver(geoip=gate.geoip).resolve([], PEER)

    def evaluate(feature, context):
        """Resolve through the SDK while handling the same request as the server."""
        with handling(where, gate):
            return client.get_boolean_details(
                feature,
                default_value=True,
                evaluation_context=EvaluationContext(attributes=context),
            )

    yield evaluate
    api.clear_providers()


@pytest.mark.parametrize("context", CONTEXTS, ids=repr)
@pytest.mark.parametrize("feature", FEATURES)
def test_ofrep_and_the_provider_agree(server, in_process, feature, context):
    """Same value, variant, reason, error code, location and explanation; no error path."""
    answer = server.post(f"/ofrep/v1/evaluate/flags/{feature}", json={"context": context})
    details = in_process(feature, context)

    assert 200 == answer.status_code
    body = answer.json()
    metadata = body["metadata"]
    assert (
        details.value,
        details.variant,
        str(details.reason),
        details.flag_metadata.get("error_code"),
        details.flag_metadata["location"],
        details.flag_metadata.get("rule"),
        details.flag_metadata["explanation"],
    ) == (
        body["value"],
        body["variant"],
        metadata["reason"],
        metadata.get("errorCode"),
        metadata["location"],
        metadata.get("rule"),
        metadata["explanation"],
    )
    assert details.error_code is None
    assert ("TARGETING_MATCH" if metadata["reason"] == "TARGETING_MATCH" else "UNKNOWN") == body[
        "reason"
    ]


@pytest.mark.parametrize("attribute", ["country", "subdivision", "domicile"])
@pytest.mark.parametrize("value", [42, True, [], {}], ids=repr)
def test_a_wrong_type_is_an_invalid_context_error_on_both(server, in_process, attribute, value):
    """A wrong-typed location attribute: a deny with geogate's ERROR and INVALID_CONTEXT on both."""
    context = {"country": "US", attribute: value}
    body = server.post(
        "/ofrep/v1/evaluate/flags/llama-3.2-vision", json={"context": context}
    ).json()
    details = in_process("llama-3.2-vision", context)

    assert (False, "ERROR", "INVALID_CONTEXT") == (
        details.value,
        str(details.reason),
        details.flag_metadata["error_code"],
    )
    assert (False, "UNKNOWN", "ERROR", "INVALID_CONTEXT") == (
        body["value"],
        body["reason"],
        body["metadata"]["reason"],
        body["metadata"]["errorCode"],
    )
