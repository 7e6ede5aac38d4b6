"""
The location of the request being handled, for code deep inside it.

Web middleware resolves a request's location once and sets it here; a
`geogate.Gate` asked without any location (``gate.evaluate("feature")``)
uses it. A `contextvars.ContextVar` is per thread and per asyncio task, so
concurrent requests never see each other's location.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from geogate._locate.request import RequestLocation

    from .gate import Gate

__all__ = ["current_gate", "current_location", "located"]

_LOCATION: ContextVar[RequestLocation | None] = ContextVar("geogate_location", default=None)
_GATE: ContextVar[Gate | None] = ContextVar("geogate_gate", default=None)


def current_gate() -> Gate | None:
    """Return the gate of the middleware handling the current request, if any."""
    return _GATE.get()


def current_location() -> RequestLocation | None:
    """Return the location of the request being handled, or None outside a request."""
    return _LOCATION.get()


@contextlib.contextmanager
def located(
    location: RequestLocation | None, gate: Gate | None = None
) -> Iterator[RequestLocation | None]:
    """Make *location* (and *gate*) the current request's inside the ``with`` block."""
    token = _LOCATION.set(location)
    gate_token = _GATE.set(gate) if gate is not None else None
    try:
        yield location
    finally:
        if gate_token is not None:
            _GATE.reset(gate_token)
        _LOCATION.reset(token)
