"""
Decisions and request locations on the current OpenTelemetry span (``tracing=True``).

Off unless asked for: a gate built with ``tracing=True`` (a `Gate` variant,
chosen in ``Gate.__new__``) calls `record_decision` with each decision, and
middleware built with ``tracing=True`` calls `record_location` with each
request's location. Each records on the current span only while that span
is recording, so with the OpenTelemetry API alone (no SDK, or a sampled-out
trace) a call costs one context look-up.

The event follows OpenTelemetry's semantic conventions for feature flags
(``feature_flag.evaluation``, with ``feature_flag.key``,
``feature_flag.result.*``, ``feature_flag.provider.name``, ``error.type``),
plus geogate's own ``geogate.*`` attributes. Only values the policy or
geogate defines are recorded, never the request's IP address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geogate._engine.decision import Reason

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.trace import Span

    from geogate._engine.decision import Decision
    from geogate._locate.request import RequestLocation

__all__ = [
    "EVENT_NAME",
    "INSTALL_HINT",
    "PROVIDER_NAME",
    "decision_attributes",
    "record_decision",
    "record_location",
    "require_opentelemetry",
]

#: The event each decision adds to the current span (OpenTelemetry's name for it).
EVENT_NAME = "feature_flag.evaluation"
#: ``feature_flag.provider.name``.
PROVIDER_NAME = "geogate"
INSTALL_HINT = (
    "tracing=True needs the OpenTelemetry API; install the extra: pip install 'geogate[otel]' "
    "(from a checkout: pip install -e '.[otel]')"
)

_current_span: Callable[[], Span] | None = None


def require_opentelemetry() -> None:
    """
    Import the OpenTelemetry API once, for `record_decision` and `record_location`.

    Raises:
        ImportError: naming the install line, when ``opentelemetry-api`` is missing.
    """
    global _current_span  # noqa: PLW0603 (bound once, read on every decision)
    if _current_span is not None:
        return
    try:
        from opentelemetry import trace  # noqa: PLC0415 (optional extra)
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    _current_span = trace.get_current_span


def decision_attributes(decision: Decision) -> dict[str, str | bool]:
    """Return the event attributes of *decision* (see the module's docstring)."""
    attributes: dict[str, str | bool] = {
        "feature_flag.key": str(decision.feature),
        "feature_flag.provider.name": PROVIDER_NAME,
        "feature_flag.result.value": decision.allowed,
        "feature_flag.result.variant": "allow" if decision.allowed else "deny",
        "feature_flag.result.reason": str(decision.reason).lower(),
        "feature_flag.version": decision.revision,
        "geogate.revision": decision.revision,
        "geogate.location.source": str(decision.location_source),
        "geogate.location.status": str(decision.location),
    }
    if decision.rule is not None:
        attributes["geogate.rule"] = decision.rule
    if decision.reason is Reason.ERROR:
        code = decision.error_code
        attributes["error.type"] = "general" if code is None else str(code).lower()
        attributes["feature_flag.error.message"] = decision.explanation
    return attributes


def record_decision(decision: Decision) -> None:
    """Add a ``feature_flag.evaluation`` event for *decision* to the current span, if it records."""
    span = _current_span()  # type: ignore[misc]  # bound by require_opentelemetry
    if span.is_recording():
        span.add_event(EVENT_NAME, decision_attributes(decision))


def record_location(location: RequestLocation | None) -> None:
    """Set where the current request comes from on the current span, if it records."""
    span = _current_span()  # type: ignore[misc]  # bound by require_opentelemetry
    if location is None or not span.is_recording():
        return
    attributes = {
        "geogate.location.source": str(location.source_kind),
        "geogate.location.status": str(location.status),
    }
    if location.provider is not None:
        attributes["geogate.location.provider"] = location.provider
    if location.country is not None:
        attributes["geo.country.iso_code"] = location.country
    if location.subdivision is not None:
        attributes["geo.region.iso_code"] = location.subdivision
    span.set_attributes(attributes)
