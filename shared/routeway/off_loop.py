"""Blocking store calls (SQLite, boto3) run in a small thread pool, never on the event loop; so do costly parses.

One slow or locked store call on the loop would stall every request of the process, `/healthz`
included. Here each call gets its own timeout, below the request's deadline: a call that does not
answer in time raises StoreUnavailable (503 `store_unavailable`) for the request that made it. Its
thread finishes or fails on its own; its result is dropped.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from routeway.domain.records import (
    ApiKeyRecord,
    BudgetFigures,
    CatalogVersion,
    GenerationRecord,
    Hold,
    HoldNote,
    MinuteCount,
    OpenHold,
    Rollup,
    StoredResponse,
    TeamRecord,
)
from routeway.errors import StoreUnavailable
from routeway.ports import StateStore

T = TypeVar("T")
STORE_THREADS = 16  # enough that a few hung calls leave room for the rest
PARSE_THREADS = 2  # costly bodies parsed at once (each may hold ~5 MB and its objects); more wait their turn

_parse_pool: ThreadPoolExecutor | None = None  # made on first use: nothing at import or build time


async def cpu_bound(fn: Callable[[], T]) -> T:
    """`fn()` (a large body's parse and checks) in threads of their own, not the store's, so the event loop
    answers other requests (`/healthz` among them) meanwhile. Its exception, if any, is raised here."""
    global _parse_pool
    if _parse_pool is None:
        _parse_pool = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="routeway-parse")
    return await asyncio.get_running_loop().run_in_executor(_parse_pool, fn)


async def cpu_bound_if(heavy: bool, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, a pure step over a whole request (content checks, planning): on the event loop, or, for a
    request with very many messages and parts (`domain.content.many_parts`), in the parse threads."""
    return await cpu_bound(functools.partial(fn, *args)) if heavy else fn(*args)


class OffLoop:
    def __init__(self, timeout_s: float, threads: int = STORE_THREADS) -> None:
        self.timeout_s = timeout_s
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None  # made on first use: nothing at import or build time

    async def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """`fn(*args)` in the store's threads; StoreUnavailable if it takes longer than the timeout."""
        timeout_s = timeout_s or self.timeout_s
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="routeway-store")
        future = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise StoreUnavailable(f"The store did not answer within {timeout_s:g} s.") from None


class OffLoopState:
    """The StateStore port, awaited: each call runs off the event loop under the store timeout.

    `sync` is the blocking store itself, for callers that are not on an event loop (the CLI).
    """

    def __init__(self, store: StateStore, off_loop: OffLoop) -> None:
        self.sync = store
        self._off = off_loop

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking function of the store (`fn(self.sync, *args)`: several calls, as the admin API's updates
        make) off the event loop, under the store timeout."""
        return await self._off.call(fn, self.sync, *args)

    async def get_pointer(self) -> CatalogVersion | None:
        return await self._off.call(self.sync.get_pointer)

    async def publish(self, entry: CatalogVersion, expected_version: str | None) -> None:
        await self._off.call(self.sync.publish, entry, expected_version)

    async def list_history(self) -> list[CatalogVersion]:
        return await self._off.call(self.sync.list_history)

    async def find_key(self, key_hash: str) -> ApiKeyRecord | None:
        return await self._off.call(self.sync.find_key, key_hash)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return await self._off.call(self.sync.list_keys)

    async def find_team(self, name: str) -> TeamRecord | None:
        return await self._off.call(self.sync.find_team, name)

    async def reserve(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None = None
    ) -> BudgetFigures | None:
        return await self._off.call(self.sync.reserve, key_hash, hold, budget_usd, now_epoch, rpm)

    async def settle(
        self,
        key_hash: str,
        generation_id: str,
        cost: float,
        held: float,
        expires_at: int,
        record: GenerationRecord | None = None,
        rollup: Rollup | None = None,
    ) -> bool:
        return await self._off.call(self.sync.settle, key_hash, generation_id, cost, held, expires_at, record, rollup)

    async def spend_rollups(self, since_day: str, until_day: str) -> list[Rollup]:
        return await self._off.call(self.sync.spend_rollups, since_day, until_day)

    async def note_attempt(self, key_hash: str, generation_id: str, note: HoldNote) -> bool:
        return await self._off.call(self.sync.note_attempt, key_hash, generation_id, note)

    async def open_holds(self, now_epoch: int, *, key_hash: str | None = None, limit: int = 100) -> list[OpenHold]:
        return await self._off.call(functools.partial(self.sync.open_holds, now_epoch, key_hash=key_hash, limit=limit))

    async def count_minute(self, key_hash: str, rpm: MinuteCount) -> None:
        await self._off.call(self.sync.count_minute, key_hash, rpm)

    async def count_request(self, key_hash: str, window: int, expires_at: int) -> int:
        return await self._off.call(self.sync.count_request, key_hash, window, expires_at)

    async def take_tokens(
        self, counter: str, window: int, tokens: int, limit: int | None, expires_at: int
    ) -> int | None:
        return await self._off.call(self.sync.take_tokens, counter, window, tokens, limit, expires_at)

    async def enter(self, counter: str, slot: str, limit: int, until: int, now_epoch: int) -> int | None:
        return await self._off.call(self.sync.enter, counter, slot, limit, until, now_epoch)

    async def leave(self, counter: str, slot: str, until: int) -> None:
        await self._off.call(self.sync.leave, counter, slot, until)

    async def claim_alert(self, alert_id: str, expires_at: int) -> bool:
        return await self._off.call(self.sync.claim_alert, alert_id, expires_at)

    async def budget_figures(self, key_hash: str) -> BudgetFigures:
        return await self._off.call(self.sync.budget_figures, key_hash)

    async def put_generation(self, record: GenerationRecord) -> None:
        await self._off.call(self.sync.put_generation, record)

    async def get_generation(self, generation_id: str, now_epoch: int) -> GenerationRecord | None:
        return await self._off.call(self.sync.get_generation, generation_id, now_epoch)

    async def put_response(self, record: StoredResponse) -> None:
        await self._off.call(self.sync.put_response, record)

    async def get_response(self, response_id: str, now_epoch: int) -> StoredResponse | None:
        return await self._off.call(self.sync.get_response, response_id, now_epoch)

    async def delete_response(self, response_id: str, owner: str) -> bool:
        return await self._off.call(self.sync.delete_response, response_id, owner)
