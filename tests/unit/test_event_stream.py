"""A completion stream's response (http/event_stream.py): sent as it comes, ended by the client's leaving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from routeway.http.event_stream import EventStream


def _scope(spec: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": spec}}


async def _never() -> dict[str, Any]:
    await asyncio.Event().wait()
    return {}


def test_every_chunk_goes_out_then_the_end() -> None:
    sent: list[dict[str, Any]] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: 2\n\n"

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(EventStream(chunks(), {"x-routeway-model": "m"})(_scope("2.3"), _never, send))
    start, *bodies = sent
    assert start["status"] == 200 and (b"x-routeway-model", b"m") in start["headers"]
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert [(b["body"], b["more_body"]) for b in bodies] == [
        (b"data: 1\n\n", True),
        (b"data: 2\n\n", True),
        (b"", False),
    ]


def test_a_client_that_leaves_ends_the_relay_and_its_cleanup_runs() -> None:
    events: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"data: 1\n\n"
            await asyncio.Event().wait()  # the upstream is silent
            yield b"never"
        finally:
            events.append("relay closed")

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        events.append(message["type"])

    async def answer() -> None:
        async with asyncio.timeout(30):  # not a speed check: a stream nobody ends would otherwise hang the test
            await EventStream(chunks(), {})(_scope("2.3"), receive, send)

    asyncio.run(answer())
    assert events == ["http.response.start", "http.response.body", "relay closed"]


def test_a_failing_relay_raises_and_a_send_after_a_disconnect_is_a_client_disconnect() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        raise RuntimeError("relay broke")

    async def send(message: dict[str, Any]) -> None:
        pass

    with pytest.raises(RuntimeError, match="relay broke"):
        asyncio.run(EventStream(failing(), {})(_scope("2.3"), _never, send))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"

    async def gone(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise OSError("the client went away")

    with pytest.raises(ClientDisconnect):
        asyncio.run(EventStream(chunks(), {})(_scope("2.4"), _never, gone))
