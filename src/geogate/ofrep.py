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
- ``POST /ofrep/v1/evaluate/flags``: every feature, ``{"flags": [...]}``, all
  decided under one policy revision, with an ``ETag`` that changes with the
  revision (so across a reload), the answers and the context; ``304`` when
  ``If-None-Match`` matches it.
- ``GET /metrics``: Prometheus metrics, with ``metrics=`` (``geogate serve --metrics``).
- ``GET /healthz``: the process answers. ``GET /readyz``: 200 once the
  policies are loaded, 503 before (and when loading failed); see below.

A feature is a boolean flag: ``value`` is whether it may be offered,
``variant`` is ``allow`` or ``deny``, ``reason`` is ``TARGETING_MATCH`` when a
rule decided and ``UNKNOWN`` otherwise. The protocol's success body allows only
``STATIC``, ``TARGETING_MATCH``, ``SPLIT``, ``DISABLED`` and ``UNKNOWN``:
``STATIC`` would claim that the value does not depend on the context, and its
``ERROR`` is a failure body, on which providers return the caller's default.
``metadata.reason`` keeps geogate's own reason (``TARGETING_MATCH``;
``DEFAULT`` for the feature's default, its ``unknown`` or ``partial``
setting; ``ERROR`` for the fail-closed deny of input it cannot use), and an
``ERROR`` adds ``metadata.errorCode`` (``INVALID_CONTEXT`` or ``GENERAL``),
as the in-process `geogate.openfeature.GeogateProvider` gives them as its
reason and ``flag_metadata["error_code"]``. The context
attributes ``country``, ``subdivision``, ``ip`` and ``domicile`` are the
location; when the context gives none of the first three, the request's own
location is used (trusted CDN headers, else GeoIP of the client address found
through trusted proxies), exactly as `geogate.asgi.GeogateMiddleware` finds it.
An unknown or unusable location is an answer (a ``200`` deny that says why in
``metadata.explanation``), never an error, so a client's default value can
never let a request in.

Readiness. ``/readyz`` answers ``503 {"status": "loading" | "failed",
"errorDetails": ...}`` until the policies are loaded, then::

    200 {"status": "ready", "revision": "sha256:...", "features": 5, "lastReload": null}

``revision`` is the policy set every answer comes from. ``lastReload`` is
null until the gate reloads (its watcher, a SIGHUP with
``reload_on_sighup=True``, or `geogate.Gate.reload`), then the last attempt
that changed the revision, failed, or came from a SIGHUP::

    "lastReload": {"ok": false, "at": "2026-05-09T12:00:00Z", "revision": "sha256:...",
                   "previous": "sha256:...", "errorCount": 1,
                   "errors": ["policies/a.yaml:3:5: error: unknown country code 'GER' ..."]}

``at`` is when it finished (UTC); ``revision`` is the one served after it
(``previous`` before); ``errors`` holds the first line of each error
diagnostic, at most 20 (``errorCount`` counts them all). A failed reload
keeps the last good policies serving, so the status stays ``ready``: alert
on ``lastReload.ok`` being false, not on the status.

Timeouts. A request body that does not arrive within *body_timeout* seconds
of the first read gets ``408`` (and the connection is closed). Time limits on
the request headers and idle connections belong to the server
(``geogate serve --header-timeout`` and ``--keep-alive-timeout``).

Every response is JSON (a ``304`` has no body); a body over *max_body* bytes
gets ``413``, a non-JSON content type ``415``, a slow body ``408``, an
unexpected failure a ``500`` without a traceback. Any body the JSON parser
accepts gets a ``200`` (a deny where the context is unusable) or a ``400``,
never a ``500``: strings with lone surrogates, huge numbers and deep (but
parseable) nesting included. Install with ``pip install 'geogate[serve]'``
(from a checkout: ``pip install -e '.[serve]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import difflib
import hashlib
import json
import logging
import signal
import threading
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, Literal

from ._engine.decision import Decision, ErrorCode, Reason, short_revision
from ._gate.gate import Gate
from ._locate.request import RequestResolver
from ._web.context import handling
from .exceptions import UnknownFeatureError

try:
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover (the test extra installs it)
    msg = (
        "geogate.ofrep needs Starlette; install the extra: pip install 'geogate[serve]' "
        "(from a checkout: pip install -e '.[serve]')"
    )
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Mapping

    from starlette.requests import Request

    from ._gate.reload import ReloadResult
    from ._locate.providers import Provider
    from ._web.metrics import Metrics

__all__ = ["BODY_TIMEOUT", "MAX_BODY", "Metrics", "create_app"]

logger = logging.getLogger("geogate")

#: The largest request body read, in bytes; a larger one gets 413.
MAX_BODY = 64 * 1024
#: Seconds a request body may take to arrive once reading starts; a slower one gets 408.
BODY_TIMEOUT = 10.0
#: The context attributes that say where a request comes from.
_LOCATION_ATTRIBUTES = ("country", "subdivision", "ip")
_SINGLE = "/ofrep/v1/evaluate/flags/{key:path}"
_BULK = "/ofrep/v1/evaluate/flags"
_ENDPOINTS = (
    "POST /ofrep/v1/evaluate/flags/{key}, POST /ofrep/v1/evaluate/flags, "
    "GET /healthz and GET /readyz"
)
#: Error lines ``/readyz`` shows for a failed reload (``errorCount`` counts them all).
_ERRORS_SHOWN = 20
#: Tries at a bulk answer made under one revision, when reloads land in the middle of it.
_BULK_TRIES = 3
_TOO_DEEP = 'the body is not valid JSON (it is nested too deeply); send {"context": {...}}'


def __getattr__(name: str) -> object:
    """``Metrics`` (``geogate._web.metrics``), imported when asked: it needs prometheus_client."""
    if name == "Metrics":
        from ._web.metrics import Metrics  # noqa: PLC0415 (prometheus_client, when used)

        return Metrics
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def _reject_constant(name: str) -> object:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


#: Built once: ``json.dumps`` and ``json.loads`` with options build one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: For text UTF-8 cannot hold (a lone surrogate from a ``\ud800`` escape): all escaped.
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"))
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Build a JSON object, refusing a key given twice: which value counts would be a guess."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                msg = f"the key {key!r} is given twice in one object"
                raise ValueError(msg)
            seen.add(key)
    return data


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
#: Rendered answers kept per decision (decisions are memoised, so they repeat).
_MAX_RENDERED = 4096


def _encode(data: object) -> bytes:
    """Return *data* as UTF-8 JSON; a lone surrogate, which UTF-8 cannot hold, as an escape."""
    text = _ENCODER.encode(data)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(data).encode()


#: How deep a body may nest, the same on every Python (3.13's parser nests deeper
#: than the recursion limit that stops 3.11's and 3.12's).
MAX_DEPTH = 64


def _too_deep(data: object) -> bool:
    """Tell whether parsed JSON nests deeper than `MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _canonical(context: Mapping[str, object]) -> bytes | None:
    """Return *context* as ASCII JSON with sorted keys, or None when it is too deep to write."""
    try:
        return _CANONICAL_ENCODER.encode(context).encode()
    except RecursionError:
        return None


def _json(status: int, data: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        _encode(data), status_code=status, media_type="application/json", headers=headers
    )


def _failure(status: int, key: str | None, code: str, details: str) -> Response:
    """An OFREP error body: ``{key, errorCode, errorDetails}`` (no key for bulk)."""
    data = {"errorCode": code, "errorDetails": details}
    return _json(status, data if key is None else {"key": key, **data})


def _general(status: int, details: str, headers: Mapping[str, str] | None = None) -> Response:
    """The protocol's general error body, for statuses it does not define."""
    return _json(status, {"errorDetails": details}, headers)


def _utc(seconds: float) -> str:
    """RFC 3339 in UTC to the second: ``2026-05-09T12:00:00Z``."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _reload_report(result: ReloadResult, seconds: float) -> dict[str, object]:
    """What ``/readyz`` says of a reload: ``lastReload`` (see the module's docstring)."""
    errors = [str(diagnostic).partition("\n")[0] for diagnostic in result.errors]
    return {
        "ok": result.ok,
        "at": _utc(seconds),
        "revision": result.revision,
        "previous": result.previous,
        "errorCount": len(errors),
        "errors": errors[:_ERRORS_SHOWN],
    }


#: The protocol's reason for each of geogate's. An answered flag may only say STATIC,
#: TARGETING_MATCH, SPLIT, DISABLED or UNKNOWN; geogate's own reason is in the metadata.
_REASONS: Final = {
    Reason.TARGETING_MATCH: "TARGETING_MATCH",
    Reason.DEFAULT: "UNKNOWN",
    Reason.ERROR: "UNKNOWN",
}


def _metadata(decision: Decision) -> dict[str, str]:
    """Flag metadata: strings only (the protocol allows no null), absent fields left out."""
    error = None
    if decision.reason is Reason.ERROR:
        error = str(decision.error_code or ErrorCode.GENERAL)
    data = {
        "reason": str(decision.reason),
        "errorCode": error,
        "rule": decision.rule,
        "jurisdictions": ",".join(decision.jurisdictions),
        "source": decision.citation,
        "revision": decision.revision,
        "explanation": decision.explanation,
        "location": str(decision.location),
        "locationSource": str(decision.location_source),
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
        "reason": _REASONS[decision.reason],
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


def _decide_all(gate: Gate, decide: Callable[[str], Decision]) -> tuple[str, list[Decision]]:
    """
    Decide every feature of *gate* under one revision, and return it with the decisions.

    A reload between two features would mix two policy sets in one answer
    (and its ETag): the features are decided again, a few times at most.
    """
    for _ in range(_BULK_TRIES):  # pragma: no branch (a reload mid-answer is rare)
        revision = gate.revision
        decisions = [decide(feature) for feature in gate.features]
        if all(decision.revision == revision for decision in decisions):
            break
    return revision, decisions


class _Service:
    """The state behind the endpoints: the gate (once loaded), the request resolver, reloads."""

    def __init__(
        self,
        gate: Gate | Callable[[], Gate],
        *,
        providers: Iterable[str | Provider],
        trusted_proxies: Iterable[str],
        forwarded: Literal["x-forwarded-for", "forwarded", "none"],
        resolver: RequestResolver | None,
        max_body: int,
        body_timeout: float | None,
        close_gate: bool,
    ) -> None:
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            msg = f"max_body must be a positive number of bytes, not {max_body!r}"
            raise ValueError(msg)
        if body_timeout is not None and (
            isinstance(body_timeout, bool)
            or not isinstance(body_timeout, int | float)
            or not body_timeout > 0
        ):
            msg = f"body_timeout must be a positive number of seconds or None, not {body_timeout!r}"
            raise ValueError(msg)
        self.max_body = max_body
        self.body_timeout = body_timeout
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
        #: ``/readyz``'s ``lastReload``: replaced whole, never changed in place.
        self.last_reload: dict[str, object] | None = None
        self._last_result: ReloadResult | None = None
        self._reported = threading.Lock()
        self._loader: Callable[[], Gate] | None = None
        self._loading = threading.Lock()
        self._started = False
        self._closed = False
        #: A gate the service loaded is its own to close; a given one only with close_gate.
        self._owns_gate = close_gate
        self._rendered: dict[Decision, bytes] = {}
        given: object = gate  # checked at run time: callers pass all sorts of things
        if isinstance(gate, Gate):
            self._ready(gate)
        elif callable(given):
            self._loader = gate
            self._owns_gate = True
        else:
            msg = f"gate must be a geogate.Gate or a function that returns one, not {given!r}"
            raise TypeError(msg)

    def _ready(self, gate: Gate) -> None:
        if self._given_resolver is None and gate.geoip is not None:
            self.resolver = RequestResolver(**self._options, geoip=gate.geoip)  # type: ignore[arg-type]
        gate.add_reload_listener(self.record_reload)
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
        if self._closed:  # the application stopped while the policies loaded
            self.close()

    async def load_now(self) -> None:
        """
        Load the policies before the application starts serving, when a loader was given.

        Raises:
            RuntimeError: saying what the loader raised: the application does not start.
        """
        with self._loading:
            if self._loader is None or self._started:
                return
            self._started = True
        try:
            gate = await anyio.to_thread.run_sync(self._loader)
        except Exception as error:  # noqa: BLE001 (whatever it is, it is raised again, shorter)
            self.failure = f"{type(error).__name__}: {error}"
            # Without the loader's frames: the server logs this, and the message is the news.
            msg = (
                f"geogate: the policies did not load, so the server does not start: {self.failure}"
            )
            raise RuntimeError(msg) from None
        self._ready(gate)
        logger.info("geogate: policies %s loaded; ready", short_revision(gate.revision))

    def record_reload(self, result: ReloadResult) -> None:
        """Keep *result* for ``/readyz`` (a reload listener, and the SIGHUP reload's own report)."""
        with self._reported:
            if result is self._last_result:  # reported by the listener and by reload()
                return
            self._last_result = result
            self.last_reload = _reload_report(result, time.time())

    def reload_in_background(self) -> None:
        """Reload the gate's policies in a thread (on SIGHUP); the last good ones keep serving."""
        gate = self.gate
        if gate is None:
            logger.warning("geogate: SIGHUP while the policies are still loading; nothing reloaded")
            return
        if gate.paths is None:
            logger.warning(
                "geogate: SIGHUP ignored: the gate was built from a PolicySet, so it has no "
                "files to reload; build it with Gate.from_path(...)"
            )
            return
        threading.Thread(
            target=self._reload, args=(gate,), name="geogate-sighup-reload", daemon=True
        ).start()

    def _reload(self, gate: Gate) -> None:
        logger.info("geogate: SIGHUP: reloading the policies from %s", ", ".join(gate.paths or ()))
        try:
            result = gate.reload()
        except Exception:
            logger.exception("geogate: reloading the policies on SIGHUP failed")
            return
        self.record_reload(result)

    def listen_for_sighup(self) -> Callable[[], None] | None:
        """Reload on SIGHUP from now on; return what stops it, or None when it cannot be done."""
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is None:  # pragma: no cover (Windows)
            logger.warning("geogate: this platform has no SIGHUP; reload with the watcher")
            return None
        previous = signal.getsignal(hangup)
        try:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(hangup, self.reload_in_background)
        except (RuntimeError, ValueError, NotImplementedError) as error:
            logger.warning(
                "geogate: cannot reload on SIGHUP (%s): the server's asyncio event loop must "
                "run in the main thread",
                error,
            )
            return None

        def stop() -> None:
            loop.remove_signal_handler(hangup)
            if previous is not None:
                signal.signal(hangup, previous)

        return stop

    def close(self) -> None:
        """Stop reporting the gate's reloads; close the gate if the service owns it."""
        self._closed = True
        gate = self.gate
        if gate is None:
            return
        gate.remove_reload_listener(self.record_reload)
        if self._owns_gate:
            gate.close()

    def too_large(self) -> Response:
        """The 413 answer."""
        details = f"the request body is larger than {self.max_body} bytes; send a smaller context"
        return _general(413, details)

    def too_slow(self) -> Response:
        """The 408 answer; the connection is closed after it."""
        details = (
            f"the request body did not arrive within {self.body_timeout:g} seconds; "
            "send the whole body at once"
        )
        return _general(408, details, {"Connection": "close"})

    def render(self, decision: Decision) -> bytes:
        """The success body for *decision*, kept for the next request that gets it."""
        body = self._rendered.get(decision)
        if body is None:
            body = _encode(_flag(decision.feature, decision))
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
            with handling(where, gate):
                return gate.evaluate(key, domicile=domicile)
        return gate.evaluate(
            key,
            country=context.get("country"),
            subdivision=context.get("subdivision"),
            ip=context.get("ip"),
            domicile=domicile,
        )

    async def read_body(self, request: Request) -> bytes | Response:
        """Return the request body, or the 413 or 408 answer."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self.too_large()
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.body_timeout) as waiting:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    return self.too_large()
                chunks.append(chunk)
        if waiting.cancelled_caught:
            return self.too_slow()
        return b"".join(chunks)

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
        body = await self.read_body(request)
        if isinstance(body, Response):
            return body
        if not body.strip():
            return {}  # the request body is optional in the protocol
        try:
            # RFC 8259: JSON between systems is UTF-8 (json.loads would guess UTF-16 too).
            data = _DECODER.decode(body.decode("utf-8-sig"))
            if _too_deep(data):
                return _failure(400, key, "PARSE_ERROR", _TOO_DEEP)
        except UnicodeDecodeError as error:
            byte = error.object[error.start]
            return _failure(
                400,
                key,
                "PARSE_ERROR",
                f"the body is not UTF-8 (byte {byte:#04x} at offset {error.start}); "
                'send UTF-8 JSON like {"context": {...}}',
            )
        except RecursionError:
            return _failure(400, key, "PARSE_ERROR", _TOO_DEEP)
        except ValueError as error:
            return _failure(
                400,
                key,
                "PARSE_ERROR",
                f'the body is not valid JSON ({error}); send {{"context": {{...}}}}',
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
    body_timeout: float | None = BODY_TIMEOUT,
    load_at_startup: bool = False,
    reload_on_sighup: bool = False,
    close_gate: bool = False,
    metrics: Metrics | None = None,
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
        body_timeout: Seconds the request body may take to arrive once the
            endpoint starts reading it; a slower one gets 408 and the
            connection is closed. None waits for ever.
        load_at_startup: Call the function given as *gate* during the
            application's startup instead of in the background, and fail the
            startup if it raises: the server then never serves without
            policies, and under ``uvicorn --workers`` a replacement worker
            whose files do not load never replaces a working one.
        reload_on_sighup: Reload the gate's policies when the process gets
            SIGHUP (the gate must come from `geogate.Gate.from_path`); a
            reload that fails keeps the last good policies and is reported
            by ``/readyz``. Needs an asyncio event loop in the main thread,
            as uvicorn runs one worker.
        close_gate: Close *gate* when the application shuts down (which
            stops its watcher and writes out its decision log). A gate the
            application loaded itself, from a function, is always closed.
        metrics: Serve ``GET /metrics`` (Prometheus) from this
            ``geogate.ofrep.Metrics()``: request durations, reloads, the
            revision, and the decisions of a gate built with
            ``on_decision=metrics.decided``. See docs/telemetry.md.

    Raises:
        ValueError: for a bad provider name, network, forwarding header, size or timeout.
        TypeError: when *gate* is neither a gate nor a function.
    """
    if metrics is not None:
        gate = metrics.attaching(gate)
    service = _Service(
        gate,
        providers=providers,
        trusted_proxies=trusted_proxies,
        forwarded=forwarded,
        resolver=resolver,
        max_body=max_body,
        body_timeout=body_timeout,
        close_gate=close_gate,
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
        canonical = _canonical(context)
        if canonical is None:
            return _failure(400, None, "PARSE_ERROR", _TOO_DEEP)
        if all(context.get(name) is None for name in _LOCATION_ATTRIBUTES):
            # Locate the request once, not once per feature.
            client = request.scope.get("client")
            where = service.resolver.resolve(
                request.scope.get("headers") or [], client[0] if client else None
            )
            domicile = context.get("domicile")
            with handling(where, gate):
                revision, decisions = _decide_all(
                    gate, lambda feature: gate.evaluate(feature, domicile=domicile)
                )
        else:
            revision, decisions = _decide_all(
                gate, lambda feature: service.decide(gate, feature, context, request)
            )
        body = b'{"flags":[' + b",".join(service.render(d) for d in decisions) + b"]}"
        # The tag follows the revision, the body (the date, the location
        # decided on) and the context, so that it changes with each of them.
        digest = hashlib.sha256(revision.encode())
        digest.update(body)
        digest.update(canonical)
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
        policy = gate.policy  # one read: the revision and its features agree
        return _json(
            200,
            {
                "status": "ready",
                "revision": policy.revision,
                "features": len(policy.features),
                "lastReload": service.last_reload,
            },
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
        if load_at_startup:
            await service.load_now()
        else:
            service.start_loading()
        stop_listening = service.listen_for_sighup() if reload_on_sighup else None
        try:
            yield
        finally:
            if stop_listening is not None:
                stop_listening()
            service.close()

    app = Starlette(
        routes=[
            Route(_SINGLE, evaluate_flag, methods=["POST"]),
            Route(_BULK, evaluate_flags, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    if metrics is not None:
        from ._web.metrics import TimedApp  # noqa: PLC0415 (prometheus_client)

        exposition = metrics.exposition

        async def metrics_endpoint(request: Request) -> Response:
            body, content_type = exposition(request.headers.get("accept"))
            return Response(body, headers={"Content-Type": content_type})

        app.add_route("/metrics", metrics_endpoint, methods=["GET"])
        app.add_middleware(TimedApp, metrics=metrics)
    return app
