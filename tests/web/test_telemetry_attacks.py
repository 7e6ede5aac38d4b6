"""Attacks on metrics and traces: /metrics, the decision counters, span recording, OFREP input."""

from __future__ import annotations

import contextlib
import gc
import logging
import weakref

import pytest
from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client
from werkzeug.wrappers import Response

from geogate import Gate
from geogate._web.metrics import UNKNOWN_FEATURE, Metrics
from geogate.asgi import GeogateMiddleware as AsgiMiddleware
from geogate.ofrep import create_app
from geogate.wsgi import GeogateMiddleware as WsgiMiddleware
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"
SINGLE = "/ofrep/v1/evaluate/flags/"
PROXY = ("10.0.0.2", 40000)


@contextlib.contextmanager
def collector_off():
    """Run the block with the cyclic garbage collector off (as gc.disable()/gc.freeze() apps do)."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()


class FailingSpan(trace.NonRecordingSpan):
    """A recording span whose exporter side fails: every write raises."""

    def __init__(self) -> None:
        super().__init__(trace.INVALID_SPAN_CONTEXT)

    def is_recording(self) -> bool:
        return True

    def set_attributes(self, _attributes) -> None:
        raise RuntimeError("span exporter unavailable")

    def set_attribute(self, _key, _value) -> None:
        raise RuntimeError("span exporter unavailable")

    def add_event(self, _name, _attributes=None, _timestamp=None) -> None:
        raise RuntimeError("span exporter unavailable")


def decision_features(metrics: Metrics) -> set[str]:
    """The ``feature`` label values of ``geogate_decisions_total``."""
    encoded, _ = metrics.exposition()
    return {
        sample.labels["feature"]
        for family in text_string_to_metric_families(encoded.decode())
        for sample in family.samples
        if sample.name == "geogate_decisions_total"
    }


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text; version=abc",
        "application/openmetrics-text; version=1.0.0 evil",
        "text/plain; version=x.y",
    ],
)
def test_a_scrape_with_a_malformed_accept_version_gets_metrics_not_a_server_error(accept):
    """
    A client sends GET /metrics with an Accept header whose ``version`` parameter is not a version.

    The endpoint answers with the metrics in a format it can write (Prometheus'
    text format, as for any Accept it does not understand) or refuses the
    format with 406; it never fails with 500 and a traceback in the server
    log, which any client could repeat to flood the log.
    """
    metrics = Metrics()
    gate = Gate.from_path(POLICIES, on_decision=metrics.decided)
    with TestClient(create_app(gate, metrics=metrics), raise_server_exceptions=False) as client:
        response = client.get("/metrics", headers={"Accept": accept})
    gate.close()
    assert response.status_code in {200, 406}


def test_asgi_middleware_tracing_with_a_failing_span_still_answers():
    """
    An application runs the ASGI middleware with ``tracing=True`` under a span that fails to record.

    Telemetry never decides whether a request is served: the request gets
    the application's own answer (the gate's decision), as a traced gate's
    decisions do when the same span fails, and the failure is at most logged.
    """
    gate = Gate.from_path(POLICIES, tracing=True)

    async def vision(_):
        return PlainTextResponse(str(gate.is_allowed(VISION)))

    inner = AsgiMiddleware(
        Starlette(routes=[Route("/", vision)]),
        gate=gate,
        providers=["cloudflare"],
        trusted_proxies=["10.0.0.0/8"],
        tracing=True,
    )

    async def app(scope, receive, send):
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        with trace.use_span(FailingSpan()):
            await inner(scope, receive, send)

    logging.getLogger("geogate").disabled = True
    try:
        with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
            response = client.get("/", headers={"CF-IPCountry": "US"})
    finally:
        logging.getLogger("geogate").disabled = False
    assert (200, "True") == (response.status_code, response.text)


def test_wsgi_middleware_tracing_with_a_failing_span_still_answers():
    """
    The same through the WSGI middleware: a span that fails to record never fails the request.
    """
    gate = Gate.from_path(POLICIES, tracing=True)

    def vision(environ, start_response):
        return Response(str(gate.is_allowed(VISION)))(environ, start_response)

    inner = WsgiMiddleware(
        vision,
        gate=gate,
        providers=["cloudflare"],
        trusted_proxies=["10.0.0.0/8"],
        tracing=True,
    )

    def app(environ, start_response):
        with trace.use_span(FailingSpan()):
            return list(inner(environ, start_response))

    logging.getLogger("geogate").disabled = True
    try:
        response = Client(app).get(
            "/", headers={"CF-IPCountry": "US"}, environ_overrides={"REMOTE_ADDR": PROXY[0]}
        )
    finally:
        logging.getLogger("geogate").disabled = False
    assert (200, "True") == (response.status_code, response.get_data(as_text=True))


def test_decision_labels_stay_bounded_for_unknown_features_with_a_bad_date():
    """
    An application's gate reports to the OFREP server's metrics (``on_decision=metrics.decided``).

    Its own code asks for feature ids taken from requests, with a date it
    could not parse (``at="not-a-date"``). Every ``feature`` label of
    ``geogate_decisions_total`` is a feature the policy defines or
    ``(unknown)``, whatever the error code: a raw feature id from a request
    must never become a label, or each new id adds a time series for good.
    """
    metrics = Metrics()
    gate = Gate.from_path(POLICIES, on_decision=metrics.decided)
    logging.getLogger("geogate").disabled = True
    try:
        for n in range(50):
            assert not gate.is_allowed(f"probe-{n}-\N{SNOWMAN}", at="not-a-date")
    finally:
        logging.getLogger("geogate").disabled = False
    gate.close()
    assert decision_features(metrics) <= {*gate.features, UNKNOWN_FEATURE}


def test_a_dropped_gate_with_metrics_is_freed_without_the_cycle_collector():
    """
    A service drops a gate and the metrics attached to it, with the cyclic collector off or frozen.

    As for a plain or a traced gate, the last reference going away frees the
    gate at once, with its memos and GeoIP database: the metrics' hook, reload
    listener and gate reference must not form a reference cycle with it.
    """
    with collector_off():
        metrics = Metrics()
        gate = Gate.from_path(POLICIES, on_decision=metrics.decided)
        metrics.attach(gate)
        assert not gate.is_allowed(VISION, country="FR")
        gate_ref = weakref.ref(gate)
        del gate, metrics
        alive = gate_ref() is not None
    assert not alive


@pytest.mark.parametrize("ip", [5, {}, [], "not-an-address"])
def test_an_explicit_country_decides_and_the_ip_beside_it_is_not_read(ip):
    """
    A client posts a context with a country and an ``ip`` that is no address.

    The documented precedence holds over OFREP as in-process: a given country
    (or subdivision) is the place, and ``ip`` is located only when neither is
    given, so it is not read at all. The answer is the country's, and says
    that the place was given explicitly.
    """
    gate = Gate.from_path(POLICIES)
    with TestClient(create_app(gate), client=PROXY) as client:
        response = client.post(SINGLE + VISION, json={"context": {"country": "FR", "ip": ip}})
    expected = gate.evaluate(VISION, country="FR")
    gate.close()
    body = response.json()
    assert (200, expected.allowed, "explicit") == (
        response.status_code,
        body["value"],
        body["metadata"]["locationSource"],
    )
