"""
WSGI integration: Flask, Django and any WSGI application.

``GeogateMiddleware`` resolves each request's location once (explicit >
trusted CDN header > GeoIP of the client IP > unknown) and makes it current
while the application handles the request, so ``gate.evaluate("feature")``
inside a view uses it; it is also in ``environ["geogate.location"]``.
``require_feature`` guards a view: a denied request gets HTTP 451 with an
RFC 9457 problem document::

    app = Flask(__name__)
    app.wsgi_app = GeogateMiddleware(
        app.wsgi_app, gate=gate, providers=["cloudfront"], trusted_proxies=["10.0.0.0/8"]
    )


    @app.post("/v1/vision")
    @require_feature("llama-3.2-vision")
    def vision(): ...

The location is current while the application is called; a streaming
response body produced after that no longer sees it. The guard builds its
response with Werkzeug (install ``geogate[wsgi]``); the middleware needs
nothing beyond the standard library.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ._gate.context import current_location
from ._web.context import current_gate, handling
from ._web.middleware import Locator
from ._web.problem import FeatureDenied, problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ._gate.gate import Gate

    StartResponse = Callable[..., Any]
    WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

__all__ = ["FeatureDenied", "GeogateMiddleware", "environ_headers", "require_feature"]


def environ_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the request headers of a WSGI environ as (name, value) pairs."""
    headers = [
        (key[5:].replace("_", "-"), value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    ]
    headers.extend(
        (key.replace("_", "-"), environ[key])
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH")
        if isinstance(environ.get(key), str) and environ[key]
    )
    return headers


class GeogateMiddleware(Locator["WSGIApp"]):
    """
    Resolve every request's location and answer denied guards with 451.

    Built as ``GeogateMiddleware(app, gate=gate, providers=[...],
    trusted_proxies=[...])``; the options are `geogate._web.middleware.Locator`'s.
    """

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Handle one WSGI request."""
        location = self.locate(environ_headers(environ), environ.get("REMOTE_ADDR"))
        environ["geogate.location"] = location
        environ["geogate.gate"] = self.gate
        with handling(location, self.gate):
            try:
                return self.app(environ, start_response)
            except FeatureDenied as denied:
                status, headers, body = problem(denied.decision)
                start_response(f"{status} Unavailable For Legal Reasons", headers)
                return [body]


def require_feature(
    feature: str, *, gate: Gate | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """
    Decorate a view so that it runs only when *feature* is allowed for the request.

    A denied request gets the 451 problem response (a Werkzeug ``Response``,
    which Flask returns as is). The gate is *gate*, else the one of the
    middleware handling the request.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 (whatever the view returns)
            chosen = gate or current_gate()
            if chosen is None or current_location() is None:
                msg = (
                    f"require_feature({feature!r}) needs geogate.wsgi.GeogateMiddleware around "
                    "the application, to know where the request comes from"
                )
                raise RuntimeError(msg)
            decision = chosen.evaluate(feature)
            if decision.allowed:
                return view(*args, **kwargs)
            return problem_response(FeatureDenied(decision))

        return guarded

    return decorate


def problem_response(denied: FeatureDenied) -> Any:  # noqa: ANN401 (a werkzeug Response)
    """Return the 451 problem response for a denial as a Werkzeug ``Response``."""
    try:
        from werkzeug.wrappers import Response  # noqa: PLC0415 (optional extra)
    except ImportError as exc:  # pragma: no cover (the test extra installs it)
        msg = (
            "geogate.wsgi.require_feature needs Werkzeug; install the extra: "
            "pip install 'geogate[wsgi]' (from a checkout: pip install -e '.[wsgi]')"
        )
        raise ImportError(msg) from exc
    status, headers, body = problem(denied.decision)
    return Response(body, status=status, headers=headers)
