"""One pooled httpx.AsyncClient per event loop (adapters/per_loop.py): Lambda, the CLI and tests' transports.
`routeway serve` uses aiohttp directly instead (adapters/aiohttp_upstream.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routeway.adapters.per_loop import PerLoop

if TYPE_CHECKING:
    import httpx

CONNECT_TIMEOUT_S = 5.0
POOL_LIMITS = {"max_connections": 100, "max_keepalive_connections": 20}


class HttpClientPool(PerLoop["httpx.AsyncClient"]):
    def __init__(self, transport: Any = None) -> None:
        super().__init__(lambda: _client(transport), lambda client: client.is_closed, lambda client: client.aclose())


def _client(transport: Any) -> httpx.AsyncClient:
    """`transport`: tests may inject an httpx transport."""
    import httpx

    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(30.0, connect=CONNECT_TIMEOUT_S),
        limits=httpx.Limits(**POOL_LIMITS),
        follow_redirects=False,  # an upstream redirect is never followed to another host
        trust_env=False,
    )
