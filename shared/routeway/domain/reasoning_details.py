"""Thinking sent back by a client reaches only the model family that issued it (PRODUCT.md "Thinking blocks",
RELIABILITY 65).

Anthropic's clients send each earlier assistant turn's `thinking` blocks back with their `signature`, and
Anthropic refuses a tool-use turn with thinking enabled when they are missing. OpenRouter carries them on the
assistant message as `reasoning_details`, each with a `format` naming who issued it. A signature only means
something to its issuer: another family would refuse it or, worse, read another model's private reasoning.
So per attempt, details of a known format go only to models of that format's family (as the client sent them,
signature unchecked: only the issuer can check it), the rest are dropped and `thinking_dropped=N` says so.
Details with no known format pass: the client wrote them for this upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routeway.errors import InvalidRequest

ANTHROPIC_FORMAT = "anthropic-claude-v1"
FAMILY_OF_FORMAT = {
    ANTHROPIC_FORMAT: "anthropic",
    "openai-responses-v1": "openai",
    "google-gemini-v1": "google",
    "xai-responses-v1": "x-ai",
}
DROPPED_NOTE = "thinking_dropped"


def anthropic_detail(block: Mapping[str, Any], index: int, param: str) -> dict[str, Any]:
    """A `thinking` or `redacted_thinking` block as an OpenRouter reasoning detail of Anthropic's format."""
    if block.get("type") == "redacted_thinking":
        data = block.get("data")
        if not isinstance(data, str):
            raise InvalidRequest("A redacted_thinking block needs its 'data'.", param=f"{param}.data")
        return {"type": "reasoning.encrypted", "data": data, "format": ANTHROPIC_FORMAT, "index": index}
    thinking, signature = block.get("thinking"), block.get("signature")
    if not isinstance(thinking, str):
        raise InvalidRequest("A thinking block needs its 'thinking' text.", param=f"{param}.thinking")
    if signature is not None and not isinstance(signature, str):
        raise InvalidRequest("A thinking block's 'signature' is a string.", param=f"{param}.signature")
    detail: dict[str, Any] = {"type": "reasoning.text", "text": thinking, "format": ANTHROPIC_FORMAT, "index": index}
    if signature:
        detail["signature"] = signature
    return detail


def _foreign(detail: Any, author: str) -> bool:
    issuer = detail.get("format") if isinstance(detail, Mapping) else None
    family = FAMILY_OF_FORMAT.get(issuer) if isinstance(issuer, str) else None
    return family is not None and family != author


def drop_foreign_reasoning(payload: dict[str, Any], author: str) -> list[str]:
    """Remove from `payload` (copying only the messages it changes) the reasoning details another family issued."""
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return []
    dropped = 0
    kept_messages: list[Any] = []
    for message in messages:
        details = message.get("reasoning_details") if isinstance(message, Mapping) else None
        if isinstance(details, list) and any(_foreign(d, author) for d in details):
            kept = [d for d in details if not _foreign(d, author)]
            dropped += len(details) - len(kept)
            message = {k: v for k, v in message.items() if k != "reasoning_details"}
            if kept:
                message["reasoning_details"] = kept
        kept_messages.append(message)
    if not dropped:
        return []
    payload["messages"] = kept_messages
    return [f"{DROPPED_NOTE}={dropped}"]
