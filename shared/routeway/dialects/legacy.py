"""POST /v1/completions (OpenAI's legacy text API) on top of chat: one prompt in, `text_completion` out.

The prompt becomes one user message; the core does the routing, shaping, fallbacks and proof; the
answer's message content becomes `choices[].text`. Streams are converted chunk by chunk, from the
core's parsed chunks (never parsed twice).
"""

from __future__ import annotations

from typing import Any

from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.errors import InvalidRequest
from routeway.services.results import Completion, StreamChunk

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
    choices = [_choice(c, (c.get("delta") or {}).get("content")) for c in chunk.get("choices", [])]
    return {**chunk, "object": "text_completion", "choices": choices}


def text_chunk(chunk: StreamChunk) -> dict[str, Any]:
    return text_chunk_from(chunk.document)


def parse_text_completion(body: Any) -> ChatRequest:
    return parse_chat_request(chat_body_from(body))


def render_text_completion(completion: Completion) -> dict[str, Any]:
    return text_completion_from(completion.body)
