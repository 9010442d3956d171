"""One pooled httpx.AsyncClient per event loop, created on first use and reused across requests.

Lambda (through Mangum) keeps one loop for the life of the process, so a warm function reuses its
connections. Keying by loop keeps tests, which may run several loops, from sharing a dead client.
`routeway serve` uses aiohttp directly instead (adapters/aiohttp_upstream.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

CONNECT_TIMEOUT_S = 5.0
POOL_LIMITS = {"max_connections": 100, "max_keepalive_connections": 20}


class HttpClientPool:
    def __init__(self, transport: Any = None) -> None:
        self._transport = transport  # tests may inject an httpx transport
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}

    def get(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is not None and entry[0] is loop and not entry[1].is_closed:
            return entry[1]
        self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
        client = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(30.0, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(**POOL_LIMITS),
            follow_redirects=False,  # an upstream redirect is never followed to another host
            trust_env=False,
        )
        self._clients[id(loop)] = (loop, client)
        return client

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(id(loop), None)
        if entry is not None:
            await entry[1].aclose()
