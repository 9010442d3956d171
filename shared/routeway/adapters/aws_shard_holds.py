"""A sharded key's holds (docs/SCALE.md section 4; the items and the invariant are in aws_shards.py).

A hold is taken, in order of cost: from its shard alone (one item: the common case), with a refill slice
from the key's pool, and only when both fall short, after a serialisable read of the key item and every
shard: refused (402, with the same figures as an unsharded key, summed) when the whole key has less free
than the hold, else taken from wherever the read found it, in one transaction conditional on each source
still having its part. A request that keeps losing those races to other requests gets a retryable 503.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import call, number
from routeway.adapters.aws_common import request_token as _token
from routeway.adapters.aws_shards import (
    BUSY,
    CONDITION_FAILED,
    REMEMBERED_HOLDS,
    ROUNDS,
    SLICE_REQUESTS,
    DynamoShards,
    _update,
    attempt,
    dec,
    figures_of,
    hold_of,
    key_of,
    num,
    shard_of,
    usd,
)
from routeway.domain.records import BudgetFigures, Hold
from routeway.errors import ConflictError, StoreUnavailable


class DynamoShardHolds(DynamoShards):
    # holding
    def reserve_on_shards(self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int) -> BudgetFigures | None:
        """The shard alone (one item), else a refill slice from the pool; when both fall short, a snapshot of
        the whole key decides: refuse, or take what this hold needs from wherever it is, in one transaction
        conditional on each source still having its part."""
        shards = self.sharded_keys[key_hash].shards
        more = usd(hold.usd - hold.before_usd)
        index = self.hold_shards.get(hold.id) if hold.before_usd > 0 else self.rng.randrange(shards)
        # a slice: about SLICE_REQUESTS such holds, but never more than a quarter of a shard's fair share,
        # so a small budget is not stranded in one shard
        fair = usd(budget_usd / (4 * shards))
        slice_ = more if index is None else max(more, min(fair, more * SLICE_REQUESTS))
        tries = [] if index is None else [[self._shard_takes(key_hash, index, more)]]
        tries.append(self._pool_gives(key_hash, index, shards, more, slice_))  # less than a slice: the gather
        for step, writes in enumerate(tries):
            if self._try_hold(key_hash, hold, index, writes, f"shard-reserve-{step}"):
                return None
        for round_ in range(ROUNDS):
            items = self.snapshot(key_of(key_hash), key_hash, shards)
            key_item, shard_items = items[0], items[1:]
            loose = max(Decimal(0), dec(key_item, "base") - dec(key_item, "committed_usd"))  # settled pre-shard holds
            free = dec(key_item, "unallocated") + loose + sum((dec(i, "remaining") for i in shard_items), Decimal(0))
            if free < more:
                if self._release_expired_on_shards(key_hash, shards, now_epoch):
                    continue
                return figures_of(key_item, shard_items)
            target, writes = self._gather(key_hash, index, hold.before_usd > 0, more, key_item, shard_items)
            if self._try_hold(key_hash, hold, target, writes, f"shard-gather-{round_}"):
                return None
        raise StoreUnavailable(BUSY)

    def _try_hold(self, key_hash: str, hold: Hold, index: int | None, writes: list[dict[str, Any]], step: str) -> bool:
        """The hold item and `writes` in one transaction; True when held now (or already, by this generation)."""
        token = _token(step, f"{hold.id}:{hold.usd!r}")
        reasons = attempt(
            self.client, "DynamoDB reserve", [self._shard_hold_write(key_hash, index, hold), *writes], token
        )
        if reasons is None or reasons[0] == CONDITION_FAILED:
            self._remember(hold.id, index)
            return True
        return False

    def _gather(
        self,
        key_hash: str,
        index: int | None,
        raising: bool,
        more: Decimal,
        key_item: dict[str, Any],
        shard_items: list[dict[str, Any]],
    ) -> tuple[int | None, list[dict[str, Any]]]:
        """Where `more` can come from, as read: one shard that has it all (a new hold goes there), else the
        hold's shard topped up from the pool and then the fullest shards, each on the condition it still has
        its part; a source that lost it since makes the transaction fail, never take too much."""
        remaining = [dec(item, "remaining") for item in shard_items]
        loose = max(Decimal(0), dec(key_item, "base") - dec(key_item, "committed_usd"))
        if index is None:  # a hold from before sharding: from the pool only, the loose part reclaimed first
            if loose > 0:
                self._reclaim(key_hash, key_item)
            return None, self._pool_gives(key_hash, None, len(shard_items), more, more)
        if not raising:
            fullest = max(range(len(remaining)), key=lambda i: remaining[i])
            if remaining[fullest] >= more:
                return fullest, [self._shard_takes(key_hash, fullest, more)]
            index = fullest
        need = more - max(Decimal(0), remaining[index])
        writes: list[dict[str, Any]] = []
        pool = min(dec(key_item, "unallocated") + loose, need)
        if pool > 0 or loose > 0:
            writes.append(self._pool_write(key_hash, key_item, pool, loose, len(shard_items)))
        gathered = max(Decimal(0), pool)
        for other in sorted(range(len(remaining)), key=lambda i: -remaining[i]):
            if gathered >= need:
                break
            part = min(remaining[other], need - gathered)
            if other == index or part <= 0:
                continue
            writes.append(
                _update(
                    self.table,
                    shard_of(key_hash, other),
                    "ADD #remaining :minus",
                    "#remaining >= :part",
                    minus=num(-part),
                    part=num(part),
                )  # fmt: skip
            )
            gathered += part
        writes.append(
            _update(
                self.table,
                shard_of(key_hash, index),
                "ADD #remaining :rest, #held :more",
                "#remaining >= :least",
                rest=num(gathered - more),
                more=num(more),
                least=num(max(Decimal(0), more - gathered)),
            )  # fmt: skip
        )
        return index, writes

    def _pool_write(
        self, key_hash: str, key_item: dict[str, Any], take: Decimal, loose: Decimal, shards: int
    ) -> dict[str, Any]:
        """Take `take` from the pool; budget that holds from before sharding gave back (`loose`) joins it."""
        values: dict[str, Any] = {"net": num(loose - take), "least": num(max(Decimal(0), take - loose))}
        values["k"] = {"N": str(shards)}
        expression, condition = "ADD #unallocated :net", "#unallocated >= :least AND #shards = :k"
        if loose > 0:
            expression += " SET #base = committed_usd"
            condition += " AND #base = :base AND committed_usd = :committed"
            values |= {"base": key_item["base"], "committed": key_item["committed_usd"]}
        return _update(self.table, key_of(key_hash), expression, condition, **values)

    def _reclaim(self, key_hash: str, key_item: dict[str, Any]) -> None:
        update = self._pool_write(
            key_hash,
            key_item,
            Decimal(0),
            dec(key_item, "base") - dec(key_item, "committed_usd"),
            int(key_item["shards"]["N"]),
        )["Update"]
        try:
            call("DynamoDB reclaim", lambda: self.client.update_item(**update))
        except ConflictError:
            pass  # it moved: the next round reads it again

    def _remember(self, generation_id: str, index: int | None) -> None:
        if index is None:
            return
        if len(self.hold_shards) >= REMEMBERED_HOLDS:  # the oldest goes: its settle charges a random shard
            with contextlib.suppress(StopIteration, RuntimeError, KeyError):  # another thread got there first
                self.hold_shards.pop(next(iter(self.hold_shards)))
        self.hold_shards[generation_id] = index

    def _shard_hold_write(self, key_hash: str, index: int | None, hold: Hold) -> dict[str, Any]:
        key = hold_of(key_hash, index, hold.id)
        if hold.before_usd <= 0:
            item = {**key, "usd": {"N": number(hold.usd)}, "hold_until": {"N": str(hold.expires_at)}}
            return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
        new, old = usd(hold.usd), usd(hold.before_usd)
        return _update(self.table, key, "SET usd = :new", "usd = :old", new=num(new), old=num(old))

    def _shard_takes(self, key_hash: str, index: int, more: Decimal) -> dict[str, Any]:
        return _update(
            self.table,
            shard_of(key_hash, index),
            "ADD #remaining :minus, #held :more",
            "#remaining >= :more",
            minus=num(-more),
            more=num(more),
        )

    def _pool_gives(
        self, key_hash: str, index: int | None, shards: int, more: Decimal, amount: Decimal
    ) -> list[dict[str, Any]]:
        """A refill: `amount` from the key's pool to the shard, `more` of it held at once. A hold from before
        sharding (index None) stays on the key item and takes its raise straight from the pool."""
        take = "#unallocated >= :amount AND #shards = :k"
        values = {"amount": num(amount), "minus": num(-amount), "k": {"N": str(shards)}}
        if index is None:
            expression = "ADD #unallocated :minus, committed_usd :amount, #base :amount"
            return [_update(self.table, key_of(key_hash), expression, take, **values)]
        return [
            _update(self.table, key_of(key_hash), "ADD #unallocated :minus", take, **values),
            _update(
                self.table,
                shard_of(key_hash, index),
                "ADD #remaining :rest, #held :more",
                "attribute_exists(pk)",
                rest=num(amount - more),
                more=num(more),
            ),
        ]
