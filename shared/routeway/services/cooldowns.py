"""Cooldowns: targets that just failed are tried after healthy ones, so routing moves past an outage.

A 429 cools a target for its Retry-After (or the window); a 5xx, timeout or unreachable upstream
for the window (default 30 s, OpenRouter's own horizon for outages). A success clears it. The
state is per process: each Lambda container learns from its own traffic.
"""

from __future__ import annotations

import threading

from routeway.domain.fallback import MAX_COOLDOWN_S, RATE_LIMIT_COOLDOWN_S
from routeway.domain.plan import Cooldown
from routeway.ports import Clock

DEFAULT_WINDOW_S = RATE_LIMIT_COOLDOWN_S


class CooldownTracker:
    def __init__(self, clock: Clock, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._cooldowns: dict[str, Cooldown] = {}
        self._lock = threading.Lock()

    def failed(self, target: str, status: int | None, retry_after_s: float | None = None) -> None:
        seconds = min(MAX_COOLDOWN_S, retry_after_s if retry_after_s and retry_after_s > 0 else self._window_s)
        with self._lock:
            self._cooldowns[target] = Cooldown(status=status, until=self._clock.now() + seconds)

    def succeeded(self, target: str) -> None:
        with self._lock:
            self._cooldowns.pop(target, None)

    def active(self) -> dict[str, Cooldown]:
        now = self._clock.now()
        with self._lock:
            self._cooldowns = {k: v for k, v in self._cooldowns.items() if v.until > now}
            return dict(self._cooldowns)
