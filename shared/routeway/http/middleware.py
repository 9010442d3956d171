"""The ASGI wrappers, without FastAPI: the catch-all 500 and the overhead header (every face), and `serve`'s
request log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routeway.errors import GatewayError
from routeway.http.completion_routes import render_error, route_of
from routeway.overhead import BEGAN, HEADER, request_timer, start_request
from routeway.request_log import open_facts, request_line

log = logging.getLogger("routeway.http")
_HEADER = HEADER.encode()


class CatchAll:
    """Turns any unexpected exception into a 500 in the OpenAI shape; the traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if started:
                return
            response = render_error(GatewayError("Internal error in the gateway."), scope)
            await response(scope, receive, send)


class OverheadHeader:
    """Adds `x-routeway-overhead-ms` (routeway/overhead.py) to every answer on a completion route (errors
    included) as its headers go out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if route_of(scope) is None:
            await self.app(scope, receive, send)
            return
        timer = request_timer()  # started by the outermost layer when there is one (routeway/overhead.py)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = f"{timer.overhead_ms():.2f}".encode()
                message = {**message, "headers": [*message.get("headers", ()), (_HEADER, value)]}
            await send(message)

        await self.app(scope, receive, timed_send)


class RequestLog:
    """`routeway serve`'s one line per request (routeway/request_log.py): written when the call ends (a whole
    answer's record is made after its last byte), timed to its last byte."""

    def __init__(self, app: ASGIApp, write: Callable[[str], None]) -> None:
        self.app = app
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        facts = open_facts()
        # the overhead header's timer: from the request's first byte when the server says (routeway/overhead.py)
        started = start_request(scope.get(BEGAN)).started
        status, ended = 0, 0.0

        async def logged_send(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                ended = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            ms = ((ended or time.perf_counter()) - started) * 1000
            self.write(request_line(scope["method"], scope["path"], status, facts, ms))
