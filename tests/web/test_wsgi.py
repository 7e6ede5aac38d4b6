"""The WSGI middleware and view guard, through Flask's real test client."""

from __future__ import annotations

import sys

import pytest
from flask import Flask, jsonify, request

from geogate.wsgi import GeogateMiddleware, require_feature

FEATURE = "llama-3.2-vision"
AXIOS = "https://www.axios.com/2024/07/17/meta-future-multimodal-ai-models-eu"


@pytest.fixture(scope="module")
def client(gate):
    app = Flask(__name__)
    app.wsgi_app = GeogateMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, gate=gate, providers=["cloudfront"], trusted_proxies=["10.0.0.0/8"]
    )

    @app.get("/vision")
    @require_feature(FEATURE)
    def vision():
        return jsonify(ok=True)

    @app.get("/where")
    def where():
        decision = gate.evaluate(FEATURE)
        location = request.environ["geogate.location"]
        return jsonify(
            country=decision.country, source=decision.location_source, detail=location.detail
        )

    return app.test_client()


def get(client, path, *, peer="10.0.0.2", headers=None):
    return client.get(path, headers=headers or {}, environ_base={"REMOTE_ADDR": peer})


def test_allowed(client):
    """CloudFront says GB from a trusted proxy: the view runs."""
    response = get(client, "/vision", headers={"CloudFront-Viewer-Country": "GB"})

    assert (200, {"ok": True}) == (response.status_code, response.get_json())


def test_denied_gets_451(client, gate):
    """CloudFront says FR: 451 with the problem document and the blocked-by link."""
    response = get(client, "/vision", headers={"CloudFront-Viewer-Country": "FR"})

    body = response.get_json(force=True)
    assert 451 == response.status_code
    assert "application/problem+json" == response.headers["Content-Type"]
    assert f'<{AXIOS}>; rel="blocked-by"' == response.headers["Link"]
    assert gate.evaluate(FEATURE, country="FR").explanation == body["detail"]
    assert ("FR", "eu-multimodal-withheld", 451) == (body["country"], body["rule"], body["status"])


def test_forged_header_ignored(client):
    """A Swedish client sending CloudFront-Viewer-Country: GB directly is located by its IP."""
    response = get(
        client, "/where", peer="89.160.20.112", headers={"CloudFront-Viewer-Country": "GB"}
    )

    data = response.get_json()
    assert ("SE", "geoip") == (data["country"], data["source"])
    assert "not a trusted proxy" in data["detail"]


def test_forged_header_cannot_unlock(client):
    """The guard denies the forger."""
    response = get(
        client, "/vision", peer="89.160.20.112", headers={"CloudFront-Viewer-Country": "GB"}
    )

    assert 451 == response.status_code


def test_proxy_chain(client):
    """X-Forwarded-For through the trusted proxy: the rightmost untrusted hop is the client."""
    response = get(client, "/where", headers={"X-Forwarded-For": "89.160.20.112, 81.2.69.160"})

    assert ("GB", "geoip") == (response.get_json()["country"], response.get_json()["source"])


def test_guard_without_middleware(gate):
    """The guard refuses to run without the middleware: it would not know the location."""
    app = Flask(__name__)

    @app.get("/")
    @require_feature(FEATURE, gate=gate)
    def view():
        return "never"

    app.testing = True
    with pytest.raises(RuntimeError, match=r"needs geogate\.wsgi\.GeogateMiddleware"):
        app.test_client().get("/")


def test_missing_werkzeug_names_the_extra_both_ways(gate, monkeypatch):
    """Without Werkzeug, a denial's response says how to install the wsgi extra."""
    from geogate.wsgi import FeatureDenied, problem_response  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "werkzeug.wrappers", None)
    denied = FeatureDenied(gate.evaluate(FEATURE, country="FR", at="2026-01-01"))

    with pytest.raises(ImportError) as raised:
        problem_response(denied)

    assert (
        "geogate.wsgi.require_feature needs Werkzeug; install the extra: "
        "pip install 'geogate[wsgi]' (from a checkout: pip install -e '.[wsgi]')"
    ) == str(raised.value)
