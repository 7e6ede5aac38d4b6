"""Middleware with ``tracing=True``: each request's location on the current span (ASGI and WSGI)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from werkzeug.test import Client
from werkzeug.wrappers import Response

from geogate import Gate
from geogate.asgi import GeogateMiddleware as AsgiMiddleware
from geogate.wsgi import GeogateMiddleware as WsgiMiddleware
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"


@pytest.fixture
def tracer_and_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests"), exporter
    provider.shutdown()


@pytest.fixture(scope="module")
def traced_gate():
    return Gate.from_path(POLICIES, tracing=True)


def expected_attributes(gate: Gate) -> dict[str, object]:
    """The request span: the location from the middleware, the decision from the gate."""
    return {
        "geogate.location.source": "header",
        "geogate.location.status": "known",
        "geogate.location.provider": "cloudflare",
        "geo.country.iso_code": "FR",
        "decision": (VISION, False, gate.revision),
    }


def summary(exporter) -> dict[str, object]:
    [span] = exporter.get_finished_spans()
    [event] = span.events
    found = dict(span.attributes)
    found["decision"] = (
        event.attributes["feature_flag.key"],
        event.attributes["feature_flag.result.value"],
        event.attributes["geogate.revision"],
    )
    return found


def test_asgi_middleware_sets_the_location_on_the_request_span(tracer_and_spans, traced_gate):
    """The server's span (opened here by a wrapper) gets the location and the decision."""
    tracer, exporter = tracer_and_spans

    async def vision(_):
        return PlainTextResponse(str(traced_gate.is_allowed(VISION)))

    inner = AsgiMiddleware(
        Starlette(routes=[Route("/", vision)]),
        gate=traced_gate,
        providers=["cloudflare"],
        trusted_proxies=["10.0.0.0/8"],
        tracing=True,
    )

    async def app(scope, receive, send):
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        with tracer.start_as_current_span("GET /"):
            await inner(scope, receive, send)

    with TestClient(app, client=("10.0.0.2", 4000)) as client:
        assert "False" == client.get("/", headers={"CF-IPCountry": "FR"}).text
    assert expected_attributes(traced_gate) == summary(exporter)


def test_wsgi_middleware_sets_the_location_on_the_request_span(tracer_and_spans, traced_gate):
    """The same through the WSGI middleware."""
    tracer, exporter = tracer_and_spans

    def vision(environ, start_response):
        return Response(str(traced_gate.is_allowed(VISION)))(environ, start_response)

    inner = WsgiMiddleware(
        vision,
        gate=traced_gate,
        providers=["cloudflare"],
        trusted_proxies=["10.0.0.0/8"],
        tracing=True,
    )

    def app(environ, start_response):
        with tracer.start_as_current_span("GET /"):
            return list(inner(environ, start_response))

    client = Client(app)
    response = client.get(
        "/", headers={"CF-IPCountry": "FR"}, environ_overrides={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert "False" == response.get_data(as_text=True)
    assert expected_attributes(traced_gate) == summary(exporter)


def test_middleware_without_tracing_records_nothing(tracer_and_spans):
    """Off by default: a plain gate and plain middleware leave the span alone."""
    tracer, exporter = tracer_and_spans
    gate = Gate.from_path(POLICIES)

    async def vision(_):
        return PlainTextResponse(str(gate.is_allowed(VISION)))

    inner = AsgiMiddleware(Starlette(routes=[Route("/", vision)]), gate=gate)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        with tracer.start_as_current_span("GET /"):
            await inner(scope, receive, send)

    with TestClient(app) as client:
        client.get("/")
    [span] = exporter.get_finished_spans()
    assert ({}, ()) == (dict(span.attributes), tuple(span.events))


def test_the_openfeature_provider_over_a_traced_gate_records_its_decisions(tracer_and_spans):
    """The provider asks its gate, so a traced gate's events appear for OpenFeature lookups."""
    from openfeature.evaluation_context import EvaluationContext  # noqa: PLC0415

    from geogate.openfeature import GeogateProvider  # noqa: PLC0415

    tracer, exporter = tracer_and_spans
    provider = GeogateProvider(Gate.from_path(POLICIES, tracing=True))
    with tracer.start_as_current_span("lookup"):
        details = provider.resolve_boolean_details(
            VISION,
            default_value=False,
            evaluation_context=EvaluationContext(attributes={"country": "US"}),
        )
    [span] = exporter.get_finished_spans()
    [event] = span.events
    assert (True, VISION, "allow") == (
        details.value,
        event.attributes["feature_flag.key"],
        event.attributes["feature_flag.result.variant"],
    )
