"""A sharded key's holds and charges (docs/SCALE.md section 4; the items and the invariant are in aws_shards.py).

A hold is taken, in order of cost: from its shard alone (one item: the common case), with a refill slice
from the key's pool, and only when both fall short, after a serialisable read of the key item and every
shard: refused (402, with the same figures as an unsharded key, summed) when the whole key has less free
than the hold, else taken from wherever the read found it, in one transaction conditional on each source
still having its part. A request that keeps losing those races to other requests gets a retryable 503.
A charge settles the hold on the shard its item is on; an expired hold without notes goes back to its shard.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from routeway.adapters.aws_budget import KeyBudget
from routeway.adapters.aws_common import CONDITION_FAILED, DynamoTable, call, request_token, s
from routeway.adapters.aws_items import (
    EXPIRED_UNNOTED,
    Items,
    dec,
    expired_hold_gone,
    figures_of,
    hold_gone,
    hold_of,
    hold_write,
    key_of,
    num,
    shard_of,
    update,
    usd,
)
from routeway.adapters.aws_key_holds import HOLDS
from routeway.adapters.aws_shards import BUSY, ROUNDS, SLICE_REQUESTS, SWEEP_S, ShardedKeys
from routeway.domain.records import BudgetFigures, Hold
from routeway.errors import ConflictError, StoreUnavailable


class ShardedBudget:
    """A sharded key's money on its shards. Holds from before sharding stay on the key item (`key_budget`)."""

    def __init__(self, db: DynamoTable, keys: ShardedKeys, key_budget: KeyBudget) -> None:
        self.db = db
        self.table = db.name
        self.keys = keys
        self.key_budget = key_budget

    # holding
    def reserve(self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int) -> BudgetFigures | None:
        """The shard alone (one item), else a refill slice from the pool; when both fall short, a snapshot of
        the whole key decides: refuse, or take what this hold needs from wherever it is, in one transaction
        conditional on each source still having its part."""
        shards = self.keys.sharded_keys[key_hash].shards
        more = usd(hold.usd - hold.before_usd)
        index = self._raised(key_hash, hold.id) if hold.before_usd > 0 else self.keys.rng.randrange(shards)
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
            items = self.keys.snapshot(key_of(key_hash), key_hash, shards)
            key_item, shard_items = items[0], items[1:]
            loose = max(Decimal(0), dec(key_item, "base") - dec(key_item, "committed_usd"))  # settled pre-shard holds
            free = dec(key_item, "unallocated") + loose + sum((dec(i, "remaining") for i in shard_items), Decimal(0))
            if free < more:
                if self.release_expired(key_hash, shards, now_epoch):
                    continue
                return figures_of(key_item, shard_items)
            target, writes = self._gather(key_hash, index, hold.before_usd > 0, more, key_item, shard_items)
            if self._try_hold(key_hash, hold, target, writes, f"shard-gather-{round_}"):
                return None
        raise StoreUnavailable(BUSY)

    def _raised(self, key_hash: str, generation_id: str) -> int | None:
        """The shard of the hold being raised (None: on the key item, from before sharding, or nowhere)."""
        place = self.keys.where_held(key_hash, generation_id)
        return None if place is None else place.shard

    def _try_hold(self, key_hash: str, hold: Hold, index: int | None, writes: list[dict[str, Any]], step: str) -> bool:
        """The hold item and `writes` in one transaction; True when held now (or already, by this generation)."""
        token = request_token(step, f"{hold.id}:{hold.usd!r}")
        if index is None and hold.before_usd > 0:
            in_item = self._raise_in_item(key_hash, hold, writes, token)
            if in_item is not None:
                return in_item
        hold_item = hold_write(self.table, hold_of(key_hash, index, hold.id), hold)
        reasons = self.db.transact("DynamoDB reserve", [hold_item, *writes], token)
        if reasons is None or reasons[0] == CONDITION_FAILED:
            self.keys.remember_hold(hold.id, index)
            return True
        return False

    def _raise_in_item(self, key_hash: str, hold: Hold, writes: list[dict[str, Any]], token: str) -> bool | None:
        """Raise a hold from before sharding that is in the key item's map (aws_key_holds.py): its new amount and
        the pool's part (`writes`: one Update of the key item) in one write. None: not in the map (a hold item
        from before issue 35); False: the pool had too little."""
        (change,) = (w["Update"] for w in writes)
        raised = {
            **change,
            "UpdateExpression": "SET #h.#g.u = :new " + change["UpdateExpression"],
            "ConditionExpression": f"({change['ConditionExpression']}) AND #h.#g.u = :old",
            "ExpressionAttributeNames": {**change.get("ExpressionAttributeNames", {}), "#h": HOLDS, "#g": hold.id},
            "ExpressionAttributeValues": {
                **change["ExpressionAttributeValues"],
                ":new": num(usd(hold.usd)),
                ":old": num(usd(hold.before_usd)),
            },
        }
        if self.db.transact("DynamoDB reserve", [{"Update": raised}], token) is None:
            return True
        entry = (self.db.get("DynamoDB reserve", key_of(key_hash)) or {}).get(HOLDS, {}).get("M", {}).get(hold.id)
        if entry is None:
            return None
        return usd(float(entry["M"]["u"]["N"])) == usd(hold.usd)  # raised already (a retry), else the pool is short

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
                update(
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
            update(
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
        return update(self.table, key_of(key_hash), expression, condition, **values)

    def _reclaim(self, key_hash: str, key_item: dict[str, Any]) -> None:
        change = self._pool_write(
            key_hash,
            key_item,
            Decimal(0),
            dec(key_item, "base") - dec(key_item, "committed_usd"),
            int(key_item["shards"]["N"]),
        )["Update"]
        try:
            call("DynamoDB reclaim", lambda: self.db.client.update_item(**change))
        except ConflictError:
            pass  # it moved: the next round reads it again

    def _shard_takes(self, key_hash: str, index: int, more: Decimal) -> dict[str, Any]:
        return update(
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
            return [update(self.table, key_of(key_hash), expression, take, **values)]
        return [
            update(self.table, key_of(key_hash), "ADD #unallocated :minus", take, **values),
            update(
                self.table,
                shard_of(key_hash, index),
                "ADD #remaining :rest, #held :more",
                "attribute_exists(pk)",
                rest=num(amount - more),
                more=num(more),
            ),
        ]

    # charging
    def charge(
        self,
        key_hash: str,
        marker: dict[str, Any],
        cost_usd: float,
        held_usd: float,
        index: int | None,
        with_it: Items = (),
    ) -> bool:
        """Charge once: the marker (put if absent) and the shard's numbers in one transaction. A hold that was
        released as expired (or none: index None) leaves the cost charged on its own, to a shard at random."""
        generation_id = marker["Put"]["Item"]["pk"]["S"].removeprefix("charge#")
        cost, held = usd(cost_usd), usd(held_usd)
        for round_ in range(ROUNDS):
            if index is not None and held > 0:
                release = hold_gone(self.table, hold_of(key_hash, index, generation_id))
                settle = update(
                    self.table, shard_of(key_hash, index), "ADD #held :minus, #spent :cost, #remaining :rest",
                    minus=num(-held), cost=num(cost), rest=num(held - cost),
                )  # fmt: skip
                token = request_token(f"settle-shard-{round_}", generation_id)
                reasons = self.db.transact("DynamoDB settle", [marker, release, settle, *with_it], token)
                if reasons is None:
                    return True
                if reasons[0] == CONDITION_FAILED:
                    return False
                if reasons[1] != CONDITION_FAILED:
                    continue  # a race on the shard: again
                held = Decimal(0)  # the hold was released: the cost is charged on its own
            if index is None:
                index = self.keys.pick(key_hash)
            charge = update(
                self.table, shard_of(key_hash, index), "ADD #spent :cost, #remaining :minus",
                cost=num(cost), minus=num(-cost),
            )  # fmt: skip
            token = request_token(f"settle-unheld-{round_}", generation_id)
            reasons = self.db.transact("DynamoDB settle", [marker, charge, *with_it], token)
            if reasons is None:
                return True
            if reasons[0] == CONDITION_FAILED:
                return False
        raise StoreUnavailable(BUSY)

    def release_expired(self, key_hash: str, shards: int, now_epoch: int) -> bool:
        """Holds whose request died, without notes: back from `held` to `remaining` on their shard, each once.
        A hold lives minutes past its request, so one look per SWEEP_S per key and process finds every one in
        time. A noted hold stays: it may have been billed upstream, and reconciliation settles it."""
        swept = self.keys.swept
        if now_epoch - swept.get(key_hash, now_epoch - SWEEP_S) < SWEEP_S:
            return False
        swept[key_hash] = now_epoch
        released = False
        for index in range(shards):
            response = call(
                "DynamoDB expired holds",
                lambda index=index: self.db.client.query(  # type: ignore[misc]
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    FilterExpression=EXPIRED_UNNOTED,
                    ExpressionAttributeValues={":pk": s(f"hold#{key_hash}#{index}"), ":now": {"N": str(now_epoch)}},
                    Limit=100,
                ),
            )
            for item in response.get("Items", []):
                amount = Decimal(item["usd"]["N"])
                key = hold_of(key_hash, index, item["sk"]["S"])
                back = update(
                    self.table, shard_of(key_hash, index), "ADD #held :minus, #remaining :amount",
                    minus=num(-amount), amount=num(amount),
                )  # fmt: skip
                token = request_token("release", key["pk"]["S"] + item["sk"]["S"])
                reasons = self.db.transact("DynamoDB release hold", [expired_hold_gone(self.table, key), back], token)
                released |= reasons is None
        return self.key_budget.release_expired(key_hash, now_epoch) or released  # and those from before sharding
