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
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson

from routeway.domain.fallback import classify_response
from routeway.domain.plan import Candidate
from routeway.domain.proof import RouteProof
from routeway.domain.sse import Event, SSEError, SSEParser
from routeway.errors import GatewayError
from routeway.gateway import Gateway
from routeway.ports import UpstreamStream, UpstreamTimedOut, UpstreamUnreachable
from routeway.services.attempts import (
    AttemptResult,
    build_payload,
    log_upstream_failure,
    new_result,
    note_outcome,
    upstream_for,
)
from routeway.services.results import KEEPALIVE, StreamChunk, StreamEvent

IDLE_LIMIT_S = 60.0


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
    payload, applied = build_payload(candidate, body, prefs)
    result = new_result(candidate, applied, stream=True)
    record = result.record
    started = time.perf_counter()
    try:
        upstream = await upstream_for(gateway, candidate)
    except GatewayError as exc:  # the backend is not configured
        record.error_code = exc.code
        log_upstream_failure(result, exc.message, stream=True)
        note_outcome(gateway, result, success=False)
        return result
    context = upstream.open_stream(payload, first_byte_s=first_byte_s, idle_s=IDLE_LIMIT_S)
    opened: OpenStream | None = None
    try:
        stream = await context.__aenter__()
        record.status = stream.status
        if stream.status != 200:
            outcome = classify_response(stream.status, await stream.read())
            record.error_code, result.outcome = outcome.error_code, outcome
        else:
            opened = await _first_chunk(result, context, stream, deadline=started + first_byte_s)
    except UpstreamTimedOut:
        record.error_code = "timeout"
    except UpstreamUnreachable:
        record.error_code = "unreachable"
    except SSEError:
        record.error_code = "invalid_response"
    finally:
        record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        if opened is None:
            await context.__aexit__(None, None, None)
    if opened is None:
        log_upstream_failure(result, result.outcome.message if result.outcome else "", stream=True)
    note_outcome(gateway, result, success=opened is not None)
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
                result.record.error_code = "empty_stream"
                return None
            document = _json_event(event)
            if document is None or "error" in document or not isinstance(document.get("choices"), list):
                in_body = document is not None and "error" in document
                result.record.error_code = "upstream_error_in_body" if in_body else "invalid_response"
                if in_body and document is not None:
                    result.outcome = classify_response(200, orjson.dumps(document))
                return None
            return OpenStream(result, context, stream, chunks, parser, document, events[index + 1 :])
        if time.perf_counter() > deadline:
            raise UpstreamTimedOut("no first chunk before the deadline")
    result.record.error_code = "empty_stream"
    return None


async def relay(
    opened: OpenStream,
    proof: RouteProof,
    finish: Callable[[bool, dict[str, Any] | None, str | None], Coroutine[Any, Any, None]],
    cost_of: Callable[[dict[str, Any]], None],
    keepalive_s: float = 15.0,
) -> AsyncIterator[StreamEvent]:
    """The client's stream. `finish(ok, usage, error_code)` runs once, however the stream ends."""
    usage: dict[str, Any] | None = None
    finished, done, recorded, error_code = False, False, False, None
    head = {k: opened.first.get(k) for k in ("id", "created", "model")}

    def handle(event: Event) -> StreamChunk | None:
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
            return StreamChunk({"error": _openai_error(document["error"]), "route": proof.as_dict()})
        choices = document.get("choices") or []
        if isinstance(document.get("usage"), dict):
            usage = document["usage"]
            if not choices:
                return None  # held back: usage goes out with the route in the last chunk
        finished = finished or any(isinstance(c, dict) and c.get("finish_reason") for c in choices)
        return StreamChunk(document, event.data)

    try:
        yield StreamChunk(opened.first)
        finished = any(isinstance(c, dict) and c.get("finish_reason") for c in opened.first.get("choices", []))
        error_event: StreamChunk | None = None
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
        if error_code is not None:
            message = error_event.document["error"]["message"] if error_event is not None else ""
            log_upstream_failure(opened.result, message or "the stream ended before it finished", stream=True)
        await finish(error_code is None, usage, error_code)  # before the last bytes: a client that saw [DONE] finds it
        recorded = True
        if error_event is not None:
            yield StreamChunk({**error_event.document, "route": proof.as_dict()})
        elif error_code in ("stream_cut", "invalid_response"):
            message = "The upstream stream ended before it finished."
            error = {"message": message, "type": "api_error", "param": None, "code": "upstream_error"}
            yield StreamChunk({"error": error, "route": proof.as_dict()})
        elif error_code is None:
            last: dict[str, Any] = {**head, "object": "chat.completion.chunk", "choices": [], "route": proof.as_dict()}
            if usage is not None:
                last["usage"] = usage
            yield StreamChunk(last)
    finally:
        pending = None
        if not recorded:  # the client went away mid-stream: the record is still written, even under cancellation
            pending = _in_background(finish(False, usage, error_code or "client_disconnected"))
        try:
            await opened.context.__aexit__(None, None, None)
        finally:
            if pending is not None:
                await asyncio.shield(pending)


_BACKGROUND: set[asyncio.Task[None]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task that finishes even if the request's task is cancelled (a strong reference keeps it alive)."""
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


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
