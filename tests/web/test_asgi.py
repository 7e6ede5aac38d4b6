"""
The ASGI middleware and guard, through real Starlette and FastAPI test clients.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints'
annotations at run time, and some name local dependencies.
"""

import contextlib
import json
import sys
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from geogate import Decision, Gate
from geogate.asgi import FeatureDenied, GeogateMiddleware, require_feature

FEATURE = "llama-3.2-vision"
PROXY = ("10.0.0.2", 40000)
STRANGER = ("203.0.113.9", 40000)
AXIOS = "https://www.axios.com/2024/07/17/meta-future-multimodal-ai-models-eu"


def fastapi_app(gate: Gate) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        GeogateMiddleware, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )

    @app.get("/vision")
    def vision(
        decision: Annotated[Decision, Depends(require_feature(FEATURE))],
    ) -> dict[str, object]:
        return {"allowed": decision.allowed, "country": decision.country}

    @app.get("/where")
    async def where() -> dict[str, object]:
        return gate.evaluate(FEATURE).to_dict()

    @app.get("/where-sync")
    def where_sync(request: Request) -> dict[str, object]:
        found = request.state.geogate_location
        return {"country": found.country, "source": found.source, "detail": found.detail}

    return app


@pytest.fixture(scope="module")
def app(gate):
    return fastapi_app(gate)


def get(app, path: str, *, peer=PROXY, headers=None):
    with TestClient(app, client=peer) as client:
        return client.get(path, headers=headers or {})


def test_allowed_request_passes(app):
    """A trusted Cloudflare header for GB lets the request through."""
    response = get(app, "/vision", headers={"CF-IPCountry": "GB"})

    assert 200 == response.status_code
    assert {"allowed": True, "country": "GB"} == response.json()


def test_denied_request_gets_451_problem(app, gate):
    """A request from France gets 451 with an RFC 9457 body and an RFC 7725 link."""
    response = get(app, "/vision", headers={"CF-IPCountry": "FR"})

    expected = gate.evaluate(FEATURE, country="FR")
    assert 451 == response.status_code
    assert "application/problem+json" == response.headers["content-type"]
    assert f'<{AXIOS}>; rel="blocked-by"' == response.headers["link"]
    assert {
        "type": "about:blank",
        "title": "Unavailable For Legal Reasons",
        "status": 451,
        "detail": expected.explanation,
        "feature": FEATURE,
        "country": "FR",
        "subdivision": None,
        "jurisdictions": ["EUROZONE", "SCHENGEN", "EU", "EEA", "WORLD"],
        "rule": "eu-multimodal-withheld",
        "revision": gate.revision,
        "as_of": expected.as_of.isoformat(),
    } == response.json()


def test_forged_header_from_untrusted_peer_is_ignored(app):
    """A client claiming GB from outside the trusted proxies is located by its own IP."""
    response = get(app, "/where-sync", peer=("89.160.20.112", 5000), headers={"CF-IPCountry": "GB"})

    data = response.json()
    assert ("SE", "geoip") == (data["country"], data["source"])
    assert "not a trusted proxy" in data["detail"]


def test_forged_header_cannot_unlock_the_feature(app):
    """The guard denies a Swedish client that forges CF-IPCountry: GB."""
    response = get(app, "/vision", peer=("89.160.20.112", 5000), headers={"CF-IPCountry": "GB"})

    assert 451 == response.status_code
    assert "SE" == response.json()["country"]


def test_unknown_location_is_denied(app):
    """CF-IPCountry XX (unknown) from the trusted proxy denies: the feature's unknown is deny."""
    response = get(app, "/vision", headers={"CF-IPCountry": "XX"})

    assert 451 == response.status_code
    assert response.json()["country"] is None
    assert "setting for unknown locations" in response.json()["detail"]


def test_proxy_chain_finds_the_client(app):
    """Behind the trusted proxy, X-Forwarded-For names the client; a forged entry is ignored."""
    response = get(app, "/where", headers={"X-Forwarded-For": "216.160.83.56, 81.2.69.160"})

    data = response.json()
    assert ("GB", "geoip", True) == (data["country"], data["location_source"], data["allowed"])


def test_evaluate_inside_a_request_uses_its_location(app):
    """gate.evaluate(feature) with no location inside a request uses the request's location."""
    response = get(app, "/where", headers={"CF-IPCountry": "DE"})

    data = response.json()
    assert ("DE", "header:cloudflare", False) == (
        data["country"],
        data["location_source"],
        data["allowed"],
    )


def test_outside_a_request_there_is_no_location(gate):
    """Outside any request, evaluate() without a location is an unknown location."""
    decision = gate.evaluate(FEATURE)

    assert (False, "unknown", None) == (decision.allowed, str(decision.location), decision.country)


def test_plain_starlette_app(gate):
    """In a Starlette app (no FastAPI), a guard called by hand also ends in 451."""

    async def endpoint(request: Request) -> JSONResponse:
        decision = require_feature(FEATURE)(request)
        return JSONResponse({"country": decision.country})

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[
            Middleware(
                GeogateMiddleware, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.2"]
            )
        ],
    )

    assert 200 == get(app, "/", headers={"CF-IPCountry": "US"}).status_code
    denied = get(app, "/", headers={"CF-IPCountry": "IE"})
    assert 451 == denied.status_code
    assert "IE" == json.loads(denied.content)["country"]


def test_bare_asgi_app(gate):
    """Around a bare ASGI callable, a FeatureDenied raised before the response becomes 451."""

    async def bare(scope, receive, send):  # noqa: ARG001 (the ASGI signature)
        decision = gate.evaluate(FEATURE)
        if not decision.allowed:
            raise FeatureDenied(decision)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = GeogateMiddleware(
        bare, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.2"]
    )

    client = TestClient(wrapped, client=PROXY)  # no lifespan: the bare app only speaks HTTP
    assert 204 == client.get("/", headers={"CF-IPCountry": "US"}).status_code
    assert 451 == client.get("/", headers={"CF-IPCountry": "AT"}).status_code


def test_guard_without_middleware_is_a_programming_error(gate):
    """require_feature without the middleware fails loudly instead of guessing a location."""
    app = FastAPI()

    @app.get("/")
    def endpoint(
        decision: Annotated[Decision, Depends(require_feature(FEATURE, gate=gate))],
    ) -> None:
        """Never reached."""

    with (
        TestClient(app, client=PROXY, raise_server_exceptions=True) as client,
        pytest.raises(RuntimeError, match=r"needs geogate\.asgi\.GeogateMiddleware"),
    ):
        client.get("/")


def test_lifespan_and_other_scopes_pass_through(gate):
    """Non-HTTP scopes (lifespan) reach the app untouched."""
    app = fastapi_app(gate)
    with TestClient(app, client=PROXY) as client:
        assert 200 == client.get("/vision", headers={"CF-IPCountry": "GB"}).status_code


# However the middleware is installed: inside the framework, or wrapped around it.


def guarded_fastapi(debug: bool) -> FastAPI:
    app = FastAPI(debug=debug)

    @app.get("/vision")
    def vision(decision: Annotated[Decision, Depends(require_feature(FEATURE))]) -> dict[str, str]:
        return {"country": decision.country}

    return app


def guarded_starlette(debug: bool) -> Starlette:
    async def vision(request: Request) -> JSONResponse:
        decision = require_feature(FEATURE)(request)
        return JSONResponse({"country": decision.country})

    return Starlette(debug=debug, routes=[Route("/vision", vision)])


def install(app, how: str, gate: Gate):
    options = {"gate": gate, "providers": ["cloudflare"], "trusted_proxies": ["10.0.0.0/8"]}
    if how == "wrapped":
        return GeogateMiddleware(app, **options)
    app.add_middleware(GeogateMiddleware, **options)
    return app


@pytest.mark.parametrize("framework", [guarded_fastapi, guarded_starlette])
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("how", ["add_middleware", "wrapped"])
def test_denied_guard_is_451_however_installed(gate, framework, debug, how):
    """Wrapped from outside too (where the framework answers 500 first): 451, nothing raised."""
    app = install(framework(debug), how, gate)
    with TestClient(app, client=PROXY) as client:  # a server exception would be raised here
        denied = client.get("/vision", headers={"CF-IPCountry": "FR"})
        allowed = client.get("/vision", headers={"CF-IPCountry": "GB"})

    assert (451, "application/problem+json") == (
        denied.status_code,
        denied.headers["content-type"],
    )
    assert (FEATURE, "FR", "eu-multimodal-withheld") == (
        denied.json()["feature"],
        denied.json()["country"],
        denied.json()["rule"],
    )
    assert int(denied.headers["content-length"]) == len(denied.content)
    assert (200, {"country": "GB"}) == (allowed.status_code, allowed.json())


def test_app_that_handles_feature_denied_is_left_alone(gate):
    """An application with its own FeatureDenied handler keeps its answer, wrapped or not."""
    app = guarded_fastapi(debug=False)

    @app.exception_handler(FeatureDenied)
    async def denied(_request: Request, error: FeatureDenied) -> JSONResponse:
        return JSONResponse({"mine": error.decision.country}, status_code=403)

    with TestClient(install(app, "wrapped", gate), client=PROXY) as client:
        response = client.get("/vision", headers={"CF-IPCountry": "FR"})

    assert (403, {"mine": "FR"}) == (response.status_code, response.json())


def caught_then_failing(gate: Gate, *, raises: bool) -> GeogateMiddleware:
    """A route that catches the guard's denial, then fails otherwise (raising, or answering 500)."""

    async def route(request: Request) -> JSONResponse:
        with contextlib.suppress(FeatureDenied):
            require_feature(FEATURE)(request)
        if raises:
            msg = "an unrelated failure"
            raise ValueError(msg)
        return JSONResponse({"own": "error"}, status_code=500)

    return install(Starlette(routes=[Route("/", route)]), "wrapped", gate)


def test_unrelated_500_after_a_denial_goes_out_unchanged(gate):
    """A 500 that is not the denial's (another exception escapes) is sent, and re-raised."""
    app = caught_then_failing(gate, raises=True)
    with TestClient(app, client=PROXY, raise_server_exceptions=False) as client:
        response = client.get("/", headers={"CF-IPCountry": "FR"})
    with (
        TestClient(app, client=PROXY) as client,
        pytest.raises(ValueError, match="an unrelated failure"),
    ):
        client.get("/", headers={"CF-IPCountry": "FR"})

    assert (500, "Internal Server Error") == (response.status_code, response.text)


def test_applications_own_500_after_a_denial_goes_out_unchanged(gate):
    """A 500 the application answers itself, nothing raised: sent as it is."""
    with TestClient(caught_then_failing(gate, raises=False), client=PROXY) as client:
        response = client.get("/", headers={"CF-IPCountry": "FR"})

    assert (500, {"own": "error"}) == (response.status_code, response.json())


def test_a_large_500_is_not_held_back(gate):
    """Past 1 MiB, a 500 after a denial is streamed on (memory stays bounded), not replaced."""
    chunk = b"x" * 700_000

    async def streaming(scope, receive, send):  # noqa: ARG001 (the ASGI signature)
        decision = gate.evaluate(FEATURE)
        scope["state"]["geogate_denied"] = decision
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        raise FeatureDenied(decision)

    wrapped = GeogateMiddleware(streaming, gate=gate, providers=["cloudflare"], trusted_proxies=[])
    client = TestClient(wrapped, client=PROXY, raise_server_exceptions=False)
    response = client.get("/", headers={"CF-IPCountry": "FR"})

    assert (500, 2 * len(chunk)) == (response.status_code, len(response.content))


def test_missing_starlette_names_the_extra_both_ways(monkeypatch):
    """Without Starlette, require_feature says how to install the asgi extra."""
    monkeypatch.setitem(sys.modules, "starlette.requests", None)

    with pytest.raises(ImportError) as raised:
        require_feature("llama-3.2-vision")

    assert (
        "geogate.asgi.require_feature needs Starlette; install the extra: "
        "pip install 'geogate[asgi]' (from a checkout: pip install -e '.[asgi]')"
    ) == str(raised.value)
