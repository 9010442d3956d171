"""`x-routeway-overhead-ms`: the time Routeway itself spent on a request, so users can check the claim.

The HTTP face starts a RequestTimer when a completion request arrives and reads it when the answer's
headers go out (http/middleware.py, `OverheadHeader`). The upstream adapters mark each wait on an upstream
(`waiting_upstream()`): a request until its answer, a stream until its status line and each chunk.
Overlapping waits (a fan-out's parallel attempts) count once. Overhead = time to our headers − upstream
wait: auth, parsing, routing, shaping and the record, everything but the model's own time. A stream's
header is measured when its headers go out (after its first chunk), not at its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

HEADER = "x-routeway-overhead-ms"


@dataclass
class RequestTimer:
    clock: Callable[[], float] = time.perf_counter
    started: float = field(init=False)
    upstream_s: float = 0.0
    waiting: int = 0  # upstream waits in progress
    since: float = 0.0  # when the current stretch of waiting began

    def __post_init__(self) -> None:
        self.started = self.clock()

    def begin_wait(self) -> None:
        if self.waiting == 0:
            self.since = self.clock()
        self.waiting += 1

    def end_wait(self) -> None:
        self.waiting = max(0, self.waiting - 1)
        if self.waiting == 0:
            self.upstream_s += self.clock() - self.since

    def overhead_ms(self) -> float:
        now = self.clock()
        upstream = self.upstream_s + (now - self.since if self.waiting else 0.0)
        return max(0.0, (now - self.started - upstream) * 1000)


_current: ContextVar[RequestTimer | None] = ContextVar("routeway_request_timer", default=None)


def start_request() -> RequestTimer:
    """A timer for the request this task (and the tasks it starts) serves."""
    timer = RequestTimer()
    _current.set(timer)
    return timer


@contextmanager
def waiting_upstream() -> Iterator[None]:
    """Marks a wait on an upstream; outside a timed request it does nothing."""
    timer = _current.get()
    if timer is None:
        yield
        return
    timer.begin_wait()
    try:
        yield
    finally:
        timer.end_wait()
