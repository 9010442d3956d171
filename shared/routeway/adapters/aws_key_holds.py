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
  The request's spend report line rides in the same UpdateItem (aws_rollups.py), while the item has room
  for it (LINES_IN_ITEM a day); past that the update and the line in `spend#` are one transaction.
- release (an expired hold without notes, found by a refused reservation or reconciliation): REMOVE and give
  committed_usd back, on the condition it is still there, expired and unnoted, in one transaction with the
  ("released#…") marker a late settle charges by (aws_budget.KeyBudget.charge_released).
Holds of periodic and team budgets stay hold items of their own (aws_budget.py): a team's item is shared by
all its keys, and a map of every hold in flight there would make each of its writes cost more. Hold items a
gateway from before this layout took on a key item still settle, note and release where they are.
"""

from __future__ import annotations

from typing import Any

from routeway.adapters.aws_common import RACING, DynamoTable, call, number, request_token, s
from routeway.adapters.aws_items import key_of, num, released_marker, rollup_write, usd
from routeway.adapters.aws_rollups import LINE_ADD, LINES_IN_ITEM, line_names, line_values, lines_in
from routeway.adapters.aws_shards import ROUNDS
from routeway.domain.records import Hold, HoldNote, MinuteCount, OpenHold, Rollup
from routeway.errors import StoreUnavailable

HOLDS = "h"
MINUTE = "m"  # m<window>: a minute's request count (rpm)
MINUTES_KEPT = 10_000  # keys whose minutes this process remembers before it forgets them all


def minute_name(window: int) -> str:
    """A key item's request count for one fixed 60 s window (its rpm), beside its holds."""
    return f"{MINUTE}{window}"


def minutes_of(item: dict[str, Any]) -> list[int]:
    return [int(name[1:]) for name in item if name.startswith(MINUTE) and name[1:].isdigit()]


def minute_count(item: dict[str, Any], window: int) -> int:
    return int(item.get(minute_name(window), {}).get("N", 0))


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
        self.minutes: dict[str, list[int]] = {}  # key hash -> rpm windows its item had when this process read it
        self.lines: dict[str, set[tuple[str, str, str]]] = {}  # key hash -> the spend lines its item carries

    def seen(self, item: dict[str, Any]) -> None:
        """Note the minutes a key item counts (read at authentication): the next reserve removes the old ones."""
        if len(self.minutes) > MINUTES_KEPT:
            self.minutes.clear()
            self.lines.clear()
        key_hash = item["pk"]["S"].removeprefix("key#")
        self.minutes[key_hash] = minutes_of(item)
        self.lines[key_hash] = set(lines_in(item))

    def _fits(self, key_hash: str, rollup: Rollup) -> bool:
        """The request's spend line goes in the key item if it is there already or the item has room for it
        (LINES_IN_ITEM a day, as this process last read it); else in the report's partition, in a transaction."""
        lines = self.lines.get(key_hash, set())
        line = (rollup.day, rollup.team, rollup.model)
        return line in lines or len([held for held in lines if held[0] >= rollup.day]) < LINES_IN_ITEM

    def reserve(self, key_hash: str, hold: Hold, budget_usd: float, rpm: MinuteCount | None = None) -> bool:
        """True when held (now, or already by this hold: a retry that landed); False when the condition
        refused it (no room, a full minute, the key was sharded, or its item is not here): the caller reads
        the item. With `rpm` the request is counted in `m<window>` by the same UpdateItem, on the condition the
        minute has room; older minutes' counters this process saw are removed by it."""
        more = hold.usd - hold.before_usd
        room = "committed_usd <= :limit AND attribute_not_exists(shards) AND attribute_exists(#h)"
        names = _names(hold.id)
        values: dict[str, Any] = {":more": {"N": number(more)}, ":limit": {"N": number(budget_usd - more)}}
        if hold.before_usd <= 0:
            sets, adds = ["#h.#g = :hold"], ["committed_usd :more"]
            condition = f"{room} AND attribute_not_exists(#h.#g)"
            values[":hold"] = hold_entry(hold)
        else:
            sets, adds = ["#h.#g.u = :new"], ["committed_usd :more"]
            condition = f"{room} AND #h.#g.u = :old"
            values |= {":new": num(usd(hold.usd)), ":old": num(usd(hold.before_usd))}
        removes: list[str] = []
        if rpm is not None:
            names["#m"] = minute_name(rpm.window)
            adds.append("#m :one")
            condition += " AND (attribute_not_exists(#m) OR #m < :rpm)"
            values |= {":one": {"N": "1"}, ":rpm": {"N": str(rpm.limit)}}
            old = {*self.minutes.get(key_hash, []), rpm.window - 1} - {rpm.window}
            for index, window in enumerate(sorted(w for w in old if w < rpm.window)):
                names[f"#o{index}"] = minute_name(window)
                removes.append(f"#o{index}")
        expression = "SET " + ", ".join(sets) + " ADD " + ", ".join(adds)
        expression += " REMOVE " + ", ".join(removes) if removes else ""
        change = {
            "TableName": self.table,
            "Key": key_of(key_hash),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return self._update("DynamoDB reserve", change)

    def count(self, key_hash: str, rpm: MinuteCount) -> bool:
        """A request that holds nothing counted in the item's minute: True; False when refused (the minute is
        full, or the key was sharded or is not here: the caller reads the item)."""
        change = {
            "TableName": self.table,
            "Key": key_of(key_hash),
            "UpdateExpression": "ADD #m :one",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(shards) "
            "AND (attribute_not_exists(#m) OR #m < :rpm)",
            "ExpressionAttributeNames": {"#m": minute_name(rpm.window)},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":rpm": {"N": str(rpm.limit)}},
        }
        return self._update("DynamoDB count request", change)

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

    def charge(self, key_hash: str, hold_id: str, cost_usd: float, held_usd: float, rollup: Rollup | None) -> bool:
        """Charge and release the hold in the item, with the request's spend report line (aws_rollups.py) in the
        same UpdateItem (or, when the item has no room for its line, with the line in one transaction): True;
        False when the hold is not there (settled already, released as expired, or held elsewhere): nothing
        written."""
        expression = "REMOVE #h.#g ADD spend_usd :spend, committed_usd :committed"
        names = _names(hold_id)
        values = {":spend": {"N": number(cost_usd)}, ":committed": num(usd(cost_usd) - usd(held_usd))}
        in_item = rollup is not None and self._fits(key_hash, rollup)
        if rollup is not None and in_item:
            expression += ", " + LINE_ADD
            names |= line_names(rollup)
            values |= line_values(rollup)
        change = {
            "TableName": self.table,
            "Key": key_of(key_hash),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(#h.#g)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if rollup is None or in_item:
            done = self._update("DynamoDB settle", change)
            if done and rollup is not None:
                self.lines.setdefault(key_hash, set()).add((rollup.day, rollup.team, rollup.model))
            return done
        items = [{"Update": change}, rollup_write(self.table, rollup)]
        return self.db.settle_once(items, "settle-item", hold_id, ROUNDS)

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
