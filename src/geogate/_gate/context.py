"""
The location of the request being handled, for code deep inside it.

Web middleware resolves a request's location once and sets it here; a
`geogate.Gate` asked without any location (``gate.evaluate("feature")``)
uses it. A `contextvars.ContextVar` is per thread and per asyncio task, so
concurrent requests never see each other's location. (Which gate handles the
request is the web layer's: `geogate._web.context`.)
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from geogate._locate.request import RequestLocation

__all__ = ["current_location", "located"]

_LOCATION: ContextVar[RequestLocation | None] = ContextVar("geogate_location", default=None)


def current_location() -> RequestLocation | None:
    """Return the location of the request being handled, or None outside a request."""
    return _LOCATION.get()


@contextlib.contextmanager
def located(location: RequestLocation | None) -> Iterator[RequestLocation | None]:
    """Make *location* the current request's inside the ``with`` block."""
    token = _LOCATION.set(location)
    try:
        yield location
    finally:
        _LOCATION.reset(token)
