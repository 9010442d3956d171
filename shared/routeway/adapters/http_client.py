"""One pooled httpx.AsyncClient per event loop (adapters/per_loop.py): Lambda, the CLI and tests' transports.
`routeway serve` uses aiohttp directly instead (adapters/aiohttp_upstream.py).
"""

from __future__ import annotations

from functools import cache
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
        cookies=no_cookies(),
        timeout=httpx.Timeout(30.0, connect=CONNECT_TIMEOUT_S),
        limits=httpx.Limits(**POOL_LIMITS),
        follow_redirects=False,  # an upstream redirect is never followed to another host
        trust_env=False,
    )


@cache
def _jar_class() -> type:
    from http.cookiejar import CookieJar  # loaded with httpx: made on first use, like the client

    class NoCookies(CookieJar):
        """Keeps nothing: what httpx's client asks of its jar on every call is a no-op."""

        def extract_cookies(self, response: Any, request: Any) -> None:  # noqa: ARG002 (CookieJar's signature)
            return None

        def add_cookie_header(self, request: Any) -> None:  # noqa: ARG002
            return None

    return NoCookies


def no_cookies() -> Any:
    """A jar for upstream calls: an upstream's cookies are never kept nor sent back (nor parsed: ~20 µs a call)."""
    return _jar_class()()
