"""An unsharded key's holds inside its own key item: each move of its money is one conditional UpdateItem.

The key item ("key#<sha256>", "key") carries, beside spend_usd and committed_usd, the map `h` of its open holds:
    h.<hold id> = {u: usd held, t: hold_until (epoch s), o: owner, n: [notes of attempts the upstream accepted]}
(compact names: the item is billed per KB on every write). The map is made with the key (or once, by the first
read of a key made before issue 35: aws_budget.KeyBudget.ensure_committed).

- reserve: SET h.<id> and ADD committed_usd, on the condition `committed_usd <= budget - amount` and that the
  hold is not there yet (a retried reserve that landed finds its own hold: held). A raise sets `u` on the
  condition it still holds what the caller thinks.
- note: list_append to h.<id>.n, on the condition the hold is there.
- settle: REMOVE h.<id>, ADD spend_usd cost and committed_usd cost - hold, on the condition the hold is there:
  that condition is what makes the charge happen once (a retried settle finds it gone and writes nothing).
  With a spend line (`with_it`) the update and the line are one transaction.
- release (an expired hold without notes, found by a refused reservation or reconciliation): REMOVE and give
  committed_usd back, on the condition it is still there, expired and unnoted, in one transaction with the
  ("released#…") marker a late settle charges by (aws_budget.KeyBudget.charge_released).
Holds of periodic and team budgets stay hold items of their own (aws_budget.py): a team's item is shared by
all its keys, and a map of every hold in flight there would make each of its writes cost more. Hold items a
gateway from before this layout took on a key item still settle, note and release where they are.
"""

from __future__ import annotations

from typing import Any

from routeway.adapters.aws_common import CONDITION_FAILED, DynamoTable, call, number, request_token, s
from routeway.adapters.aws_items import Items, key_of, num, released_marker, usd
from routeway.adapters.aws_shards import ROUNDS
from routeway.domain.records import Hold, HoldNote, OpenHold
from routeway.errors import StoreUnavailable

HOLDS = "h"
RACING = "The key's budget is being written by other requests; retry."


def _names(hold_id: str) -> dict[str, str]:
    return {"#h": HOLDS, "#g": hold_id}


def hold_entry(hold: Hold) -> dict[str, Any]:
    entry = {"u": {"N": number(hold.usd)}, "t": {"N": str(hold.expires_at)}}
    if hold.owner:
        entry["o"] = s(hold.owner)
    return {"M": entry}


def note_entry(note: HoldNote) -> dict[str, Any]:
    fields: dict[str, Any] = {"b": s(note.backend), "e": {"N": number(note.estimate_usd)}}
    if note.upstream_id is not None:
        fields["i"] = s(note.upstream_id)
    return {"M": fields}


def _note_of(value: dict[str, Any]) -> HoldNote:
    fields = value["M"]
    return HoldNote(fields["b"]["S"], fields.get("i", {}).get("S"), float(fields["e"]["N"]))


def open_holds_of(item: dict[str, Any]) -> list[OpenHold]:
    """The holds in a key item's map, as reconciliation reads them."""
    key_hash = item["pk"]["S"].removeprefix("key#")
    return [
        OpenHold(
            key_hash=key_hash,
            generation_id=hold_id,
            usd=float(entry["M"]["u"]["N"]),
            expires_at=int(entry["M"]["t"]["N"]),
            owner=entry["M"].get("o", {}).get("S", ""),
            notes=tuple(_note_of(n) for n in entry["M"].get("n", {}).get("L", [])),
        )
        for hold_id, entry in item.get(HOLDS, {}).get("M", {}).items()
    ]


class KeyItemHolds:
    """Holds, notes and charges in an unsharded key's own item."""

    def __init__(self, db: DynamoTable) -> None:
        self.db = db
        self.table = db.name

    def reserve(self, key_hash: str, hold: Hold, budget_usd: float) -> bool:
        """True when held (now, or already by this hold: a retry that landed); False when the condition
        refused it (no room, the key was sharded, or its item is not here): the caller reads the item."""
        more = hold.usd - hold.before_usd
        room = "committed_usd <= :limit AND attribute_not_exists(shards) AND attribute_exists(#h)"
        values: dict[str, Any] = {":more": {"N": number(more)}, ":limit": {"N": number(budget_usd - more)}}
        if hold.before_usd <= 0:
            expression = "SET #h.#g = :hold ADD committed_usd :more"
            condition = f"{room} AND attribute_not_exists(#h.#g)"
            values[":hold"] = hold_entry(hold)
        else:
            expression = "SET #h.#g.u = :new ADD committed_usd :more"
            condition = f"{room} AND #h.#g.u = :old"
            values |= {":new": num(usd(hold.usd)), ":old": num(usd(hold.before_usd))}
        change = {
            "TableName": self.table,
            "Key": key_of(key_hash),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": _names(hold.id),
            "ExpressionAttributeValues": values,
        }
        return self._update("DynamoDB reserve", change)

    def _update(self, what: str, change: dict[str, Any]) -> bool:
        """One conditional UpdateItem: True when written, False when its condition refused it. An update that
        meets a transaction in flight on the item (TransactionConflictException) lost a race: it is tried again."""
        from botocore.exceptions import ClientError

        def run() -> bool | None:
            try:
                self.db.client.update_item(**change)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "ConditionalCheckFailedException":
                    return False
                if code == "TransactionConflictException":
                    return None
                raise
            return True

        for _ in range(ROUNDS):
            done = call(what, run)
            if done is not None:
                return done
        raise StoreUnavailable(RACING)

    @staticmethod
    def holds(item: dict[str, Any], hold: Hold) -> bool:
        """The item holds what `hold` asks already (a reserve that landed before its answer was lost)."""
        entry = item.get(HOLDS, {}).get("M", {}).get(hold.id)
        return entry is not None and usd(float(entry["M"]["u"]["N"])) == usd(hold.usd)

    def note(self, key_hash: str, hold_id: str, note: HoldNote) -> bool:
        """False: not in the item (settled, released, a hold item, or on a shard)."""
        change = {
            "TableName": self.table,
            "Key": key_of(key_hash),
            "UpdateExpression": "SET #h.#g.n = list_append(if_not_exists(#h.#g.n, :none), :note)",
            "ConditionExpression": "attribute_exists(#h.#g)",
            "ExpressionAttributeNames": _names(hold_id),
            "ExpressionAttributeValues": {":none": {"L": []}, ":note": {"L": [note_entry(note)]}},
        }
        return self._update("DynamoDB note attempt", change)

    def charge(self, key_hash: str, hold_id: str, cost_usd: float, held_usd: float, with_it: Items = ()) -> bool:
        """Charge and release the hold in the item: True; False when it is not there (settled already, released
        as expired, or held elsewhere): nothing written."""
        change = {
            "TableName": self.table,
            "Key": key_of(key_hash),
            "UpdateExpression": "REMOVE #h.#g ADD spend_usd :spend, committed_usd :committed",
            "ConditionExpression": "attribute_exists(#h.#g)",
            "ExpressionAttributeNames": _names(hold_id),
            "ExpressionAttributeValues": {
                ":spend": {"N": number(cost_usd)},
                ":committed": num(usd(cost_usd) - usd(held_usd)),
            },
        }
        if not with_it:
            return self._update("DynamoDB settle", change)
        items = [{"Update": change}, *with_it]
        for round_ in range(ROUNDS):
            reasons = self.db.transact("DynamoDB settle", items, request_token(f"settle-item-{round_}", hold_id))
            if reasons is None:
                return True
            if reasons[0] == CONDITION_FAILED:
                return False
        raise StoreUnavailable(RACING)

    def release_expired(self, item: dict[str, Any], now_epoch: int) -> bool:
        """Release the item's holds that expired without a note (a noted one may have been billed upstream:
        reconciliation charges it); True if any was released."""
        key_hash = item["pk"]["S"].removeprefix("key#")
        released = False
        for hold in open_holds_of(item):
            if hold.expires_at > now_epoch or hold.notes:
                continue
            change = {
                "TableName": self.table,
                "Key": key_of(key_hash),
                "UpdateExpression": "REMOVE #h.#g ADD committed_usd :minus",
                "ConditionExpression": "attribute_exists(#h.#g) AND attribute_not_exists(#h.#g.n) AND #h.#g.t <= :now",
                "ExpressionAttributeNames": _names(hold.generation_id),
                "ExpressionAttributeValues": {
                    ":minus": {"N": number(-hold.usd)},
                    ":now": {"N": str(now_epoch)},
                },
            }
            items = [{"Update": change}, released_marker(self.table, key_hash, hold.generation_id, now_epoch)]
            token = request_token("release-item", hold.generation_id)
            released |= self.db.transact("DynamoDB release hold", items, token) is None
        return released
