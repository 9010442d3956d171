"""POST /v1/completions (OpenAI's legacy text API) on top of chat: one prompt in, `text_completion` out.

The prompt becomes one user message; the chat path does the routing, shaping, fallbacks and proof;
the answer's message content becomes `choices[].text`. Streams are converted chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from routeway.domain.records import ApiKeyRecord
from routeway.domain.sse import SSEParser, encode_event
from routeway.errors import InvalidRequest
from routeway.services.completions import CompletionsService, ServiceResponse, ServiceStream

UNSUPPORTED = {"echo": "echoing the prompt", "suffix": "suffixes (insertion)", "best_of": "best_of"}


def chat_body_from(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("'prompt' must be one non-empty string.", param="prompt")
    for field, what in UNSUPPORTED.items():
        if body.get(field) not in (None, False, "", 1):
            raise InvalidRequest(f"Routeway's /v1/completions does not support {what}.", param=field)
    chat = {k: v for k, v in body.items() if k not in ("prompt", *UNSUPPORTED, "logprobs")}
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def _choice(choice: dict[str, Any], text: str | None) -> dict[str, Any]:
    return {
        "text": text or "",
        "index": choice.get("index", 0),
        "logprobs": None,
        "finish_reason": choice.get("finish_reason"),
    }


def text_completion_from(completion: dict[str, Any]) -> dict[str, Any]:
    choices = [_choice(c, (c.get("message") or {}).get("content")) for c in completion.get("choices", [])]
    result = {**completion, "object": "text_completion", "choices": choices}
    result.pop("system_fingerprint", None)
    return result


def text_chunk_from(chunk: dict[str, Any]) -> dict[str, Any]:
    if "error" in chunk:
        return chunk
    choices = [_choice(c, (c.get("delta") or {}).get("content")) for c in chunk.get("choices", [])]
    return {**chunk, "object": "text_completion", "choices": choices}


async def _converted(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    parser = SSEParser()
    async for raw in stream:
        for event in parser.feed(raw):
            if event.done:
                yield encode_event(event.data)
                continue
            yield encode_event(orjson.dumps(text_chunk_from(orjson.loads(event.data))).decode())


async def text_completion(
    service: CompletionsService, raw_body: bytes, key: ApiKeyRecord | None
) -> ServiceResponse | ServiceStream:
    try:
        body = orjson.loads(raw_body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    result = await service.chat(orjson.dumps(chat_body_from(body)), key)
    if isinstance(result, ServiceStream):
        return ServiceStream(result.headers, _converted(result.body), result.status)
    return ServiceResponse(result.status, text_completion_from(result.body), result.headers)
