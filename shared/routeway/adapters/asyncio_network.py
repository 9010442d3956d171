"""httpcore's network on asyncio's own streams, for httpx's transport (adapters/http_client.py).

httpcore reads and writes through a network backend; its default (anyio) wraps every read and write in a
cancel scope with its own deadline and yields to the event loop once more per write: ~0.1 ms of CPU of an
upstream call's ~0.45 (bench/NOTES.md). Here a read or a write is an asyncio stream's, bounded by one
`asyncio.timeout`; TLS is asyncio's (`StreamWriter.start_tls`). Errors are httpcore's, which httpx's transport
maps to its own, so callers see the same exceptions as before.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("no data within the read timeout") from None
        except OSError as exc:  # ssl.SSLError included
            raise httpcore.ReadError(str(exc) or exc.__class__.__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("not written within the write timeout") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or exc.__class__.__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()  # the socket closes with the transport; nothing to wait for (aiohttp does the same)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            self._writer.close()
            raise httpcore.ConnectTimeout("no TLS handshake within the connect timeout") from None
        except OSError as exc:
            self._writer.close()
            raise httpcore.ConnectError(str(exc) or exc.__class__.__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks: `is_readable` (an idle kept-alive connection the server closed is not reused),
        the TLS object, the socket and the two addresses."""
        if info == "is_readable":
            return self._reader.at_eof() or self._reader.exception() is not None or _readable(self._socket())
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._socket()
        return None

    def _socket(self) -> Any:
        return self._writer.get_extra_info("socket")


def _readable(sock: Any) -> bool:
    """Data or the peer's close waiting in the socket: seen here even when the event loop has not run since
    (a Lambda process thawed for its next invocation). No socket any more: as good as closed."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


# an address that does not answer (an IPv6 route that drops packets) does not hold the others up to the
# connect timeout: the next one is tried after this long, as anyio did (RFC 8305's recommended delay)
HAPPY_EYEBALLS_DELAY_S = 0.25


class AsyncioNetwork(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = None if local_address is None else (local_address, 0)
        options = _connect_options(asyncio.get_running_loop())
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local, **options)
        except TimeoutError:
            raise httpcore.ConnectTimeout("not connected within the connect timeout") from None
        except OSError as exc:  # socket.gaierror included
            raise httpcore.ConnectError(str(exc) or exc.__class__.__name__) from exc
        sock: socket.socket = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _connect_options(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """Happy eyeballs where the loop has them: asyncio's own (Lambda, the CLI); uvloop's `create_connection`
    (`routeway serve` with httpx as its client) takes no such argument and tries addresses in turn."""
    return {"happy_eyeballs_delay": HAPPY_EYEBALLS_DELAY_S} if isinstance(loop, asyncio.BaseEventLoop) else {}
