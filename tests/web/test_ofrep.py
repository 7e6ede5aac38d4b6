"""The OFREP server (geogate.ofrep) through Starlette's test client, and ``geogate serve``."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import re
import shutil
import signal
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from geogate import Gate
from geogate._engine.decision import short_revision
from geogate.cli import ExitCode, main
from geogate.cli import serve as serve_module
from geogate.ofrep import MAX_BODY, create_app
from helpers.ofrep_spec import SpecClient
from helpers.paths import POLICIES

VISION = "llama-3.2-vision"
LICENSE = "llama-3.2-vision-license"
SINGLE = "/ofrep/v1/evaluate/flags/"
BULK = "/ofrep/v1/evaluate/flags"
PROXY = ("10.0.0.2", 40000)
STRANGER = ("203.0.113.9", 40000)
AXIOS = "https://www.axios.com/2024/07/17/meta-future-multimodal-ai-models-eu"
META_UK = "https://ai.meta.com/blog/llama-3-2-connect-2024-vision-edge-mobile-devices/"


@pytest.fixture(scope="module")
def client(gate):
    app = create_app(gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"])
    with SpecClient(app, client=PROXY) as test_client:
        yield test_client


def policy(gate: Gate) -> str:
    """``(policy sha256:..., as of today)``, as explanations say it."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return f"(policy {short_revision(gate.revision)}, as of {today})"


def post(client, key: str, body: object = None, **kwargs):
    if body is not None:
        kwargs["json"] = body
    return client.post(SINGLE + key, **kwargs)


# Single evaluation: 200 answers.


def test_rule_deny_body(client, gate):
    """A rule that denies: the whole body, metadata as strings, null fields left out."""
    response = post(client, VISION, {"context": {"country": "FR", "targetingKey": "user-1"}})

    assert 200 == response.status_code
    assert "application/json" == response.headers["content-type"]
    assert {
        "key": VISION,
        "value": False,
        "reason": "TARGETING_MATCH",
        "variant": "deny",
        "metadata": {
            "reason": "TARGETING_MATCH",
            "rule": "eu-multimodal-withheld",
            "jurisdictions": "EUROZONE,SCHENGEN,EU,EEA,WORLD",
            "source": AXIOS,
            "revision": gate.revision,
            "explanation": (
                f"{VISION} is denied in FR (France, in the EU) by rule eu-multimodal-withheld "
                f"{policy(gate)}: Meta does not offer its multimodal Llama models in the EU, "
                'citing "the unpredictable nature of the European regulatory environment".'
            ),
            "location": "known",
            "locationSource": "explicit",
            "country": "FR",
        },
    } == response.json()


def test_rule_allow_body(client, gate):
    """A rule that allows: value true, variant allow, the rule's citation as source."""
    response = post(client, VISION, {"context": {"country": "gb"}})

    assert 200 == response.status_code
    body = response.json()
    assert (True, "TARGETING_MATCH", "allow") == (body["value"], body["reason"], body["variant"])
    assert {
        "reason": "TARGETING_MATCH",
        "rule": "uk-multimodal-offered",
        "jurisdictions": "UK,WORLD",
        "source": META_UK,
        "revision": gate.revision,
        "explanation": gate.evaluate(VISION, country="GB").explanation,
        "location": "known",
        "locationSource": "explicit",
        "country": "GB",
    } == body["metadata"]


def test_default_body(client, gate):
    """
    No rule applies: reason UNKNOWN (the protocol has no DEFAULT), geogate's DEFAULT in the
    metadata, and no rule or source.
    """
    response = post(client, VISION, {"context": {"country": "US"}})

    assert {
        "key": VISION,
        "value": True,
        "reason": "UNKNOWN",
        "variant": "allow",
        "metadata": {
            "reason": "DEFAULT",
            "jurisdictions": "WORLD",
            "revision": gate.revision,
            "explanation": (
                f"{VISION} is allowed in US (United States) by the feature's default "
                f"{policy(gate)}: no rule applies there."
            ),
            "location": "known",
            "locationSource": "explicit",
            "country": "US",
        },
    } == response.json()


def test_subdivision_and_domicile_reach_the_gate(client):
    """Every context attribute is passed on: subdivision, domicile."""
    subdivision = post(client, VISION, {"context": {"subdivision": "FR-974"}}).json()
    licence = post(client, LICENSE, {"context": {"country": "US", "domicile": "DE"}}).json()

    assert ("RE", "eu-multimodal-withheld") == (
        subdivision["metadata"]["country"],
        subdivision["metadata"]["rule"],
    )
    assert (False, "aup-eu-domicile", "DE") == (
        licence["value"],
        licence["metadata"]["rule"],
        licence["metadata"]["domicile"],
    )


UNKNOWN = ("unknown", "DEFAULT", None)
INVALID = ("invalid", "ERROR", "INVALID_CONTEXT")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"country": "XX"}, UNKNOWN),
        ({"country": ""}, UNKNOWN),
        ({"country": "GER"}, INVALID),
        ({"country": 42}, INVALID),
        ({"country": ["FR"]}, INVALID),
        ({"country": {"code": "FR"}}, INVALID),
        ({"country": True}, INVALID),
        ({"subdivision": "FR-Z_Z"}, INVALID),
        ({"ip": "not an address"}, INVALID),
        ({"ip": 42}, INVALID),
        ({"ip": "192.0.2.1"}, UNKNOWN),
        ({}, UNKNOWN),
        ({"targetingKey": "user-1"}, UNKNOWN),
        ({"country": None}, UNKNOWN),
    ],
)
def test_unusable_location_is_a_200_deny(client, context, expected):
    """
    An unknown or invalid location is an answer, never an error: 200, deny, reason UNKNOWN;
    the metadata says geogate's reason (DEFAULT or ERROR) and, for an error, its code.
    """
    response = post(client, VISION, {"context": context})

    assert 200 == response.status_code
    body = response.json()
    assert (False, "deny", "UNKNOWN", *expected) == (
        body["value"],
        body["variant"],
        body["reason"],
        body["metadata"]["location"],
        body["metadata"]["reason"],
        body["metadata"].get("errorCode"),
    )
    assert "rule" not in body["metadata"]
    assert "errorCode" not in body


@pytest.mark.parametrize("content", [b"", b"  ", b"{}", b'{"context": null}', b'{"other": 1}'])
def test_no_context_is_allowed(client, content):
    """The body and its context are optional: the request's own location is used."""
    response = client.post(SINGLE + VISION, content=content)

    assert (200, False, "unknown") == (
        response.status_code,
        response.json()["value"],
        response.json()["metadata"]["location"],
    )


def test_ip_in_the_context(client):
    """``ip`` is located through the gate's GeoIP database."""
    body = post(client, VISION, {"context": {"ip": "81.2.69.160"}}).json()

    assert (True, "GB", "geoip") == (
        body["value"],
        body["metadata"]["country"],
        body["metadata"]["locationSource"],
    )


# The request's own location, when the context has none.


def test_trusted_header_locates_the_request(client):
    """Without a location in the context, a trusted proxy's CF-IPCountry is used."""
    body = post(client, VISION, {"context": {}}, headers={"CF-IPCountry": "DE"}).json()

    assert (False, "eu-multimodal-withheld", "DE", "header:cloudflare") == (
        body["value"],
        body["metadata"]["rule"],
        body["metadata"]["country"],
        body["metadata"]["locationSource"],
    )


def test_context_wins_over_the_request(client):
    """A location in the context beats the request's headers."""
    body = post(client, VISION, {"context": {"country": "GB"}}, headers={"CF-IPCountry": "DE"})

    assert ("GB", "explicit") == (
        body.json()["metadata"]["country"],
        body.json()["metadata"]["locationSource"],
    )


def test_domicile_alone_keeps_the_request_location(client):
    """A context with only ``domicile`` still takes the location from the request."""
    body = post(
        client,
        VISION,
        {"context": {"domicile": "US"}},
        headers={"CF-IPCountry": "GB"},
    ).json()

    assert ("GB", "header:cloudflare", "US") == (
        body["metadata"]["country"],
        body["metadata"]["locationSource"],
        body["metadata"]["domicile"],
    )


def test_untrusted_peer_header_is_ignored(gate):
    """A CF-IPCountry from a peer outside the trusted networks does not count."""
    app = create_app(gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"])
    with SpecClient(app, client=STRANGER) as stranger:
        body = post(stranger, VISION, {"context": {}}, headers={"CF-IPCountry": "GB"}).json()

    assert (False, "unknown") == (body["value"], body["metadata"]["location"])


def test_forwarded_client_is_located_by_geoip(client):
    """Behind a trusted proxy, the X-Forwarded-For client is looked up in GeoIP."""
    body = post(client, VISION, None, headers={"X-Forwarded-For": "89.160.20.112"}).json()

    assert (False, "SE", "geoip") == (
        body["value"],
        body["metadata"]["country"],
        body["metadata"]["locationSource"],
    )


# Errors the protocol defines: 404 and 400.


def test_unknown_flag_is_404(client, gate):
    """An unknown flag: 404 FLAG_NOT_FOUND, with a suggestion."""
    response = post(client, "llama-vision", {"context": {"country": "FR"}})

    assert 404 == response.status_code
    assert {
        "key": "llama-vision",
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": (
            f"no flag 'llama-vision' in policy {short_revision(gate.revision)}; "
            "did you mean 'llama-3.2-vision'?"
        ),
    } == response.json()


def test_unknown_flag_on_a_strict_gate_is_404():
    """A strict gate raises for an unknown feature; the server still answers 404."""
    app = create_app(Gate.from_path(POLICIES, strict=True))
    with SpecClient(app) as strict:
        response = post(strict, "zzz", {})

    assert (404, "FLAG_NOT_FOUND") == (response.status_code, response.json()["errorCode"])
    assert response.json()["errorDetails"].startswith("no flag 'zzz' in policy sha256:")


def test_flag_key_with_a_slash_is_404(client):
    """A key with a slash is a flag that does not exist, not a missing endpoint."""
    response = post(client, "meta/llama", {})

    assert (404, "meta/llama") == (response.status_code, response.json()["key"])


BAD_BODIES = [
    (
        b"{bad",
        "PARSE_ERROR",
        (
            "the body is not valid JSON (Expecting property name enclosed in double quotes: "
            'line 1 column 2 (char 1)); send {"context": {...}}'
        ),
    ),
    (
        b'{"context": {"country": NaN}}',
        "PARSE_ERROR",
        'the body is not valid JSON (NaN is not JSON); send {"context": {...}}',
    ),
    (
        b"[" * 5000 + b"]" * 5000,
        "PARSE_ERROR",
        'the body is not valid JSON (it is nested too deeply); send {"context": {...}}',
    ),
    (
        b"\xff\xfe\xfa",
        "PARSE_ERROR",
        'the body is not UTF-8 (byte 0xff at offset 0); send UTF-8 JSON like {"context": {...}}',
    ),
    (
        b'[{"context": {}}]',
        "PARSE_ERROR",
        'the body must be a JSON object like {"context": {...}}, not an array',
    ),
    (
        b'"FR"',
        "PARSE_ERROR",
        'the body must be a JSON object like {"context": {...}}, not a string',
    ),
    (
        b'{"context": "FR"}',
        "INVALID_CONTEXT",
        '"context" must be a JSON object like {"country": "FR"}, not a string',
    ),
    (
        b'{"context": ["FR"]}',
        "INVALID_CONTEXT",
        '"context" must be a JSON object like {"country": "FR"}, not an array',
    ),
    (
        b'{"context": 1}',
        "INVALID_CONTEXT",
        '"context" must be a JSON object like {"country": "FR"}, not a number',
    ),
    (
        b'{"context": false}',
        "INVALID_CONTEXT",
        '"context" must be a JSON object like {"country": "FR"}, not a boolean',
    ),
]


@pytest.mark.parametrize(("content", "code", "details"), BAD_BODIES)
def test_bad_body_is_400(client, content, code, details):
    """Only a malformed body or a context that is not an object gets 400; messages pinned."""
    response = client.post(
        SINGLE + VISION, content=content, headers={"Content-Type": "application/json"}
    )

    assert 400 == response.status_code
    assert {"key": VISION, "errorCode": code, "errorDetails": details} == response.json()


@pytest.mark.parametrize(("content", "code", "details"), BAD_BODIES)
def test_bad_body_is_400_in_bulk(client, content, code, details):
    """The bulk endpoint answers the same, without a key."""
    response = client.post(BULK, content=content)

    assert 400 == response.status_code
    assert {"errorCode": code, "errorDetails": details} == response.json()


# Statuses outside the protocol: JSON bodies, never a traceback.


def test_body_over_the_limit_is_413(client):
    """A body over 64 KiB gets 413, whether or not it says its length first."""
    big = {"context": {"padding": "x" * MAX_BODY}}

    declared = post(client, VISION, big)
    streamed = client.post(SINGLE + VISION, content=iter([b'{"context": {"p": "', b"x" * MAX_BODY]))

    expected = {
        "errorDetails": "the request body is larger than 65536 bytes; send a smaller context"
    }
    assert (413, expected) == (declared.status_code, declared.json())
    assert (413, expected) == (streamed.status_code, streamed.json())


def test_body_at_the_limit_is_read(gate):
    """The limit is configurable, and a body of exactly that size is accepted."""
    body = b'{"context": {"country": "FR"}}'
    with SpecClient(create_app(gate, max_body=len(body))) as small:
        exact = small.post(SINGLE + VISION, content=body)
        over = small.post(SINGLE + VISION, content=body + b" ")

    assert (200, 413) == (exact.status_code, over.status_code)


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_non_json_content_type_is_415(client, kind):
    """JSON only: another content type gets 415 and says what to send."""
    response = client.post(SINGLE + VISION, content=b"{}", headers={"Content-Type": kind})

    shown = kind or "an empty content type"
    assert 415 == response.status_code
    assert {
        "errorDetails": (
            f"the body must be JSON, not {shown!r}; send Content-Type: application/json"
        )
    } == response.json()


@pytest.mark.parametrize("kind", ["application/json; charset=utf-8", "application/ofrep+json"])
def test_json_content_types_are_read(client, kind):
    """``application/json`` with parameters, and ``+json`` types, are JSON."""
    response = client.post(
        SINGLE + VISION, content=b'{"context": {"country": "FR"}}', headers={"Content-Type": kind}
    )

    assert 200 == response.status_code


def test_wrong_method_is_405_json(client):
    """GET on an evaluation endpoint: 405 with Allow, as JSON."""
    response = client.get(SINGLE + VISION)

    assert (405, "POST") == (response.status_code, response.headers["allow"])
    assert {"errorDetails": f"GET is not allowed on {SINGLE}{VISION}; use POST"} == response.json()


def test_unknown_endpoint_is_404_json(client):
    """An unknown path: 404 as JSON, listing the endpoints."""
    response = client.get("/ofrep/v2/nothing")

    assert 404 == response.status_code
    assert {
        "errorDetails": (
            "no endpoint GET /ofrep/v2/nothing; the endpoints are POST "
            "/ofrep/v1/evaluate/flags/{key}, POST /ofrep/v1/evaluate/flags, GET /healthz "
            "and GET /readyz"
        )
    } == response.json()


class _Broken(Gate):
    """A gate whose evaluation fails, to see what a server error looks like."""

    __slots__ = ()

    def evaluate(self, _feature, **_options):
        msg = "secret internal detail"
        raise RuntimeError(msg)


def test_internal_error_is_500_without_traceback(caplog):
    """An unexpected failure: 500, a JSON body with no detail of it, and a log record."""
    broken = _Broken(Gate.from_path(POLICIES).policy)
    with SpecClient(create_app(broken), raise_server_exceptions=False) as failing:
        response = post(failing, VISION, {"context": {"country": "FR"}})

    assert 500 == response.status_code
    assert {"errorDetails": "internal error; the server log has the details"} == response.json()
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert any(record.exc_info for record in caplog.records)


# Bulk evaluation, ETag and 304.


def test_bulk_evaluates_every_feature(client, gate):
    """Every feature, sorted, each exactly as the single endpoint answers it."""
    context = {"context": {"country": "FR"}}
    response = client.post(BULK, json=context)

    assert 200 == response.status_code
    flags = response.json()["flags"]
    assert list(gate.features) == [flag["key"] for flag in flags]
    assert [post(client, key, context).json() for key in gate.features] == flags


def test_bulk_uses_the_request_location(client):
    """Without a location in the context, the request's is used for every flag."""
    response = client.post(BULK, json={}, headers={"CF-IPCountry": "GB"})

    assert {"GB"} == {flag["metadata"]["country"] for flag in response.json()["flags"]}


def etag(client, body, **headers):
    return client.post(BULK, json=body, headers=headers).headers["etag"]


def test_bulk_etag_and_304(client):
    """The ETag is a quoted tag; If-None-Match with it (weak, listed or *) gets 304."""
    body = {"context": {"country": "FR"}}
    tag = etag(client, body)

    assert ('"', '"', 42) == (tag[0], tag[-1], len(tag))
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        response = client.post(BULK, json=body, headers={"If-None-Match": header})
        assert (304, b"", tag) == (response.status_code, response.content, response.headers["etag"])
    stale = client.post(BULK, json=body, headers={"If-None-Match": '"other"'})
    assert (200, tag) == (stale.status_code, stale.headers["etag"])


def test_bulk_etag_follows_the_context(client):
    """The ETag changes with every part of the context, and with the request's location."""
    tags = {
        etag(client, {"context": {"country": "FR"}}),
        etag(client, {"context": {"country": "DE"}}),
        etag(client, {"context": {"country": "FR", "targetingKey": "user-1"}}),
        etag(client, {"context": {"country": "FR", "domicile": "US"}}),
        etag(client, {}, **{"CF-IPCountry": "GB"}),
        etag(client, {}, **{"CF-IPCountry": "DE"}),
    }

    assert 6 == len(tags)
    assert etag(client, {"context": {"country": "FR", "a": 1, "b": 2}}) == etag(
        client, {"context": {"b": 2, "a": 1, "country": "FR"}}
    )


def test_bulk_etag_follows_the_policy_revision(tmp_path, gate):
    """Another policy revision gives another ETag for the same context, and no 304."""
    shutil.copytree(POLICIES, tmp_path / "policies", ignore=shutil.ignore_patterns("tests"))
    changed = tmp_path / "policies" / "meta-llama.yaml"
    changed.write_text(changed.read_text() + "\n# a comment changes the revision\n")
    other = Gate.from_path(tmp_path / "policies")
    body = {"context": {"country": "FR"}}
    with SpecClient(create_app(gate)) as first, SpecClient(create_app(other)) as second:
        tag = etag(first, body)
        response = second.post(BULK, json=body, headers={"If-None-Match": tag})

    assert gate.revision != other.revision
    assert (200, True) == (response.status_code, response.headers["etag"] != tag)


# Health and readiness.


def test_healthz_and_readyz(client, gate):
    """Alive, and ready with the revision and the number of features."""
    assert (200, {"status": "ok"}) == (
        client.get("/healthz").status_code,
        client.get("/healthz").json(),
    )
    assert (
        200,
        {"status": "ready", "revision": gate.revision, "features": 5, "lastReload": None},
    ) == (client.get("/readyz").status_code, client.get("/readyz").json())


def test_not_ready_until_the_policies_are_loaded(gate):
    """With a loader, /readyz and evaluation answer 503 until it returns; /healthz 200."""
    release = threading.Event()

    def load() -> Gate:
        release.wait(10)
        return gate

    with SpecClient(create_app(load)) as loading:
        ready = loading.get("/readyz")
        evaluation = post(loading, VISION, {"context": {"country": "FR"}})
        alive = loading.get("/healthz")
        release.set()
        for _ in range(200):
            if loading.get("/readyz").status_code == 200:
                break
            threading.Event().wait(0.01)
        after = post(loading, VISION, {"context": {"country": "FR"}})

    waiting = "the policies are not loaded yet; retry shortly"
    assert (503, {"status": "loading", "errorDetails": waiting}) == (
        ready.status_code,
        ready.json(),
    )
    assert (503, {"errorDetails": waiting}, "1") == (
        evaluation.status_code,
        evaluation.json(),
        evaluation.headers["retry-after"],
    )
    assert 200 == alive.status_code
    assert (200, False) == (after.status_code, after.json()["value"])


def test_failed_loading_stays_not_ready(tmp_path):
    """A loader that fails leaves the server alive but not ready, saying why."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [\n")

    app = create_app(lambda: Gate.from_path(bad))
    with SpecClient(app) as failed:
        for _ in range(200):
            if failed.get("/readyz").json()["status"] != "loading":
                break
            threading.Event().wait(0.01)
        ready = failed.get("/readyz")
        evaluation = post(failed, VISION, {})

    assert (503, "failed") == (ready.status_code, ready.json()["status"])
    assert ready.json()["errorDetails"].startswith("the policies did not load: PolicyError: ")
    assert 503 == evaluation.status_code
    assert 200 == SpecClient(app).get("/healthz").status_code


# Configuration errors raise when the app is built.


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"providers": ["nope"]}, ValueError, "unknown provider 'nope'"),
        ({"providers": "cloudflare"}, ValueError, "providers must be a list"),
        ({"trusted_proxies": ["not a network"]}, ValueError, "not a network"),
        ({"max_body": 0}, ValueError, "max_body must be a positive number of bytes, not 0"),
    ],
)
def test_bad_configuration_raises(gate, options, error, message):
    with pytest.raises(error, match=message):
        create_app(gate, **options)


def test_gate_must_be_a_gate_or_a_loader():
    with pytest.raises(
        TypeError,
        match=re.escape("gate must be a geogate.Gate or a function that returns one, not 42"),
    ):
        create_app(42)  # type: ignore[arg-type]


# geogate serve


@pytest.fixture
def runs(monkeypatch):
    """Capture what ``geogate serve`` would hand to uvicorn.run."""
    import uvicorn  # noqa: PLC0415

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.delenv(serve_module.CONFIG_VARIABLE, raising=False)
    monkeypatch.delenv("GEOGATE_GEOIP_DB", raising=False)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP)}
    yield calls
    # serve restores them; a worker's application (built here by hand) ignores SIGHUP.
    assert handlers[signal.SIGTERM] == signal.getsignal(signal.SIGTERM)
    for number, handler in handlers.items():
        signal.signal(number, handler)


def test_serve_runs_uvicorn(runs):
    """One worker: the app itself, on the host and port asked for."""
    result = CliRunner().invoke(
        main,
        [
            "serve",
            "--policies",
            str(POLICIES),
            "--port",
            "9999",
            "--provider",
            "cloudflare",
            "--trust",
            "10.0.0.0/8",
        ],
    )

    assert (ExitCode.OK, 1) == (result.exit_code, len(runs)), result.output
    app, options = runs[0]
    assert isinstance(app, Starlette)
    protocol = options.pop("http")
    assert {
        "host": "127.0.0.1",
        "port": 9999,
        "ws": "none",
        "server_header": False,
        "timeout_keep_alive": 5.0,
        "limit_concurrency": 1000,
    } == options
    assert (True, 10.0) == (issubclass(protocol, H11Protocol), protocol.header_timeout)
    with SpecClient(app, client=PROXY) as served:
        response = post(served, VISION, {}, headers={"CF-IPCountry": "GB"})
    assert (True, "header:cloudflare") == (
        response.json()["value"],
        response.json()["metadata"]["locationSource"],
    )


def test_serve_with_workers_hands_the_options_on(runs, country_db, monkeypatch):
    """Several workers: an import string, and the options in the environment."""
    monkeypatch.setattr(serve_module.os, "environ", dict(serve_module.os.environ))
    result = CliRunner().invoke(
        main,
        [
            "serve",
            "--policies",
            str(POLICIES),
            "--geoip-db",
            str(country_db),
            "--workers",
            "3",
            "--trust",
            "10.0.0.0/8",
            "--forwarded",
            "forwarded",
        ],
    )

    assert ExitCode.OK == result.exit_code, result.output
    assert [
        (
            "geogate.cli.serve:worker_app",
            {
                "factory": True,
                "host": "127.0.0.1",
                "port": 8016,
                "workers": 3,
                "ws": "none",
                "server_header": False,
                "http": "geogate.cli.serve:WorkerProtocol",
                "timeout_keep_alive": 5.0,
                "limit_concurrency": 1000,
                "timeout_worker_healthcheck": 60,
            },
        )
    ] == runs
    assert {
        "policies": str(POLICIES.resolve()),
        "geoip_db": str(Path(country_db).resolve()),
        "providers": [],
        "trust": ["10.0.0.0/8"],
        "forwarded": "forwarded",
        "watch": None,
        "decision_log": None,
        "parquet": False,
        "header_timeout": 10.0,
        "body_timeout": 10.0,
    } == json.loads(serve_module.os.environ[serve_module.CONFIG_VARIABLE])
    assert 10.0 == serve_module.WorkerProtocol.header_timeout
    with SpecClient(serve_module.worker_app()) as worker:
        # Loaded during the startup: ready at once.
        ready = worker.get("/readyz")
        response = post(worker, VISION, {"context": {"ip": "81.2.69.160"}})
    assert (200, True, "geoip") == (
        ready.status_code,
        response.json()["value"],
        response.json()["metadata"]["locationSource"],
    )


@pytest.mark.usefixtures("runs")
def test_serve_without_the_extra_says_how_to_install(monkeypatch):
    """A missing serve extra: exit 3 and the install command."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(main, ["serve", "--policies", str(POLICIES)])

    assert ExitCode.ENVIRONMENT == result.exit_code
    assert (
        "geogate: geogate serve needs the serve extra; install it: "
        "pip install 'geogate[serve]' (from a checkout: pip install -e '.[serve]')\n"
        == result.output
    )


def test_ofrep_without_starlette_says_how_to_install(monkeypatch):
    """Without Starlette, importing geogate.ofrep names the extra both ways."""
    monkeypatch.setitem(sys.modules, "starlette.exceptions", None)
    monkeypatch.delitem(sys.modules, "geogate.ofrep")

    with pytest.raises(ImportError) as raised:
        importlib.import_module("geogate.ofrep")

    assert (
        "geogate.ofrep needs Starlette; install the extra: pip install 'geogate[serve]' "
        "(from a checkout: pip install -e '.[serve]')"
    ) == str(raised.value)


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--provider", "nope"], ExitCode.USAGE, "unknown provider 'nope'"),
        (["--trust", "nonsense"], ExitCode.USAGE, "nonsense"),
        (["--workers", "0"], ExitCode.USAGE, "0 is not in the range x>=1"),
        (["--policies", "/does/not/exist"], ExitCode.ENVIRONMENT, "did not load"),
        (["--geoip-db", "/does/not/exist.mmdb"], ExitCode.ENVIRONMENT, "exist.mmdb"),
        (["--watch", "0"], ExitCode.USAGE, "0.0 is not in the range x>0"),
        (["--header-timeout", "-1"], ExitCode.USAGE, "-1.0 is not in the range x>0"),
        (["--limit-concurrency", "0"], ExitCode.USAGE, "0 is not in the range x>=1"),
        (
            ["--decision-log", "/does/not/exist/decisions.jsonl"],
            ExitCode.ENVIRONMENT,
            (
                "geogate: cannot write the decision log '/does/not/exist/decisions.jsonl': its "
                "folder '/does/not/exist' does not exist or is not writable; create it or choose "
                "another --decision-log"
            ),
        ),
    ],
)
def test_serve_refuses_bad_options_before_serving(runs, arguments, code, message):
    """Bad options and unusable files stop ``serve`` before uvicorn starts."""
    result = CliRunner().invoke(main, ["serve", "--policies", str(POLICIES), *arguments])

    assert (code, []) == (result.exit_code, runs)
    assert message in result.output


def test_serve_refuses_policies_with_errors(runs, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [\n")
    result = CliRunner().invoke(main, ["serve", "--policies", str(bad)])

    assert (ExitCode.FINDINGS, []) == (result.exit_code, runs)


def test_serve_provider_without_trust_is_a_usage_error(runs):
    """--provider alone would never be honoured: exit 2, saying why and how to fix it."""
    result = CliRunner().invoke(
        main, ["serve", "--policies", str(POLICIES), "--provider", "cloudflare"]
    )

    assert (ExitCode.USAGE, []) == (result.exit_code, runs)
    assert (
        "Error: --provider cloudflare is ignored without --trust: CDN headers are honoured only "
        "from trusted proxies, so anyone could otherwise claim a country. Add --trust CIDR for "
        "each network of the proxies or CDN edges that connect to this server (e.g. --trust "
        "173.245.48.0/20 for a Cloudflare range), or drop --provider.\n"
    ) == result.output.split("\n\n", 1)[1]


@pytest.mark.parametrize(
    ("arguments", "interval"),
    [([], False), (["--watch"], 1.0), (["--watch", "0.25"], 0.25)],
)
def test_serve_builds_a_gate_that_reloads(runs, monkeypatch, tmp_path, arguments, interval):
    """One worker: a gate from the files (it can reload), watched with --watch, logging, closed."""
    built = []
    from_path = Gate.from_path

    def spy(*paths, **options):
        built.append((paths, options, from_path(*paths, **options)))
        return built[-1][2]

    monkeypatch.setattr(serve_module.Gate, "from_path", spy)
    log = tmp_path / "decisions.jsonl"
    command = ["serve", "--policies", str(POLICIES), "--decision-log", str(log), *arguments]
    result = CliRunner().invoke(main, command)

    assert (ExitCode.OK, 1) == (result.exit_code, len(runs)), result.output
    [(paths, options, gate)] = built
    assert ((str(POLICIES),), interval, str(log)) == (
        paths,
        options["watch"],
        options["decision_log"],
    )
    assert (str(POLICIES),) == gate.paths
    assert not gate.watching  # closed when uvicorn returned


# Reloads, as /readyz and the bulk ETag see them.


@pytest.fixture
def reloadable(tmp_path):
    """A copy of the policies, and a gate built from it."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder, ignore=shutil.ignore_patterns("tests"))
    with Gate.from_path(folder) as loaded:
        yield folder, loaded


def test_readyz_reports_the_last_reload(reloadable):
    """lastReload: null, then a successful reload, then a failed one (the old revision serves)."""
    folder, gate = reloadable
    first = gate.revision
    with SpecClient(create_app(gate)) as served:
        before = served.get("/readyz").json()
        changed = folder / "meta-llama.yaml"
        changed.write_text(changed.read_text() + "\n# a new revision\n")
        gate.reload()
        second = gate.revision
        reloaded = served.get("/readyz").json()
        (folder / "broken.yaml").write_text("features:\n  x: {default: maybe}\n")
        gate.reload()
        failed = served.get("/readyz").json()
        evaluation = post(served, VISION, {"context": {"country": "GB"}}).json()

    assert None is before["lastReload"]
    assert first != second
    for report in (reloaded["lastReload"], failed["lastReload"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report.pop("at"))
    assert {
        "status": "ready",
        "revision": second,
        "features": 5,
        "lastReload": {
            "ok": True,
            "revision": second,
            "previous": first,
            "errorCount": 0,
            "errors": [],
        },
    } == reloaded
    assert (second, False, second, 1) == (
        failed["revision"],
        failed["lastReload"]["ok"],
        failed["lastReload"]["revision"],
        failed["lastReload"]["errorCount"],
    )
    error = (
        f"{folder / 'broken.yaml'}:2:16: error: features.x.default must be one of allow, deny; "
        "got the string 'maybe' [invalid-default]"
    )
    assert [error] == failed["lastReload"]["errors"]
    assert (True, second) == (evaluation["value"], evaluation["metadata"]["revision"])


def test_bulk_etag_changes_across_a_reload(reloadable):
    """The same context before and after a reload: another ETag, so If-None-Match gets a 200."""
    folder, gate = reloadable
    body = {"context": {"country": "FR"}}
    with SpecClient(create_app(gate)) as served:
        tag = etag(served, body)
        unchanged = served.post(BULK, json=body, headers={"If-None-Match": tag})
        changed = folder / "meta-llama.yaml"
        changed.write_text(changed.read_text() + "\n# a new revision\n")
        assert gate.reload().ok
        response = served.post(BULK, json=body, headers={"If-None-Match": tag})

    assert 304 == unchanged.status_code
    assert (200, True) == (response.status_code, response.headers["etag"] != tag)
    assert {gate.revision} == {f["metadata"]["revision"] for f in response.json()["flags"]}


def test_sighup_needs_the_main_thread(gate, caplog):
    """Under a test client (no main-thread loop) reload_on_sighup says why it cannot listen."""
    with SpecClient(create_app(gate, reload_on_sighup=True)) as served:
        assert 200 == served.get("/readyz").status_code

    assert any("cannot reload on SIGHUP" in r.getMessage() for r in caplog.records)


def test_close_gate_closes_it_at_shutdown(tmp_path):
    """close_gate=True: the application's shutdown closes the gate (and writes out its log)."""
    log = tmp_path / "decisions.jsonl"
    gate = Gate.from_path(POLICIES, decision_log=log, watch=60)
    with SpecClient(create_app(gate, close_gate=True)) as served:
        post(served, VISION, {"context": {"country": "FR"}})
        assert gate.watching

    assert (False, 1) == (gate.watching, len(log.read_text().splitlines()))


def test_load_at_startup_fails_the_startup(tmp_path):
    """load_at_startup=True: a loader that fails stops the application from starting."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [\n")
    app = create_app(lambda: Gate.from_path(bad), load_at_startup=True)

    with pytest.raises(RuntimeError, match="the policies did not load, so the server does not"):
        SpecClient(app).__enter__()


# The body timeout.


def slow_receive(chunks: list[bytes], pause: float):
    """An ASGI receive that gives *chunks* with *pause* seconds before each."""
    remaining = list(chunks)

    async def receive():
        await asyncio.sleep(pause)
        chunk = remaining.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(remaining)}

    return receive


def call(app, path: str, receive) -> tuple[int, dict[str, str], bytes]:
    """Call *app* for one POST and return its status, headers and body."""
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8016),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.slow
@pytest.mark.parametrize("path", [SINGLE + VISION, BULK])
def test_slow_body_is_408(gate, path):
    """A body still arriving after body_timeout: 408, and the connection is to be closed."""
    app = create_app(gate, body_timeout=0.2)
    chunks = [b'{"context": ', b'{"country": "FR"}', b"}"]

    status, headers, body = call(app, path, slow_receive(chunks, 0.15))
    fast = call(app, path, slow_receive(chunks, 0.01))

    assert (408, "close") == (status, headers["connection"])
    assert {
        "errorDetails": "the request body did not arrive within 0.2 seconds; send the whole body "
        "at once"
    } == json.loads(body)
    assert 200 == fast[0]


@pytest.mark.parametrize("timeout", [0, -1, True, "10"])
def test_bad_body_timeout_raises(gate, timeout):
    with pytest.raises(ValueError, match="body_timeout must be a positive number of seconds"):
        create_app(gate, body_timeout=timeout)


# Any JSON the parser accepts: 200 or 400, never 500 (see also laws/test_ofrep.py).


@pytest.mark.parametrize(
    "content",
    [
        b'{"context": {"country": "FR", "x": "\\ud800"}}',
        b'{"context": {"country": "\\udfff"}}',
        b'{"context": {"\\ud800": "FR", "country": "DE"}}',
        b'{"context": {"domicile": "\\ud800", "subdivision": "\\ud800-1"}}',
        b'{"context": {}, "\\ud800": 1}',
        # As deep as a body may nest (deeper is a 400 on every Python; see below).
        b'{"context": {"country": "FR", "x": ' + b"[" * 62 + b"]" * 62 + b"}}",
        b'{"context": {"country": "FR", "n": 1' + b"0" * 4000 + b"}}",
    ],
)
@pytest.mark.parametrize("path", [SINGLE + VISION, BULK])
def test_lone_surrogates_and_extremes_are_answered(client, path, content):
    """Lone surrogates, deep nesting, huge numbers: a 200 deny or allow, never a 500."""
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})

    assert 200 == response.status_code
    assert response.json()


def test_a_key_given_twice_is_refused_not_guessed(client):
    """``{"country": "FR", "country": "US"}``: which one counts would be a guess, so 400."""
    response = client.post(
        "/ofrep/v1/evaluate/flags/llama-3.2-vision",
        content=b'{"context": {"country": "FR", "country": "US"}}',
        headers={"content-type": "application/json"},
    )
    assert (400, "PARSE_ERROR") == (response.status_code, response.json()["errorCode"])
    assert "the key 'country' is given twice" in response.json()["errorDetails"]


@pytest.mark.parametrize(("depth", "status"), [(63, 200), (64, 200), (65, 400), (500, 400)])
def test_nesting_is_limited_the_same_on_every_python(client, depth, status):
    """
    A body nested deeper than 64 levels is refused on every Python: 3.13 parses
    5,000 levels that 3.11 and 3.12 stop at with a RecursionError.
    """
    inner = "[" * (depth - 2) + "]" * (depth - 2)
    body = '{"context": {"country": "GB", "extra": ' + inner + "}}" if depth > 2 else "{}"
    response = post(
        client, VISION, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert status == response.status_code, response.text
    if status == 400:
        assert "nested too deeply" in response.json()["errorDetails"]
