"""Budget holds and exactly-once charges on a key item or an account's item, with conditional writes only.

An unsharded key's holds are in its key item since issue 35 (aws_key_holds.py: each move one UpdateItem); what
follows is the layout of a periodic or team account's holds, and of holds an older gateway took on a key item
(they still note, settle and release where they are).

Items (pk, sk), beside the key item ("key#<sha256>", "key") whose numbers they move:
    spend_usd       what the key has been charged
    committed_usd   spend_usd + every open hold: the one number a reservation's condition can test
    ("hold#<sha256>", <generation id>)   an open hold (`usd`, `hold_until`: deliberately not the table's TTL
                                         attribute, since a hold deleted by TTL would never leave committed_usd)
    ("charge#<generation id>", "charge") the marker that makes a charge happen once (TTL `expires_at`)

A reservation is one transaction: put the hold (if it is new) and ADD its amount to committed_usd on the
condition `committed_usd <= budget - amount`. A settlement is one transaction: delete the hold on the
condition it is there, ADD the cost to spend_usd and cost - hold to committed_usd. A retried write (boto3
retries after a read timeout) finds its hold gone and changes nothing; a hold released as expired leaves a
("released#…") marker, so its late settle charges the cost on its own, once; a cost with no hold at all
takes a ("charge#<gen>") marker instead; DynamoDB's
ClientRequestToken makes the retry return the first answer. A hold whose process died expires; the next
refused reservation releases expired holds that carry no note (each release conditional on the hold still
being there, unnoted). Every write that moves money is a transaction: 2 write units per item, the price of
exactness. A sharded key's money is on its shards (aws_shard_holds.py); aws_ledger.py decides which.
A periodic or team budget (domain/scopes.py) has its own counter item, ("budget#<account>", "budget"), made by
its first hold and moved the same way; it is never sharded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import CONDITION_FAILED, RACING, DynamoTable, call, number, request_token, s
from routeway.adapters.aws_items import (
    EXPIRED_UNNOTED,
    Items,
    expired_hold_gone,
    hold_gone,
    hold_of,
    hold_write,
    money_item,
    num,
    released_marker,
    released_of,
    rollup_write,
    usd,
)
from routeway.adapters.aws_key_holds import HOLDS, KeyItemHolds, minute_count
from routeway.adapters.aws_shards import ROUNDS
from routeway.domain.records import BudgetFigures, Hold, MinuteCount, Rollup
from routeway.domain.scopes import is_account
from routeway.errors import ConflictError, MinuteFull, StoreUnavailable

KEY_ROOM = "committed_usd <= :limit AND attribute_not_exists(shards)"
ACCOUNT_ROOM = "attribute_not_exists(committed_usd) OR committed_usd <= :limit"  # its first hold makes the item


class KeyBudget:
    """The money of an unsharded key (and of holds taken before a key was sharded), on its key item; the holds
    of a key item are in the item (aws_key_holds.py), an account's are items of their own."""

    def __init__(self, db: DynamoTable) -> None:
        self.db = db
        self.table = db.name
        self.item_holds = KeyItemHolds(db)

    def reserve(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None = None
    ) -> dict[str, Any] | None:
        """None when held (now, or already by this generation); else the key item that refused, read after
        releasing expired holds (it has `shards` when the key was sharded since this process looked: then the
        request was not counted against `rpm`). MinuteFull: `rpm`'s minute is full, nothing written."""
        if not is_account(key_hash):
            return self._reserve_in_item(key_hash, hold, budget_usd, now_epoch, rpm)
        more = hold.usd - hold.before_usd
        released = False
        races = 0
        while budget_usd - more >= 0:
            commit = {
                "Update": {
                    "TableName": self.table,
                    "Key": money_item(key_hash),
                    "UpdateExpression": "ADD committed_usd :more",
                    "ConditionExpression": ACCOUNT_ROOM if is_account(key_hash) else KEY_ROOM,
                    "ExpressionAttributeValues": {
                        ":more": {"N": number(more)},
                        ":limit": {"N": number(budget_usd - more)},
                    },
                }
            }
            reasons = self.db.transact(
                "DynamoDB reserve",
                [hold_write(self.table, hold_of(key_hash, None, hold.id), hold), commit],
                request_token(f"reserve-{races}-{released}", f"{hold.id}:{hold.usd!r}"),
            )
            if reasons is None or reasons[0] == CONDITION_FAILED:  # held now, or this hold was already written
                return None
            if CONDITION_FAILED not in reasons:  # lost a race to another transaction on the key item: again
                races += 1
                if races == ROUNDS:
                    raise StoreUnavailable(RACING)
                continue
            if released or not self.release_expired(key_hash, now_epoch):  # a second try only after a release
                break
            released = True
        refused_by = self.key_item(key_hash)
        if not refused_by and not is_account(key_hash):  # not on the layout this gateway writes (aws_migrate.py)
            raise StoreUnavailable("The key's item is being moved to its own partition; retry.")
        return refused_by

    def _reserve_in_item(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None
    ) -> dict[str, Any] | None:
        released = made = False
        item: dict[str, Any] = {}
        while budget_usd - (hold.usd - hold.before_usd) >= 0:
            if self.item_holds.reserve(key_hash, hold, budget_usd, rpm):
                return None
            item = self.key_item(key_hash)
            if not item:  # not on the layout this gateway writes (aws_migrate.py)
                raise StoreUnavailable("The key's item is being moved to its own partition; retry.")
            if KeyItemHolds.holds(item, hold):  # a retried reserve that had landed
                return None
            if "shards" in item:
                return item
            if rpm is not None and minute_count(item, rpm.window) >= rpm.limit:
                raise MinuteFull(minute_count(item, rpm.window))
            if HOLDS not in item and not made:  # a key made before holds lived in its item
                self.ensure_committed(item)
                made = True
                continue
            if released or not self.release_expired(key_hash, now_epoch, item):
                return item
            released = True
        item = item or self.key_item(key_hash)
        if rpm is not None and minute_count(item, rpm.window) >= rpm.limit:  # a 429 comes before a 402
            raise MinuteFull(minute_count(item, rpm.window))
        return item

    def charge(
        self, key_hash: str, generation_id: str, cost_usd: float, held_usd: float, rollup: Rollup | None = None
    ) -> bool | None:
        """Charge and release the hold on the key item (in its map, else a hold item from before issue 35): True;
        None when there is no such hold here (settled already, released as expired, or on a shard): nothing
        written. The hold's conditional removal is what makes the charge happen once: no charge marker rides
        along."""
        if not is_account(key_hash) and self.item_holds.charge(key_hash, generation_id, cost_usd, held_usd, rollup):
            return True
        with_it = [rollup_write(self.table, rollup)] if rollup is not None else []
        release = hold_gone(self.table, hold_of(key_hash, None, generation_id))
        items = [release, self._move(key_hash, cost_usd, usd(cost_usd) - usd(held_usd)), *with_it]
        return self.db.settle_once(items, "settle", generation_id, ROUNDS) or None

    def charge_released(self, key_hash: str, generation_id: str, cost_usd: float, with_it: Items = ()) -> bool:
        """The cost of a hold released as expired before its settle came: charged on its own, once (the
        release's marker is taken in the same transaction); False when there is no marker: charged already."""
        taken = {
            "Delete": {
                "TableName": self.table,
                "Key": released_of(key_hash, generation_id),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        items = [taken, self._move(key_hash, cost_usd, usd(cost_usd)), *with_it]
        return self.db.settle_once(items, "settle-released", generation_id, ROUNDS)

    def charge_unheld(self, key_hash: str, marker: dict[str, Any], cost_usd: float, with_it: Items = ()) -> bool:
        """A cost with no hold (none was taken, or it lapsed) charged on its own, once."""
        generation_id = marker["Put"]["Item"]["pk"]["S"].removeprefix("charge#")
        items = [marker, self._move(key_hash, cost_usd, usd(cost_usd)), *with_it]
        return self.db.settle_once(items, "settle-unheld", generation_id, ROUNDS)

    def _move(self, key_hash: str, spend: float, committed: Decimal) -> dict[str, Any]:
        """`committed` is exact (cost - hold in decimals, as DynamoDB adds them): no float residue drifts it. A
        key's item must exist (an ADD would make a bare one where the key is not: aws_migrate.py); an account's
        item is made by its first charge as by its first hold."""
        change = {
            "TableName": self.table,
            "Key": money_item(key_hash),
            "UpdateExpression": "ADD spend_usd :spend, committed_usd :committed",
            "ExpressionAttributeValues": {":spend": {"N": number(spend)}, ":committed": num(committed)},
        }
        return {"Update": change if is_account(key_hash) else {**change, "ConditionExpression": "attribute_exists(pk)"}}

    def release_expired(self, key_hash: str, now_epoch: int, item: dict[str, Any] | None = None) -> bool:
        """Release holds whose request died before settling and that carry no note (a noted one may have been
        billed upstream: reconciliation settles it); True if any was released. A key item's: those in its map
        (`item`, read if not given), then hold items from before issue 35."""
        released = False
        if not is_account(key_hash):
            item = self.key_item(key_hash) if item is None else item
            released = bool(item) and self.item_holds.release_expired(item, now_epoch)
        response = call(
            "DynamoDB expired holds",
            lambda: self.db.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                FilterExpression=EXPIRED_UNNOTED,
                ExpressionAttributeValues={":pk": s(f"hold#{key_hash}"), ":now": {"N": str(now_epoch)}},
                Limit=100,
            ),
        )
        for found in response.get("Items", []):
            generation_id = found["sk"]["S"]
            items = [
                expired_hold_gone(self.table, hold_of(key_hash, None, generation_id)),
                released_marker(self.table, key_hash, generation_id, now_epoch),
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": money_item(key_hash),
                        "UpdateExpression": "ADD committed_usd :minus",
                        "ExpressionAttributeValues": {":minus": {"N": number(-float(found["usd"]["N"]))}},
                    }
                },
            ]
            token = request_token("release", generation_id)
            released |= self.db.transact("DynamoDB release hold", items, token) is None
        return released

    def key_item(self, key_hash: str) -> dict[str, Any]:
        return self.db.get("DynamoDB key budget", money_item(key_hash)) or {}

    @staticmethod
    def figures(item: dict[str, Any]) -> BudgetFigures:
        spend = float(item.get("spend_usd", {}).get("N", 0))
        committed = float(item.get("committed_usd", {}).get("N", spend))
        return BudgetFigures(spend_usd=spend, held_usd=max(0.0, committed - spend))

    def ensure_committed(self, item: dict[str, Any]) -> None:
        """Keys made before holds existed have no committed_usd: start it at their spend, once; keys made before
        issue 35 have no map of holds (aws_key_holds.py): make it empty, once."""
        if "committed_usd" in item and HOLDS in item:
            return
        try:
            call(
                "DynamoDB start committed",
                lambda: self.db.client.update_item(
                    TableName=self.table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET committed_usd = if_not_exists(committed_usd, :spend), "
                    "#h = if_not_exists(#h, :none)",
                    ConditionExpression="attribute_not_exists(committed_usd) OR attribute_not_exists(#h)",
                    ExpressionAttributeNames={"#h": HOLDS},
                    ExpressionAttributeValues={":spend": item.get("spend_usd", {"N": "0"}), ":none": {"M": {}}},
                ),
            )
        except ConflictError:  # another process started it
            pass
