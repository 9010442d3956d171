"""Where a conversation's last provider is remembered: a bounded, in-process LRU with a time to live.

`routeway serve` is one process, so it sees every turn. On Lambda each warm instance remembers only the turns
it served: a conversation whose turns land on several instances may move between providers until they all
have seen it. Keeping it in the state store would cost a read on every request's hot path and a write per
answer for a cache hint, so it is not kept there (docs/ROUTING.md). Entries hold digests and row keys only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_ENTRIES = 10_000
DEFAULT_TTL_S = 3_600.0  # Anthropic's longest cache lifetime; a 5-minute cache simply misses after it


class StickyProviders:
    def __init__(self, max_entries: int = DEFAULT_ENTRIES, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()  # serve's event loop and the threads of a sync caller

    def target(self, conversation: str, now: float) -> str | None:
        """The target (row key) that answered the conversation's last turn, if it is fresh."""
        with self._lock:
            entry = self._entries.get(conversation)
            if entry is None:
                return None
            if now - entry[1] > self.ttl_s:
                del self._entries[conversation]
                return None
            self._entries.move_to_end(conversation)
            return entry[0]

    def remember(self, conversation: str, target: str, now: float) -> None:
        with self._lock:
            self._entries[conversation] = (target, now)
            self._entries.move_to_end(conversation)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
