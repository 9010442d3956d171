"""The completion routes served straight from ASGI, in front of FastAPI (issue 19's lean hot path).

FastAPI's routing and dependency solving were about a fifth of the app's own time on a chat request
(a profile, bench/NOTES.md); the completion routes need neither (they read the raw body and parse it once,
`http/completion_routes.py`). `CompletionsFront` answers every request for a path of the route table
itself: `POST` with the route's handler, another method with 405, a trailing slash with a redirect to the
path (FastAPI's answer); errors in the route's dialect. Every other request goes to the app behind it. FastAPI
has no route for these paths: the OpenAPI document describes them from the same table (`http/openapi.py`).

`http/lean.py` puts the front before a FastAPI app built on first need (the completions Lambda function).
"""

from __future__ import annotations

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from routeway.after_response import after_response
from routeway.errors import GatewayError, MethodNotAllowed
from routeway.http.completion_routes import route_of, slashed_route
from routeway.http.edge import Edge


class CompletionsFront:
    """A completion path: its handler, errors in the route's dialect; anything else: `app`."""

    def __init__(self, app: ASGIApp, edge: Edge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = route_of(scope)
        if route is None:
            await (redirect(scope) if slashed_route(scope) else self.app)(scope, receive, send)
            return
        if scope["method"] != "POST":
            await route.error(MethodNotAllowed("This route does not accept that method."))(scope, receive, send)
            return
        request = Request(scope, receive)
        async with after_response():  # the record and charge are written once the answer is out
            try:
                response = await route.handler(self.edge, request)
            except GatewayError as exc:
                response = route.error(exc)
            await response(scope, receive, send)


def redirect(scope: Scope) -> Response:
    """307 to the path without its trailing slashes, as Starlette's router answers."""
    return RedirectResponse(url=str(URL(scope={**scope, "path": scope["path"].rstrip("/")})))
