"""
Adversarial input at run time: every public entry point is given garbage.

The Python API, the ASGI and WSGI middleware and the CLI must deny (``allowed
is False``) or refuse cleanly; none may fail open. Crafted policy files are in
``tests/policy/test_hostile_files.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from geogate.asgi import GeogateMiddleware as AsgiMiddleware
from geogate.cli import main
from geogate.wsgi import GeogateMiddleware as WsgiMiddleware
from helpers.paths import POLICIES

if TYPE_CHECKING:
    from geogate import Gate

FEATURE = "llama-3.2-vision"  # allowed in the US, denied in the EU, unknown: deny
LICENCE = "llama-3.2-vision-license"  # decided on domicile


# Run-time garbage: the Python API


GARBAGE_LOCATIONS: list[object] = [
    123,
    1.5,
    True,
    b"US",
    ["US"],
    {"US": 1},
    object(),
    "",
    "US\x00",
    "US\n",
    " US",
    "\x1b[31mUS",
    "\ud800",
    "U\udcffS",
    "U" * 1_000_000,
    "US-CA-XX",
    "XX",
    "T1",
]

GARBAGE_IPS: list[object] = [
    "[2001:db8::1]",
    "[2001:db8::1]:443",
    "81.2.69.1:80",
    "fe80::1%eth0",
    "::1%1",
    "fe80::1%25eth0",
    " 81.2.69.1",
    "81.2.69.1\n",
    "81.2.69.1\x00",
    "\x00",
    "\ud800",
    "1" * 1_000_000,
    "081.2.69.1",
    "81.2.69",
    "0x51.2.69.1",
    12345,
    b"81.2.69.1",
    bytearray(b"81.2.69.1"),
    ["81.2.69.1"],
    None,
]


@pytest.mark.parametrize("value", GARBAGE_LOCATIONS, ids=lambda v: repr(v)[:20])
def test_garbage_country_and_subdivision_deny(shipped_gate: Gate, value: object) -> None:
    """A country or subdivision of the wrong type or shape denies; it never allows."""
    for call in (shipped_gate.evaluate, shipped_gate.is_allowed):
        for field in ("country", "subdivision"):
            result = call(FEATURE, **{field: value})  # type: ignore[arg-type]
            allowed = result if isinstance(result, bool) else result.allowed
            assert allowed is False, (field, value, result)


@pytest.mark.parametrize("value", GARBAGE_LOCATIONS, ids=lambda v: repr(v)[:20])
def test_garbage_domicile_denies(shipped_gate: Gate, value: object) -> None:
    """A domicile of the wrong type or shape denies a feature decided on domicile."""
    assert shipped_gate.evaluate(LICENCE, domicile="US").allowed is True  # the control
    assert shipped_gate.evaluate(LICENCE, domicile=value).allowed is False
    assert shipped_gate.is_allowed(LICENCE, domicile=value) is False


@pytest.mark.parametrize("value", GARBAGE_IPS, ids=lambda v: repr(v)[:20])
def test_garbage_ips_deny(shipped_gate: Gate, value: object) -> None:
    """Brackets, ports, zone ids, white space, wrong types: the IP path denies."""
    decision = shipped_gate.evaluate(FEATURE, ip=value)

    assert decision.allowed is False
    assert shipped_gate.is_allowed(FEATURE, ip=value) is False


@pytest.mark.parametrize(
    "feature",
    [None, 123, b"llama-3.2-vision", "llama-3.2-vision\x00", "\ud800", "x" * 1_000_000, ["a"]],
    ids=repr,
)
def test_garbage_feature_ids_deny(shipped_gate: Gate, feature: object) -> None:
    """An unknown or mistyped feature id denies with FLAG_NOT_FOUND or INVALID_CONTEXT."""
    decision = shipped_gate.evaluate(feature, country="US")  # type: ignore[arg-type]

    assert decision.allowed is False
    assert decision.error_code is not None
    assert shipped_gate.is_allowed(feature, country="US") is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "at",
    ["9999-99-99", "0000-01-01", "10000-01-01", "\ud800", "", 10**20, -1, 1.5, b"2026-01-01",
     dt.datetime(2026, 1, 1), "2026-01-01T00:00:00", object()],  # noqa: DTZ001 (naive on purpose)
    ids=repr,
)  # fmt: skip
def test_garbage_dates_deny(shipped_gate: Gate, at: object) -> None:
    """An unreadable or naive date denies instead of guessing a day."""
    assert shipped_gate.evaluate(FEATURE, country="US", at=at).allowed is False
    assert shipped_gate.is_allowed(FEATURE, country="US", at=at) is False


def test_the_controls_allow(shipped_gate: Gate) -> None:
    """The garbage tests mean something: the same feature is allowed for a clean US request."""
    assert shipped_gate.evaluate(FEATURE, country="US").allowed is True
    assert shipped_gate.is_allowed(FEATURE, country="us") is True


# Run-time garbage: middleware and CLI


BAD_HEADERS: list[tuple[bytes, bytes]] = [
    (b"cf-ipcountry", b"\xff\xfe"),
    (b"cf-ipcountry", b"U\x00S"),
    (b"cf-ipcountry", b"US\r\nX-Injected: 1"),
    (b"cf-ipcountry", b"\xc3\x28"),
    (b"cf-ipcountry", b"U" * 100_000),
    (b"\xff\xfe", b"US"),
    (b"x-forwarded-for", b"\xed\xa0\x80"),
    (b"x-forwarded-for", b"[2001:db8::1]:443, \xff"),
    (b"x-forwarded-for", b"fe80::1%eth0"),
]


def _asgi_call(gate: Gate, headers: list[tuple[bytes, bytes]], client: object) -> list[object]:
    seen: list[object] = []

    async def app(scope, _receive, send) -> None:
        seen.append(scope["state"]["geogate_location"])
        seen.append(gate.evaluate(FEATURE))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = AsgiMiddleware(
        app, gate=gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "client": client}
    asyncio.run(middleware(scope, receive, send))
    return seen


@pytest.mark.parametrize("header", BAD_HEADERS, ids=repr)
@pytest.mark.parametrize("client", [("10.0.0.2", 4000), ("203.0.113.9", 4000), None, ("\xff", 1)])
def test_asgi_middleware_denies_on_invalid_header_bytes(shipped_gate: Gate, header, client) -> None:
    """Raw ASGI headers with invalid UTF-8, injections and odd peers deny, never allow."""
    location, decision = _asgi_call(shipped_gate, [header], client)

    assert location.country is None
    assert decision.allowed is False


def test_asgi_middleware_control_allows(shipped_gate: Gate) -> None:
    """The control: a clean header from a trusted proxy locates the request and allows."""
    location, decision = _asgi_call(shipped_gate, [(b"cf-ipcountry", b"US")], ("10.0.0.2", 4000))

    assert "US" == location.country
    assert decision.allowed is True


@pytest.mark.parametrize(
    "environ",
    [
        {"HTTP_CF_IPCOUNTRY": "\xff\xfe", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": "U\x00S", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": "10.0.0.2:80"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": "[::1]"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": "\ud800"},
        {"HTTP_CF_IPCOUNTRY": "US", "REMOTE_ADDR": None},
        {"HTTP_CF_IPCOUNTRY": "US"},
        {"HTTP_CF_IPCOUNTRY": "US" * 10_000, "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_X_FORWARDED_FOR": "\xff, 10.0.0.3", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": b"US", "REMOTE_ADDR": "10.0.0.2"},
        {"HTTP_CF_IPCOUNTRY": 7, "REMOTE_ADDR": "10.0.0.2"},
    ],
    ids=repr,
)
def test_wsgi_middleware_denies_on_garbage(shipped_gate: Gate, environ: dict[str, object]) -> None:
    """WSGI environ garbage (odd peers, bytes, control characters) denies, never allows."""
    seen: list[object] = []

    def app(_environ, start_response):
        seen.append(shipped_gate.evaluate(FEATURE))
        start_response("200 OK", [])
        return [b""]

    middleware = WsgiMiddleware(
        app, gate=shipped_gate, providers=["cloudflare"], trusted_proxies=["10.0.0.0/8"]
    )
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}

    list(middleware({**base, **environ}, lambda *_: None))

    assert [False] == [decision.allowed for decision in seen]


@pytest.mark.parametrize(
    "args",
    [
        ["eval", FEATURE, "--country", "U\x01S"],
        ["eval", FEATURE, "--country", "U" * 100_000],
        ["eval", FEATURE, "--ip", "[2001:db8::1]:443"],
        ["eval", FEATURE, "--ip", "fe80::1%eth0"],
        ["eval", FEATURE, "--country", "US", "--at", "99999-01-01"],
        ["eval", FEATURE, "--country", "US", "--at", "\x00"],
        ["eval", "\x00", "--country", "US"],
        ["eval", "x" * 100_000, "--country", "US"],
        ["eval"],
        ["eval", FEATURE, "--format", "\x00"],
        ["\x00"],
        ["--\x00"],
        ["check", "\x00"],
        ["check", "/nonexistent/\x00/x"],
        ["explain", FEATURE, "--country", "\x7f"],
        ["resolve", "--header", "\x00"],
        ["resolve", "--header", "cf-ipcountry: US", "--peer", "[::1]:80"],
    ],
    ids=lambda args: repr(args)[:40],
)
def test_cli_rejects_garbage_without_a_traceback(args: list[str], monkeypatch) -> None:
    """Garbage arguments give a usage error or a denial with a documented exit code."""
    monkeypatch.setenv("GEOGATE_POLICIES", str(POLICIES))

    result = CliRunner().invoke(main, args)

    assert result.exit_code in {0, 1, 2, 3}, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if args[:2] == ["eval", FEATURE] and result.exit_code == 0:
        assert result.output.startswith("DENIED"), result.output
