"""
The request being handled: its location (for the gate) and the gate handling it (for guards).

Middleware enters `handling` once per request; `current_gate` lets a route
guard find the middleware's gate, and a `geogate.Gate` asked without a
location uses the request's (`geogate._gate.context`). Both live in
`contextvars.ContextVar`s, per thread and per asyncio task.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING

from geogate._gate.context import located

if TYPE_CHECKING:
    from collections.abc import Iterator

    from geogate._gate.gate import Gate
    from geogate._locate.request import RequestLocation

__all__ = ["current_gate", "handling"]

_GATE: ContextVar[Gate | None] = ContextVar("geogate_gate", default=None)


def current_gate() -> Gate | None:
    """Return the gate of the middleware handling the current request, if any."""
    return _GATE.get()


@contextlib.contextmanager
def handling(
    location: RequestLocation | None, gate: Gate | None = None
) -> Iterator[RequestLocation | None]:
    """Make *location* (and *gate*) the current request's inside the ``with`` block."""
    gate_token = _GATE.set(gate) if gate is not None else None
    try:
        with located(location):
            yield location
    finally:
        if gate_token is not None:
            _GATE.reset(gate_token)
