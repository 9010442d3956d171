"""Hot keys on DynamoDB: one key's budget and rpm counters spread over K shard items (docs/SCALE.md section 4).

One item takes about 1,000 write units a second, so a key whose every request writes its own item tops out
at a few hundred requests a second. A sharded key (K > 1, `routeway keys shard`) keeps its item where it
is, with three more numbers: `shards` (K), `unallocated` (budget no shard has yet) and `base` (its
committed_usd when it was sharded; holds taken before that still settle on the key item). Items:
    ("shard#<sha256>#<i>", "shard")  i < K, each its own partition: `record` (a copy of the key's), `shards`,
                                     `remaining` (budget it can hold), `held` (open holds), `spent`, and
                                     the rpm fields `win` (a minute), `quota` (admissions it has of it), `used`
    ("hold#<sha256>#<i>", <gen id>)  an open hold on shard i (`usd`, `hold_until`, `owner`, `notes`), like the
                                     unsharded kind: the shard is part of the hold, found where it is
    ("rate#<sha256>", <minute>)      `count`: the minute's admissions handed out (to shards, in claims)

Invariant: budget = unallocated + base + Σᵢ (remainingᵢ + heldᵢ + spentᵢ). A hold moves an amount from a
shard's `remaining` to its `held` in one item; a settlement moves it to `spent` (the cost) and back to
`remaining` (the rest) in the same transaction as the charge marker; a refill moves a slice from
`unallocated` to a shard, a drain moves shards' `remaining` back, each in one conditional transaction. No
write makes or loses money and every condition keeps each term at zero or more, so spend never passes the
budget. A refusal (402, 429) follows only a serialisable read (TransactGetItems) of the key item and every
shard that shows too little free; a request that keeps losing races to other requests gets a retryable
503 after ROUNDS rounds, never a wrong refusal.

This module is what a process knows of sharded keys (a cache, never the truth) and the reads that refresh
it; the holds and charges are in aws_shard_holds.py, rpm and the admin writes in aws_shard_limits.py.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any

from routeway.adapters.aws_common import DynamoTable, call
from routeway.adapters.aws_items import figures_of, hold_of, key_of, shard_of, shard_of_hold
from routeway.domain.records import ApiKeyRecord, BudgetFigures
from routeway.errors import StoreUnavailable

ROUNDS = 3  # reserve / refill / drain / settle rounds lost to other transactions before a retryable 503
SLICE_REQUESTS = 100  # a refill covers about this many reservations like the one that asked for it
QUOTA_ADMISSIONS = 100  # rpm admissions a shard claims at once, at most
SWEEP_S = 10  # expired shard holds are looked for at most this often per key and process (they last minutes)
REMEMBERED_HOLDS = 100_000  # generation -> shard of this process's open holds: a cache of what the items say
BUSY = "The key's budget is being moved between its shards by other requests; retry."


@dataclass(frozen=True)
class Sharded:
    """What a process remembers of a sharded key between its calls: how many shards, and its rpm."""

    shards: int
    rpm: int | None


@dataclass(frozen=True)
class HoldPlace:
    """Where a generation's hold item is: on shard `shard`, or (None) on the key item."""

    shard: int | None


class ShardedKeys:
    """Which keys are sharded and which shard each open hold is on, as this process last saw them.

    Only a cache: a miss (another process's hold, a restart, an entry evicted) is answered by reading the
    items, so nothing about money depends on the process that took a hold being the one that settles it."""

    def __init__(self, db: DynamoTable, rng: random.Random) -> None:
        self.db = db
        self.rng = rng  # picks a sharded key's shard per call; tests pass a seeded one
        self.sharded_keys: dict[str, Sharded] = {}  # key hash -> its shards
        self.hold_shards: dict[str, int] = {}  # generation id -> the shard its open hold is on
        self.swept: dict[str, int] = {}  # key hash -> when this process last looked for its expired shard holds

    def known(self, key_hash: str) -> Sharded | None:
        return self.sharded_keys.get(key_hash)

    def pick(self, key_hash: str) -> int:
        """A shard at random (0 when the key is not known to be sharded)."""
        known = self.sharded_keys.get(key_hash)
        return self.rng.randrange(known.shards) if known else 0

    def remember(self, key_hash: str, item: dict[str, Any], record: ApiKeyRecord) -> ApiKeyRecord:
        """The key item says whether the key is sharded: remembered, so the next request reads a shard."""
        shards = int(item["shards"]["N"]) if "shards" in item else 1
        if shards > 1:
            self.sharded_keys[key_hash] = Sharded(shards, record.rpm)
            return record.model_copy(update={"shards": shards, "spend_usd": 0.0})  # as a shard would say
        self.sharded_keys.pop(key_hash, None)
        return record

    def reread(self, key_hash: str) -> Sharded | None:
        """Read the key item again (it may have been sharded since this process looked): its shards, or None."""
        item = self.db.get("DynamoDB key shards", key_of(key_hash))
        if item is None:
            return None
        self.remember(key_hash, item, ApiKeyRecord.model_validate_json(item["record"]["S"]))
        return self.sharded_keys.get(key_hash)

    def remember_hold(self, generation_id: str, index: int | None) -> None:
        if index is None:
            return
        if len(self.hold_shards) >= REMEMBERED_HOLDS:  # the oldest goes: its settle reads where it is
            with contextlib.suppress(StopIteration, RuntimeError, KeyError):  # another thread got there first
                self.hold_shards.pop(next(iter(self.hold_shards)))
        self.hold_shards[generation_id] = index

    def forget_hold(self, generation_id: str) -> None:
        """Only once its settle has landed: a settle that failed and is retried still finds the shard here."""
        self.hold_shards.pop(generation_id, None)

    # reading
    def find_record(self, key_hash: str) -> ApiKeyRecord | None:
        """A known sharded key's record from one random shard (one GetItem), or None: read the key item. The
        spend on it is 0: a shard knows only its own, and the reservation, not this read, enforces the budget."""
        known = self.sharded_keys.get(key_hash)
        if known is None:
            return None
        item = self.db.get("DynamoDB find key shard", shard_of(key_hash, self.rng.randrange(known.shards)))
        if item is None or int(item["shards"]["N"]) != known.shards:  # resharded: the key item says how
            self.sharded_keys.pop(key_hash, None)
            return None
        record = ApiKeyRecord.model_validate_json(item["record"]["S"])
        self.sharded_keys[key_hash] = Sharded(known.shards, record.rpm)
        return record.model_copy(update={"shards": known.shards})

    def snapshot(self, first: dict[str, Any], key_hash: str, shards: int) -> list[dict[str, Any]]:
        """One item and every shard, read together (a serialisable TransactGetItems; K + 1 <= 100 items)."""
        keys = [first, *(shard_of(key_hash, i) for i in range(shards))]
        response = call(
            "DynamoDB key snapshot",
            lambda: self.db.client.transact_get_items(
                TransactItems=[{"Get": {"TableName": self.db.name, "Key": k}} for k in keys]
            ),
        )
        return [r.get("Item") or {} for r in response["Responses"]]

    def figures(self, key_hash: str, shards: int) -> BudgetFigures:
        """GET /v1/key and `keys list` of a sharded key: one TransactGetItems of the key item and its shards."""
        items = self.snapshot(key_of(key_hash), key_hash, shards)
        return figures_of(items[0], items[1:])

    def where_held(self, key_hash: str, generation_id: str) -> HoldPlace | None:
        """Where a sharded key's generation holds: this process's cache, else one BatchGetItem of the places it
        can be (every shard's and the key item's, K + 1 <= 100 keys). None: nowhere (settled, released)."""
        index = self.hold_shards.get(generation_id)
        if index is not None:
            return HoldPlace(index)
        known = self.sharded_keys.get(key_hash)
        places = [hold_of(key_hash, i, generation_id) for i in range(known.shards if known else 0)]
        found = self._first_found([hold_of(key_hash, None, generation_id), *places])
        if found is None:
            return None
        self.remember_hold(generation_id, shard_of_hold(found))
        return HoldPlace(shard_of_hold(found))

    def _first_found(self, keys: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first of `keys` that is an item (consistent reads; keys DynamoDB left unprocessed asked again)."""
        wanted: dict[str, Any] = {self.db.name: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}}
        for _ in range(ROUNDS):
            response = call(
                "DynamoDB find hold",
                lambda asked=wanted: self.db.client.batch_get_item(RequestItems=asked),  # type: ignore[misc]
            )
            found: list[dict[str, Any]] = response.get("Responses", {}).get(self.db.name, [])
            if found:
                return min(found, key=lambda item: str(item["pk"]["S"]))  # one hold per generation: there is one
            wanted = response.get("UnprocessedKeys") or {}
            if not wanted:
                return None
        raise StoreUnavailable("DynamoDB find hold: keys left unprocessed")
