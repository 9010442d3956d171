"""The completions Lambda function's app: its completion POSTs served without FastAPI (`http/front.py`); the same
split puts the front ahead of `serve`'s FastAPI app (`http/serve_app.py`).

FastAPI is imported, and the full app built (`http.app.create_app`), only when a request for another
route arrives: importing FastAPI with its OpenAPI models is most of a cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from routeway.gateway import Gateway
from routeway.http.completion_routes import route_of
from routeway.http.edge import Edge
from routeway.http.front import CompletionsFront
from routeway.http.middleware import CatchAll, OverheadHeader


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

    return front_first(CompletionsFront(_Later(full_app), edge))


def front_first(front: CompletionsFront) -> ASGIApp:
    """The front's own requests through its wrappers (timed, caught), the rest straight to the app behind it."""
    return _Split(OverheadHeader(CatchAll(front)), front.app)


class _Split:
    """The front's own requests (every method on a completion path) through its wrappers; the rest straight to
    the full app, which has its own (so nothing is timed twice)."""

    def __init__(self, served: ASGIApp, rest: ASGIApp) -> None:
        self.served = served
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.rest if route_of(scope) is None else self.served)(scope, receive, send)
