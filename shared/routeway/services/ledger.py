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
Background writes (lookups, retried settles and records, a stream's late charge) live in one registry
(services/written.py): `drained` waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from routeway.domain.charge import charge_for
from routeway.domain.records import ApiKeyRecord, BudgetFigures, GenerationRecord, Hold, HoldNote, Rollup
from routeway.domain.refusals import budget_refusal, scope_fields
from routeway.domain.scopes import BudgetScope, lifetime_spend
from routeway.errors import BudgetExceeded, MinuteFull, StoreUnavailable
from routeway.gateway import Gateway
from routeway.services.abandoned import Abandoned, abandoned_cost, start_abandoned
from routeway.services.admitted import MinuteDue, TakenTokens
from routeway.services.alerts import check_thresholds
from routeway.services.attempts import AttemptResult
from routeway.services.reconcile import reconcile_holds
from routeway.services.written import in_background, until_written, write_record

log = logging.getLogger("routeway.budget")
SECONDS_PER_DAY = 86_400
HOLD_MARGIN_S = 300  # a hold outlives the longest request by this much before it counts as abandoned
Write = Callable[[GenerationRecord | None], Awaitable[None]]


class Ledger:
    """One generation's account: who pays, what is held, what was noted and abandoned, whether it is settled.

    Its budgets (`scopes`: the key's, its team's, each for its current period) are set when the request is
    admitted (services/admission.py); each is held, noted and charged on its own account under its own hold id.
    """

    def __init__(self, gateway: Gateway, key: ApiKeyRecord | None, generation_id: str) -> None:
        self.gw = gateway
        self.key = key
        self.generation_id = generation_id
        self.started = gateway.clock.now()  # the request's day in the spend report, however late it settles
        self.scopes: list[BudgetScope] = []
        self.held: dict[str, float] = {}  # what each account holds for this generation
        self.held_usd = 0.0  # what every account holds (the most the request may be charged)
        self.tokens: list[TakenTokens] = []  # counted against tpm limits at admission
        self.minute: MinuteDue | None = None  # the key's rpm count, until the first hold takes it
        self.slots: list[tuple[str, int]] = []  # parallel slots taken (counter, until)
        self.used_tokens: int | None = None  # what the upstream reported, once known
        self.usage: dict[str, Any] | None = None  # the usage last charged (for a spend line without a record)
        self.model: str | None = None  # the model of the last attempt the upstream accepted
        self.excess_usd = 0.0  # what the upstream billed past the hold: recorded and reported, never charged
        self.paid_usage: dict[str, Any] | None = None  # what a failed request was still billed (an answer too large)
        self.abandoned: list[Abandoned] = []  # attempts given up on, charged with the request
        self.abandoned_usd = 0.0  # what they charge, once their lookups are done (within the hold)
        self._settled = False
        self._handed_to_stream = False  # the stream's end settles it, not the request that opened it
        self._reconciled: set[str] = set()  # accounts whose dead holds a refusal looked for already

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
        return bool(self.scopes)

    @property
    def limit_usd(self) -> float | None:
        """The most the generation may be charged: its hold, for a key with a budget; else no bound."""
        return self.held_usd if self.budgeted else None

    def hand_to_stream(self) -> None:
        """The stream settles the request when it ends, however it ends."""
        self._handed_to_stream = True

    async def hold(self, bound_usd: float | None, *, max_tokens_given: bool, unbounded: str | None = None) -> None:
        """Hold the request's most possible cost on each of its budgets (raising what it already holds), or refuse
        it with 402 naming the budget (`unbounded` says why a cost has no bound, when the caller knows). A refusal
        first charges that budget's holds left by dead processes."""
        if not self.scopes:
            return
        if bound_usd is None:
            scope = self.scopes[0]
            raise BudgetExceeded(
                unbounded
                or "This request's cost has no upper bound (a variable-price router model), so a request under a "
                "budget cannot send it; name a model instead.",
                **scope_fields(scope),
            )
        if bound_usd <= self.held_usd:
            await self._count_minute()
            return  # already holds enough (an earlier, dearer attempt)
        now = self.gw.clock.now()
        expires_at = int(now + self.gw.settings.long_deadline_s + HOLD_MARGIN_S)
        for scope in self.scopes:
            before = self.held.get(scope.account, 0.0)
            if bound_usd <= before:
                continue
            wanted = Hold(scope.hold_id(self.generation_id), bound_usd, expires_at, before, self.gw.owner)
            refused = await self._reserve(scope, wanted, int(now))
            if refused is not None and scope.account not in self._reconciled:  # dead holds may be in the way
                self._reconciled.add(scope.account)
                if await reconcile_holds(self.gw, key_hash=scope.account):
                    refused = await self._reserve(scope, wanted, int(now))
            if refused is not None:
                raise budget_refusal(scope, refused, bound_usd, before, max_tokens_given)
            self.held[scope.account] = bound_usd
        self.held_usd = bound_usd
        await self._count_minute()

    async def _reserve(self, scope: BudgetScope, wanted: Hold, now_epoch: int) -> BudgetFigures | None:
        """The hold, with the request's rpm count when it is due on this account (one write): a full minute
        answers 429 and holds nothing."""
        due = self.minute if self.minute is not None and self.minute.account == scope.account else None
        try:
            refused = await self.gw.state.reserve(
                scope.account, wanted, scope.budget_usd, now_epoch, due.count if due else None
            )
        except MinuteFull:
            if due is None:
                raise
            raise due.refusal from None
        if refused is None and due is not None:
            self.minute = None
        return refused

    async def _count_minute(self) -> None:
        """No hold took the request's rpm count (nothing to hold: a free model): counted on its own."""
        due, self.minute = self.minute, None
        if due is not None:
            try:
                await self.gw.state.count_minute(due.account, due.count)
            except MinuteFull:
                raise due.refusal from None

    async def note(self, result: AttemptResult, estimate_usd: Callable[[], float]) -> None:
        """The upstream answered this attempt: write it on every hold before the answer goes on, so a crash from
        here on is charged (looked up by its id, else `estimate_usd()`) when the hold is reconciled. A request
        that holds nothing writes nothing and prices nothing."""
        self.model = result.candidate.row.model.id
        held = [scope for scope in self.scopes if self.held.get(scope.account, 0.0) > 0]
        if not held:
            return
        note = HoldNote(result.candidate.row.backend, result.upstream_id, round(estimate_usd(), 9))
        await asyncio.gather(*(self._note_on(scope, note) for scope in held))

    async def _note_on(self, scope: BudgetScope, note: HoldNote) -> None:
        try:
            await self.gw.state.note_attempt(scope.account, scope.hold_id(self.generation_id), note)
        except StoreUnavailable as exc:  # the charge itself still lands; only a crash from here on would lose it
            log.warning(
                "attempt not noted on its hold",
                extra={"generation_id": self.generation_id, "key_name": scope.name, "error": exc.message},
            )

    def abandon(self, result: AttemptResult, bound_usd: float, body: Mapping[str, Any]) -> None:
        """An attempt given up on after the upstream accepted it: its cost is looked up in the background."""
        entry = start_abandoned(self.gw, result, bound_usd, body, in_background)
        self.abandoned.append(entry)
        if self.held_usd > 0:
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
            self.used_tokens = _tokens_of(usage)
            self.usage = usage
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
        `after_response.later`). Each budget's account is charged the same cost under its own hold id; the first
        carries the record. A store failure is never raised (the answer is the client's, and no upstream call is
        repeated for it): that account's write is retried in the background until it lands."""
        cost = cost_usd if cost_usd > 0 else 0.0
        first = not self._settled
        owed = first and self.key is not None and (cost > 0 or any(self.held.values()))
        self._settled = True
        if self.excess_usd > 0 and owed:
            self._warn_excess(cost)
        charges = self._accounts() if owed else []

        async def settle(record: GenerationRecord | None) -> None:
            expires_at = int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY
            rollup = self._rollup(cost, record) if first else None
            accounts = charges or ([(lifetime_spend(self.key), 0.0)] if rollup and self.key else [])
            try:
                if not accounts and record is not None:
                    await write_record(self.gw, record)
                await asyncio.gather(
                    *(
                        self._charge_on(scope, cost, held, expires_at, *((record, rollup) if index == 0 else ()))
                        for index, (scope, held) in enumerate(accounts)
                    )
                )
            finally:
                await self._give_back_limits()

        return settle

    def _accounts(self) -> list[tuple[BudgetScope, float]]:
        """Each budget with what it holds, after the key's lifetime spend when no budget of its own is on it."""
        charges = [(scope, self.held.get(scope.account, 0.0)) for scope in self.scopes]
        if self.key is not None and all(scope.account != self.key.key_hash for scope in self.scopes):
            charges.insert(0, (lifetime_spend(self.key), 0.0))
        return charges

    async def _give_back_limits(self) -> None:
        """Leave the parallel slots; count the tokens a request used beyond (or below) its tpm estimate."""
        slots, self.slots = self.slots, []
        tokens, self.tokens = self.tokens, []
        writes: list[Awaitable[object]] = [
            self.gw.state.leave(counter, self.generation_id, until) for counter, until in slots
        ]
        used = self.used_tokens or 0  # none reported: refused or failed before the upstream made any
        writes += [
            self.gw.state.take_tokens(t.counter, t.window, used - t.tokens, None, t.expires_at)
            for t in tokens
            if used != t.tokens
        ]
        for failed in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(failed, Exception):  # a slot lapses at its deadline; a minute's count at its end
                log.warning("rate limit counters not given back", extra={"generation_id": self.generation_id})

    def _rollup(self, cost: float, record: GenerationRecord | None) -> Rollup | None:
        """The request's line in the spend report: every answer, and every request that cost something."""
        if self.key is None or (cost <= 0 and (record is None or record.status != "success")):
            return None
        usage = (record.usage if record is not None else None) or self.usage or {}
        model = (record.route.get("model") or record.requested_model if record is not None else None) or self.model
        return Rollup(
            day=datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d"),
            key_name=self.key.name,
            model=str(model or "unknown")[:200],
            team=self.key.team or "",
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            cost_usd=cost,
        )

    async def _charge_on(
        self,
        scope: BudgetScope,
        cost: float,
        held: float,
        expires_at: int,
        record: GenerationRecord | None = None,
        rollup: Rollup | None = None,
    ) -> None:
        hold_id = scope.hold_id(self.generation_id)
        try:
            charged = await self.gw.state.settle(scope.account, hold_id, cost, held, expires_at, record, rollup)
        except StoreUnavailable as exc:
            self._money_log("spend not written yet: retrying in the background", scope, cost, exc.message)
            in_background(self._settle_until_written(scope, cost, held, expires_at, record, rollup))
            return
        if charged and cost > 0 and scope.alert_at:
            if self.gw.settings.in_lambda:  # Lambda freezes what is left running when the invocation returns
                await check_thresholds(self.gw, scope)
            else:  # a slow webhook never holds up `serve`'s answers
                in_background(check_thresholds(self.gw, scope))

    async def _settle_until_written(
        self,
        scope: BudgetScope,
        cost: float,
        held: float,
        expires_at: int,
        record: GenerationRecord | None,
        rollup: Rollup | None,
    ) -> None:
        """Retry a settle until it lands (idempotent: the charge marker makes a repeat a no-op)."""
        hold_id = scope.hold_id(self.generation_id)
        tries, error = await until_written(
            self.gw.clock,
            lambda: self.gw.state.settle(scope.account, hold_id, cost, held, expires_at, record, rollup),
        )
        if error is not None:
            self._money_log("spend not written: the hold is left to reconciliation", scope, cost, error)
            return
        self._money_log("spend written after a retry", scope, cost, f"{tries} retries", level=logging.INFO)
        if cost > 0 and scope.alert_at:
            await check_thresholds(self.gw, scope)

    def _money_log(
        self, message: str, scope: BudgetScope, cost: float, detail: str, level: int = logging.ERROR
    ) -> None:
        key_name = self.key.name if self.key else None
        extra = {"generation_id": self.generation_id, "key_name": key_name, "cost_usd": cost, "error": detail}
        where = f"key {key_name}" if scope.scope == "key" else f"key {key_name}, team {scope.name}"
        log.log(level, f"{message} (generation {self.generation_id}, {where}, ${cost:.6f})", extra=extra)

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


def _tokens_of(usage: Mapping[str, Any]) -> int | None:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    counted = [v for v in (prompt, completion) if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    return sum(counted) if counted else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
