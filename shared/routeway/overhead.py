"""`x-routeway-overhead-ms`: the time Routeway itself spent on a request, so users can check the claim.

The timer starts where our code first sees the request: under `serve`, when its HTTP protocol read the
request's first byte (`BEGAN` in the ASGI scope, http/serve_timeouts.py; its outermost wrapper, `RequestLog`,
starts the timer from there), so uvicorn's parsing and every wrapper are counted; the Lambda handler before
Mangum and Powertools (`runtime.http_handler`); or else the face's `OverheadHeader`. It is read when the
answer's headers go out (http/middleware.py). The upstream adapters mark each wait on an
upstream (`waiting_upstream()`): a request until its answer, a stream until its status line and each chunk.
Overlapping waits (a fan-out's parallel attempts) count once. Overhead = time to our headers − upstream
wait: auth, parsing, routing, shaping, everything but the model's own time. A stream's header is measured
when its headers go out (after its first chunk), not at its end.

What it cannot see, so the added latency a client measures is larger: the HTTP server's own work (under
`serve`, uvicorn's before the first byte is parsed and after the headers: writing the answer to the socket;
on Lambda, Mangum building the result after the headers and the runtime serialising it), the HTTP client
library's work inside an upstream call (building the request, parsing the answer: counted as upstream wait;
~0.07 ms of CPU for aiohttp, ~0.5 for httpx, bench/NOTES.md), and what runs after the headers: on Lambda the
record and charge written before the handler returns (`after_response.py`); under `serve` the extra hop
itself (the kernel carrying the request to the server and the answer back, and waking its process each way:
a bare ASGI proxy on aiohttp adds ~0.3 ms more than the CPU it spends, bench/NOTES.md). `GAP_BOUND_MS` is
the documented bound on that gap at the median, measured from outside on a quiet machine with a margin for
noise: the bench prints both figures and the gap and judges it (`bench/report.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

HEADER = "x-routeway-overhead-ms"
GAP_BOUND_MS = {"serve": 1.0, "lambda": 1.25}  # added latency (p50) − header (median), at most (see above)
BEGAN = "routeway.began"  # ASGI scope key: `time.perf_counter()` when `serve`'s protocol read the request's first byte


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


def start_request(began: float | None = None) -> RequestTimer:
    """A timer for the request this task (and the tasks it starts) serves: from `began` when the server that read
    the request says when its first byte came (`BEGAN` in the ASGI scope, on this clock), else from now."""
    timer = RequestTimer()
    if began is not None:
        timer.started = began
    _current.set(timer)
    return timer


def request_timer() -> RequestTimer:
    """The timer an outer layer started for this request, else one started now."""
    return _current.get() or start_request()


@contextmanager
def timed_request() -> Iterator[RequestTimer]:
    """A timer for the request served inside the block (an outer face: the Lambda handler); unset after it."""
    timer = RequestTimer()
    token = _current.set(timer)
    try:
        yield timer
    finally:
        _current.reset(token)


class waiting_upstream:  # noqa: N801 (used as a function: `with waiting_upstream():`)
    """Marks a wait on an upstream; outside a timed request it does nothing. A class: it is entered for every
    relayed chunk of a stream, and a generator-based context manager costs twice as much (0.5 against 1.2 µs)."""

    __slots__ = ("_timer",)

    def __enter__(self) -> None:
        self._timer = _current.get()
        if self._timer is not None:
            self._timer.begin_wait()

    def __exit__(self, *_: object) -> None:
        if self._timer is not None:
            self._timer.end_wait()
