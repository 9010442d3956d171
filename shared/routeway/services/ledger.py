"""A request's money, from hold to charge: the one place that knows whether it is settled.

PRODUCT.md "Money that cannot leak". A request enters its `Ledger` with `async with`; from then on:
- every attempt is held before it starts (`hold`): the most it can cost, atomically within the key's budget
  (one SQLite transaction, one DynamoDB conditional transaction), so concurrent requests never spend past it;
- as soon as the upstream answers, the attempt is written on the hold (`note`): a hold whose process dies is
  then charged by reconciliation (services/reconcile.py), not just released;
- attempts given up on after the upstream accepted them are charged with the request (`abandon`);
- the request settles once (`settlement`): the charge (never more than the hold, domain/charge.py) and the
  hold's release in one write, conditional on the generation not being charged yet, so a retried write never
  charges twice; a write that fails is retried in the background until it lands;
- every exit that did not settle releases the hold, charging what was still billed (`paid_usage`), even
  under cancellation; a stream that is handed the ledger settles at its own end.
Background writes (lookups, retried settles, a stream's late charge) live in one registry: `drained` waits
for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any

from routeway.domain.charge import charge_for
from routeway.domain.records import ApiKeyRecord, GenerationRecord, Hold, HoldNote
from routeway.errors import BudgetExceeded, StoreUnavailable
from routeway.gateway import Gateway
from routeway.services.abandoned import Abandoned, abandoned_cost, start_abandoned
from routeway.services.attempts import AttemptResult
from routeway.services.reconcile import reconcile_holds

log = logging.getLogger("routeway.budget")
SECONDS_PER_DAY = 86_400
HOLD_MARGIN_S = 300  # a hold outlives the longest request by this much before it counts as abandoned
SETTLE_RETRY_PAUSES_S = (0.5, 1, 2, 4, 8, 15, 30, 60)  # then every minute, for SETTLE_RETRY_FOR_S
SETTLE_RETRY_FOR_S = 3_600.0  # past this, the hold (with its notes) is left to reconciliation
Write = Callable[[GenerationRecord | None], Awaitable[None]]

_BACKGROUND: set[asyncio.Task[None]] = set()


def in_background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A money write that finishes even if the request's task is cancelled (a strong reference keeps it)."""
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


async def drained(timeout_s: float = 5.0) -> None:
    """Wait (at most `timeout_s`) for this process's background money writes: what reports spend or a record
    reads its own process's answers' effects."""
    running = list(_BACKGROUND)
    if running:
        await asyncio.wait(running, timeout=timeout_s)


class Ledger:
    """One generation's account: who pays, what is held, what was noted and abandoned, whether it is settled."""

    def __init__(self, gateway: Gateway, key: ApiKeyRecord | None, generation_id: str) -> None:
        self.gw = gateway
        self.key = key
        self.generation_id = generation_id
        self.held_usd = 0.0
        self.excess_usd = 0.0  # what the upstream billed past the hold: recorded and reported, never charged
        self.paid_usage: dict[str, Any] | None = None  # what a failed request was still billed (an answer too large)
        self.abandoned: list[Abandoned] = []  # attempts given up on, charged with the request
        self.abandoned_usd = 0.0  # what they charge, once their lookups are done (within the hold)
        self._settled = False
        self._handed_to_stream = False  # the stream's end settles it, not the request that opened it
        self._reconciled = False  # a refusal looked for the key's dead holds already

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Every exit that did not settle (refused, failed, cancelled) gives the hold back, charging what was
        still billed; a stream settles at its own end."""
        if not self._settled and not self._handed_to_stream:
            await asyncio.shield(in_background(self.settle_rest(self.paid_usage)))

    @property
    def owes(self) -> bool:
        """Not settled yet: a charge may still be written."""
        return not self._settled

    @property
    def budgeted(self) -> bool:
        return self.key is not None and self.key.budget_usd is not None

    @property
    def limit_usd(self) -> float | None:
        """The most the generation may be charged: its hold, for a key with a budget; else no bound."""
        return self.held_usd if self.budgeted else None

    def hand_to_stream(self) -> None:
        """The stream settles the request when it ends, however it ends."""
        self._handed_to_stream = True

    async def hold(self, bound_usd: float | None, *, max_tokens_given: bool) -> None:
        """Hold the request's most possible cost against its key's budget (raising what it already holds), or
        refuse it with 402. A refusal first charges this key's holds left by dead processes (reconciliation)."""
        key = self.key
        if key is None or key.budget_usd is None:
            return
        if bound_usd is None:
            raise BudgetExceeded(
                "This request's cost has no upper bound (a variable-price router model), so a key with a budget "
                "cannot send it; name a model instead.",
                budget_usd=key.budget_usd,
            )
        if bound_usd <= self.held_usd:
            return  # already holds enough (an earlier, dearer attempt)
        now = self.gw.clock.now()
        expires_at = int(now + self.gw.settings.long_deadline_s + HOLD_MARGIN_S)
        wanted = Hold(self.generation_id, bound_usd, expires_at, before_usd=self.held_usd, owner=self.gw.owner)
        refused = await self.gw.state.reserve(key.key_hash, wanted, key.budget_usd, int(now))
        if refused is not None and not self._reconciled:  # once a request: dead holds of the key may be in the way
            self._reconciled = True
            if await reconcile_holds(self.gw, key_hash=key.key_hash):
                refused = await self.gw.state.reserve(key.key_hash, wanted, key.budget_usd, int(now))
        if refused is None:
            self.held_usd = bound_usd
            return
        left = max(0.0, key.budget_usd - refused.spend_usd - refused.held_usd + self.held_usd)
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

    async def note(self, result: AttemptResult, estimate_usd: Callable[[], float]) -> None:
        """The upstream answered this attempt: write it on the hold before the answer goes on, so a crash from
        here on is charged (looked up by its id, else `estimate_usd()`) when the hold is reconciled. A request
        that holds nothing writes nothing and prices nothing."""
        if self.key is None or self.held_usd <= 0:
            return
        note = HoldNote(result.candidate.row.backend, result.upstream_id, round(estimate_usd(), 9))
        try:
            await self.gw.state.note_attempt(self.key.key_hash, self.generation_id, note)
        except StoreUnavailable as exc:  # the charge itself still lands; only a crash from here on would lose it
            log.warning(
                "attempt not noted on its hold",
                extra={"generation_id": self.generation_id, "key_name": self.key.name, "error": exc.message},
            )

    def abandon(self, result: AttemptResult, bound_usd: float, body: Mapping[str, Any]) -> None:
        """An attempt given up on after the upstream accepted it: its cost is looked up in the background."""
        entry = start_abandoned(self.gw, result, bound_usd, body, in_background)
        self.abandoned.append(entry)
        if self.key is not None and self.held_usd > 0:
            in_background(self.note(result, lambda: entry.estimate_usd))

    async def abandoned_cost(self) -> float:
        """What the abandoned attempts charge (once their lookups end), never more than the hold."""
        self.abandoned_usd = await abandoned_cost(self.abandoned, self.limit_usd)
        return self.abandoned_usd

    def charge_of(self, usage: Any, abandoned_usd: float = 0.0) -> float:
        """What a request's usage (summed over its calls, estimated or looked up) charges the key: its cost,
        never more than the hold (domain/charge.py) less what its abandoned attempts charge. `usage.cost` is set
        to it, so the client, the record and the charge agree; what the upstream billed past the hold (not an
        estimate of ours) is noted."""
        limit = self.limit_usd
        limit = None if limit is None else max(0.0, limit - abandoned_usd)
        charge = charge_for(usage if isinstance(usage, dict) else None, None, limit)
        if isinstance(usage, dict):
            if "cost" in usage:
                usage["cost"] = charge.usd
            if usage.get("cost_source") != "estimate":
                self.excess_usd += charge.excess_usd
        return charge.usd

    async def settle_rest(self, usage: Any) -> None:
        """Settle with what `usage` charges plus the abandoned attempts (no record)."""
        abandoned = await self.abandoned_cost()
        await self.settlement(self.charge_of(usage, abandoned) + abandoned)(None)

    def settlement(self, cost_usd: float) -> Write:
        """Settle in two steps: the ledger is settled now (so nothing settles it twice); the returned write does
        the store's part, with the record it is given, whenever it is awaited (after the answer is sent:
        `after_response.later`). A store failure is never raised (the answer is the client's, and no upstream
        call is repeated for it): the write is retried in the background until it lands."""
        key = self.key
        cost = cost_usd if cost_usd > 0 else 0.0
        owed = not self._settled and key is not None and (cost > 0 or self.held_usd > 0)
        self._settled = True
        if not owed or key is None:

            async def record_only(record: GenerationRecord | None) -> None:
                if record is not None:
                    await write_record(self.gw, record)

            return record_only
        if self.excess_usd > 0:
            self._warn_excess(cost)
        held = self.held_usd

        async def charge(record: GenerationRecord | None) -> None:
            expires_at = int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY
            try:
                await self.gw.state.settle(key.key_hash, self.generation_id, cost, held, expires_at, record)
            except StoreUnavailable as exc:
                self._money_log("key spend not written yet: retrying in the background", cost, exc.message)
                in_background(self._settle_until_written(key, cost, held, expires_at, record))

        return charge

    async def _settle_until_written(
        self, key: ApiKeyRecord, cost: float, held: float, expires_at: int, record: GenerationRecord | None
    ) -> None:
        """Retry a settle until it lands (idempotent: the charge marker makes a repeat a no-op)."""
        started = self.gw.clock.monotonic()
        tries, error = 0, ""
        while self.gw.clock.monotonic() - started < SETTLE_RETRY_FOR_S:
            pauses = SETTLE_RETRY_PAUSES_S
            await asyncio.sleep(pauses[tries] if tries < len(pauses) else pauses[-1])
            tries += 1
            try:
                await self.gw.state.settle(key.key_hash, self.generation_id, cost, held, expires_at, record)
            except StoreUnavailable as exc:
                error = exc.message
                continue
            self._money_log("key spend written after a retry", cost, f"{tries} retries", level=logging.INFO)
            return
        self._money_log("key spend not written: the hold is left to reconciliation", cost, error)

    def _money_log(self, message: str, cost: float, detail: str, level: int = logging.ERROR) -> None:
        key_name = self.key.name if self.key else None
        extra = {"generation_id": self.generation_id, "key_name": key_name, "cost_usd": cost, "error": detail}
        log.log(level, f"{message} (generation {self.generation_id}, key {key_name}, ${cost:.6f})", extra=extra)

    def _warn_excess(self, charged_usd: float) -> None:
        """The upstream billed more than the hold: the key is charged at most the hold, the rest is reported."""
        log.warning(
            "upstream billed more than the hold: charged the hold at most, the excess recorded",
            extra={
                "generation_id": self.generation_id,
                "key_name": self.key.name if self.key else None,
                "charged_usd": charged_usd,
                "held_usd": self.held_usd,
                "excess_usd": self.excess_usd,
            },
        )


async def write_record(gateway: Gateway, record: GenerationRecord) -> None:
    """Write a generation record; a failed write is logged and never retried through the upstream."""
    try:
        await gateway.state.put_generation(record)
    except StoreUnavailable as exc:
        log.error("generation record not written", extra={"generation_id": record.id, "error": exc.message})
