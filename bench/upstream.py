"""The cheapest possible OpenAI-compatible upstream, so that what is measured is the gateway: raw asyncio (uvloop
when installed), HTTP/1.1 keep-alive, no framework. Run as `python -m bench.upstream PORT`.

A request whose body asks for `"stream": true` gets an SSE stream of `STREAM_CHUNKS` chunks `STREAM_GAP_S` apart
(the first at once, then one each gap: issue 33's 50 chunks, 20 ms apart), then `data: [DONE]`; any other POST
gets one fixed chat answer; `GET /health` answers 200. Every stream's chunks are written by one timer per stream
(`loop.call_later`), so 512 streams cost this process a few per cent of a core.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson

REPLY = orjson.dumps(
    {
        "id": "gen-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "openai/gpt-5.4-mini",
        "provider": "OpenAI",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": "ok", "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6, "cost": 0.000004},
    }
)
STREAM_CHUNKS = int(os.environ.get("BENCH_STREAM_CHUNKS", "50"))
STREAM_GAP_S = float(os.environ.get("BENCH_STREAM_GAP_MS", "20")) / 1000
_PLAIN = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(REPLY) + REPLY
_HEALTH = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"x-generation-id: gen-bench-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(document: dict[str, Any]) -> bytes:
    return _chunked(b"data: " + orjson.dumps(document) + b"\n\n")


def _stream_events(count: int) -> list[bytes]:
    """`count` chunks of one token each, the last with the finish reason and usage, then [DONE] and the end."""
    head = {"id": "gen-bench-stream", "object": "chat.completion.chunk", "created": 1, "model": "openai/gpt-5.4-mini"}
    events = []
    for index in range(count):
        last = index == count - 1
        choice = {
            "index": 0,
            "delta": {"content": "tok "} if not last else {},
            "finish_reason": "stop" if last else None,
        }
        document: dict[str, Any] = {**head, "provider": "OpenAI", "choices": [choice]}
        if last:
            document["usage"] = {"prompt_tokens": 5, "completion_tokens": count - 1, "total_tokens": count + 4}
        events.append(_event(document))
    events[-1] += _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n"
    return events


EVENTS = _stream_events(STREAM_CHUNKS)


class Upstream(asyncio.Protocol):
    """One client connection: requests in order, each answered as soon as its body is in."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.streaming = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002 (asyncio's signature)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.streaming:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15 : line_end if line_end > 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"get"):
                self.transport.write(_HEALTH)
            elif b'"stream":true' in body or b'"stream": true' in body:
                self.streaming = True
                self.transport.write(_STREAM_HEAD)
                self._send(0)
            else:
                self.transport.write(_PLAIN)

    def _send(self, index: int) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(EVENTS[index])
        if index + 1 < len(EVENTS):
            asyncio.get_running_loop().call_later(STREAM_GAP_S, self._send, index + 1)
        else:
            self.streaming = False
            if self.buffer:
                self.data_received(b"")


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def run(port: int) -> None:
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))


if __name__ == "__main__":
    run(int(sys.argv[1]))
