"""
Prometheus metrics for the OFREP server (``geogate serve --metrics``, ``create_app(metrics=...)``).

`Metrics` holds its own registry (never prometheus_client's global one), so
two applications in one process count apart. It learns of decisions as the
``on_decision=`` hook of the gate (`Metrics.decided`), of reloads as a
reload listener (`Metrics.attach`), and of requests as ASGI middleware
(`TimedApp`); ``GET /metrics`` answers the text exposition format.

Every label value is bounded by the policy or by geogate: a feature id the
policy defines (an unknown one is counted as ``(unknown)``), an effect, a
reason, a location source (``header:<provider>`` names a configured
provider), an endpoint of the server, a status code. No raw request value
becomes a label.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.exposition import choose_encoder
except ImportError as exc:  # pragma: no cover (the serve and test extras install it)
    msg = (
        "metrics need prometheus_client; install the extra: pip install 'geogate[serve]' "
        "(from a checkout: pip install -e '.[serve]')"
    )
    raise ImportError(msg) from exc

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from geogate._engine.decision import Decision
    from geogate._gate.gate import Gate
    from geogate._gate.reload import ReloadResult

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["UNKNOWN_FEATURE", "Metrics", "TimedApp", "endpoint_of"]

logger = logging.getLogger("geogate")

#: The label of a decision for a feature the policy does not define.
UNKNOWN_FEATURE = "(unknown)"
#: Request durations, in seconds: a memoised answer takes well under a millisecond.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SINGLE_PREFIX = "/ofrep/v1/evaluate/flags/"
_FIXED = frozenset({"/ofrep/v1/evaluate/flags", "/healthz", "/readyz", "/metrics"})


def endpoint_of(path: str) -> str:
    """Return the endpoint label of a request path: a route of the server, or ``other``."""
    if path.startswith(_SINGLE_PREFIX):
        return _SINGLE_PREFIX + "{key}"
    return path if path in _FIXED else "other"


class Metrics:
    """
    The OFREP server's metrics, in a registry of their own.

    Attributes:
        registry: The `prometheus_client.CollectorRegistry` that ``/metrics`` writes out.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._decisions = Counter(
            "geogate_decisions",
            "Decisions made, by feature, effect, reason and where the location came from.",
            ["feature", "effect", "reason", "location_source"],
            registry=self.registry,
        )
        self._geoip_lookups = Counter(
            "geogate_geoip_lookups",
            "Decisions located by the client IP address through the GeoIP database.",
            registry=self.registry,
        )
        self._geoip_misses = Counter(
            "geogate_geoip_misses",
            "Decisions located by IP address whose address the GeoIP database could not place.",
            registry=self.registry,
        )
        self._reloads = Counter(
            "geogate_reloads",
            "Reloads that swapped the policies (ok) or failed and kept the last good ones.",
            ["result"],
            registry=self.registry,
        )
        self._last_reload = Gauge(
            "geogate_last_reload_timestamp_seconds",
            "When the last reload with this result finished (Unix time).",
            ["result"],
            registry=self.registry,
        )
        self._revision = Gauge(
            "geogate_policy_revision_info",
            "The policy revision being served (value 1).",
            ["revision"],
            registry=self.registry,
        )
        self._features = Gauge(
            "geogate_policy_features",
            "How many features the policy being served defines.",
            registry=self.registry,
        )
        self._duration = Histogram(
            "geogate_request_duration_seconds",
            "Time to answer a request, by endpoint and status code.",
            ["endpoint", "code"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        for result in ("ok", "failed"):
            self._reloads.labels(result)
        #: Each label combination's counter, looked up without prometheus_client's lock.
        self._children: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.Lock()
        self._served: str | None = None
        #: The gate attached (weakly: a dropped gate is freed at once) and its feature ids.
        self._gate: weakref.ref[Gate] | None = None
        self._known: frozenset[str] = frozenset()

    def decided(self, decision: Decision) -> None:
        """Count *decision* (the gate's ``on_decision=`` hook)."""
        # Only a feature the policies define is a label: a decided feature exists, and an
        # error names one only when the attached gate has it (an unknown id with a bad
        # date is an INVALID_CONTEXT error, not FLAG_NOT_FOUND).
        feature = decision.feature
        if decision.error_code is not None and feature not in self._known:
            feature = UNKNOWN_FEATURE
        key = (feature, str(decision.effect), str(decision.reason), str(decision.location_source))
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, self._decisions.labels(*key))
        child.inc()
        if decision.location_source == "geoip":
            self._geoip_lookups.inc()
            if decision.location != "known":
                self._geoip_misses.inc()

    def attach(self, gate: Gate) -> None:
        """Report *gate*'s revision now and after each reload (a reload listener)."""
        if gate._observe is None:  # noqa: SLF001 (a hint, read once)
            logger.warning(
                "geogate: /metrics counts no decisions of this gate: build it with "
                "Gate.from_path(..., on_decision=metrics.decided)"
            )
        self._gate = weakref.ref(gate)
        self._serving(gate.revision)
        gate.add_reload_listener(self.reloaded)

    def reloaded(self, result: ReloadResult) -> None:
        """Count a reload that swapped the policies or failed."""
        outcome = "ok" if result.ok else "failed"
        self._reloads.labels(outcome).inc()
        self._last_reload.labels(outcome).set(time.time())
        if result.ok:
            self._serving(result.revision)

    def _serving(self, revision: str) -> None:
        """Make *revision* the one ``geogate_policy_revision_info`` shows."""
        with self._lock:
            if self._served is not None and self._served != revision:
                self._revision.remove(self._served)
            self._served = revision
            self._revision.labels(revision).set(1)
            gate = None if self._gate is None else self._gate()
            if gate is not None:
                self._known = frozenset(gate.features)
                self._features.set(len(self._known))

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """
        Return the metrics and their content type, in the format the ``Accept`` header asks for.

        Prometheus' text format (0.0.4) unless *accept* asks for OpenMetrics.
        """
        try:
            encode, content_type = choose_encoder(accept or "")
        except (TypeError, ValueError):  # an Accept header prometheus_client cannot read
            encode, content_type = choose_encoder("")
        return encode(self.registry), content_type

    def attaching(self, gate: Gate | Callable[[], Gate]) -> Gate | Callable[[], Gate]:
        """Attach to *gate* now, or to the gate the function *gate* loads, once it has."""
        if not callable(gate) or hasattr(gate, "evaluate"):
            self.attach(gate)  # type: ignore[arg-type]  # a Gate; create_app checks the rest
            return gate
        loader = gate

        def load() -> Gate:
            loaded = loader()
            self.attach(loaded)
            return loaded

        return load


class TimedApp:
    """ASGI middleware that times every HTTP request into `Metrics`, by endpoint and status code."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self._duration = metrics._duration  # noqa: SLF001 (this module's own class)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one ASGI call, timing it when it is an HTTP request."""
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            endpoint = endpoint_of(str(scope.get("path", "")))
            self._duration.labels(endpoint, str(status)).observe(elapsed)
