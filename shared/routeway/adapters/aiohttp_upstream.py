"""The OpenAI-compatible upstream on aiohttp directly, for `routeway serve` (a long-lived server).

The same port and the same behaviour as `openai_compat.OpenAICompatibleUpstream` (httpx), for less than
half the CPU per forwarded call (0.39 ms here against 0.85 for httpx over aiohttp; raw aiohttp 0.33:
`bench/NOTES.md`). Not used on Lambda: importing aiohttp costs more of a cold start than httpx does there.

Errors become the port's, named as httpx names them so clients and logs read the same whichever
client is underneath: a refused connection `ConnectError`, a dropped or malformed answer
`RemoteProtocolError`; a timeout is `UpstreamNoAnswer`. Redirects are never followed (an upstream
redirect never takes the key to another host) and no proxy variable is read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from routeway.adapters.openai_compat import OpenAICompatibleClient, read_capped
from routeway.adapters.per_loop import PerLoop
from routeway.overhead import waiting_upstream
from routeway.ports import UpstreamNoAnswer, UpstreamResponse, UpstreamUnreachable

CONNECT_TIMEOUT_S = 5.0
# No cap on connections to the upstream: aiohttp's default (100 a session) queued the 101st concurrent request,
# so 512 streams through one `serve` waited for each other (first chunk 2.6 s late at p50: bench/NOTES.md). What
# bounds them is what bounds the requests this process holds: its clients' connections and its file limit.
MAX_CONNECTIONS = 0


def unreachable(exc: aiohttp.ClientError) -> UpstreamUnreachable:
    """The port's error for an aiohttp failure that is not a timeout, named as httpx would name it."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnreachable("ConnectError")
    if isinstance(exc, aiohttp.InvalidURL):
        return UpstreamUnreachable("UnsupportedProtocol")
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return UpstreamUnreachable("RemoteProtocolError")
    return UpstreamUnreachable("ReadError")


def plain_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names, repeated headers joined with ", " (what httpx's `dict(response.headers)` gives)."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        joined[lowered] = f"{joined[lowered]}, {value}" if lowered in joined else value
    return joined


class AiohttpSessions(PerLoop[aiohttp.ClientSession]):
    """One aiohttp session per event loop, made on first use and reused (a warm server keeps its connections)."""

    def __init__(self) -> None:
        super().__init__(_session, lambda session: session.closed, lambda session: session.close())


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
        trust_env=False,
    )


class AiohttpStream:
    """A streaming aiohttp response behind the UpstreamStream port: each read waits at most `idle_s`.

    The wait is bounded by one watchdog per stream, re-armed only when it fires (an `asyncio.timeout` per read
    was ~10% of a relayed chunk's CPU): when a read has waited `idle_s`, it closes the response, and the read
    raises UpstreamNoAnswer. Closing, not cancelling, so it holds whichever task reads the stream."""

    def __init__(self, response: aiohttp.ClientResponse, idle_s: float) -> None:
        self._response = response
        self._idle_s = idle_s
        self.status: int = response.status
        self.headers: Mapping[str, str] = plain_headers(response.headers)
        self._reading_since: float | None = None  # on the loop's clock, while a read waits
        self._watchdog: asyncio.TimerHandle | None = None
        self._silent = False

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        since = self._reading_since
        if since is not None and loop.time() - since >= self._idle_s:
            self._silent = True
            self._response.close()  # the waiting read ends at once
            return
        self._watchdog = loop.call_at((since if since is not None else loop.time()) + self._idle_s, self._watch)

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        loop = asyncio.get_running_loop()
        if self._watchdog is None:
            self._watch()
        try:
            while True:  # ends with the upstream's stream
                with waiting_upstream():
                    self._reading_since = loop.time()
                    try:
                        chunk = await content.readany()
                    finally:
                        self._reading_since = None
                if self._silent:
                    raise UpstreamNoAnswer(f"the stream was silent for {self._idle_s:.0f} s")
                if not chunk:
                    return
                yield chunk
        except aiohttp.ClientError as exc:
            if self._silent:
                raise UpstreamNoAnswer(f"the stream was silent for {self._idle_s:.0f} s") from None
            raise unreachable(exc) from None

    async def read(self) -> bytes:
        try:
            with waiting_upstream():
                async with asyncio.timeout(self._idle_s):
                    return await self._response.read()
        except (TimeoutError, aiohttp.ClientError):
            return b""

    def close(self) -> None:
        """Back to the pool when read to its end; otherwise the connection is closed (the upstream stops)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpUpstream(OpenAICompatibleClient):
    """OpenRouter, vLLM or Ollama over aiohttp; `self._pool` is an `AiohttpSessions`."""

    _pool: AiohttpSessions

    async def _post(
        self, path: str, payload: Mapping[str, Any], timeout_s: float, max_bytes: int | None
    ) -> UpstreamResponse:
        """One POST whose whole answer fits in `timeout_s`; its body kept only up to `max_bytes`."""
        started = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(timeout_s, CONNECT_TIMEOUT_S))
        try:
            with waiting_upstream():
                async with asyncio.timeout(timeout_s):
                    async with self._pool.get().post(
                        f"{self.base_url}/{path}",
                        data=orjson.dumps(payload),
                        headers=self._headers(),
                        timeout=timeout,
                        allow_redirects=False,
                    ) as response:
                        body, oversize = await read_capped(response.content.iter_any(), max_bytes)
        except TimeoutError:
            raise UpstreamNoAnswer(f"no answer within {timeout_s:.1f} s") from None
        except aiohttp.ClientError as exc:
            raise unreachable(exc) from None
        return UpstreamResponse(
            status=response.status,
            body=body,
            headers=plain_headers(response.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
            oversize=oversize,
        )

    @asynccontextmanager
    async def open_stream(
        self, payload: Mapping[str, Any], *, first_byte_s: float, idle_s: float
    ) -> AsyncIterator[AiohttpStream]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(first_byte_s, CONNECT_TIMEOUT_S))
        try:
            async with asyncio.timeout(first_byte_s):  # the status line must come within first_byte_s
                with waiting_upstream():
                    response = await self._pool.get().post(
                        f"{self.base_url}/chat/completions",
                        data=orjson.dumps(payload),
                        headers={**self._headers(), "Accept": "text/event-stream"},
                        timeout=timeout,
                        allow_redirects=False,
                    )
        except TimeoutError:
            raise UpstreamNoAnswer(f"no answer within {first_byte_s:.1f} s") from None
        except aiohttp.ClientError as exc:
            raise unreachable(exc) from None
        stream = AiohttpStream(response, idle_s)
        try:
            yield stream
        finally:
            stream.close()

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, timeout_s: float) -> UpstreamResponse:
        """GET a catalog document (models, endpoints, providers)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                async with self._pool.get().get(
                    f"{self.base_url}/{path.lstrip('/')}",
                    params=dict(params) if params else None,
                    headers=self._headers(),
                    allow_redirects=False,
                ) as response:
                    body = await response.read()
        except TimeoutError:
            raise UpstreamNoAnswer(f"GET {path}: no answer within {timeout_s:.1f} s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnreachable(f"GET {path}: {unreachable(exc)}") from None
        return UpstreamResponse(
            status=response.status,
            body=body,
            headers=plain_headers(response.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
