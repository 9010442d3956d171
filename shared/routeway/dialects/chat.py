"""OpenAI Chat Completions: the core's own shape, so the body is the request and the answer is the result.

Only the stream needs rendering: the core's events become Server-Sent Events, ending with `[DONE]`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from routeway.domain.body_shape import check_body_shape, text_nests_deeper_than
from routeway.domain.fields import MAX_JSON_DEPTH, could_nest_deeper_than
from routeway.errors import InvalidRequest
from routeway.services.results import CompletionStream, KeepAlive, StreamChunk, StreamFailure

DONE = b"data: [DONE]\n\n"
KEEPALIVE_COMMENT = b": keep-alive\n\n"  # an SSE comment: clients skip it, intermediaries see a live connection


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or 400 invalid_request (also when nested so deep it could not be written back, or
    holding more values than a request needs: checked on its bytes, before the parse)."""
    check_body_shape(raw)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        too_deep = f" (or nests deeper than {MAX_JSON_DEPTH} levels)" if could_nest_deeper_than(raw) else ""
        raise InvalidRequest(f"The request body is not valid JSON{too_deep}.") from None
    if could_nest_deeper_than(raw) and text_nests_deeper_than(raw, MAX_JSON_DEPTH):
        raise InvalidRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
    return document


def sse_event(data: str) -> bytes:
    return b"data: " + data.encode() + b"\n\n"


async def render_sse(
    stream: CompletionStream, convert: Callable[[StreamChunk], dict[str, Any]] | None = None
) -> AsyncIterator[bytes]:
    """The stream as SSE bytes; `convert` maps each chunk's document for another OpenAI shape (legacy text)."""
    async for event in stream.events:
        if isinstance(event, KeepAlive):
            yield KEEPALIVE_COMMENT
        elif isinstance(event, StreamFailure):
            yield sse_event(orjson.dumps(event.document()).decode())
        elif convert is None:
            yield sse_event(event.text())
        else:
            yield sse_event(orjson.dumps(convert(event)).decode())
    yield DONE
