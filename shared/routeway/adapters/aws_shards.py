"""Hot keys on DynamoDB: one key's budget and rpm counters spread over K shard items (docs/SCALE.md section 4).

One item takes about 1,000 write units a second, so a key whose every request writes its own item tops out
at a few hundred requests a second. A sharded key (K > 1, `routeway keys shard`) keeps its item where it
is, with three more numbers: `shards` (K), `unallocated` (budget no shard has yet) and `base` (its
committed_usd when it was sharded; holds taken before that still settle on the key item). Items:
    ("shard#<sha256>#<i>", "shard")  i < K, each its own partition: `record` (a copy of the key's), `shards`,
                                     `remaining` (budget it can hold), `held` (open holds), `spent`, and
                                     the rpm fields `win` (a minute), `quota` (admissions it has of it), `used`
    ("hold#<sha256>#<i>", <gen id>)  an open hold on shard i (`usd`, `hold_until`), like the unsharded kind
    ("rate#<sha256>", <minute>)      `count`: the minute's admissions handed out (to shards, in claims)

Invariant: budget = unallocated + base + Σᵢ (remainingᵢ + heldᵢ + spentᵢ). A hold moves an amount from a
shard's `remaining` to its `held` in one item; a settlement moves it to `spent` (the cost) and back to
`remaining` (the rest) in the same transaction as the charge marker; a refill moves a slice from
`unallocated` to a shard, a drain moves shards' `remaining` back, each in one conditional transaction. No
write makes or loses money and every condition keeps each term at zero or more, so spend never passes the
budget. A refusal (402, 429) follows only a serialisable read (TransactGetItems) of the key item and every
shard that shows too little free; a request that keeps losing races to other requests gets a retryable
503 after ROUNDS rounds, never a wrong refusal.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import call, number, s
from routeway.adapters.aws_common import request_token as _token
from routeway.domain.records import ApiKeyRecord, BudgetFigures
from routeway.errors import StoreUnavailable

MAX_SHARDS = 99  # the key item and every shard fit one TransactWriteItems (100 items): revocation is atomic
ROUNDS = 3  # reserve / refill / drain rounds before a retryable 503
SLICE_REQUESTS = 100  # a refill covers about this many reservations like the one that asked for it
QUOTA_ADMISSIONS = 100  # rpm admissions a shard claims at once, at most
SWEEP_S = 10  # expired shard holds are looked for at most this often per key and process (they last minutes)
REMEMBERED_HOLDS = 100_000  # generation -> shard of this process's open holds (settled by the same process)
CONDITION_FAILED = "ConditionalCheckFailed"
LOST = (CONDITION_FAILED, "TransactionConflict")
NAMES = {f"#{n}": n for n in ("shards", "unallocated", "base", "remaining", "held", "spent", "win", "quota", "used")}
BUSY = "The key's budget is being moved between its shards by other requests; retry."


@dataclass(frozen=True)
class Sharded:
    """What a process remembers of a sharded key between its calls: how many shards, and its rpm."""

    shards: int
    rpm: int | None


def key_of(key_hash: str) -> dict[str, Any]:
    return {"pk": s("key"), "sk": s(key_hash)}


def shard_of(key_hash: str, index: int) -> dict[str, Any]:
    return {"pk": s(f"shard#{key_hash}#{index}"), "sk": s("shard")}


def hold_of(key_hash: str, index: int | None, generation_id: str) -> dict[str, Any]:
    """A hold on shard `index`; None: a hold on the key item, taken before the key was sharded."""
    pk = f"hold#{key_hash}" if index is None else f"hold#{key_hash}#{index}"
    return {"pk": s(pk), "sk": s(generation_id)}


def num(value: Decimal) -> dict[str, str]:
    return {"N": format(value, "f")}


def dec(item: dict[str, Any], name: str) -> Decimal:
    return Decimal(item[name]["N"]) if name in item else Decimal(0)


def usd(value: float) -> Decimal:
    """A float amount as the exact decimal DynamoDB stores for it."""
    return Decimal(number(value))


def attempt(client: Any, what: str, items: list[dict[str, Any]], token: str | None = None) -> list[str] | None:
    """One transaction: None when it committed, else each item's cancellation code when a condition or a race
    with another transaction stopped it (any other failure is StoreUnavailable)."""
    from botocore.exceptions import ClientError

    def run() -> list[str] | None:
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token or secrets.token_hex(18))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
            if not any(r in LOST for r in reasons):
                raise
            return reasons
        return None

    return call(what, run)


def figures_of(key_item: dict[str, Any], shard_items: list[dict[str, Any]]) -> BudgetFigures:
    """Spend and holds of the key item (holds from before sharding) and of every shard, summed."""
    spend = dec(key_item, "spend_usd")
    committed = dec(key_item, "committed_usd") if "committed_usd" in key_item else spend
    spent = spend + sum((dec(i, "spent") for i in shard_items), Decimal(0))
    held = committed - spend + sum((dec(i, "held") for i in shard_items), Decimal(0))
    return BudgetFigures(spend_usd=float(spent), held_usd=float(max(Decimal(0), held)))


def _update(table: str, key: dict[str, Any], expression: str, condition: str = "", **values: Any) -> dict[str, Any]:
    names = {n: a for n, a in NAMES.items() if n in expression or n in condition}
    update: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression}
    if condition:
        update["ConditionExpression"] = condition
    if names:
        update["ExpressionAttributeNames"] = names
    if values:
        update["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"Update": update}


class DynamoShards:
    """Mixed into the DynamoDB state store: `client`, `table`, `rng` and the two maps come from it."""

    client: Any
    table: str
    rng: random.Random
    sharded_keys: dict[str, Sharded]  # key hash -> its shards, as this process last read them
    hold_shards: dict[str, int]  # generation id -> the shard its open hold is on
    swept: dict[str, int]  # key hash -> when this process last looked for its expired shard holds

    def _release_expired(self, key_hash: str, now_epoch: int) -> bool:  # the unsharded holds (aws_budget.py)
        raise NotImplementedError

    # reading
    def remember_shards(self, key_hash: str, item: dict[str, Any], record: ApiKeyRecord) -> ApiKeyRecord:
        """The key item says whether the key is sharded: remembered, so the next request reads a shard."""
        shards = int(item["shards"]["N"]) if "shards" in item else 1
        if shards > 1:
            self.sharded_keys[key_hash] = Sharded(shards, record.rpm)
            return record.model_copy(update={"shards": shards, "spend_usd": 0.0})  # as a shard would say
        self.sharded_keys.pop(key_hash, None)
        return record

    def find_on_shard(self, key_hash: str) -> ApiKeyRecord | None:
        """A known sharded key's record from one random shard (one GetItem), or None: read the key item. The
        spend on it is 0: a shard knows only its own, and the reservation, not this read, enforces the budget."""
        known = self.sharded_keys.get(key_hash)
        if known is None:
            return None
        index = self.rng.randrange(known.shards)
        response = call(
            "DynamoDB find key shard",
            lambda: self.client.get_item(TableName=self.table, Key=shard_of(key_hash, index), ConsistentRead=True),
        )
        item = response.get("Item")
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
            lambda: self.client.transact_get_items(
                TransactItems=[{"Get": {"TableName": self.table, "Key": k}} for k in keys]
            ),
        )
        return [r.get("Item") or {} for r in response["Responses"]]

    def sharded_figures(self, key_hash: str, shards: int) -> BudgetFigures:
        """GET /v1/key and `keys list` of a sharded key: one TransactGetItems of the key item and its shards."""
        items = self.snapshot(key_of(key_hash), key_hash, shards)
        return figures_of(items[0], items[1:])

    def _release_expired_on_shards(self, key_hash: str, shards: int, now_epoch: int) -> bool:
        """Holds whose request died: back from `held` to `remaining` on their shard, each once. A hold lives
        minutes past its request, so one look per SWEEP_S per key and process finds every one in time."""
        if now_epoch - self.swept.get(key_hash, now_epoch - SWEEP_S) < SWEEP_S:
            return False
        self.swept[key_hash] = now_epoch
        released = False
        for index in range(shards):
            response = call(
                "DynamoDB expired holds",
                lambda index=index: self.client.query(  # type: ignore[misc]
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk",
                    FilterExpression="hold_until <= :now",
                    ExpressionAttributeValues={":pk": s(f"hold#{key_hash}#{index}"), ":now": {"N": str(now_epoch)}},
                    Limit=100,
                ),
            )
            for item in response.get("Items", []):
                amount = Decimal(item["usd"]["N"])
                key = hold_of(key_hash, index, item["sk"]["S"])
                gone = {"Delete": {"TableName": self.table, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}
                back = _update(
                    self.table, shard_of(key_hash, index), "ADD #held :minus, #remaining :amount",
                    minus=num(-amount), amount=num(amount),
                )  # fmt: skip
                released |= (
                    attempt(
                        self.client,
                        "DynamoDB release hold",
                        [gone, back],
                        _token("release", key["pk"]["S"] + item["sk"]["S"]),
                    )
                    is None
                )
        return self._release_expired(key_hash, now_epoch) or released  # and those taken before sharding

    # charging
    def charge_on_shards(
        self, key_hash: str, marker: dict[str, Any], cost_usd: float, held_usd: float, index: int | None
    ) -> bool:
        """Charge once: the marker (put if absent) and the shard's numbers in one transaction. A hold that was
        released as expired (or unknown here) leaves the cost charged on its own, to a shard at random."""
        generation_id = marker["Put"]["Item"]["pk"]["S"].removeprefix("charge#")
        cost, held = usd(cost_usd), usd(held_usd)
        for round_ in range(ROUNDS):
            if index is not None and held > 0:
                release = {
                    "Delete": {
                        "TableName": self.table,
                        "Key": hold_of(key_hash, index, generation_id),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
                settle = _update(
                    self.table, shard_of(key_hash, index), "ADD #held :minus, #spent :cost, #remaining :rest",
                    minus=num(-held), cost=num(cost), rest=num(held - cost),
                )  # fmt: skip
                token = _token(f"settle-shard-{round_}", generation_id)
                reasons = attempt(self.client, "DynamoDB settle", [marker, release, settle], token)
                if reasons is None:
                    return True
                if reasons[0] == CONDITION_FAILED:
                    return False
                if reasons[1] != CONDITION_FAILED:
                    continue  # a race on the shard: again
                held = Decimal(0)  # the hold was released: the cost is charged on its own
            if index is None:
                index = self.rng.randrange(self.sharded_keys[key_hash].shards) if key_hash in self.sharded_keys else 0
            charge = _update(
                self.table, shard_of(key_hash, index), "ADD #spent :cost, #remaining :minus",
                cost=num(cost), minus=num(-cost),
            )  # fmt: skip
            reasons = attempt(
                self.client, "DynamoDB settle", [marker, charge], _token(f"settle-unheld-{round_}", generation_id)
            )
            if reasons is None:
                return True
            if reasons[0] == CONDITION_FAILED:
                return False
        raise StoreUnavailable(BUSY)
