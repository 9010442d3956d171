"""The completion POSTs served straight from ASGI, in front of FastAPI (issue 19's lean hot path).

FastAPI's routing and dependency solving cost about as much per request as everything else the gateway
does at the edge; the completion routes need neither (they read the raw body and parse it once,
`http/completion_handlers.py`). `CompletionsFront` answers `POST` on those paths itself and hands
every other request (other routes, other methods, trailing slashes) to the app behind it, so those
keep FastAPI's answers (405, 404, redirects). FastAPI keeps the same routes registered, for the
OpenAPI document.

`create_lean_app` is the completions Lambda function's app: FastAPI is imported (and the full app
built) only when a request for another route arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from routeway.errors import GatewayError
from routeway.gateway import Gateway
from routeway.http.completion_handlers import HANDLERS
from routeway.http.edge import Edge
from routeway.http.middleware import CatchAll, OverheadHeader
from routeway.http.responses import error_response


class CompletionsFront:
    """`POST` on a completion path: its handler, errors in the path's dialect; anything else: `app`."""

    def __init__(self, app: ASGIApp, edge: Edge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = HANDLERS.get(_route_path(scope)) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(self.edge, request)
        except GatewayError as exc:
            response = error_response(exc, scope["path"])
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router would match: without the root path a proxy may have put in front."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class _Later:
    """An ASGI app built on its first request (the full FastAPI app, for the routes the front does not serve)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = self._build()
        await self._app(scope, receive, send)


def create_lean_app(gateway_factory: Callable[[], Gateway], routers: Sequence[str]) -> ASGIApp:
    """The completion POSTs without FastAPI (timed, caught); every other request goes to the full app
    (`http.app.create_app`, with its own wrappers), built on the first such request."""
    edge = Edge(gateway_factory)

    def full_app() -> ASGIApp:
        from routeway.http.app import create_app

        return create_app(edge=edge, routers=routers)

    front = CompletionsFront(_Later(full_app), edge)
    return _Split(OverheadHeader(CatchAll(front)), front.app)


class _Split:
    """The front's own requests through its wrappers; the rest straight to the full app, which has its own
    (so a completion path's 405 is timed once, not twice)."""

    def __init__(self, served: ASGIApp, rest: ASGIApp) -> None:
        self.served = served
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ours = scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope) in HANDLERS
        await (self.served if ours else self.rest)(scope, receive, send)
