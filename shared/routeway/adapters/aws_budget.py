"""Budget holds and exactly-once charges on DynamoDB, with conditional writes only.

Items (pk, sk), beside the key item ("key", <sha256>) whose numbers they move:
    spend_usd       what the key has been charged
    committed_usd   spend_usd + every open hold: the one number a reservation's condition can test
    ("hold#<sha256>", <generation id>)   an open hold (`usd`, `hold_until`: deliberately not the table's TTL
                                         attribute, since a hold deleted by TTL would never leave committed_usd)
    ("charge#<generation id>", "charge") the marker that makes a charge happen once (TTL `expires_at`)

A reservation is one transaction: put the hold (if it is new) and ADD its amount to committed_usd on the
condition `committed_usd <= budget - amount`. A settlement is one transaction: put the charge marker on the
condition it does not exist, delete the hold, ADD the cost to spend_usd and cost - hold to committed_usd.
A retried write (boto3 retries after a read timeout) finds its own marker and changes nothing; DynamoDB's
ClientRequestToken makes the retry return the first answer. A hold whose process died expires; the next
refused reservation releases expired holds (each release conditional on the hold still being there).
Every write that moves money is a transaction: 2 write units per item, the price of exactness.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import call, generation_item, number, s
from routeway.adapters.aws_common import request_token as _token
from routeway.adapters.aws_shard_limits import DynamoShardLimits
from routeway.adapters.aws_shards import num, usd
from routeway.domain.records import ApiKeyRecord, BudgetFigures, GenerationRecord, Hold

CONDITION_FAILED = "ConditionalCheckFailed"


_SIDE_WRITES: list[ThreadPoolExecutor] = []
_SIDE_WRITES_MADE = threading.Lock()


def _side_writes() -> ThreadPoolExecutor:
    """A few threads for a write that goes beside another (made on first use, never at import)."""
    with _SIDE_WRITES_MADE:
        if not _SIDE_WRITES:
            _SIDE_WRITES.append(ThreadPoolExecutor(4, thread_name_prefix="routeway-dynamodb"))
        return _SIDE_WRITES[0]


def _key(key_hash: str) -> dict[str, Any]:
    return {"pk": s("key"), "sk": s(key_hash)}


def _hold_key(key_hash: str, generation_id: str) -> dict[str, Any]:
    return {"pk": s(f"hold#{key_hash}"), "sk": s(generation_id)}


def transact(client: Any, what: str, items: list[dict[str, Any]], token: str) -> list[str] | None:
    """Run one transaction: None when it committed, else each item's cancellation reason code."""
    from botocore.exceptions import ClientError

    def run() -> list[str] | None:
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
            if CONDITION_FAILED not in reasons:
                raise
            return reasons
        return None

    return call(what, run)


class DynamoBudget(DynamoShardLimits):
    """Mixed into the DynamoDB state store: `client` and `table` come from it. A sharded key's holds and
    charges go to its shards (adapters/aws_shards.py); an unsharded key's are exactly these."""

    def reserve(self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int) -> BudgetFigures | None:
        more = hold.usd - hold.before_usd
        if more <= 0:
            return None
        if key_hash in self.sharded_keys:
            return self.reserve_on_shards(key_hash, hold, budget_usd, now_epoch)
        for _ in range(2):  # a second try only after releasing expired holds
            limit = budget_usd - more
            if limit < 0:
                return self._figures(self._key_item(key_hash))
            commit = {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(key_hash),
                    "UpdateExpression": "ADD committed_usd :more",
                    "ConditionExpression": "committed_usd <= :limit AND attribute_not_exists(shards)",
                    "ExpressionAttributeValues": {":more": {"N": number(more)}, ":limit": {"N": number(limit)}},
                }
            }
            reasons = transact(
                self.client,
                "DynamoDB reserve",
                [self._hold_write(key_hash, hold), commit],
                _token("reserve", f"{hold.id}:{hold.usd!r}"),
            )
            if reasons is None or reasons[0] == CONDITION_FAILED:  # held now, or this hold was already written
                return None
            if not self._release_expired(key_hash, now_epoch):
                break
        item = self._key_item(key_hash)
        if "shards" in item:  # sharded since this process last read it: the unsharded holds refuse
            self.remember_shards(key_hash, item, ApiKeyRecord.model_validate_json(item["record"]["S"]))
            return self.reserve_on_shards(key_hash, hold, budget_usd, now_epoch)
        return self._figures(item)

    def _hold_write(self, key_hash: str, hold: Hold) -> dict[str, Any]:
        """A new hold (if it is new), or its raise (if it still holds what the caller thinks it does)."""
        if hold.before_usd <= 0:
            item = {
                **_hold_key(key_hash, hold.id),
                "usd": {"N": number(hold.usd)},
                "hold_until": {"N": str(hold.expires_at)},  # not the TTL attribute: see above
            }
            return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
        return {
            "Update": {
                "TableName": self.table,
                "Key": _hold_key(key_hash, hold.id),
                "UpdateExpression": "SET usd = :new",
                "ConditionExpression": "usd = :old",
                "ExpressionAttributeValues": {":new": {"N": number(hold.usd)}, ":old": {"N": number(hold.before_usd)}},
            }
        }

    def settle(
        self,
        key_hash: str,
        generation_id: str,
        cost_usd: float,
        held_usd: float,
        expires_at: int,
        record: GenerationRecord | None = None,
    ) -> bool:
        """The record goes in its own PutItem, at the same time as the charge's transaction: one round trip
        of latency, without paying a transaction's double write units for a 1 KB record."""
        if record is None:
            return self._charge(key_hash, generation_id, cost_usd, held_usd, expires_at)
        item = generation_item(record)
        written = _side_writes().submit(
            call, "DynamoDB put generation", lambda: self.client.put_item(TableName=self.table, Item=item)
        )
        try:
            return self._charge(key_hash, generation_id, cost_usd, held_usd, expires_at)
        finally:
            written.result()  # StoreUnavailable if the record was not written

    def _charge(self, key_hash: str, generation_id: str, cost_usd: float, held_usd: float, expires_at: int) -> bool:
        """On the hold's shard when it has one; an unheld cost of a sharded key on a shard too; else (an
        unsharded key, or a hold taken before the key was sharded) on the key item."""
        index = self.hold_shards.pop(generation_id, None)
        marker = {
            "Put": {
                "TableName": self.table,
                "Item": {
                    "pk": s(f"charge#{generation_id}"),
                    "sk": s("charge"),
                    "usd": {"N": number(cost_usd)},
                    "expires_at": {"N": str(expires_at)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        if index is not None or (held_usd <= 0 and key_hash in self.sharded_keys):
            return self.charge_on_shards(key_hash, marker, cost_usd, held_usd, index)
        if held_usd > 0:
            release = {
                "Delete": {
                    "TableName": self.table,
                    "Key": _hold_key(key_hash, generation_id),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            items = [marker, release, self._move(key_hash, cost_usd, usd(cost_usd) - usd(held_usd))]
            reasons = transact(self.client, "DynamoDB settle", items, _token("settle", generation_id))
            if reasons is None:
                return True
            if reasons[0] == CONDITION_FAILED:
                return False
            # the hold had expired and was released: charge the cost on its own
        items = [marker, self._move(key_hash, cost_usd, usd(cost_usd))]
        return transact(self.client, "DynamoDB settle", items, _token("settle-unheld", generation_id)) is None

    def _move(self, key_hash: str, spend: float, committed: Decimal) -> dict[str, Any]:
        """`committed` is exact (cost - hold in decimals, as DynamoDB adds them): no float residue drifts it."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": _key(key_hash),
                "UpdateExpression": "ADD spend_usd :spend, committed_usd :committed",
                "ExpressionAttributeValues": {":spend": {"N": number(spend)}, ":committed": num(committed)},
            }
        }

    def _release_expired(self, key_hash: str, now_epoch: int) -> bool:
        """Release holds whose request died before settling; True if any was released."""
        response = call(
            "DynamoDB expired holds",
            lambda: self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                FilterExpression="hold_until <= :now",
                ExpressionAttributeValues={":pk": s(f"hold#{key_hash}"), ":now": {"N": str(now_epoch)}},
                Limit=100,
            ),
        )
        released = False
        for item in response.get("Items", []):
            generation_id = item["sk"]["S"]
            held = float(item["usd"]["N"])
            items = [
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": _hold_key(key_hash, generation_id),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(key_hash),
                        "UpdateExpression": "ADD committed_usd :minus",
                        "ExpressionAttributeValues": {":minus": {"N": number(-held)}},
                    }
                },
            ]
            released |= transact(self.client, "DynamoDB release hold", items, _token("release", generation_id)) is None
        return released

    def _key_item(self, key_hash: str) -> dict[str, Any]:
        response = call(
            "DynamoDB key budget",
            lambda: self.client.get_item(TableName=self.table, Key=_key(key_hash), ConsistentRead=True),
        )
        item: dict[str, Any] = response.get("Item") or {}
        return item

    @staticmethod
    def _figures(item: dict[str, Any]) -> BudgetFigures:
        spend = float(item.get("spend_usd", {}).get("N", 0))
        committed = float(item.get("committed_usd", {}).get("N", spend))
        return BudgetFigures(spend_usd=spend, held_usd=max(0.0, committed - spend))

    def ensure_committed(self, item: dict[str, Any]) -> None:
        """Keys made before holds existed have no committed_usd: start it at their spend, once."""
        if "committed_usd" in item:
            return
        from routeway.errors import ConflictError

        try:
            call(
                "DynamoDB start committed",
                lambda: self.client.update_item(
                    TableName=self.table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET committed_usd = :spend",
                    ConditionExpression="attribute_not_exists(committed_usd)",
                    ExpressionAttributeValues={":spend": item.get("spend_usd", {"N": "0"})},
                ),
            )
        except ConflictError:  # another process started it
            pass
