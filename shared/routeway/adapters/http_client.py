"""One pooled httpx transport per event loop (adapters/per_loop.py): Lambda, the CLI and tests' transports.
`routeway serve` uses aiohttp directly instead (adapters/aiohttp_upstream.py).

Upstream calls go to httpx's transport, not through `httpx.AsyncClient`: what the client adds on each call
(its header merge, a cookie jar's request and response wrappers, auth and redirect handling, none of which an
upstream call uses) was ~0.1 ms of CPU of its ~0.6 (bench/NOTES.md). Requests and responses stay httpx's, and
so do its errors (the transport maps httpcore's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routeway.adapters.per_loop import PerLoop

if TYPE_CHECKING:
    import ssl

    import httpx

CONNECT_TIMEOUT_S = 5.0
POOL_LIMITS = {"max_connections": 100, "max_keepalive_connections": 20}


class UpstreamHttp:
    """Sends one request on a pooled transport; the response's body is the caller's to read and close."""

    def __init__(self, transport: Any) -> None:
        import httpx

        self._transport = transport
        self.is_closed = False
        # what httpx.AsyncClient sent on every request, sent as before
        self._defaults = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}
        self._defaults["User-Agent"] = f"python-httpx/{httpx.__version__}"

    async def send(
        self, method: str, url: httpx.URL, *, headers: dict[str, str], timeout: httpx.Timeout, content: bytes = b""
    ) -> httpx.Response:
        import httpx

        extensions = {"timeout": timeout.as_dict()}
        merged = {**self._defaults, **headers}
        request = httpx.Request(method, url, content=content, headers=merged, extensions=extensions)
        response: httpx.Response = await self._transport.handle_async_request(request)
        return response

    async def aclose(self) -> None:
        self.is_closed = True
        await self._transport.aclose()


class HttpClientPool(PerLoop[UpstreamHttp]):
    """`transport`: tests may inject an httpx transport (it is shared by every loop's `UpstreamHttp`)."""

    def __init__(self, transport: Any = None) -> None:
        super().__init__(lambda: UpstreamHttp(transport or _transport()), _is_closed, lambda http: http.aclose())


def _is_closed(http: UpstreamHttp) -> bool:
    return http.is_closed


def _transport(verify: ssl.SSLContext | bool = True) -> httpx.AsyncHTTPTransport:
    """httpx's transport with the client's limits (`verify`: a test's own CA)."""
    import httpx

    # no proxy variable is read (trust_env=False), as the client had it; redirects are never followed (the
    # transport has no redirect handling): an upstream redirect is never followed to another host
    return httpx.AsyncHTTPTransport(verify=verify, limits=httpx.Limits(**POOL_LIMITS), trust_env=False)
