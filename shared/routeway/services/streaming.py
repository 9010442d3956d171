"""`stream: true`: relay the upstream's SSE to the client, with the same plan and fallbacks as a plain chat.

Before the first byte reaches the client, a failed attempt (an error status, an error event, a stream
that ends or stalls before its first chunk) moves on to the next one. After it, there is no silent
switch: a mid-stream error is forwarded as an error event, and a stream cut before `[DONE]` or a
finish reason becomes one, and the record says the request failed. Upstream keep-alive comments are
dropped. The upstream's usage chunk is held back and sent, with the `route`, in the last chunk
before `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson

from routeway.bootstrap import Gateway
from routeway.domain.outcome import classify_response
from routeway.domain.plan import Candidate
from routeway.domain.sse import Event, SSEError, SSEParser, encode_event
from routeway.ports import UpstreamStream, UpstreamTimedOut, UpstreamUnreachable
from routeway.services.attempts import AttemptResult, build_payload, new_result, record_health

IDLE_LIMIT_S = 60.0
DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients skip it, intermediaries see a live connection


@dataclass
class OpenStream:
    """An attempt whose first chunk arrived: everything needed to relay the rest."""

    result: AttemptResult
    context: AbstractAsyncContextManager[UpstreamStream]
    stream: UpstreamStream
    chunks: AsyncIterator[bytes]
    parser: SSEParser
    first: dict[str, Any]
    pending: list[Event]  # events that arrived with the first chunk


def _json_event(event: Event) -> dict[str, Any] | None:
    try:
        document = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


async def open_attempt(
    gateway: Gateway, candidate: Candidate, body: dict[str, Any], prefs: Any, first_byte_s: float
) -> AttemptResult | OpenStream:
    """Start one attempt and wait for its first real chunk; a failure comes back as an AttemptResult."""
    row = candidate.row
    payload, applied = build_payload(candidate, body, prefs)
    result = new_result(candidate, applied, stream=True)
    started = time.perf_counter()
    upstream = gateway.upstream(gateway.catalog.current().backends[row.backend])
    context = upstream.open_stream(payload, first_byte_s=first_byte_s, idle_s=IDLE_LIMIT_S)
    opened: OpenStream | None = None
    try:
        stream = await context.__aenter__()
        result.status = stream.status
        if stream.status != 200:
            outcome = classify_response(stream.status, await stream.read())
            result.error_code, result.outcome = outcome.error_code, outcome
        else:
            opened = await _first_chunk(result, context, stream, deadline=started + first_byte_s)
    except UpstreamTimedOut:
        result.error_code = "timeout"
    except UpstreamUnreachable:
        result.error_code = "unreachable"
    except SSEError:
        result.error_code = "invalid_response"
    finally:
        result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        result.record.update(status=result.status, error_code=result.error_code, latency_ms=result.latency_ms)
        if opened is None:
            await context.__aexit__(None, None, None)
    record_health(gateway, result, success=opened is not None)
    return opened if opened is not None else result


async def _first_chunk(
    result: AttemptResult, context: Any, stream: UpstreamStream, deadline: float
) -> OpenStream | None:
    parser = SSEParser()
    chunks = stream.chunks()
    async for raw in chunks:
        events = parser.feed(raw)
        for index, event in enumerate(events):
            if event.done:
                result.error_code = "empty_stream"
                return None
            document = _json_event(event)
            if document is None or "error" in document or not isinstance(document.get("choices"), list):
                result.error_code = "upstream_error_in_body" if document and "error" in document else "invalid_response"
                return None
            return OpenStream(result, context, stream, chunks, parser, document, events[index + 1 :])
        if time.perf_counter() > deadline:
            raise UpstreamTimedOut("no first chunk before the deadline")
    result.error_code = "empty_stream"
    return None


async def relay(
    opened: OpenStream,
    route: dict[str, Any],
    finish: Callable[[bool, dict[str, Any] | None, str | None], None],
    cost_of: Callable[[dict[str, Any]], None],
    keepalive_s: float = 15.0,
) -> AsyncIterator[bytes]:
    """The client's SSE body. `finish(ok, usage, error_code)` runs once, however the stream ends."""
    usage: dict[str, Any] | None = None
    finished, done, recorded, error_code = False, False, False, None
    head = {k: opened.first.get(k) for k in ("id", "created", "model")}

    def handle(event: Event) -> bytes | None:
        nonlocal usage, finished, done, error_code
        if event.done:
            done = True
            return None
        document = _json_event(event)
        if document is None:
            error_code = "invalid_response"
            return None
        if "error" in document:
            error_code = "upstream_error_in_body"
            return encode_event(orjson.dumps({"error": _openai_error(document["error"]), "route": route}).decode())
        choices = document.get("choices") or []
        if isinstance(document.get("usage"), dict):
            usage = document["usage"]
            if not choices:
                return None  # held back: usage goes out with the route in the last chunk
        finished = finished or any(isinstance(c, dict) and c.get("finish_reason") for c in choices)
        return encode_event(event.data)

    try:
        yield encode_event(orjson.dumps(opened.first).decode())
        finished = any(isinstance(c, dict) and c.get("finish_reason") for c in opened.first.get("choices", []))
        error_event: bytes | None = None
        try:
            async for event in _with_keepalives(_events(opened), keepalive_s):
                if event is None:
                    yield KEEPALIVE
                    continue
                out = handle(event)
                if error_code:  # sent after the record is written, like every last event
                    error_event = out
                    break
                if out:
                    yield out
                if done:
                    break
        except (UpstreamTimedOut, UpstreamUnreachable, SSEError):
            error_code = "stream_cut"
        if error_code is None and not (done or finished):
            error_code = "stream_cut"
        if error_code is None and usage is not None:
            cost_of(usage)
        finish(error_code is None, usage, error_code)  # before the last bytes: a client that saw [DONE] finds it
        recorded = True
        if error_event is not None:
            yield error_event
        elif error_code in ("stream_cut", "invalid_response"):
            message = "The upstream stream ended before it finished."
            error = {"message": message, "type": "api_error", "param": None, "code": "upstream_error"}
            yield encode_event(orjson.dumps({"error": error, "route": route}).decode())
        elif error_code is None:
            last: dict[str, Any] = {**head, "object": "chat.completion.chunk", "choices": [], "route": route}
            if usage is not None:
                last["usage"] = usage
            yield encode_event(orjson.dumps(last).decode())
        yield DONE
    finally:
        await opened.context.__aexit__(None, None, None)
        if not recorded:  # the client went away mid-stream
            finish(False, usage, error_code or "client_disconnected")


async def _with_keepalives(events: AsyncIterator[Event], every_s: float) -> AsyncIterator[Event | None]:
    """The events, with a None each time the upstream has been silent for `every_s` seconds."""
    iterator = events.__aiter__()
    pending: asyncio.Future[Event] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield None
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None and not pending.done():
            pending.cancel()


async def _events(opened: OpenStream) -> AsyncIterator[Event]:
    """Every event after the first: those that came with it, then the rest of the stream."""
    for event in opened.pending:
        yield event
    async for raw in opened.chunks:
        for event in opened.parser.feed(raw):
            yield event
    for event in opened.parser.close():
        yield event


def _openai_error(error: Any) -> dict[str, Any]:
    message = error.get("message") if isinstance(error, dict) else str(error)
    return {"message": str(message or "upstream error"), "type": "api_error", "param": None, "code": "upstream_error"}
