"""Background writes, in one registry (`drained` waits for them), and a store write retried until it lands:
a settle that failed, a generation record that failed.

PRODUCT.md: nothing is lost. A write that times out under load (a store call bounded by
`ROUTEWAY_STORE_TIMEOUT_S`, a busy SQLite file, DynamoDB throttling) is tried again in the background on a
growing pause, for an hour at most; each write it retries is idempotent (a settle's charge marker, a record
put by its id), so a try that landed unseen is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from routeway.domain.records import GenerationRecord
from routeway.errors import StoreUnavailable
from routeway.gateway import Gateway
from routeway.ports import Clock

log = logging.getLogger("routeway.budget")
_BACKGROUND: set[asyncio.Task[None]] = set()
RETRY_PAUSES_S = (0.5, 1, 2, 4, 8, 15, 30, 60)  # then every minute, for RETRY_FOR_S
RETRY_FOR_S = 3_600.0  # past this, a settle's hold (with its notes) is left to reconciliation


def in_background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A store write (money or a record) that finishes even if the request's task is cancelled (a strong reference
    keeps it)."""
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


async def drained(timeout_s: float = 5.0) -> None:
    """Wait (at most `timeout_s`) for this process's background writes (the one registry of them): what
    reports spend or a record reads its own process's answers' effects."""
    running = list(_BACKGROUND)
    if running:
        await asyncio.wait(running, timeout=timeout_s)


async def until_written(clock: Clock, write: Callable[[], Awaitable[object]]) -> tuple[int, str | None]:
    """Try `write` after each pause until it stops raising StoreUnavailable: (tries, None) once it landed,
    (tries, the last error) when RETRY_FOR_S ran out."""
    started = clock.monotonic()
    tries, error = 0, ""
    while clock.monotonic() - started < RETRY_FOR_S:
        await asyncio.sleep(RETRY_PAUSES_S[tries] if tries < len(RETRY_PAUSES_S) else RETRY_PAUSES_S[-1])
        tries += 1
        try:
            await write()
        except StoreUnavailable as exc:
            error = exc.message
            continue
        return tries, None
    return tries, error


async def write_record(gateway: Gateway, record: GenerationRecord | None) -> None:
    """Write a generation record (None: none was made); a failed write is retried in the background (never
    through the upstream)."""
    if record is None:
        return
    try:
        await gateway.state.put_generation(record)
    except StoreUnavailable as exc:
        log.warning("generation record not written yet: retrying in the background", extra=_extra(record, exc.message))
        in_background(_record_until_written(gateway, record))


async def _record_until_written(gateway: Gateway, record: GenerationRecord) -> None:
    tries, error = await until_written(gateway.clock, lambda: gateway.state.put_generation(record))
    if error is None:
        log.info("generation record written after a retry", extra={"generation_id": record.id, "tries": tries})
    else:
        log.error("generation record not written", extra=_extra(record, error))


def _extra(record: GenerationRecord, error: str) -> dict[str, str]:
    return {"generation_id": record.id, "error": error}
