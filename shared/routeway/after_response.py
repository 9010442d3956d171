"""Store writes that may wait until the answer is sent: a whole answer's record and its charge.

(A stream's record is written as it ends, before its last event: the stream is long, the write is not.)

The HTTP face opens `after_response()` around a completion request; inside it, `later(write)` keeps the
write instead of awaiting it, and the face runs every kept write once the answer's last byte has gone
out, in the same ASGI call. So the client does not wait for the store, and nothing is lost: uvicorn
waits for the call to end before a graceful shutdown, Lambda (Mangum) returns only when it has ended,
and the hold taken before the upstream call stays in place until its charge replaces it (a budget is
never over-spent in between; at worst a next request sees the hold a moment longer). Outside such a
scope (the CLI, services called directly) `later` simply awaits the write. What reports spend or a
record waits for this process's writes first (`written`), so a client reads its own answers' effects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from routeway.services.written import drained, in_background

log = logging.getLogger("routeway.after_response")
Write = Callable[[], Awaitable[None]]


class _Pending:
    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.open = True  # a task that outlives the request (a stream's late charge) writes at once


_pending: ContextVar[_Pending | None] = ContextVar("routeway_after_response", default=None)


async def later(write: Write) -> None:
    """`write()` after the answer is sent when the face allows it, else now."""
    pending = _pending.get()
    if pending is None or not pending.open:
        await write()
    else:
        pending.writes.append(write)


@asynccontextmanager
async def after_response() -> AsyncIterator[None]:
    """Collects the writes made inside; runs them, in order, when the block ends (the answer sent), even if
    the block failed or the request is cancelled meanwhile."""
    pending = _Pending()
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        pending.open = False
        if pending.writes:
            task = in_background(_run(pending.writes))  # the writes finish even if this request is cancelled
            await asyncio.shield(task)


async def _run(writes: list[Write]) -> None:
    for write in writes:
        try:
            await write()
        except Exception:  # each write logs its own store failures; this is the last net
            log.exception("a write after the response failed")


async def written(timeout_s: float = 5.0) -> None:
    """Wait (at most `timeout_s`) for the writes of answers this process has already sent (the ledger's one
    registry of background money writes): what reports spend or a record (`GET /v1/key`,
    `/v1/route/explain`) reads its own process's writes."""
    await drained(timeout_s)
