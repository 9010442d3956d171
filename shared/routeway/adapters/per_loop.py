"""One pooled client per event loop, made on first use and reused across requests.

Lambda (through Mangum) and `routeway serve` keep one loop for the life of the process, so a warm process
reuses its connections. Keying by loop keeps tests, which may run several loops, from sharing a client
bound to a loop that is gone; a closed client, or one of a closed loop, is made again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Client = TypeVar("Client")


class PerLoop(Generic[Client]):
    def __init__(
        self,
        make: Callable[[], Client],
        is_closed: Callable[[Client], bool],
        close: Callable[[Client], Awaitable[object]],
    ) -> None:
        self._make = make
        self._is_closed = is_closed
        self._close = close
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, Client]] = {}

    def get(self) -> Client:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is not None and entry[0] is loop and not self._is_closed(entry[1]):
            return entry[1]
        self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
        client = self._make()
        self._clients[id(loop)] = (loop, client)
        return client

    async def aclose(self) -> None:
        """Close this loop's client (the others belong to loops that close their own)."""
        entry = self._clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            await self._close(entry[1])
