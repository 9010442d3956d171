"""DynamoDB's bill for a moto server's record of calls: the write units each call costs, item by item.

A moto server started with MOTO_RECORDER_FILEPATH writes every request it takes (headers and body) to a file
(tests/functional/test_scale_multiprocess.py records a burst). `billed_writes` reads that record as DynamoDB
bills it: a PutItem costs its item's size in 1 KB units; an UpdateItem or DeleteItem the larger of the item's
size before and after, taken here as its size in the table afterwards (`size_of`; an item gone counts 1 unit);
each item of a TransactWriteItems twice that; a BatchWriteItem each item once. Reads are not counted.

A key item carries its open holds (adapters/aws_key_holds.py), gone from it by the end of a run: `HoldsInFlight`
replays the record's holds, notes and settles in order, so each update of a key item is billed on its size with
the holds then in flight (the larger of before and after), not on its size at the end.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str]


@dataclass(frozen=True)
class Write:
    call: str  # the DynamoDB action, as x-amz-target names it
    kind: str  # what the item is: its partition key up to the first '#' ("key", "hold", "rate", ...)
    units: float  # write units, as billed
    transactional: bool


def kind_of(pk: str) -> str:
    return pk.split("#", 1)[0]


def _units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    raw = entry.get("body") or ""
    text = base64.b64decode(raw).decode() if entry.get("body_encoded") else raw
    parsed: dict[str, Any] = json.loads(text) if text else {}
    return parsed


def _key(item_or_key: dict[str, Any]) -> Key:
    return item_or_key["pk"]["S"], item_or_key["sk"]["S"]


class HoldsInFlight:
    """The bytes each key item's map of holds has at each point of the record (entries in the order taken)."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, int]] = {}  # pk -> hold id -> its entry's bytes
        self.noted: set[str] = set()

    def update(self, change: dict[str, Any]) -> tuple[int, int]:
        """Apply one UpdateItem (or a transaction's Update) of a key item: its holds' bytes (before, after)."""
        from bench.capacity import _value_bytes

        expression = change.get("UpdateExpression", "")
        hold_id = change.get("ExpressionAttributeNames", {}).get("#g")
        values = change.get("ExpressionAttributeValues", {})
        held = self.entries.setdefault(change["Key"]["pk"]["S"], {})
        before = sum(held.values())
        if hold_id is not None:
            if "#h.#g = :hold" in expression:
                held[hold_id] = len(hold_id.encode()) + 1 + _value_bytes(values[":hold"])
            elif ":note" in values and hold_id in held:
                first = hold_id not in self.noted  # the first note makes the list `n` (name 1, list 3)
                self.noted.add(hold_id)
                held[hold_id] += _value_bytes(values[":note"]["L"][0]) + 1 + (4 if first else 0)
            elif expression.startswith("REMOVE #h.#g"):
                held.pop(hold_id, None)
        return before, sum(held.values())


def billed_writes(entries: Iterable[dict[str, Any]], size_of: Callable[[Key], int]) -> list[Write]:
    """Every write call in the record, one Write per item it touches (reads are skipped)."""
    from bench.capacity import item_bytes

    holds = HoldsInFlight()

    def updated(change: dict[str, Any]) -> float:
        key = _key(change["Key"])
        if kind_of(key[0]) != "key":
            return _units(size_of(key))
        before, after = holds.update(change)
        return _units(size_of(key) + max(before, after))

    writes: list[Write] = []
    for entry in entries:
        target = {k.lower(): v for k, v in entry["headers"].items()}.get("x-amz-target", "")
        if not target.startswith("DynamoDB_"):
            continue
        call = target.split(".", 1)[1]
        body = _body(entry)
        if call == "PutItem":
            item = body["Item"]
            writes.append(Write(call, kind_of(item["pk"]["S"]), _units(item_bytes(item)), False))
        elif call == "UpdateItem":
            writes.append(Write(call, kind_of(_key(body["Key"])[0]), updated(body), False))
        elif call == "DeleteItem":
            key = _key(body["Key"])
            writes.append(Write(call, kind_of(key[0]), _units(size_of(key)), False))
        elif call == "TransactWriteItems":
            for part in body["TransactItems"]:
                ((action, change),) = part.items()
                if action == "ConditionCheck":
                    writes.append(Write(call, kind_of(_key(change["Key"])[0]), 2.0, True))
                elif action == "Put":
                    item = change["Item"]
                    writes.append(Write(call, kind_of(item["pk"]["S"]), 2 * _units(item_bytes(item)), True))
                elif action == "Update":
                    writes.append(Write(call, kind_of(_key(change["Key"])[0]), 2 * updated(change), True))
                else:
                    key = _key(change["Key"])
                    writes.append(Write(call, kind_of(key[0]), 2 * _units(size_of(key)), True))
        elif call == "BatchWriteItem":
            for requests in body["RequestItems"].values():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        writes.append(Write(call, kind_of(item["pk"]["S"]), _units(item_bytes(item)), False))
                    else:
                        key = _key(request["DeleteRequest"]["Key"])
                        writes.append(Write(call, kind_of(key[0]), 1.0, False))
    return writes


def summary(writes: list[Write], requests: int) -> dict[str, float]:
    """Write units per request, by item kind and in total ("total")."""
    table: dict[str, float] = {}
    for write in writes:
        table[write.kind] = table.get(write.kind, 0.0) + write.units / requests
    table["total"] = sum(w.units for w in writes) / requests
    return table
