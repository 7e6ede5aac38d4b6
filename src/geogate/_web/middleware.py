"""
What the ASGI and WSGI middleware share: a gate and the resolver of request locations.

The two integrations differ only in how a request arrives (an ASGI scope, a
WSGI environ) and how a 451 response leaves; `Locator` is the rest.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from geogate._gate.tracing import record_location, require_opentelemetry
from geogate._locate.request import RequestResolver

if TYPE_CHECKING:
    from collections.abc import Iterable

    from geogate._gate.gate import Gate
    from geogate._locate.headers import Headers
    from geogate._locate.providers import Provider
    from geogate._locate.request import RequestLocation

logger = logging.getLogger("geogate")

__all__ = ["Locator"]

App = TypeVar("App")


class Locator(Generic[App]):
    """
    Wrap an application and locate its requests for one gate.

    Args:
        app: The application to wrap.
        gate: The gate whose GeoIP database locates client IPs.
        providers: CDN providers whose country headers to honour (``cloudflare``,
            ``cloudfront``, ``fastly``, ``appengine``, ``vercel``, ``akamai``,
            ``netlify``, ``gcp``, or configured `geogate.provider` objects).
        trusted_proxies: Networks (CIDR) of the proxies and CDN edges that
            connect to this application; headers from any other peer are ignored.
        forwarded: Which forwarding header the trusted proxies append to:
            ``x-forwarded-for``, ``forwarded`` (RFC 7239) or ``none``.
        resolver: A ready `geogate.RequestResolver`, instead of the three
            options above.
        tracing: Set where each request comes from (``geogate.location.*``,
            ``geo.country.iso_code``, ``geo.region.iso_code``) on the current
            OpenTelemetry span, while it is recording (``geogate[otel]``). The
            decisions themselves are recorded by a gate built with ``tracing=True``.

    Raises:
        ValueError: for a bad provider name, network or forwarding header.
        ImportError: with the install line, for *tracing* without the OpenTelemetry API.
    """

    def __init__(
        self,
        app: App,
        *,
        gate: Gate,
        providers: Iterable[str | Provider] = (),
        trusted_proxies: Iterable[str] = (),
        forwarded: Literal["x-forwarded-for", "forwarded", "none"] = "x-forwarded-for",
        resolver: RequestResolver | None = None,
        tracing: bool = False,
    ) -> None:
        if tracing:
            require_opentelemetry()
        self._traced = bool(tracing)
        self.app = app
        self.gate = gate
        self.resolver = resolver or RequestResolver(
            providers=providers,
            trusted_proxies=trusted_proxies,
            forwarded=forwarded,
            geoip=gate.geoip,
        )

    def locate(self, headers: Headers, peer: str | None) -> RequestLocation:
        """Return where a request with these headers, from this peer, comes from."""
        location = self.resolver.resolve(headers, peer)
        if self._traced:
            try:
                record_location(location)
            except Exception:  # telemetry never takes a request down
                logger.exception("geogate: recording the request's location on its span failed")
        return location
