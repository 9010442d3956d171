"""A stream that goes silent mid-way ends in UpstreamNoAnswer after its idle limit, under `serve`'s aiohttp client
(adapters/aiohttp_upstream.py: one watchdog a stream, not a timer per read); one that keeps talking is read whole,
its connection back in the pool. Bounds only: nothing here measures speed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from routeway.adapters.aiohttp_upstream import AiohttpSessions, AiohttpUpstream
from routeway.ports import UpstreamNoAnswer

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def serving(talk: Callable[[asyncio.StreamWriter], Coroutine[Any, Any, None]]) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD)
        await talk(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def read_all(base_url: str, idle_s: float) -> list[bytes]:
    sessions = AiohttpSessions()
    upstream = AiohttpUpstream(base_url, lambda: "sk-test", sessions)
    got: list[bytes] = []
    try:
        async with upstream.open_stream({"stream": True}, first_byte_s=5.0, idle_s=idle_s) as stream:
            chunks: AsyncIterator[bytes] = stream.chunks()
            async for piece in chunks:
                got.append(piece)
    finally:
        await sessions.aclose()
    return got


def test_a_stream_silent_past_its_idle_limit_is_no_answer() -> None:
    async def stall(writer: asyncio.StreamWriter) -> None:
        writer.write(chunk(b'data: {"choices": []}\n\n'))
        await asyncio.sleep(30)  # silent, connection open

    async def main() -> list[bytes]:
        server, url = await serving(stall)
        async with server:
            return await asyncio.wait_for(read_all(url, idle_s=0.3), 10)

    with pytest.raises(UpstreamNoAnswer, match="silent"):
        asyncio.run(main())


def test_a_slow_but_talking_stream_is_read_to_its_end() -> None:
    async def trickle(writer: asyncio.StreamWriter) -> None:
        for _ in range(6):  # each gap shorter than the idle limit, together longer
            writer.write(chunk(b'data: {"choices": []}\n\n'))
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    async def main() -> list[bytes]:
        server, url = await serving(trickle)
        async with server:
            return await asyncio.wait_for(read_all(url, idle_s=0.35), 10)

    assert b"".join(asyncio.run(main())).count(b"data: ") == 7
