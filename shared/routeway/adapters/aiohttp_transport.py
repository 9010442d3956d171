"""httpx over aiohttp (`httpx_aiohttp`) for `routeway serve`: the same httpx client, a cheaper transport.

httpx's own transport costs about 0.7 ms a forwarded request on a small machine (PERFORMANCE.md). Not used
on Lambda: importing aiohttp costs about 190 ms of every cold start there.

`httpx_aiohttp` turns aiohttp's errors into httpx's, but names a refused or dropped connection a
`ConnectTimeout`, which the gateway would report as a timeout. Here those are what httpx's own transport
raises (`ConnectError`, `RemoteProtocolError`), and any other aiohttp error a `ReadError`, so clients are
told the same thing whichever transport is underneath. Timeouts map as in `httpx_aiohttp`: connect to
`sock_connect`, read (each read, so a stream's idle time) to `sock_read`, pool to `connect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


def _as_httpx(exc: Exception) -> Exception:
    """The httpx error httpx's own transport would raise for what aiohttp raised (`exc` or its cause)."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if isinstance(cause, aiohttp.ServerTimeoutError) or not isinstance(cause, aiohttp.ClientError):
        return exc  # a real timeout, or already right
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(cause))
    if isinstance(cause, aiohttp.ClientConnectionError):  # the upstream closed or reset the connection
        return httpx.RemoteProtocolError(str(cause) or cause.__class__.__name__)
    return exc if isinstance(exc, httpx.TransportError) else httpx.ReadError(str(cause))


class _Body(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            corrected = _as_httpx(exc)
            if corrected is exc:
                raise
            raise corrected from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class UpstreamAiohttpTransport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except Exception as exc:
            corrected = _as_httpx(exc)
            if corrected is exc:
                raise
            raise corrected from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Body(response.stream),
            request=request,
            extensions=response.extensions,
        )
