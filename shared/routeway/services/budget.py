"""A request's account with its key's budget: held before any upstream call, settled exactly once.

The hold is the most the request can cost (domain/reservation.py); the store takes it only if spend +
open holds + it stay within the budget, atomically (one SQLite transaction, one DynamoDB conditional
transaction), so concurrent requests can never spend past a budget together. Settling charges the
actual cost and releases the hold in one write that is conditional on the generation not having been
charged, so a retried write (ours or boto3's) never charges twice. Keys without a budget hold nothing;
their cost is still charged once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routeway.domain.records import ApiKeyRecord, GenerationRecord, Hold
from routeway.errors import BudgetExceeded, StoreUnavailable
from routeway.gateway import Gateway

log = logging.getLogger("routeway.budget")
SECONDS_PER_DAY = 86_400
HOLD_MARGIN_S = 300  # a hold outlives the longest request by this much before it counts as abandoned
SETTLE_TRIES = 2  # a settlement is idempotent: one more try after a store failure is always safe


@dataclass
class Tab:
    """One generation's account: who pays, what is held, whether it is settled."""

    key: ApiKeyRecord | None
    generation_id: str
    held_usd: float = 0.0
    settled: bool = False
    handed_to_stream: bool = False  # the stream's end settles it, not the request that opened it
    excess_usd: float = 0.0  # what the upstream billed past the hold: recorded and reported, never charged

    @property
    def limit_usd(self) -> float | None:
        """The most the generation may be charged: its hold, for a key with a budget; else no bound."""
        return self.held_usd if self.key is not None and self.key.budget_usd is not None else None


async def hold(gateway: Gateway, tab: Tab, bound_usd: float | None, *, max_tokens_given: bool) -> None:
    """Hold the request's most possible cost against its key's budget (raising what it already holds), or
    refuse it with 402."""
    key = tab.key
    if key is None or key.budget_usd is None:
        return
    if bound_usd is None:
        raise BudgetExceeded(
            "This request's cost has no upper bound (a variable-price router model), so a key with a budget "
            "cannot send it; name a model instead.",
            budget_usd=key.budget_usd,
        )
    if bound_usd <= tab.held_usd:
        return  # already holds enough (an earlier, dearer attempt)
    now = gateway.clock.now()
    expires_at = int(now + gateway.settings.long_deadline_s + HOLD_MARGIN_S)
    refused = await gateway.state.reserve(
        key.key_hash, Hold(tab.generation_id, bound_usd, expires_at, before_usd=tab.held_usd), key.budget_usd, int(now)
    )
    if refused is None:
        tab.held_usd = bound_usd
        return
    left = max(0.0, key.budget_usd - refused.spend_usd - refused.held_usd + tab.held_usd)
    hint = (
        ""
        if max_tokens_given
        else " Set max_tokens to hold less: without it the model's whole completion limit is held."
    )
    raise BudgetExceeded(
        f"This request may cost up to ${bound_usd:.6f}, and this key has ${left:.6f} left of its "
        f"${key.budget_usd:.6f} budget (${refused.spend_usd:.6f} spent, ${refused.held_usd:.6f} held by "
        f"requests in flight).{hint}",
        spend_usd=round(refused.spend_usd, 6),
        held_usd=round(refused.held_usd, 6),
        request_max_usd=round(bound_usd, 6),
        budget_usd=key.budget_usd,
    )


async def settle(gateway: Gateway, tab: Tab, cost_usd: float, record: GenerationRecord | None = None) -> None:
    """Charge the generation's cost and release its hold, once, with its record in the same write when
    given. A store failure is logged, never raised: the answer is already the client's, and no upstream
    call is ever repeated for it."""
    await settlement(gateway, tab, cost_usd)(record)


def settlement(gateway: Gateway, tab: Tab, cost_usd: float) -> Callable[[GenerationRecord | None], Awaitable[None]]:
    """`settle`, in two steps: the tab is settled now (so nothing settles it twice); the returned write does
    the store's part, with the record it is given, whenever it is awaited (after the answer is sent:
    `after_response.later`)."""
    key = tab.key
    cost = cost_usd if cost_usd > 0 else 0.0
    if tab.settled or key is None or (cost == 0 and tab.held_usd == 0):
        tab.settled = True  # nothing held, nothing owed: only the record, if any, is written

        async def record_only(record: GenerationRecord | None) -> None:
            if record is not None:
                await write_record(gateway, record)

        return record_only
    tab.settled = True
    held = tab.held_usd

    async def charge(record: GenerationRecord | None) -> None:
        expires_at = int(gateway.clock.now()) + gateway.settings.generation_ttl_days * SECONDS_PER_DAY
        error = ""
        for _ in range(SETTLE_TRIES):
            try:
                await gateway.state.settle(key.key_hash, tab.generation_id, cost, held, expires_at, record)
                return
            except StoreUnavailable as exc:
                error = exc.message
        log.error(
            "key spend not recorded",
            extra={"key_name": key.name, "generation_id": tab.generation_id, "cost_usd": cost, "error": error},
        )
        if record is not None:
            log.error("generation record not written", extra={"generation_id": record.id, "error": error})

    return charge


async def write_record(gateway: Gateway, record: GenerationRecord) -> None:
    """Write a generation record; a failed write is logged and never retried through the upstream."""
    try:
        await gateway.state.put_generation(record)
    except StoreUnavailable as exc:
        log.error("generation record not written", extra={"generation_id": record.id, "error": exc.message})


def cost_of(usage: Any) -> float:
    """The USD a usage block says was billed (0 when it says nothing)."""
    cost = usage.get("cost") if isinstance(usage, Mapping) else None
    return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost > 0 else 0.0
