"""A key's money on DynamoDB: holds, charges, notes and open holds, wherever the hold item is.

An unsharded key's money is on its key item (aws_budget.py), a sharded key's on its shards
(aws_shard_holds.py); a hold taken before its key was sharded stays on the key item. Which one a
generation's hold is on is read from the table (the hold item's partition says it), so a settle retried
after a failure, one from another process, or reconciliation's all find it: this process's memory of where
its holds are is a cache that saves the read, never the only copy.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from routeway.adapters.aws_budget import KeyBudget
from routeway.adapters.aws_common import DynamoTable, call, generation_item, s
from routeway.adapters.aws_items import charge_marker, hold_of, note_value, open_hold_of, rollup_of, rollup_write
from routeway.adapters.aws_key_holds import HOLDS, minute_count, open_holds_of
from routeway.adapters.aws_rollups import report_lines
from routeway.adapters.aws_shard_holds import ShardedBudget
from routeway.adapters.aws_shard_limits import ShardedLimits
from routeway.adapters.aws_shards import HoldPlace, ShardedKeys
from routeway.domain.records import (
    ApiKeyRecord,
    BudgetFigures,
    GenerationRecord,
    Hold,
    HoldNote,
    MinuteCount,
    OpenHold,
    Rollup,
)
from routeway.domain.scopes import is_account
from routeway.errors import ConflictError, MinuteFull

_SIDE_WRITES: list[ThreadPoolExecutor] = []
_SIDE_WRITES_MADE = threading.Lock()


def _side_writes() -> ThreadPoolExecutor:
    """A few threads for a write that goes beside another (made on first use, never at import)."""
    with _SIDE_WRITES_MADE:
        if not _SIDE_WRITES:
            _SIDE_WRITES.append(ThreadPoolExecutor(4, thread_name_prefix="routeway-dynamodb"))
        return _SIDE_WRITES[0]


class DynamoLedger:
    """Sends each hold, charge and note to the key item or to the shard its hold is on."""

    def __init__(self, db: DynamoTable, keys: ShardedKeys, limits: ShardedLimits) -> None:
        self.db = db
        self.table = db.name
        self.keys = keys
        self.limits = limits
        self.key_budget = KeyBudget(db)
        self.sharded = ShardedBudget(db, keys, self.key_budget)

    def reserve(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None = None
    ) -> BudgetFigures | None:
        """An unsharded key's hold and its rpm count are one UpdateItem of its key item (aws_key_holds.py);
        elsewhere the count is its own write first (`count_request`)."""
        more = hold.usd - hold.before_usd
        if rpm is not None and (more <= 0 or is_account(key_hash) or key_hash in self.keys.sharded_keys):
            self.count_minute(key_hash, rpm)
            rpm = None
        if more <= 0:
            return None
        if key_hash not in self.keys.sharded_keys:
            refused_by = self.key_budget.reserve(key_hash, hold, budget_usd, now_epoch, rpm)
            if refused_by is None:
                return None
            if "shards" not in refused_by:
                return KeyBudget.figures(refused_by)
            # sharded since this process last read the key: its key item refuses every unsharded hold
            self.keys.remember(key_hash, refused_by, ApiKeyRecord.model_validate_json(refused_by["record"]["S"]))
            if rpm is not None:
                self._count(key_hash, rpm)
        return self.sharded.reserve(key_hash, hold, budget_usd, now_epoch)

    def count_minute(self, key_hash: str, rpm: MinuteCount) -> None:
        """A request counted without a hold: in an unsharded key's item (the counter its holds count in), else
        on its shards (or `rate#`)."""
        if not is_account(key_hash) and key_hash not in self.keys.sharded_keys:
            if self.key_budget.item_holds.count(key_hash, rpm):
                return
            item = self.key_budget.key_item(key_hash)
            if "shards" not in item:
                raise MinuteFull(minute_count(item, rpm.window))
            self.keys.remember(key_hash, item, ApiKeyRecord.model_validate_json(item["record"]["S"]))
        self._count(key_hash, rpm)

    def _count(self, key_hash: str, rpm: MinuteCount) -> None:
        count = self.count_request(key_hash, rpm.window, rpm.expires_at)
        if count > rpm.limit:
            raise MinuteFull(count - 1)

    def count_request(self, key_hash: str, window: int, expires_at: int) -> int:
        """A request counted in its key's minute on its own: a sharded key's on its shards, else the
        ("rate#<sha256>", <minute>) item (a key without a budget: no hold to ride on)."""
        if key_hash in self.keys.sharded_keys:
            return self.limits.count(key_hash, window, expires_at)
        response = call(
            "DynamoDB count request",
            lambda: self.db.client.update_item(
                TableName=self.table,
                Key={"pk": s(f"rate#{key_hash}"), "sk": s(str(window))},
                UpdateExpression="ADD #count :one SET expires_at = :expires",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(expires_at)}},
                ReturnValues="UPDATED_NEW",
            ),
        )
        return int(response["Attributes"]["count"]["N"])

    def settle(
        self,
        key_hash: str,
        generation_id: str,
        cost_usd: float,
        held_usd: float,
        expires_at: int,
        record: GenerationRecord | None = None,
        rollup: Rollup | None = None,
    ) -> bool:
        """The record goes in its own PutItem, at the same time as the charge's transaction: one round trip
        of latency, without paying a transaction's double write units for a 1 KB record. The rollup goes in the
        charge's transaction."""
        if record is None:
            return self._charge(key_hash, generation_id, cost_usd, held_usd, expires_at, rollup)
        item = generation_item(record)
        written = _side_writes().submit(
            call, "DynamoDB put generation", lambda: self.db.client.put_item(TableName=self.table, Item=item)
        )
        try:
            return self._charge(key_hash, generation_id, cost_usd, held_usd, expires_at, rollup)
        finally:
            written.result()  # StoreUnavailable if the record was not written

    def _charge(
        self,
        key_hash: str,
        generation_id: str,
        cost_usd: float,
        held_usd: float,
        expires_at: int,
        rollup: Rollup | None,
    ) -> bool:
        """Where the hold is (its shard, or the key item); a cost with no hold left (none was taken, or it was
        released as expired) on its own: on a shard of a sharded key, else on the key item. The spend line goes
        in the charge's own write: in the key item's UpdateItem, else its transaction (aws_rollups.py)."""
        with_it = [rollup_write(self.table, rollup)] if rollup is not None else []
        marker = charge_marker(self.table, generation_id, cost_usd, expires_at)
        place = self._where_held(key_hash, generation_id) if held_usd > 0 else None
        if held_usd > 0 and (place is None or place.shard is None):  # in the key item (or from before sharding)
            charged = self.key_budget.charge(key_hash, generation_id, cost_usd, held_usd, rollup)
            if charged is None and place is not None:  # not there: sharded since this process looked?
                place = self._on_a_shard(key_hash, generation_id)
                if place is None:  # settled already, or released as expired (its marker says so)
                    charged = self.key_budget.charge_released(key_hash, generation_id, cost_usd, with_it)
            if charged is not None:
                self.keys.forget_hold(generation_id)
                return charged
        if place is not None:
            charged = self.sharded.charge(key_hash, marker, cost_usd, held_usd, place.shard, with_it)
        elif key_hash in self.keys.sharded_keys:
            charged = self.sharded.charge(key_hash, marker, cost_usd, 0.0, None, with_it)
        else:
            charged = self.key_budget.charge_unheld(key_hash, marker, cost_usd, with_it)
        self.keys.forget_hold(generation_id)  # only now it has landed: a retried settle still finds the shard
        return bool(charged)

    def note_attempt(self, key_hash: str, generation_id: str, note: HoldNote) -> bool:
        """Append `note` to the hold item's `notes`, on the condition the hold is still there."""
        place = self._where_held(key_hash, generation_id)
        if (place is None or place.shard is None) and not is_account(key_hash):  # in the key item's map?
            if self.key_budget.item_holds.note(key_hash, generation_id, note):
                return True
        if place is None:
            return False
        if self._note(hold_of(key_hash, place.shard, generation_id), note):
            return True
        if place.shard is not None:
            return False
        place = self._on_a_shard(key_hash, generation_id)
        return place is not None and self._note(hold_of(key_hash, place.shard, generation_id), note)

    def _note(self, hold_key: dict[str, Any], note: HoldNote) -> bool:
        try:
            call(
                "DynamoDB note attempt",
                lambda: self.db.client.update_item(
                    TableName=self.table,
                    Key=hold_key,
                    UpdateExpression="SET notes = list_append(if_not_exists(notes, :none), :note)",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":none": {"L": []}, ":note": {"L": [note_value(note)]}},
                ),
            )
        except ConflictError:  # no such hold: settled, released, or never taken
            return False
        return True

    def _where_held(self, key_hash: str, generation_id: str) -> HoldPlace | None:
        """A sharded key's hold: found where it is (cached, else read). A key this process saw unsharded: on the
        key item, unread (the write's condition checks it; `_on_a_shard` looks further when it is not there)."""
        if generation_id in self.keys.hold_shards or key_hash in self.keys.sharded_keys:
            return self.keys.where_held(key_hash, generation_id)
        return HoldPlace(None)

    def _on_a_shard(self, key_hash: str, generation_id: str) -> HoldPlace | None:
        """A hold that is not on the key item: on a shard if the key is sharded (read again: it may have been
        sharded since this process looked), else nowhere (released as expired, or settled)."""
        if self.keys.reread(key_hash) is None:
            return None
        place = self.keys.where_held(key_hash, generation_id)
        return place if place is not None and place.shard is not None else None

    def open_holds(self, now_epoch: int, *, key_hash: str | None = None, limit: int = 100) -> list[OpenHold]:
        """Expired ones first (the earliest expiry first), each with its owner and notes."""
        if key_hash is None:
            items = self._scan_holds(now_epoch, limit)
        else:
            key_item = {} if is_account(key_hash) else self.key_budget.key_item(key_hash)
            shards = int(key_item["shards"]["N"]) if "shards" in key_item else 0
            partitions = [f"hold#{key_hash}", *(f"hold#{key_hash}#{i}" for i in range(shards))]
            items = [i for pk in partitions for i in self.db.query("DynamoDB open holds", pk, consistent=True)]
            items += [key_item] if key_item else []
        found = [h for i in items for h in (open_holds_of(i) if i["sk"]["S"] == "key" else [open_hold_of(i)])]
        holds = sorted(found, key=lambda h: (h.expires_at, h.key_hash, h.generation_id))
        return holds[:limit]

    def _scan_holds(self, now_epoch: int, limit: int) -> list[dict[str, Any]]:
        """Every hold item in the table and every key item with holds in its map, page after page, until `limit`
        expired ones are in hand (no later page can have one that comes before them)."""

        def run() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            expired = 0
            pages = self.db.client.get_paginator("scan").paginate(
                TableName=self.table,
                FilterExpression="begins_with(pk, :hold) OR (sk = :key AND size(#h) > :none)",
                ExpressionAttributeNames={"#h": HOLDS},
                ExpressionAttributeValues={":hold": s("hold#"), ":key": s("key"), ":none": {"N": "0"}},
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    found.append(item)
                    holds = open_holds_of(item) if item["sk"]["S"] == "key" else [open_hold_of(item)]
                    expired += sum(h.expires_at <= now_epoch for h in holds)
                if expired >= limit:
                    break
            return found

        return call("DynamoDB open holds", run)

    def spend_rollups(self, since_day: str, until_day: str) -> list[Rollup]:
        """Per key name: its partition's lines from `since_day` to `until_day` and those its key item still
        carries (aws_rollups.report_lines)."""
        listed = {i["sk"]["S"]: i["key_hash"]["S"] for i in self.db.query("DynamoDB list key names", "keyname")}
        rollups: list[Rollup] = []
        for name, key_hash in listed.items():

            def lines(name: str = name) -> list[dict[str, Any]]:
                pages = self.db.client.get_paginator("query").paginate(
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND sk BETWEEN :since AND :until",
                    ExpressionAttributeValues={
                        ":pk": s(f"spend#{name}"),
                        ":since": s(since_day),
                        ":until": s(until_day + "~"),  # every model and team of the last day
                    },
                )
                return [item for page in pages for item in page.get("Items", [])]

            def partition(lines: Any = lines) -> list[Rollup]:
                return [rollup_of(item) for item in call("DynamoDB spend report", lines)]

            found = report_lines(self.db, key_hash, name, partition)
            rollups.extend(r for r in found if since_day <= r.day <= until_day)
        return rollups

    def budget_figures(self, key_hash: str) -> BudgetFigures:
        known = self.keys.known(key_hash)
        item = {} if known else self.key_budget.key_item(key_hash)
        shards = known.shards if known else int(item["shards"]["N"]) if "shards" in item else 1
        return self.keys.figures(key_hash, shards) if shards > 1 else KeyBudget.figures(item)
