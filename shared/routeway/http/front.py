"""The completion POSTs served straight from ASGI, in front of FastAPI (issue 19's lean hot path).

FastAPI's routing and dependency solving were about a fifth of the app's own time on a chat request
(a profile, bench/NOTES.md); the completion routes need neither (they read the raw body and parse it once,
`http/completion_handlers.py`). `CompletionsFront` answers `POST` on those paths itself and hands
every other request (other routes, other methods, trailing slashes) to the app behind it, so those
keep FastAPI's answers (405, 404, redirects). FastAPI keeps the same routes registered, for the
OpenAPI document.

`http/lean.py` puts the front before a FastAPI app built on first need (the completions Lambda function).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from routeway.after_response import after_response
from routeway.errors import GatewayError
from routeway.http.completion_handlers import HANDLERS
from routeway.http.edge import Edge
from routeway.http.responses import error_response


class CompletionsFront:
    """`POST` on a completion path: its handler, errors in the path's dialect; anything else: `app`."""

    def __init__(self, app: ASGIApp, edge: Edge) -> None:
        self.app = app
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = HANDLERS.get(route_path(scope)) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        async with after_response():  # the record and charge are written once the answer is out
            try:
                response = await handler(self.edge, request)
            except GatewayError as exc:
                response = error_response(exc, scope["path"])
            await response(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The path the router would match: without the root path a proxy may have put in front."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
