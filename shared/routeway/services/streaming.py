"""`stream: true`: relay the upstream's SSE to the client, with the same plan and fallbacks as a plain chat.

Stream-safe failover: an attempt counts as open only once its first content arrives (text, a tool call,
an image, reasoning, or a finish). Before that, an error status, an error event, a cut, or no content
within the first-token timeout is a failed attempt and the next candidate is tried; the client has seen
nothing but keep-alive comments. After it, there is no silent switch: a failure ends the stream with an
error event, and the record says the request failed.

Shape (PRODUCT.md, "Streams"): usage is never sent twice and never on a chunk with choices. Without
`stream_options.include_usage`, the last data event is the finish_reason chunk, carrying `route`; with
it, one last `choices: []` chunk carries `usage` and `route`. The whole stream stays inside the
request's deadline: past it, the stream ends with an error event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson

from routeway.domain.catalog import Backend
from routeway.domain.client_ids import ChunkIds
from routeway.domain.fallback import classify_response
from routeway.domain.fields import MAX_JSON_DEPTH, nested_deeper_than
from routeway.domain.plan import Candidate
from routeway.domain.proof import RouteProof
from routeway.domain.sse import Event, SSEError, SSEParser
from routeway.errors import GatewayError, ResponseTooLarge, RoutewayError, UpstreamError, UpstreamTimeout
from routeway.gateway import Gateway
from routeway.ports import UpstreamNoAnswer, UpstreamStream, UpstreamUnreachable
from routeway.services.attempts import (
    AttemptResult,
    build_payload,
    could_not_send,
    log_upstream_failure,
    new_result,
    note_outcome,
    retry_after,
    upstream_for,
)
from routeway.services.paced import paced
from routeway.services.results import KEEPALIVE, StreamChunk, StreamEvent, StreamFailure
from routeway.services.written import in_background

IDLE_LIMIT_S = 60.0
CONTENT_DELTA_FIELDS = ("content", "tool_calls", "function_call", "images", "reasoning", "reasoning_content", "refusal")
Finish = Callable[[bool, dict[str, Any] | None, str | None, int], Coroutine[Any, Any, None]]
CHARS_PER_TOKEN = 4
TEXT_DELTA_FIELDS = ("content", "reasoning", "reasoning_content", "refusal")
PLAIN_DELTA_FIELDS = frozenset({"content", "role"})  # a delta of only these is counted by `_Shaper.take`'s short path
GENERATION_ID_HEADER = "x-generation-id"


class DeadlinePassed(RoutewayError):
    """The request's deadline passed while the stream was still running."""


@dataclass
class OpenStream:
    """An attempt whose first content arrived: everything needed to relay the rest."""

    result: AttemptResult
    context: AbstractAsyncContextManager[UpstreamStream]
    stream: UpstreamStream
    chunks: AsyncIterator[bytes]
    parser: SSEParser
    held: list[dict[str, Any]]  # the chunks up to and including the first content, not yet relayed
    pending: list[Event]  # events that arrived with the first content

    @property
    def first(self) -> dict[str, Any]:
        return self.held[0]


def _json_event(event: Event) -> dict[str, Any] | None:
    try:
        document = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    data = event.data  # the depth is walked only when the brackets could nest that deep (rarely: cheap per chunk)
    return None if data.count("{") + data.count("[") > MAX_JSON_DEPTH and nested_deeper_than(document) else document


def has_content(document: dict[str, Any]) -> bool:
    """Whether a chunk carries something a client shows: text, a tool call, an image, reasoning, or a finish."""
    for choice in document.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason"):
            return True
        delta = choice.get("delta")
        if isinstance(delta, dict) and any(delta.get(name) for name in CONTENT_DELTA_FIELDS):
            return True
    return False


async def open_attempt(
    gateway: Gateway,
    candidate: Candidate,
    body: dict[str, Any],
    prefs: Any,
    *,
    first_token_s: float,
    remaining_s: float,
    backends: Mapping[str, Backend],
) -> AttemptResult | OpenStream:
    """Start one attempt and wait for its first content; a failure comes back as an AttemptResult."""
    payload, applied = build_payload(candidate, body, prefs)
    result = new_result(candidate, applied, stream=True, redact=gateway.redact)
    record = result.record
    started = time.perf_counter()
    try:
        upstream = upstream_for(gateway, candidate, backends)
    except GatewayError as exc:  # the backend is not configured
        could_not_send(result, exc, stream=True)
        note_outcome(gateway, result, success=False)
        return result
    wait_s = max(0.0, min(first_token_s, remaining_s))
    context = upstream.open_stream(payload, first_byte_s=wait_s, idle_s=IDLE_LIMIT_S)
    opened: OpenStream | None = None
    entered = False
    try:
        async with asyncio.timeout(wait_s):
            stream = await context.__aenter__()
            entered = True
            record.status = stream.status
            result.upstream_id = _named_id(stream.headers.get(GENERATION_ID_HEADER))
            if stream.status != 200:
                result.take_outcome(classify_response(stream.status, await stream.read()))
                result.retry_after_s = retry_after(dict(stream.headers))
            else:
                opened = await _first_content(result, context, stream)
    except TimeoutError:
        record.error_code = "first_token_timeout" if entered and record.status == 200 else "timeout"
        result.abandoned = entered and record.status == 200  # accepted, then given up on: charged (completion_core)
    except UpstreamNoAnswer:
        record.error_code = "timeout"
    except UpstreamUnreachable:
        record.error_code = "unreachable"
    except SSEError:
        record.error_code = "invalid_response"
    except GatewayError as exc:
        if entered:
            raise
        could_not_send(result, exc, stream=True)  # raised before the request was sent: its key cannot be read
    finally:
        record.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        if opened is None and entered:
            await context.__aexit__(None, None, None)
    if opened is None and result.not_sent is None:
        log_upstream_failure(result, result.outcome.message if result.outcome else "", stream=True)
    note_outcome(gateway, result, success=opened is not None)
    return opened if opened is not None else result


async def _first_content(result: AttemptResult, context: Any, stream: UpstreamStream) -> OpenStream | None:
    """Read until the first content; what came before it (a role chunk) is held, not relayed yet."""
    parser = SSEParser()
    chunks = stream.chunks()
    held: list[dict[str, Any]] = []
    async for raw in chunks:
        events = parser.feed(raw)
        for index, event in enumerate(events):
            if event.done:
                result.record.error_code = "empty_stream"
                return None
            document = _json_event(event)
            if document is not None and result.upstream_id is None:
                result.upstream_id = _named_id(document.get("id"))
            if document is None or "error" in document or not isinstance(document.get("choices"), list):
                in_body = document is not None and "error" in document
                result.record.error_code = "upstream_error_in_body" if in_body else "invalid_response"
                if in_body and document is not None:
                    result.take_outcome(classify_response(200, orjson.dumps(document)))
                return None
            held.append(document)
            if has_content(document):
                return OpenStream(result, context, stream, chunks, parser, held, events[index + 1 :])
    result.record.error_code = "empty_stream"  # cut before any content
    return None


def _named_id(value: Any) -> str | None:
    """A generation id the upstream gave, if it is one (a short string)."""
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


@dataclass
class StreamRules:
    include_usage: bool
    keepalive_s: float
    deadline_at: float  # on the `monotonic` clock
    monotonic: Callable[[], float]
    max_bytes: int | None = None  # the most the entry can return: past it the stream ends with an error event


class _Shaper:
    """Applies the stream shape: usage taken off every chunk, the last finish chunk held for the route."""

    def __init__(self, chunk_id: str) -> None:
        self.ids = ChunkIds(chunk_id)  # every chunk under the generation id: what a client explains the stream by
        self.usage: dict[str, Any] | None = None
        self.held_finish: dict[str, Any] | None = None
        self.finished = False
        self.text_chars = 0  # what was relayed, for the estimate when no usage arrives
        self.pieces = 0

    @property
    def relayed_tokens(self) -> int:
        """Tokens relayed so far, estimated: a content chunk is at least one token."""
        return max(self.text_chars // CHARS_PER_TOKEN, self.pieces)

    def _count(self, choices: list[Any]) -> bool:
        """Counts what the choices relay; whether one of them finishes. One plain pass: it runs on every chunk."""
        finishing = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason"):
                finishing = True
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            size = 0
            for name in TEXT_DELTA_FIELDS:
                value = delta.get(name)
                if isinstance(value, str):
                    size += len(value)
            for call in delta.get("tool_calls") or ():
                arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                size += len(arguments) if isinstance(arguments, str) else 0
            self.text_chars += size
            self.pieces += 1 if size else 0
        return finishing

    def take(self, document: dict[str, Any], data: str | None, *, owned: bool = False) -> list[StreamChunk]:
        """The chunks to relay now. `owned`: nobody else reads `document` (renamed in place, not copied)."""
        choices = document.get("choices")
        if self.held_finish is None and "usage" not in document and type(choices) is list and len(choices) == 1:
            choice = choices[0]  # the common chunk (one choice, text or a role, no finish): a short path
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and delta.keys() <= PLAIN_DELTA_FIELDS and not choice.get("finish_reason"):
                content = delta.get("content")
                if type(content) is str and content:
                    self.text_chars += len(content)
                    self.pieces += 1
                return [StreamChunk(*self.ids.rename(document, data, in_place=owned))]
        document, data = self.ids.rename(document, data, in_place=owned)
        choices = document.get("choices") or []
        finishing = self._count(choices) if isinstance(choices, list) else False
        if isinstance(document.get("usage"), dict):
            self.usage = document["usage"]
            if not choices:
                return []
            document = {k: v for k, v in document.items() if k != "usage"}
            data = None  # changed: serialised again
        out = []
        if self.held_finish is not None:
            out.append(StreamChunk(self.held_finish))
            self.held_finish = None
        if finishing:
            self.finished = True
            self.held_finish = document
            return out
        out.append(StreamChunk(document, data))
        return out


async def relay(
    opened: OpenStream, proof: RouteProof, finish: Finish, cost_of: Callable[[dict[str, Any]], None], rules: StreamRules
) -> AsyncIterator[StreamEvent]:
    """The client's stream. `finish(ok, usage, error_code)` runs once, however the stream ends."""
    shaper = _Shaper(proof.generation_id)
    done, recorded = False, False
    relayed_bytes = 0
    error_code: str | None = None
    upstream_error: Any = None
    head = {"id": proof.generation_id, "created": opened.first.get("created"), "model": opened.first.get("model")}
    try:
        for earlier in opened.held:
            for chunk in shaper.take(earlier, None):
                yield chunk
        try:
            async for event in _with_keepalives(_events(opened), rules):
                if event is None:
                    yield KEEPALIVE
                    continue
                if event.done:
                    done = True
                    break
                relayed_bytes += len(event.data)
                if rules.max_bytes is not None and relayed_bytes > rules.max_bytes:
                    error_code = "response_too_large"
                    break
                document = _json_event(event)
                if document is None:
                    error_code = "invalid_response"
                    break
                if "error" in document:
                    error_code = "upstream_error_in_body"
                    upstream_error = opened.result.redact.document(document["error"])
                    break
                for chunk in shaper.take(document, event.data, owned=True):
                    yield chunk
        except DeadlinePassed:
            error_code = "deadline"
        except (UpstreamNoAnswer, UpstreamUnreachable, SSEError):
            error_code = "stream_cut"
        if error_code is None and not (done or shaper.finished):
            error_code = "stream_cut"
        if error_code is None and shaper.usage is not None:
            cost_of(shaper.usage)
        failure = None if error_code is None else _stream_error(error_code, upstream_error)
        if failure is not None:
            log_upstream_failure(opened.result, failure.message, stream=True)
        await finish(
            error_code is None, shaper.usage, error_code, shaper.relayed_tokens
        )  # before the last bytes: a client that saw [DONE] finds it
        recorded = True
        route = proof.as_dict()
        last: dict[str, Any] | None = shaper.held_finish
        if failure is not None:
            if last is not None:
                yield StreamChunk(last)
            yield StreamFailure(failure, route)
            return
        if last is None:  # the upstream said [DONE] without a finish reason
            choice = {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}
            last = {**head, "object": "chat.completion.chunk", "choices": [choice]}
        if not rules.include_usage:
            yield StreamChunk({**last, "route": route})
            return
        yield StreamChunk(last)
        closing: dict[str, Any] = {**head, "object": "chat.completion.chunk", "choices": []}
        if shaper.usage is not None:
            closing["usage"] = shaper.usage
        yield StreamChunk({**closing, "route": route})
    finally:
        pending = None
        if not recorded:  # the client went away mid-stream: the record is still written, even under cancellation
            pending = in_background(
                finish(False, shaper.usage, error_code or "client_disconnected", shaper.relayed_tokens)
            )
        try:
            await opened.context.__aexit__(None, None, None)  # cancels the upstream call
        finally:
            if pending is not None:
                await asyncio.shield(pending)


def _stream_error(error_code: str, upstream_error: Any) -> GatewayError:
    """What the client is told when its stream fails after it began, by kind of failure."""
    if error_code == "deadline":
        return UpstreamTimeout("The request's deadline passed before the stream finished.")
    if error_code == "response_too_large":
        return ResponseTooLarge(
            "The answer grew past what this entry can return; it was billed up to here. Ask for less."
        )
    if upstream_error is not None:  # the upstream's own error event: its message (redacted), our code
        message = upstream_error.get("message") if isinstance(upstream_error, dict) else str(upstream_error)
        return UpstreamError(str(message or "upstream error"))
    return UpstreamError("The upstream stream ended before it finished.")


async def _with_keepalives(events: AsyncIterator[Event], rules: StreamRules) -> AsyncIterator[Event | None]:
    """The events, with a None each time the upstream has been silent for a keep-alive interval.

    Raises DeadlinePassed once the request's deadline is reached, however the upstream behaves.
    """
    if rules.deadline_at - rules.monotonic() <= 0:
        raise DeadlinePassed
    async for event in paced(events, lambda: min(rules.keepalive_s, rules.deadline_at - rules.monotonic())):
        if rules.deadline_at - rules.monotonic() <= 0:
            raise DeadlinePassed
        yield event


async def _events(opened: OpenStream) -> AsyncIterator[Event]:
    """Every event after the first: those that came with it, then the rest of the stream."""
    for event in opened.pending:
        yield event
    async for raw in opened.chunks:
        for event in opened.parser.feed(raw):
            yield event
    for event in opened.parser.close():
        yield event
