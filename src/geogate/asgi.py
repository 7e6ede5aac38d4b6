"""
ASGI integration: Starlette, FastAPI and any ASGI application.

``GeogateMiddleware`` resolves each request's location once (explicit >
trusted CDN header > GeoIP of the client IP > unknown) and makes it current,
so ``gate.evaluate("feature")`` inside the request uses it; it is also in
``request.state.geogate_location``. ``require_feature`` guards an endpoint:
a denied request gets HTTP 451 with an RFC 9457 problem document::

    app = FastAPI()
    app.add_middleware(
        GeogateMiddleware, gate=gate, providers=["cloudflare"], trusted_proxies=["173.245.48.0/20"]
    )


    @app.post("/v1/vision", dependencies=[Depends(require_feature("llama-3.2-vision"))])
    async def vision(): ...

The middleware itself needs nothing beyond the standard library; the guard
uses Starlette's ``Request`` (install ``geogate[asgi]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._context import current_gate, located
from ._decision import Decision
from ._middleware import Locator
from ._problem import FeatureDenied, problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from ._gate import Gate
    from ._request import RequestLocation

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["FeatureDenied", "GeogateMiddleware", "require_feature", "send_problem"]


class GeogateMiddleware(Locator["ASGIApp"]):
    """
    Resolve every HTTP and WebSocket request's location and answer denied guards with 451.

    Built as ``GeogateMiddleware(app, gate=gate, providers=[...],
    trusted_proxies=[...])``; the options are `geogate._middleware.Locator`'s.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope.get("type") not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else None
        location = self.locate(scope.get("headers") or [], peer)
        state = scope.setdefault("state", {})
        state["geogate_location"] = location
        state["geogate_gate"] = self.gate
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        with located(location, self.gate):
            try:
                await self.app(scope, receive, tracking_send)
            except FeatureDenied as denied:
                if started or scope["type"] != "http":
                    raise
                await send_problem(send, denied.decision)


async def send_problem(send: Send, decision: Decision) -> None:
    """Send the 451 problem response for *decision* on an ASGI connection."""
    status, headers, body = problem(decision)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def require_feature(feature: str, *, gate: Gate | None = None) -> Callable[..., Decision]:
    """
    Return a FastAPI dependency that lets a request through only if *feature* is allowed.

    The dependency returns the allowing `geogate.Decision`; a denied request
    raises `FeatureDenied`, which `GeogateMiddleware` answers with 451. The
    gate is *gate*, else the one of the middleware handling the request.
    """
    try:
        from starlette.requests import HTTPConnection  # noqa: PLC0415 (optional extra)
    except ImportError as exc:  # pragma: no cover (the test extra installs it)
        msg = "geogate.asgi.require_feature needs Starlette: pip install 'geogate[asgi]'"
        raise ImportError(msg) from exc

    def dependency(request: HTTPConnection) -> Decision:
        chosen = gate or request.scope.get("state", {}).get("geogate_gate") or current_gate()
        location: RequestLocation | None = request.scope.get("state", {}).get("geogate_location")
        if chosen is None or location is None:
            msg = (
                f"require_feature({feature!r}) needs geogate.asgi.GeogateMiddleware around the "
                "application, to know where the request comes from"
            )
            raise RuntimeError(msg)
        with located(location, chosen):
            decision = chosen.evaluate(feature)
        if not decision.allowed:
            raise FeatureDenied(decision)
        return decision

    # FastAPI reads these to inject the connection; they must be objects, not strings.
    dependency.__annotations__ = {"request": HTTPConnection, "return": Decision}
    dependency.__name__ = f"require_feature_{feature}"
    return dependency
