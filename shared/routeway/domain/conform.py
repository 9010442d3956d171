"""Make an upstream completion conform to OpenAI's schema, so strict clients parse it unchanged.

OpenRouter and OpenAI-compatible servers omit or null fields that OpenAI's schema requires
(`logprobs`, `refusal`), send `system_fingerprint: null`, or use finish reasons outside OpenAI's
enum. Extra fields (`provider`, `images`, `usage.cost`) pass through untouched. The `id` is the
gateway's generation id (domain/client_ids.py), so the id a client holds explains; the upstream's own
id stays on the attempt, where a bill is looked up.
"""

from __future__ import annotations

from typing import Any

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
NULLABLE_STRINGS = ("system_fingerprint", "service_tier")


def conform_completion(document: dict[str, Any], *, generation_id: str, now: int) -> dict[str, Any]:
    document["object"] = "chat.completion"
    document["id"] = generation_id
    if not isinstance(document.get("created"), int) or isinstance(document.get("created"), bool):
        document["created"] = now
    for field in NULLABLE_STRINGS:
        if field in document and document[field] is None:
            del document[field]
    for index, choice in enumerate(document.get("choices") or []):
        if not isinstance(choice, dict):
            continue
        choice.setdefault("index", index)
        choice.setdefault("logprobs", None)
        reason = choice.get("finish_reason")
        if reason not in FINISH_REASONS:
            if reason is not None:
                choice.setdefault("native_finish_reason", reason)
            choice["finish_reason"] = "stop"
        message = choice.get("message")
        if isinstance(message, dict):
            message.setdefault("role", "assistant")
            message.setdefault("content", None)
            message.setdefault("refusal", None)
    return document
