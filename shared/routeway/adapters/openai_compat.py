"""An OpenAI-compatible chat (and embeddings) upstream: OpenRouter, vLLM and Ollama all speak this.

The client's own Authorization is never forwarded: the key comes from configuration only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from routeway.adapters.http_client import CONNECT_TIMEOUT_S, HttpClientPool
from routeway.overhead import waiting_upstream
from routeway.ports import Oversize, UpstreamNoAnswer, UpstreamResponse, UpstreamUnreachable

if TYPE_CHECKING:
    import httpx


class HttpxStream:
    """An httpx streaming response behind the UpstreamStream port: httpx errors become the port's."""

    def __init__(self, response: Any, idle_s: float) -> None:
        self._response = response
        self._idle_s = idle_s
        self.status: int = response.status_code
        self.headers: Mapping[str, str] = dict(response.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        import httpx

        chunks = self._response.aiter_raw()
        try:
            while True:  # ends with the upstream's stream; each read is bounded by the idle timeout
                with waiting_upstream():
                    chunk = await anext(chunks, None)
                if chunk is None:
                    return
                yield chunk
        except httpx.TimeoutException:
            raise UpstreamNoAnswer(f"the stream was silent for {self._idle_s:.0f} s") from None
        except httpx.TransportError as exc:  # RemoteProtocolError: the upstream cut the stream
            raise UpstreamUnreachable(exc.__class__.__name__) from None

    async def read(self) -> bytes:
        import httpx

        try:
            with waiting_upstream():
                return bytes(await self._response.aread())
        except httpx.HTTPError:
            return b""


OVERSIZE_HEAD_BYTES = 4_096  # where an answer's id is
OVERSIZE_TAIL_BYTES = 65_536  # where its usage is


async def read_capped(chunks: AsyncIterator[bytes], max_bytes: int | None) -> tuple[bytes, Oversize | None]:
    """An answer's body, or past `max_bytes` only its size and two ends (read to its end for its usage)."""
    parts: list[bytes] = []
    size = 0
    head = b""
    tail = b""
    async for chunk in chunks:
        size += len(chunk)
        if max_bytes is None or size <= max_bytes:
            parts.append(chunk)
            continue
        if parts:  # the first piece over the limit: keep the two ends only from here on
            whole = b"".join(parts)
            head, tail, parts = whole[:OVERSIZE_HEAD_BYTES], whole[-OVERSIZE_TAIL_BYTES:], []
        head = head or chunk[:OVERSIZE_HEAD_BYTES]
        tail = (tail + chunk)[-OVERSIZE_TAIL_BYTES:]
    if max_bytes is not None and size > max_bytes:
        return b"", Oversize(size, head, tail)
    return b"".join(parts), None


ATTRIBUTION_HEADERS = {"HTTP-Referer": "https://github.com/routeway/routeway", "X-Title": "Routeway"}


class OpenAICompatibleClient:
    """What every OpenAI-compatible upstream client shares, whatever HTTP library is under it: the base URL,
    the configured key (never the client's own Authorization), and chat and embeddings as one POST each."""

    def __init__(
        self,
        base_url: str,
        key: Callable[[], str | None],
        pool: Any,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._pool = pool
        self._extra_headers = dict(extra_headers or {})

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self._extra_headers}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def chat(
        self, payload: Mapping[str, Any], *, timeout_s: float, max_bytes: int | None = None
    ) -> UpstreamResponse:
        return await self._post("chat/completions", payload, timeout_s, max_bytes)

    async def embeddings(
        self, payload: Mapping[str, Any], *, timeout_s: float, max_bytes: int | None = None
    ) -> UpstreamResponse:
        return await self._post("embeddings", payload, timeout_s, max_bytes)

    async def _post(
        self, path: str, payload: Mapping[str, Any], timeout_s: float, max_bytes: int | None
    ) -> UpstreamResponse:
        raise NotImplementedError


@lru_cache(maxsize=64)
def parsed_url(url: str) -> httpx.URL:
    """An upstream's URL parsed once, not on every call (httpx parses a string URL each time: ~20 µs here)."""
    import httpx

    return httpx.URL(url)


class OpenAICompatibleUpstream(OpenAICompatibleClient):
    """Over httpx (Lambda, the CLI, tests' transports); `self._pool` is an `HttpClientPool`."""

    _pool: HttpClientPool

    async def _post(
        self, path: str, payload: Mapping[str, Any], timeout_s: float, max_bytes: int | None
    ) -> UpstreamResponse:
        """One POST whose whole answer (not each read) fits in `timeout_s`, and whose body is kept only up
        to `max_bytes`: past it the answer is read to its end for its usage, but not held in memory."""
        import httpx

        started = time.perf_counter()
        http = self._pool.get()
        try:
            with waiting_upstream():
                async with asyncio.timeout(timeout_s):
                    response = await http.send(
                        "POST",
                        parsed_url(f"{self.base_url}/{path}"),
                        content=orjson.dumps(payload),
                        headers=self._headers(),
                        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S)),
                    )
                    try:
                        body, oversize = await read_capped(response.aiter_bytes(), max_bytes)
                    finally:
                        await response.aclose()
        except (httpx.TimeoutException, TimeoutError):
            raise UpstreamNoAnswer(f"no answer within {timeout_s:.1f} s") from None
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(exc.__class__.__name__) from None
        return UpstreamResponse(
            status=response.status_code,
            body=body,
            headers=dict(response.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
            oversize=oversize,
        )

    @asynccontextmanager
    async def open_stream(
        self, payload: Mapping[str, Any], *, first_byte_s: float, idle_s: float
    ) -> AsyncIterator[HttpxStream]:
        import httpx

        http = self._pool.get()
        try:
            async with asyncio.timeout(first_byte_s):  # but the status line must come within first_byte_s
                with waiting_upstream():
                    response = await http.send(
                        "POST",
                        parsed_url(f"{self.base_url}/chat/completions"),
                        content=orjson.dumps(payload),
                        headers={**self._headers(), "Accept": "text/event-stream"},
                        timeout=httpx.Timeout(idle_s, connect=min(first_byte_s, CONNECT_TIMEOUT_S)),  # a read: idle_s
                    )
        except (httpx.TimeoutException, TimeoutError):
            raise UpstreamNoAnswer(f"no answer within {first_byte_s:.1f} s") from None
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(exc.__class__.__name__) from None
        try:
            yield HttpxStream(response, idle_s)
        finally:
            await response.aclose()

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, timeout_s: float) -> UpstreamResponse:
        """GET a catalog document (models, endpoints, providers)."""
        import httpx

        started = time.perf_counter()
        url = httpx.URL(f"{self.base_url}/{path.lstrip('/')}", params=params)
        try:
            http = self._pool.get()
            response = await http.send("GET", url, headers=self._headers(), timeout=httpx.Timeout(timeout_s))
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise UpstreamNoAnswer(f"GET {path}: no answer within {timeout_s:.1f} s") from None
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(f"GET {path}: {exc.__class__.__name__}") from None
        return UpstreamResponse(
            status=response.status_code,
            body=body,
            headers=dict(response.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
