"""Output items of a `response`, built from pieces of a chat answer: the message (with its token logprobs), the
reasoning, the generated images; and the summary a `compaction` item carries (`dialects.responses_compact`).
Shared by whole answers (`dialects.responses`) and streams. Pure.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from routeway.errors import InvalidRequest

PREFIX = "rw-compaction-v1."  # what Routeway's encoding of a compaction summary starts with
SUMMARY_INTRO = "Summary of the earlier conversation (compacted):\n\n"


def message_item(item_id: str, text: str, status: str = "completed", logprobs: Any = None) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": token_logprobs(logprobs)}
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}


def token_logprobs(logprobs: Any) -> list[dict[str, Any]]:
    """Chat's `logprobs.content` (token, logprob, bytes, top_logprobs) is Responses' `logprobs` as it is."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else logprobs
    if not isinstance(content, list):
        return []
    return [
        {
            "token": str(t.get("token", "")),
            "logprob": float(t.get("logprob") or 0.0),
            "bytes": t.get("bytes") if isinstance(t.get("bytes"), list) else [],
            "top_logprobs": [
                {
                    "token": str(o.get("token", "")),
                    "logprob": float(o.get("logprob") or 0.0),
                    "bytes": o.get("bytes") or [],
                }
                for o in t.get("top_logprobs") or []
                if isinstance(o, dict)
            ],
        }
        for t in content
        if isinstance(t, dict)
    ]


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def image_item(item_id: str, url: Any, status: str = "completed") -> dict[str, Any]:
    """A generated image (a chat `images[]` data: URL) as OpenAI's `image_generation_call` with its base64."""
    head, _, data = url.partition(";base64,") if isinstance(url, str) else ("", "", "")
    result = data if head.startswith("data:image/") and data else None
    item = {"id": item_id, "type": "image_generation_call", "status": status if result else "failed", "result": result}
    if result:
        item["output_format"] = head.removeprefix("data:image/")
    return item


def image_url_of(image: Any) -> Any:
    return (image.get("image_url") or {}).get("url") if isinstance(image, dict) else None


def encode_summary(summary: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(summary.encode()).decode()


def compaction_message(item: dict[str, Any], param: str) -> dict[str, Any]:
    """A `compaction` input item as the user message that carries its summary."""
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content.startswith(PREFIX):
        raise InvalidRequest(
            "This compaction was not made by this gateway's /v1/responses/compact, so it cannot be read.",
            param=f"{param}.encrypted_content",
        )
    try:
        summary = base64.urlsafe_b64decode(content.removeprefix(PREFIX).encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("The compaction's content is damaged.", param=f"{param}.encrypted_content") from None
    return {"role": "user", "content": SUMMARY_INTRO + summary}
