"""
OFREP server: the OpenFeature Remote Evaluation Protocol over a gate.

`create_app` builds a Starlette application that any OFREP provider (Go,
Java, JavaScript, Python, ...) can ask, so services in other languages get
the same answers as ``gate.evaluate``::

    app = create_app(
        Gate.from_path("policies"), providers=["cloudflare"], trusted_proxies=["173.245.48.0/20"]
    )

Endpoints:

- ``POST /ofrep/v1/evaluate/flags/{key}`` with ``{"context": {...}}``:
  ``200 {key, value, reason, variant, metadata}``; ``404`` ``FLAG_NOT_FOUND``;
  ``400`` ``PARSE_ERROR`` (the body is not a JSON object) or
  ``INVALID_CONTEXT`` (``context`` is not an object).
- ``POST /ofrep/v1/evaluate/flags``: every feature, ``{"flags": [...]}``, with
  an ``ETag``; ``304`` when ``If-None-Match`` matches it.
- ``GET /healthz``: the process answers. ``GET /readyz``: 200 once the
  policies are loaded, 503 before (and when loading failed).

A feature is a boolean flag: ``value`` is whether it may be offered,
``variant`` is ``allow`` or ``deny``, ``reason`` is ``TARGETING_MATCH`` when a
rule decided and ``DEFAULT`` otherwise (the feature's default, its ``unknown``
setting, or the fail-closed deny for input it cannot use). The context
attributes ``country``, ``subdivision``, ``ip`` and ``domicile`` are the
location; when the context gives none of the first three, the request's own
location is used (trusted CDN headers, else GeoIP of the client address found
through trusted proxies), exactly as `geogate.asgi.GeogateMiddleware` finds it.
An unknown or unusable location is an answer (a ``200`` deny that says why in
``metadata.explanation``), never an error, so a client's default value can
never let a request in.

Every response is JSON (a ``304`` has no body); a body over *max_body* bytes
gets ``413``, a non-JSON content type ``415``, an unexpected failure a ``500``
without a traceback. Install with ``pip install 'geogate[serve]'``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING, Literal

from ._context import located
from ._decision import Decision, ErrorCode, Reason, short_revision
from ._gate import Gate
from ._request import RequestResolver
from .exceptions import UnknownFeatureError

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover (the test extra installs it)
    msg = "geogate.ofrep needs Starlette: pip install 'geogate[serve]'"
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping

    from starlette.requests import Request

    from ._providers import Provider

__all__ = ["MAX_BODY", "create_app"]

logger = logging.getLogger("geogate")

#: The largest request body read, in bytes; a larger one gets 413.
MAX_BODY = 64 * 1024
#: The context attributes that say where a request comes from.
_LOCATION_ATTRIBUTES = ("country", "subdivision", "ip")
_SINGLE = "/ofrep/v1/evaluate/flags/{key:path}"
_BULK = "/ofrep/v1/evaluate/flags"
_ENDPOINTS = (
    "POST /ofrep/v1/evaluate/flags/{key}, POST /ofrep/v1/evaluate/flags, "
    "GET /healthz and GET /readyz"
)


def _reject_constant(name: str) -> object:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


#: Built once: ``json.dumps`` and ``json.loads`` with options build one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
#: Rendered answers kept per decision (decisions are memoised, so they repeat).
_MAX_RENDERED = 4096


def _json(status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
    body = _ENCODER.encode(data).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _failure(status: int, key: str | None, code: str, details: str) -> Response:
    """An OFREP error body: ``{key, errorCode, errorDetails}`` (no key for bulk)."""
    data = {"errorCode": code, "errorDetails": details}
    return _json(status, data if key is None else {"key": key, **data})


def _general(status: int, details: str, headers: Mapping[str, str] | None = None) -> Response:
    """The protocol's general error body, for statuses it does not define."""
    return _json(status, {"errorDetails": details}, headers)


def _metadata(decision: Decision) -> dict[str, str]:
    """Flag metadata: strings only (the protocol allows no null), absent fields left out."""
    data = {
        "rule": decision.rule,
        "jurisdictions": ",".join(decision.jurisdictions),
        "source": decision.citation,
        "revision": decision.revision,
        "explanation": decision.explanation,
        "location": str(decision.location),
        "locationSource": decision.location_source,
        "country": decision.country,
        "subdivision": decision.subdivision,
        "domicile": decision.domicile,
    }
    return {name: value for name, value in data.items() if value is not None}


def _flag(key: str, decision: Decision) -> dict[str, object]:
    """The protocol's success body for one decision."""
    return {
        "key": key,
        "value": decision.allowed,
        "reason": "TARGETING_MATCH" if decision.reason is Reason.TARGETING_MATCH else "DEFAULT",
        "variant": "allow" if decision.allowed else "deny",
        "metadata": _metadata(decision),
    }


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of *etag* with an ``If-None-Match`` list."""
    if if_none_match is None:
        return False
    for item in if_none_match.split(","):
        tag = item.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


class _Service:
    """The state behind the endpoints: the gate (once loaded) and the request resolver."""

    def __init__(
        self,
        gate: Gate | Callable[[], Gate],
        *,
        providers: Iterable[str | Provider],
        trusted_proxies: Iterable[str],
        forwarded: Literal["x-forwarded-for", "forwarded", "none"],
        resolver: RequestResolver | None,
        max_body: int,
    ) -> None:
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            msg = f"max_body must be a positive number of bytes, not {max_body!r}"
            raise ValueError(msg)
        self.max_body = max_body
        # Lists, not iterators: the resolver is built again once the gate (and
        # its GeoIP database) is there. Building one now reports bad options early.
        self._options = {
            "providers": providers if isinstance(providers, str | bytes) else tuple(providers),
            "trusted_proxies": (
                trusted_proxies
                if isinstance(trusted_proxies, str | bytes)
                else tuple(trusted_proxies)
            ),
            "forwarded": forwarded,
        }
        self._given_resolver = resolver
        self.resolver = resolver or RequestResolver(**self._options)  # type: ignore[arg-type]
        self.gate: Gate | None = None
        self.failure: str | None = None
        self._loader: Callable[[], Gate] | None = None
        self._loading = threading.Lock()
        self._started = False
        self._rendered: dict[Decision, bytes] = {}
        given: object = gate  # checked at run time: callers pass all sorts of things
        if isinstance(gate, Gate):
            self._ready(gate)
        elif callable(given):
            self._loader = gate
        else:
            msg = f"gate must be a geogate.Gate or a function that returns one, not {given!r}"
            raise TypeError(msg)

    def _ready(self, gate: Gate) -> None:
        if self._given_resolver is None and gate.geoip is not None:
            self.resolver = RequestResolver(**self._options, geoip=gate.geoip)  # type: ignore[arg-type]
        self.gate = gate

    def start_loading(self) -> None:
        """Load the policies in a thread, once, when a loader was given."""
        with self._loading:
            if self._loader is None or self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="geogate-load", daemon=True).start()

    def _load(self) -> None:
        assert self._loader is not None  # noqa: S101 (start_loading checked it)
        try:
            gate = self._loader()
        except Exception as error:
            self.failure = f"{type(error).__name__}: {error}"
            logger.exception("geogate: the policies did not load; /readyz answers 503")
            return
        self._ready(gate)
        logger.info("geogate: policies %s loaded; ready", short_revision(gate.revision))

    def too_large(self) -> Response:
        """The 413 answer."""
        details = f"the request body is larger than {self.max_body} bytes; send a smaller context"
        return _general(413, details)

    def render(self, decision: Decision) -> bytes:
        """The success body for *decision*, kept for the next request that gets it."""
        body = self._rendered.get(decision)
        if body is None:
            body = _ENCODER.encode(_flag(decision.feature, decision)).encode()
            if len(self._rendered) >= _MAX_RENDERED:
                self._rendered.clear()
            self._rendered[decision] = body
        return body

    def decide(
        self, gate: Gate, key: str, context: Mapping[str, object], request: Request
    ) -> Decision:
        """Evaluate *key* for *context*, or for the request's own location when it gives none."""
        domicile = context.get("domicile")
        if all(context.get(name) is None for name in _LOCATION_ATTRIBUTES):
            client = request.scope.get("client")
            where = self.resolver.resolve(
                request.scope.get("headers") or [], client[0] if client else None
            )
            with located(where, gate):
                return gate.evaluate(key, domicile=domicile)
        return gate.evaluate(
            key,
            country=context.get("country"),
            subdivision=context.get("subdivision"),
            ip=context.get("ip"),
            domicile=domicile,
        )

    async def read_context(self, request: Request, key: str | None) -> dict[str, object] | Response:
        """Return the request's evaluation context, or the error response for its body."""
        kind = request.headers.get("content-type")
        if kind is not None:
            media = kind.partition(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                return _general(
                    415,
                    f"the body must be JSON, not {media or 'an empty content type'!r}; "
                    "send Content-Type: application/json",
                )
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self.too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return self.too_large()
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body.strip():
            return {}  # the request body is optional in the protocol
        try:
            # RFC 8259: JSON between systems is UTF-8 (json.loads would guess UTF-16 too).
            data = _DECODER.decode(body.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            byte = error.object[error.start]
            return _failure(
                400,
                key,
                "PARSE_ERROR",
                f"the body is not UTF-8 (byte {byte:#04x} at offset {error.start}); "
                'send UTF-8 JSON like {"context": {...}}',
            )
        except (ValueError, RecursionError) as error:
            reason = "it is nested too deeply" if isinstance(error, RecursionError) else str(error)
            return _failure(
                400,
                key,
                "PARSE_ERROR",
                f'the body is not valid JSON ({reason}); send {{"context": {{...}}}}',
            )
        if not isinstance(data, dict):
            return _failure(
                400,
                key,
                "PARSE_ERROR",
                f'the body must be a JSON object like {{"context": {{...}}}}, not {_kind(data)}',
            )
        context = data.get("context")
        if context is None:
            return {}
        if not isinstance(context, dict):
            return _failure(
                400,
                key,
                "INVALID_CONTEXT",
                f'"context" must be a JSON object like {{"country": "FR"}}, not {_kind(context)}',
            )
        return context


def _kind(value: object) -> str:
    """Name a JSON value's type for an error message."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "null"


def create_app(
    gate: Gate | Callable[[], Gate],
    *,
    providers: Iterable[str | Provider] = (),
    trusted_proxies: Iterable[str] = (),
    forwarded: Literal["x-forwarded-for", "forwarded", "none"] = "x-forwarded-for",
    resolver: RequestResolver | None = None,
    max_body: int = MAX_BODY,
) -> Starlette:
    """
    Build the OFREP server for *gate*.

    Args:
        gate: A loaded `geogate.Gate`, or a function that loads one. A
            function is called in a background thread when the application
            starts; until it returns, ``/readyz`` and the evaluation endpoints
            answer 503 (and keep doing so, with the reason, if it raised).
        providers: CDN providers whose country headers to honour, as for
            `geogate.asgi.GeogateMiddleware`.
        trusted_proxies: Networks (CIDR) of the proxies and CDN edges that
            connect to the server; headers from other peers are ignored.
        forwarded: The forwarding header the trusted proxies append to.
        resolver: A ready `geogate.RequestResolver`, instead of the three
            options above.
        max_body: The largest request body accepted, in bytes.

    Raises:
        ValueError: for a bad provider name, network, forwarding header or size.
        TypeError: when *gate* is neither a gate nor a function.
    """
    service = _Service(
        gate,
        providers=providers,
        trusted_proxies=trusted_proxies,
        forwarded=forwarded,
        resolver=resolver,
        max_body=max_body,
    )

    def not_ready(**extra: str) -> Response:
        service.start_loading()  # in case the server runs without lifespan events
        if service.failure is not None:
            details = f"the policies did not load: {service.failure}"
            return _json(503, {**extra, "errorDetails": details})
        details = "the policies are not loaded yet; retry shortly"
        return _json(503, {**extra, "errorDetails": details}, {"Retry-After": "1"})

    async def evaluate_flag(request: Request) -> Response:
        key: str = request.path_params["key"]
        gate = service.gate
        if gate is None:
            return not_ready()
        context = await service.read_context(request, key)
        if isinstance(context, Response):
            return context
        try:
            decision = service.decide(gate, key, context, request)
        except UnknownFeatureError:  # a strict gate
            decision = None
        if decision is None or decision.error_code is ErrorCode.FLAG_NOT_FOUND:
            close = difflib.get_close_matches(key, gate.features, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            details = f"no flag {key!r} in policy {short_revision(gate.revision)}{hint}"
            return _failure(404, key, "FLAG_NOT_FOUND", details)
        return Response(service.render(decision), media_type="application/json")

    async def evaluate_flags(request: Request) -> Response:
        gate = service.gate
        if gate is None:
            return not_ready()
        context = await service.read_context(request, None)
        if isinstance(context, Response):
            return context
        if all(context.get(name) is None for name in _LOCATION_ATTRIBUTES):
            # Locate the request once, not once per feature.
            client = request.scope.get("client")
            where = service.resolver.resolve(
                request.scope.get("headers") or [], client[0] if client else None
            )
            with located(where, gate):
                flags = [
                    service.render(gate.evaluate(feature, domicile=context.get("domicile")))
                    for feature in gate.features
                ]
        else:
            flags = [
                service.render(service.decide(gate, feature, context, request))
                for feature in gate.features
            ]
        body = b'{"flags":[' + b",".join(flags) + b"]}"
        # The body holds the revision, the date and the location decided on;
        # the context is added so that the tag changes with it too.
        digest = hashlib.sha256(body)
        digest.update(json.dumps(context, sort_keys=True, ensure_ascii=False).encode())
        etag = f'"{digest.hexdigest()[:40]}"'
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    async def healthz(_: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(_: Request) -> Response:
        gate = service.gate
        if gate is None:
            return not_ready(status="failed" if service.failure is not None else "loading")
        return _json(
            200, {"status": "ready", "revision": gate.revision, "features": len(gate.features)}
        )

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)  # noqa: S101 (registered for HTTPException only)
        if error.status_code == HTTPStatus.NOT_FOUND:
            details = (
                f"no endpoint {request.method} {request.url.path}; the endpoints are {_ENDPOINTS}"
            )
        elif error.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
            allowed = (error.headers or {}).get("Allow", "")
            details = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        else:
            details = str(error.detail)
        return _general(error.status_code, details, error.headers)

    async def server_error(_: Request, error: Exception) -> Response:
        logger.error("geogate: the OFREP server failed", exc_info=error)
        return _general(500, "internal error; the server log has the details")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        service.start_loading()
        yield

    return Starlette(
        routes=[
            Route(_SINGLE, evaluate_flag, methods=["POST"]),
            Route(_BULK, evaluate_flags, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
