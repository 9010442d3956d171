"""The fake OpenRouter's prompt cache: a provider that has seen a prefix reports it as cached, as the real
ones do (Anthropic through OpenRouter: `usage.prompt_tokens_details.cached_tokens` and `cache_write_tokens`).

A request is read in Anthropic's cache order (tools, then messages and their parts) as a run of blocks; its
breakpoints are the blocks that carry `cache_control`. The cache belongs to one provider and one model:
- a read is the longest prefix, ending at any block boundary, that an earlier request wrote (Anthropic looks
  back from each breakpoint for a hit, so an agent that moves its last breakpoint forward every turn reads
  the previous turn's prefix);
- a write is the prefix up to the last breakpoint, when not already written, less what was read.
Tokens are the prompt's in proportion to the bytes of the blocks; the cost is repriced at the model's cache
prices. Another provider, or another model, starts cold: that is why the gateway keeps a conversation sticky.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import orjson


def _blocks(body: dict[str, Any]) -> Iterator[tuple[bytes, bool]]:
    """(the block as bytes, without its mark; whether it is a breakpoint) in cache order."""

    def unmarked(block: Any) -> tuple[bytes, bool]:
        if isinstance(block, dict) and "cache_control" in block:
            rest = {k: v for k, v in block.items() if k != "cache_control"}
            return orjson.dumps(rest, option=orjson.OPT_SORT_KEYS), True
        return orjson.dumps(block, option=orjson.OPT_SORT_KEYS), False

    for tool in body.get("tools") or []:
        yield unmarked(tool)
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        head, marked = unmarked({k: v for k, v in message.items() if k not in ("content", "tool_calls")})
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        calls = message.get("tool_calls") or []
        pieces = [unmarked(part) for part in [*parts, *calls]]
        message_marked = "cache_control" in message
        for index, (piece, piece_marked) in enumerate(pieces):
            last = index == len(pieces) - 1
            yield (head if index == 0 else b"") + piece, piece_marked or (last and message_marked)
        if not pieces:
            yield head, marked


class PromptCache:
    def __init__(self) -> None:
        self._written: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._written.clear()

    def account(self, completion: dict[str, Any], body: dict[str, Any], model: dict[str, Any]) -> None:
        """Add the cache's counts to `completion["usage"]` (and reprice it) for what this provider holds."""
        blocks = list(_blocks(body))
        total = sum(len(b) for b, _ in blocks) or 1
        boundaries: list[tuple[str, int, bool]] = []  # (prefix digest, bytes up to here, a breakpoint)
        digest, size = hashlib.sha256(), 0
        for block, marked in blocks:
            digest.update(len(block).to_bytes(8, "big") + block)
            size += len(block)
            boundaries.append((digest.hexdigest(), size, marked))
        breakpoints = [b for b in boundaries if b[2]]
        if not breakpoints:
            return
        scope = (str(completion.get("provider")), str(completion.get("model")))
        with self._lock:
            read_bytes = max((s for d, s, _ in boundaries if (*scope, d) in self._written), default=0)
            last_digest, last_size, _ = breakpoints[-1]
            write_bytes = 0 if (*scope, last_digest) in self._written else max(0, last_size - read_bytes)
            self._written.update((*scope, d) for d, _, _ in breakpoints)
        usage = completion["usage"]
        prompt = int(usage["prompt_tokens"])
        read = min(prompt, prompt * read_bytes // total)
        written = min(prompt - read, prompt * write_bytes // total)
        usage["prompt_tokens_details"] = {"cached_tokens": read, "cache_write_tokens": written, "audio_tokens": 0}
        pricing = model.get("pricing") or {}
        prompt_price = float(pricing.get("prompt") or 0)
        read_price = float(pricing.get("input_cache_read") or prompt_price)
        write_price = float(pricing.get("input_cache_write") or prompt_price)
        saved = read * (prompt_price - read_price) + written * (prompt_price - write_price)
        usage["cost"] = max(0.0, float(usage.get("cost") or 0.0) - saved)
