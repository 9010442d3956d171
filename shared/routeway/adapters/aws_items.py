"""The budget's items in the DynamoDB table, and the expressions that move their numbers.

Keys (pk, sk) of the items a key's money lives on (the layout is drawn in aws_store.py and aws_shards.py):
    ("key#<sha256>", "key")          the key item, in a partition of its own: spend_usd, committed_usd, its open
                                     holds `h` (aws_key_holds.py) (and, once sharded, shards, unallocated, base);
                                     before issue 35 it was ("key", <sha256>), one partition for every key
                                     (aws_migrate.py moves it)
    ("shard#<sha256>#<i>", "shard")  shard i of a sharded key
    ("hold#<sha256>", <gen id>)      a hold on the key item taken before issue 35 moved them into it;
                                     ("hold#<sha256>#<i>", <gen id>) one on shard i:
                                     `usd`, `hold_until`, `owner` (the process that took it) and, once the
                                     upstream accepted an attempt, `notes` (what reconciliation charges it by)
    ("charge#<gen id>", "charge")    the marker that makes a charge with no hold (or a sharded key's) happen once
    ("released#<account>#<hold id>", "released")  an unsharded hold released as expired, for a late settle
    ("budget#<account>", "budget")   a periodic or team budget's counter (domain/scopes.py): spend_usd,
                                     committed_usd, made by its first hold; its holds are ("hold#<account>", …)

Amounts are exact decimals, as DynamoDB adds them: a float reaches the wire in plain notation, never as 2e-05.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import number, s
from routeway.domain.records import ApiKeyRecord, BudgetFigures, Hold, HoldNote, OpenHold, Rollup
from routeway.domain.scopes import is_account

Items = Sequence[dict[str, Any]]  # written in the same transaction as a charge (its spend report line)
NAMES = {f"#{n}": n for n in ("shards", "unallocated", "base", "remaining", "held", "spent", "win", "quota", "used")}


def record_text(record: ApiKeyRecord) -> str:
    """A key's record as its item keeps it: without the fields left at their defaults (every write of the key
    item is billed per KB, and its holds share that KB: aws_key_holds.py)."""
    return record.model_dump_json(exclude_defaults=True)


def key_of(key_hash: str) -> dict[str, Any]:
    """A key's item: its own partition, so no item every request writes is shared by all keys."""
    return {"pk": s(f"key#{key_hash}"), "sk": s("key")}


def old_key_of(key_hash: str) -> dict[str, Any]:
    """Where a key's item was before issue 35: every key in the one partition "key" (aws_migrate.py)."""
    return {"pk": s("key"), "sk": s(key_hash)}


def name_of(name: str) -> dict[str, Any]:
    """The listing item of a key's name: ("keyname", <name>) -> key_hash. Written when a key is made, read by
    the CLI and the admin API (never by a request): it keeps names unique, in the create's transaction."""
    return {"pk": s("keyname"), "sk": s(name)}


def team_of(name: str) -> dict[str, Any]:
    """A team's record, in a partition of its own; ("teamname", <name>) lists it (written on create only)."""
    return {"pk": s(f"team#{name}"), "sk": s("team")}


def team_name_of(name: str) -> dict[str, Any]:
    return {"pk": s("teamname"), "sk": s(name)}


def old_team_of(name: str) -> dict[str, Any]:
    return {"pk": s("team"), "sk": s(name)}


def money_item(account: str) -> dict[str, Any]:
    """The item a budget's numbers are on: the key item for a key's lifetime budget, else the account's own."""
    return {"pk": s(f"budget#{account}"), "sk": s("budget")} if is_account(account) else key_of(account)


def shard_of(key_hash: str, index: int) -> dict[str, Any]:
    return {"pk": s(f"shard#{key_hash}#{index}"), "sk": s("shard")}


def hold_of(key_hash: str, index: int | None, generation_id: str) -> dict[str, Any]:
    """A hold on shard `index`; None: a hold on the key item (an unsharded key's, or one from before sharding)."""
    pk = f"hold#{key_hash}" if index is None else f"hold#{key_hash}#{index}"
    return {"pk": s(pk), "sk": s(generation_id)}


def shard_of_hold(item: dict[str, Any]) -> int | None:
    """Which shard a hold item is on (None: the key item), from its partition key."""
    parts = item["pk"]["S"].split("#")
    return int(parts[2]) if len(parts) > 2 else None


def num(value: Decimal) -> dict[str, str]:
    return {"N": format(value, "f")}


def dec(item: dict[str, Any], name: str) -> Decimal:
    return Decimal(item[name]["N"]) if name in item else Decimal(0)


def usd(value: float) -> Decimal:
    """A float amount as the exact decimal DynamoDB stores for it."""
    return Decimal(number(value))


def update(table: str, key: dict[str, Any], expression: str, condition: str = "", **values: Any) -> dict[str, Any]:
    """A transaction's Update item; `#name` placeholders of NAMES are filled in, `:value`s from `values`."""
    names = {n: a for n, a in NAMES.items() if n in expression or n in condition}
    change: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression}
    if condition:
        change["ConditionExpression"] = condition
    if names:
        change["ExpressionAttributeNames"] = names
    if values:
        change["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"Update": change}


def hold_write(table: str, key: dict[str, Any], hold: Hold) -> dict[str, Any]:
    """A new hold item (if it is new: a retry finds its own), or its raise (if it still holds what the caller
    thinks it does). `hold_until` is deliberately not the table's TTL attribute: a hold deleted by TTL would
    never give its amount back. A raise keeps the owner and the notes the item has."""
    if hold.before_usd <= 0:
        item = {**key, "usd": {"N": number(hold.usd)}, "hold_until": {"N": str(hold.expires_at)}}
        if hold.owner:
            item["owner"] = s(hold.owner)
        return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
    return update(table, key, "SET usd = :new", "usd = :old", new=num(usd(hold.usd)), old=num(usd(hold.before_usd)))


def hold_gone(table: str, key: dict[str, Any]) -> dict[str, Any]:
    """A settled hold's Delete: on the condition it is still there (not released as expired meanwhile)."""
    return {"Delete": {"TableName": table, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}


def expired_hold_gone(table: str, key: dict[str, Any]) -> dict[str, Any]:
    """An expired hold's release: only while it carries no note. A noted hold may have been billed upstream;
    reconciliation charges it (a settle), the store never frees it."""
    condition = "attribute_exists(pk) AND attribute_not_exists(notes)"
    return {"Delete": {"TableName": table, "Key": key, "ConditionExpression": condition}}


RELEASED_KEPT_S = 30 * 86_400  # how long a released hold's marker waits for a late settle (TTL expires_at)


def released_of(account: str, hold_id: str) -> dict[str, Any]:
    """The marker an unsharded hold leaves when it is released as expired: a late settle finds it and charges
    its cost on its own, once (it deletes the marker in the charge's transaction). A held settle needs no
    charge marker: the hold's own conditional Delete makes it happen once."""
    return {"pk": s(f"released#{account}#{hold_id}"), "sk": s("released")}


def released_marker(table: str, account: str, hold_id: str, now_epoch: int) -> dict[str, Any]:
    item = {**released_of(account, hold_id), "expires_at": {"N": str(now_epoch + RELEASED_KEPT_S)}}
    return {"Put": {"TableName": table, "Item": item}}


EXPIRED_UNNOTED = "hold_until <= :now AND attribute_not_exists(notes)"  # what the store may release by itself


def charge_marker(table: str, generation_id: str, cost_usd: float, expires_at: int) -> dict[str, Any]:
    """The Put that makes a generation's charge happen once (TTL `expires_at`)."""
    item = {
        "pk": s(f"charge#{generation_id}"),
        "sk": s("charge"),
        "usd": {"N": number(cost_usd)},
        "expires_at": {"N": str(expires_at)},
    }
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


def rollup_write(table: str, rollup: Rollup) -> dict[str, Any]:
    """A request's line added to the spend report, in its charge's transaction: ("spend#<key name>",
    "<day>#<model>#<team>"), so a report reads one partition per key, a range of days."""
    key = {"pk": s(f"spend#{rollup.key_name}"), "sk": s(f"{rollup.day}#{rollup.model}#{rollup.team}")}
    change = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "ADD #requests :r, #prompt :p, #completion :c, #cost :usd "
        "SET #day = :day, #model = :model, #team = :team, #key = :key",
        "ExpressionAttributeNames": {
            "#requests": "requests",
            "#prompt": "prompt_tokens",
            "#completion": "completion_tokens",
            "#cost": "cost_usd",
            "#day": "day",
            "#model": "model",
            "#team": "team",
            "#key": "key_name",
        },
        "ExpressionAttributeValues": {
            ":r": {"N": str(rollup.requests)},
            ":p": {"N": str(rollup.prompt_tokens)},
            ":c": {"N": str(rollup.completion_tokens)},
            ":usd": {"N": number(rollup.cost_usd)},
            ":day": s(rollup.day),
            ":model": s(rollup.model),
            ":team": s(rollup.team),
            ":key": s(rollup.key_name),
        },
    }
    return {"Update": change}


def rollup_of(item: dict[str, Any]) -> Rollup:
    return Rollup(
        day=item["day"]["S"],
        key_name=item["key_name"]["S"],
        model=item["model"]["S"],
        team=item["team"]["S"],
        requests=int(item["requests"]["N"]),
        prompt_tokens=int(item["prompt_tokens"]["N"]),
        completion_tokens=int(item["completion_tokens"]["N"]),
        cost_usd=float(item["cost_usd"]["N"]),
    )


def note_value(note: HoldNote) -> dict[str, Any]:
    upstream_id = s(note.upstream_id) if note.upstream_id is not None else {"NULL": True}
    fields = {"backend": s(note.backend), "upstream_id": upstream_id, "estimate_usd": {"N": number(note.estimate_usd)}}
    return {"M": fields}


def _note_of(value: dict[str, Any]) -> HoldNote:
    fields = value["M"]
    return HoldNote(
        backend=fields["backend"]["S"],
        upstream_id=fields["upstream_id"].get("S"),
        estimate_usd=float(fields["estimate_usd"]["N"]),
    )


def open_hold_of(item: dict[str, Any]) -> OpenHold:
    """A hold item as reconciliation reads it; the key hash is the second part of its partition key."""
    return OpenHold(
        key_hash=item["pk"]["S"].split("#")[1],
        generation_id=item["sk"]["S"],
        usd=float(item["usd"]["N"]),
        expires_at=int(item["hold_until"]["N"]),
        owner=item.get("owner", {}).get("S", ""),
        notes=tuple(_note_of(n) for n in item.get("notes", {}).get("L", [])),
    )


def figures_of(key_item: dict[str, Any], shard_items: list[dict[str, Any]]) -> BudgetFigures:
    """Spend and holds of the key item (an unsharded key's, or holds from before sharding) and of every shard."""
    spend = dec(key_item, "spend_usd")
    committed = dec(key_item, "committed_usd") if "committed_usd" in key_item else spend
    spent = spend + sum((dec(i, "spent") for i in shard_items), Decimal(0))
    held = committed - spend + sum((dec(i, "held") for i in shard_items), Decimal(0))
    return BudgetFigures(spend_usd=float(spent), held_usd=float(max(Decimal(0), held)))
