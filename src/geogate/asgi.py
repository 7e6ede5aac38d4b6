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

The 451 comes however the middleware is installed: with ``add_middleware``
(inside the framework's error handling, where it catches `FeatureDenied`
first) or wrapped around the whole application from outside
(``app = GeogateMiddleware(app, gate=gate)``), where the framework's
outermost error handler answers 500 before re-raising the exception. There
the guard has recorded its denial in the request's state, and the middleware
holds back a 500 response that starts after it: if `FeatureDenied` then
reaches the middleware, the 451 problem replaces that 500; if anything else
does, or nothing, the 500 goes out unchanged. An application that handles
`FeatureDenied` itself with any other status is left alone.

The middleware itself needs nothing beyond the standard library; the guard
uses Starlette's ``Request`` (install ``geogate[asgi]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._engine.decision import Decision
from ._web.context import current_gate, handling
from ._web.middleware import Locator
from ._web.problem import FeatureDenied, problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from ._gate.gate import Gate
    from ._locate.request import RequestLocation

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["FeatureDenied", "GeogateMiddleware", "require_feature", "send_problem"]

#: The key under which `require_feature` records its denying decision in the request's state.
_DENIED = "geogate_denied"
_SERVER_ERROR = 500
#: The most body bytes of a 500 response held back (an error page is smaller).
_HELD_LIMIT = 1 << 20


class GeogateMiddleware(Locator["ASGIApp"]):
    """
    Resolve every HTTP and WebSocket request's location and answer denied guards with 451.

    Built as ``GeogateMiddleware(app, gate=gate, providers=[...],
    trusted_proxies=[...])``; the options are `geogate._web.middleware.Locator`'s.
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
        #: A 500 response held back because a guard denied first (see the module's docstring).
        held: list[Message] = []
        held_size = 0

        async def release() -> None:
            nonlocal started, held_size
            started = started or bool(held)
            while held:
                await send(held.pop(0))
            held_size = 0

        async def guarded_send(message: Message) -> None:
            nonlocal started, held_size
            if held:
                held.append(message)
                held_size += len(message.get("body") or b"")
                if held_size > _HELD_LIMIT:  # a streamed error page: not the error page of a denial
                    await release()
                return
            if message.get("type") == "http.response.start":
                if message.get("status") == _SERVER_ERROR and state.get(_DENIED) is not None:
                    held.append(message)
                    return
                started = True
            await send(message)

        with handling(location, self.gate):
            try:
                await self.app(scope, receive, guarded_send)
            except FeatureDenied as denied:
                if started or scope["type"] != "http":
                    raise
                held.clear()  # the framework's 500 for this very exception
                await send_problem(send, denied.decision)
                return
            except Exception:
                await release()
                raise
            await release()


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
    raises `FeatureDenied`, which `GeogateMiddleware` answers with 451 (the
    denying decision is also recorded in the request's state, under
    ``geogate_denied``). The gate is *gate*, else the one of the middleware
    handling the request. It may also be called by hand with a Starlette
    ``Request``, in any endpoint.
    """
    try:
        from starlette.requests import HTTPConnection  # noqa: PLC0415 (optional extra)
    except ImportError as exc:  # pragma: no cover (the test extra installs it)
        msg = (
            "geogate.asgi.require_feature needs Starlette; install the extra: "
            "pip install 'geogate[asgi]' (from a checkout: pip install -e '.[asgi]')"
        )
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
        with handling(location, chosen):
            decision = chosen.evaluate(feature)
        if not decision.allowed:
            # For the middleware, should the framework answer 500 before it sees the exception.
            request.scope["state"][_DENIED] = decision
            raise FeatureDenied(decision)
        return decision

    # FastAPI reads these to inject the connection; they must be objects, not strings.
    dependency.__annotations__ = {"request": HTTPConnection, "return": Decision}
    dependency.__name__ = f"require_feature_{feature}"
    return dependency
