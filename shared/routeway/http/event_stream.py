"""A completion stream's response: its SSE bytes sent as they come, stopped when the client goes away.

What Starlette's StreamingResponse does for a stream, without its anyio task group: that group cost ~80 µs of
CPU a stream, and every chunk went through its generic checks (bench/NOTES.md, issue 33). The same contract:
on a server older than ASGI 2.4 (uvicorn says 2.3, Mangum 2.0) one task sends while another listens for
`http.disconnect`, and whichever ends first ends the other, so a client that leaves cancels the relay at once
(its hold released, its record written: `services/streaming.relay`); from ASGI 2.4 a send after a disconnect
raises OSError, answered as Starlette does (`ClientDisconnect`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        self.chunks = chunks
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        spec = scope.get("asgi", {}).get("spec_version", "2.0")
        if tuple(map(int, spec.split("."))) >= (2, 4):
            try:
                await self._send_all(send)
            except OSError:
                raise ClientDisconnect() from None
            return
        sending = asyncio.ensure_future(self._send_all(send))
        listening = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await asyncio.wait((sending, listening), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sending.cancel()  # a no-op once it is done
            listening.cancel()
            await asyncio.wait((sending, listening))  # the relay's own cleanup runs to its end
        for task in (sending, listening):
            if not task.cancelled():
                task.result()  # raises what it raised

    async def _send_all(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
