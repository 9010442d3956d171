"""What an answer too large to return still tells: its usage, near its end (OpenAI's `usage` comes last)."""

from __future__ import annotations

from typing import Any

import orjson

USAGE_KEY = b'"usage"'


def usage_in_tail(tail: bytes) -> dict[str, Any] | None:
    """The last `"usage": {...}` object in the answer's last bytes, if it is whole there."""
    at = tail.rfind(USAGE_KEY)
    start = tail.find(b"{", at + len(USAGE_KEY)) if at >= 0 else -1
    if start < 0:
        return None
    depth = 0
    for index in range(start, len(tail)):  # usage holds numbers and nested objects, no braces in strings
        byte = tail[index]
        if byte == 0x7B:  # {
            depth += 1
        elif byte == 0x7D:  # }
            depth -= 1
            if depth == 0:
                try:
                    usage = orjson.loads(tail[start : index + 1])
                except orjson.JSONDecodeError:
                    return None
                return usage if isinstance(usage, dict) else None
    return None
