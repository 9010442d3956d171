"""A sharded key's rpm admissions, and the admin writes that reach every shard (sharding, revocation).

rpm: each shard admits from a quota of the current minute that it claimed from the minute's window item
(`rate#<sha256>`, `<minute>`): the claim adds to the window's `count` on the condition it stays within the
rpm, in the same transaction that adds to the shard's `quota`; an admission adds 1 to the shard's `used`
on the condition `used < quota` for that minute. So the admissions of a minute are at most the claims,
and the claims at most the rpm. When no claim can be had, a serialisable read of the window and every
shard decides: the request is admitted on a shard that has unused quota (on that shard's own condition),
and only a minute with nothing left anywhere refuses (429). The window's `count` is the same attribute an
unsharded key counts requests in, so the minute a key is sharded in still admits at most its rpm.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import CONDITION_FAILED, DynamoTable, call, s
from routeway.adapters.aws_items import dec, key_of, num, shard_of, update
from routeway.adapters.aws_shards import QUOTA_ADMISSIONS, ROUNDS, Sharded, ShardedKeys
from routeway.domain.records import ApiKeyRecord
from routeway.errors import ConflictError, InvalidRequest, NotFound, StoreUnavailable

RPM_BUSY = "The key's rate limit is being moved between its shards by other requests; retry."


def _window_of(key_hash: str, window: int) -> dict[str, Any]:
    return {"pk": s(f"rate#{key_hash}"), "sk": s(str(window))}


def _fresh_shard(key_hash: str, index: int, shards: int, record: str) -> dict[str, Any]:
    zero = {"N": "0"}
    item = {
        **shard_of(key_hash, index),
        "record": s(record),
        "shards": {"N": str(shards)},
        **dict.fromkeys(("remaining", "held", "spent", "win", "quota", "used"), zero),
    }
    return {"Put": {"TableName": "", "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


class ShardedLimits:
    """A sharded key's rpm on its shards, and the writes that reach all of them (sharding, revocation)."""

    def __init__(self, db: DynamoTable, keys: ShardedKeys) -> None:
        self.db = db
        self.table = db.name
        self.keys = keys

    # rpm
    def count(self, key_hash: str, window: int, expires_at: int) -> int:
        """1 when the request is admitted, rpm + 1 when the minute has nothing left (the port's "count")."""
        known = self.keys.sharded_keys[key_hash]
        rpm = known.rpm or 0
        index = self.keys.rng.randrange(known.shards)
        batch = max(1, min(QUOTA_ADMISSIONS, rpm // (4 * known.shards)))
        if self._admit(key_hash, index, window):
            return 1
        for _ in range(ROUNDS):
            if any(self._claim(key_hash, index, window, expires_at, rpm, n) for n in dict.fromkeys((batch, 1))):
                return 1
            spare = self._spare(key_hash, known, window, rpm)
            if spare is None:
                return rpm + 1
            if any(self._admit(key_hash, other, window) for other in spare):  # another shard's unused quota
                return 1
        raise StoreUnavailable(RPM_BUSY)

    def _admit(self, key_hash: str, index: int, window: int) -> bool:
        admission = update(
            self.table, shard_of(key_hash, index), "ADD #used :one", "#win = :w AND #used < #quota",
            one={"N": "1"}, w={"N": str(window)},
        )["Update"]  # fmt: skip
        try:
            call("DynamoDB count request", lambda: self.db.client.update_item(**admission))
        except ConflictError:
            return False
        return True

    def _claim(self, key_hash: str, index: int, window: int, expires_at: int, rpm: int, amount: int) -> bool | None:
        """Claim `amount` admissions of the minute for the shard, counting this request as one: True when
        claimed, None when the window has fewer left, False when another request got in first."""
        if amount > rpm:
            return None
        pool = {
            "Update": {
                "TableName": self.table,
                "Key": _window_of(key_hash, window),
                "UpdateExpression": "ADD #count :m SET expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(#count) OR #count <= :limit",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": {
                    ":m": {"N": str(amount)},
                    ":limit": {"N": str(rpm - amount)},
                    ":expires": {"N": str(expires_at)},
                },
            }
        }
        values = {"m": {"N": str(amount)}, "one": {"N": "1"}, "w": {"N": str(window)}}
        same = update(self.table, shard_of(key_hash, index), "ADD #quota :m, #used :one", "#win = :w", **values)
        fresh = update(
            self.table, shard_of(key_hash, index), "SET #win = :w, #quota = :m, #used = :one",
            "attribute_exists(pk) AND #win < :w", **values,
        )  # fmt: skip
        for shard in (same, fresh):
            reasons = self.db.transact("DynamoDB claim admissions", [pool, shard])
            if reasons is None:
                return True
            if reasons[0] == CONDITION_FAILED:
                return None
        return False

    def _spare(self, key_hash: str, known: Sharded, window: int, rpm: int) -> list[int] | None:
        """None: the minute's whole rpm is used (a serialisable read of the window and every shard says so).
        Else the shards with unused admissions of the minute, most first (empty: the window has room)."""
        items = self.keys.snapshot(_window_of(key_hash, window), key_hash, known.shards)
        spare = {
            i: dec(item, "quota") - dec(item, "used")
            for i, item in enumerate(items[1:])
            if dec(item, "win") == window and dec(item, "quota") > dec(item, "used")
        }
        if Decimal(rpm) - dec(items[0], "count") + sum(spare.values(), Decimal(0)) < 1:
            return None
        return sorted(spare, key=lambda i: -spare[i])

    # admin: the CLI's writes
    def set_shards(self, key_hash: str, item: dict[str, Any], shards: int) -> int:
        """Spread the key over `shards` shards (more than it has). Growing moves no money: new shards start
        empty and refill from the pool; the first sharding hands the pool the budget nobody has committed,
        in the same conditional write that makes every unsharded hold path refuse from then on."""
        old = int(item["shards"]["N"]) if "shards" in item else 1
        if shards == old:
            return old
        if shards < old:
            raise InvalidRequest(
                f"This key has {old} shards; shards can be added, not taken away (a shard's open holds and "
                "spend stay on it).",
                param="shards",
            )
        record = item["record"]["S"]
        fresh = [_fresh_shard(key_hash, i, shards, record) for i in range(old if old > 1 else 0, shards)]
        for put in fresh:
            put["Put"]["TableName"] = self.table
        k = {"N": str(shards)}
        if old == 1:
            budget = ApiKeyRecord.model_validate_json(record).budget_usd
            if budget is None:
                key = update(
                    self.table, key_of(key_hash), "SET #shards = :k, #unallocated = :zero, #base = committed_usd",
                    "attribute_not_exists(#shards)", k=k, zero={"N": "0"},
                )  # fmt: skip
            else:  # the pool is what neither spend nor an open hold has taken
                key = update(
                    self.table, key_of(key_hash),
                    "SET #shards = :k, #unallocated = :budget - committed_usd, #base = committed_usd",
                    "attribute_not_exists(#shards) AND committed_usd <= :budget",
                    k=k, budget=num(Decimal(repr(budget))),
                )  # fmt: skip
            grown: list[dict[str, Any]] = []
        else:
            key = update(self.table, key_of(key_hash), "SET #shards = :k", "#shards = :old", k=k, old=item["shards"])
            grown = [
                update(self.table, shard_of(key_hash, i), "SET #shards = :k", "attribute_exists(pk)", k=k)
                for i in range(old)
            ]
        if self.db.transact("DynamoDB shard key", [key, *grown, *fresh]) is not None:
            raise ConflictError("the key changed while it was being sharded (or has spent past its budget)")
        self.keys.sharded_keys[key_hash] = Sharded(shards, ApiKeyRecord.model_validate_json(record).rpm)
        return old

    def write_record(self, key_hash: str, shards: int, record: str, budget_delta: Decimal = Decimal(0)) -> None:
        """A revocation (or a limit change) reaches the key item and every shard in one transaction; a budget
        change moves the pool by `budget_delta`, a cut only as far as the pool has it free (InvalidRequest)."""
        value = {":record": s(record)}
        names = {"#record": "record"}
        if budget_delta:
            key = update(
                self.table, key_of(key_hash), "SET #record = :record ADD #unallocated :delta",
                "#shards = :k AND #unallocated >= :cut", k={"N": str(shards)}, delta=num(budget_delta),
                cut=num(max(Decimal(0), -budget_delta)),
            )  # fmt: skip
        else:
            key = update(self.table, key_of(key_hash), "SET #record = :record", "#shards = :k", k={"N": str(shards)})
        key["Update"]["ExpressionAttributeNames"]["#record"] = "record"
        key["Update"]["ExpressionAttributeValues"] |= value
        copies = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": shard_of(key_hash, i),
                    "UpdateExpression": "SET #record = :record",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": value,
                }
            }
            for i in range(shards)
        ]
        if self.db.transact("DynamoDB revoke key", [key, *copies]) is None:
            return
        item = self.db.get("DynamoDB key shards", key_of(key_hash)) or {}
        same_shards = item.get("shards", {}).get("N") == str(shards)
        if budget_delta < 0 and same_shards and dec(item, "unallocated") < -budget_delta:
            raise InvalidRequest(
                "This sharded key's budget cannot be cut that far now: its shards hold the rest for requests.",
                param="budget_usd",
            )
        raise ConflictError("the key was resharded while it was being changed; try again")


def require_key(item: dict[str, Any] | None, name: str) -> dict[str, Any]:
    if item is None:
        raise NotFound(f"No key named {name!r}.")
    return item
