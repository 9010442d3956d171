"""Secrets are never reflected: the one redaction every upstream-derived string passes before it is shown.

An upstream's error text (a body, a stream's error event, an error code) can echo what it was sent:
the upstream key, a gateway key pasted into a prompt, a bearer header. Before such text reaches a
client, a generation record, a log line or a metric it goes through a `Redactor`, which removes the
exact secrets this process knows (the upstream and backend keys, the gateway key) and anything shaped
like a credential (`sk-…`, `rw-…`, `Bearer …`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
# what looks like a credential: API keys (OpenRouter's `sk-or-…`, OpenAI's `sk-…`, Routeway's `rw-…`), bearer tokens
SECRETISH = re.compile(r"(?i)(?<![A-Za-z0-9])(?:sk-[\w-]{6,}|rw-[\w-]{6,}|bearer\s+\S+)")
MIN_SECRET_LENGTH = 8  # shorter values (a "1", a "true") are not secrets, and replacing them would garble text


class Redactor:
    """Removes known secrets and credential-shaped tokens from text. Learns secrets read later (from SSM)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._known: frozenset[str] = frozenset()
        self._exact: re.Pattern[str] | None = None
        self.learn(*secrets)

    def learn(self, *secrets: str | None) -> None:
        """Add exact secrets (values too short to be a key are ignored)."""
        fresh = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} - self._known
        if not fresh:
            return
        with self._lock:
            known = self._known | fresh
            longest_first = sorted(known, key=len, reverse=True)
            self._exact = re.compile("|".join(re.escape(s) for s in longest_first))
            self._known = known

    def __call__(self, text: str) -> str:
        exact = self._exact
        if exact is not None:
            text = exact.sub(REDACTED, text)
        return SECRETISH.sub(REDACTED, text)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def document(self, value: Any, depth: int = 0) -> Any:
        """Every string in a JSON-like value redacted (an upstream's error object relayed as it came)."""
        if isinstance(value, str):
            return self(value)
        if depth > 32:  # deeper than any error object: dropped rather than walked
            return None
        if isinstance(value, dict):
            return {self(str(k)): self.document(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.document(v, depth + 1) for v in value]
        return value


def redact(text: str) -> str:
    """Credential-shaped tokens removed (no exact secrets: for code that has no gateway at hand)."""
    return SECRETISH.sub(REDACTED, text)
