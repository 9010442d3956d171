"""Issue 35's layout: every key item and team item in a partition of its own, moved there exactly.

Before: ("key", <sha256>) and ("team", <name>), one partition for all keys and one for all teams.
After:  ("key#<sha256>", "key") and ("team#<name>", "team") + the listing item ("teamname", <name>).

A move is one transaction: Put the new item (a copy, on the condition it does not exist) and Delete the old
one on the condition that every attribute still has the value that was copied. A write that lands on the old
item between the read and the move fails the move, which reads again; so nothing the old item held (spend,
committed_usd with the holds in flight, a sharded key's pool and base, the record) is lost or counted twice.
Holds, shards, charge markers, counters and rollups were already in per-key partitions: they stay. Holds in
flight on the old layout are hold items: they note, settle and release where they are (a settle looks in the
key item's map of holds first, aws_key_holds.py, then for the hold item), so none needs converting.

Who moves: the store itself, the first time it reads an item that is still on the old layout (a request's
authentication, the CLI, the admin API): read-through with the move as the fallback; and `routeway store
migrate`, which moves whatever is left (resumable: each move is atomic; idempotent: a second run finds no old
item). Every gateway on a table must run this code before the migration starts: an older gateway writes only
the old item, and its unconditional ADDs would make it anew after the move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routeway.adapters.aws_common import DynamoTable, call
from routeway.adapters.aws_items import key_of, old_key_of, old_team_of, team_name_of, team_of
from routeway.errors import StoreUnavailable

ROUNDS = 8  # moves of one item raced by writes on its old copy before giving up (StoreUnavailable)


@dataclass
class Migration:
    keys_moved: int = 0
    teams_moved: int = 0
    left_behind: int = 0  # old items whose new item exists too (made by a gateway older than the move): not touched

    def as_dict(self) -> dict[str, int]:
        return {"keys_moved": self.keys_moved, "teams_moved": self.teams_moved, "left_behind": self.left_behind}


def _unchanged(item: dict[str, Any]) -> dict[str, Any]:
    """A Delete's condition: every attribute of the old item still has the value read."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    clauses = []
    for index, (name, value) in enumerate(sorted(item.items())):
        names[f"#a{index}"] = name
        values[f":v{index}"] = value
        clauses.append(f"#a{index} = :v{index}")
    return {
        "ConditionExpression": " AND ".join(clauses),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _move(db: DynamoTable, old_key: dict[str, Any], new_key: dict[str, Any], extra: list[dict[str, Any]]) -> str:
    """Move one item: "moved", "absent" (no old item), "exists" (already moved) or "both" (old and new)."""
    for _ in range(ROUNDS):
        old = db.get("DynamoDB migrate read", old_key)
        if old is None:
            return "absent"
        if db.get("DynamoDB migrate read", new_key) is not None:
            return "both"
        copy = {**old, **new_key}
        items = [
            {"Put": {"TableName": db.name, "Item": copy, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Delete": {"TableName": db.name, "Key": old_key, **_unchanged(old)}},
            *extra,
        ]
        if db.transact("DynamoDB migrate item", items) is None:
            return "moved"
    raise StoreUnavailable("DynamoDB migrate: the item kept changing under the move; run the migration again.")


def key_item(db: DynamoTable, key_hash: str, what: str) -> dict[str, Any] | None:
    """The key's item on the new layout, moved there first if it is still on the old one; None: no such key.

    A function that may not write (route preview) cannot move it: it reads the old item as it is (money is
    only moved by functions that can move the item, and every money write needs the new one)."""
    item = db.get(what, key_of(key_hash))
    if item is not None:
        return item
    try:
        _move(db, old_key_of(key_hash), key_of(key_hash), [])
    except StoreUnavailable:
        return db.get(what, old_key_of(key_hash))
    return db.get(what, key_of(key_hash))  # absent before: another process may have moved it meanwhile


def team_item(db: DynamoTable, name: str, what: str) -> dict[str, Any] | None:
    """The team's item on the new layout (moved there first, with its listing item, if it is on the old one;
    read where it is by a function that may not move it)."""
    item = db.get(what, team_of(name))
    if item is not None:
        return item
    try:
        _move(db, old_team_of(name), team_of(name), [_listing(db, name)])
    except StoreUnavailable:
        return db.get(what, old_team_of(name))
    return db.get(what, team_of(name))  # absent before: another process may have moved it meanwhile


def _listing(db: DynamoTable, name: str) -> dict[str, Any]:
    return {"Put": {"TableName": db.name, "Item": team_name_of(name)}}


def migrate(db: DynamoTable) -> Migration:
    """Move every key and team item still on the old layout (`routeway store migrate`)."""
    done = Migration()
    for item in _old_items(db, "key"):
        outcome = _move(db, item, key_of(item["sk"]["S"]), [])
        done.keys_moved += outcome == "moved"
        done.left_behind += outcome == "both"
    for item in _old_items(db, "team"):
        name = item["sk"]["S"]
        outcome = _move(db, item, team_of(name), [_listing(db, name)])
        done.teams_moved += outcome == "moved"
        done.left_behind += outcome == "both"
    return done


def _old_items(db: DynamoTable, partition: str) -> list[dict[str, Any]]:
    """The keys (pk, sk) of every item of an old shared partition."""

    def run() -> list[dict[str, Any]]:
        pages = db.client.get_paginator("query").paginate(
            TableName=db.name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition}},
            ProjectionExpression="pk, sk",
            ConsistentRead=True,
        )
        return [item for page in pages for item in page.get("Items", [])]

    return call("DynamoDB migrate list", run)
