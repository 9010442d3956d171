"""`routeway serve`'s connection timeouts: idle connections, slow headers and slow bodies do not hold it.

uvicorn closes a kept-alive connection `timeout_keep_alive` seconds after a response, and nothing else: a
connection that never sends a byte, or sends its headers or its body a byte at a time, was held for as long as
the client liked, each holding a file descriptor (60 of them stayed open 75 s; under a low file limit, real
requests failed meanwhile). Servers that face slow clients bound each phase (gunicorn's `--timeout` per worker,
hypercorn's `read_timeout`, Apache's mod_reqtimeout `header=` and `body=`); here, each phase has its own
setting (settings.py):

- idle (ROUTEWAY_SERVE_IDLE_TIMEOUT_S): a connection with no request in progress, just opened or between two
  requests, is closed after that long without a byte (uvicorn's keep-alive timer, armed at connect too);
- headers (ROUTEWAY_SERVE_HEADER_TIMEOUT_S): from a request's first byte, its headers must be whole in time,
  else the connection is closed (no route is known yet, so there is no dialect to answer in);
- body (ROUTEWAY_SERVE_BODY_TIMEOUT_S): `BodyDeadline` wraps the ASGI `receive`: the body must be whole in
  time after its headers, else reading it raises RequestTimeout where the app reads it, so the route answers
  408 `request_timeout` in its own dialect's shape, and the connection is closed.

Lambda (Mangum) gets each body whole from its event, so none of this is on its path.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from routeway.errors import RequestTimeout
from routeway.overhead import BEGAN


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with an idle timer from the connection's start and a header timer per
    request. Both close the transport, as uvicorn's own keep-alive timer does. Each request's scope also says
    when its first byte was read (`BEGAN`): the overhead header counts from there (routeway/overhead.py)."""

    header_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms its keep-alive timer only after a response; a new connection idles under it too
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[BEGAN] = time.perf_counter()  # type: ignore[literal-required]  # an extension key of ours
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self.timeout_keep_alive_handler)

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None


def header_timeout_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this header timeout."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": header_timeout_s})


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a non-zero Content-Length, or chunks)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class BodyDeadline:
    """The ASGI receive wrapper of `routeway serve`: a body must be whole within `timeout_s` of its headers.

    An answer that goes out before the body is whole (a 401, a 408) closes the connection, so a client cannot
    keep trickling the rest of a body nobody reads."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        whole = False

        async def receive_in_time() -> Message:
            nonlocal whole
            if whole:
                return await receive()  # the body is in: later calls wait for a disconnect, for any time
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"The request body did not arrive within {self.timeout_s:g} s of its headers."
                ) from None
            whole = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not whole:
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive_in_time, send_closing)
