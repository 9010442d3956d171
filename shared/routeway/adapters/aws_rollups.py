"""Spend report lines on DynamoDB: added in the charge's own write, moved to the report's partition later.

A settle that releases a hold in its key item (aws_key_holds.py) adds the request's line in the same
UpdateItem, as four top-level numbers of the key item (ADD works on top-level attributes only):
    "r|<day>|<team>|<field>|<model>"   field n (requests), p (prompt tokens), c (completion tokens), u (USD)
while the key item carries that line already or fewer than LINES_IN_ITEM lines of the day (as the settling
process last read it): the item stays small. A third model of the day has its line written to the report's
partition in the settle's transaction, as every other charge does.
Every other charge (an account's, a sharded key's, one with no hold) adds its line to the report's partition
directly, in its own transaction: ("spend#<key name>", "<day>#<model>#<team>") (aws_items.rollup_write).

Lines in a key item are folded into that partition when the key item is read and holds lines of an older day
than its newest, or more than MAX_LINES lines: one transaction per line, the line's Update in the report's
partition and the REMOVE of its four numbers on the condition that each still has the value read (a charge
that lands in between fails the fold, which waits for the next read). So a line is counted in exactly one
place at every moment, and the key item carries about one day's lines.

The report reads both places for each key: the key item, its partition's lines, then the key item again; a
fold between the reads (each fold adds 1 to the key item's `rf`) makes it read again, so nothing is counted
twice or missed.
"""

from __future__ import annotations

import logging
from typing import Any

from routeway.adapters.aws_common import DynamoTable, number, request_token
from routeway.adapters.aws_items import key_of, rollup_write
from routeway.domain.records import Rollup
from routeway.errors import StoreUnavailable

log = logging.getLogger("routeway.budget")
PREFIX = "r|"
FIELDS = {"n": "requests", "p": "prompt_tokens", "c": "completion_tokens", "u": "cost_usd"}
LINES_IN_ITEM = 2  # lines of one day a settle adds to the key item (more go to the partition, in a transaction)
MAX_LINES = 2 * LINES_IN_ITEM  # lines past which a read folds them all (processes racing past LINES_IN_ITEM)
REPORT_ROUNDS = 5
FOLDS = "rf"  # how many folds the key item has had: the report sees a fold between its reads by it


def line_names(rollup: Rollup) -> dict[str, str]:
    """Placeholder -> attribute name, one per field of the request's line."""
    return {f"#r{f}": f"{PREFIX}{rollup.day}|{rollup.team}|{f}|{rollup.model}" for f in FIELDS}


def line_values(rollup: Rollup) -> dict[str, Any]:
    return {
        ":rn": {"N": str(rollup.requests)},
        ":rp": {"N": str(rollup.prompt_tokens)},
        ":rc": {"N": str(rollup.completion_tokens)},
        ":ru": {"N": number(rollup.cost_usd)},
    }


LINE_ADD = "#rn :rn, #rp :rp, #rc :rc, #ru :ru"  # the ADD clause of a settle that carries a line


def _parse(name: str) -> tuple[str, str, str, str] | None:
    """(day, team, field, model) of a line attribute's name."""
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX) :].split("|", 3)
    return (parts[0], parts[1], parts[2], parts[3]) if len(parts) == 4 and parts[2] in FIELDS else None


def lines_in(item: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(day, team, model) -> {field: the attribute's typed value} of the lines a key item carries."""
    lines: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name, value in item.items():
        parsed = _parse(name)
        if parsed is not None:
            day, team, field, model = parsed
            lines.setdefault((day, team, model), {})[field] = value
    return lines


def rollup_of_line(line: tuple[str, str, str], values: dict[str, Any], key_name: str) -> Rollup:
    day, team, model = line
    count = {f: values[f]["N"] if f in values else "0" for f in FIELDS}
    return Rollup(
        day=day,
        key_name=key_name,
        model=model,
        team=team,
        requests=int(count["n"]),
        prompt_tokens=int(count["p"]),
        completion_tokens=int(count["c"]),
        cost_usd=float(count["u"]),
    )


def key_name_of(item: dict[str, Any]) -> str:
    import orjson

    name: str = orjson.loads(item["record"]["S"])["name"]
    return name


def fold_due(item: dict[str, Any]) -> bool:
    lines = lines_in(item)
    if not lines:
        return False
    newest = max(day for day, _, _ in lines)
    return len(lines) > MAX_LINES or any(day < newest for day, _, _ in lines)


def fold(db: DynamoTable, item: dict[str, Any]) -> int:
    """Move the key item's lines of older days (all of them, past MAX_LINES) to the report's partition; how many
    moved. A line that changed since `item` was read stays for the next read."""
    key_name = key_name_of(item)
    lines = lines_in(item)
    newest = max((day for day, _, _ in lines), default="")
    moved = 0
    for line, values in sorted(lines.items()):
        if line[0] == newest and len(lines) <= MAX_LINES:
            continue
        names = {f"#{f}": f"{PREFIX}{line[0]}|{line[1]}|{f}|{line[2]}" for f in values}
        condition = " AND ".join(f"#{f} = :{f}" for f in values)
        remove = {
            "Update": {
                "TableName": db.name,
                "Key": key_of(item["pk"]["S"].removeprefix("key#")),
                "UpdateExpression": "REMOVE " + ", ".join(f"#{f}" for f in values) + " ADD #folds :one",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {**names, "#folds": FOLDS},
                "ExpressionAttributeValues": {**{f":{f}": v for f, v in values.items()}, ":one": {"N": "1"}},
            }
        }
        add = rollup_write(db.name, rollup_of_line(line, values, key_name))
        token = request_token("fold", f"{item['pk']['S']}|{line}|{sorted(values.items())}")
        try:
            moved += db.transact("DynamoDB fold spend line", [remove, add], token) is None
        except StoreUnavailable as exc:  # the next read folds it
            log.warning("spend line not folded yet", extra={"key_name": key_name, "error": exc.message})
    return moved


def report_lines(db: DynamoTable, key_hash: str, key_name: str, read_partition: Any) -> list[Rollup]:
    """The key's lines in both places, read so that a fold between the reads is seen and read again."""
    for _ in range(REPORT_ROUNDS):
        before = db.get("DynamoDB spend report", key_of(key_hash)) or {}
        in_partition = read_partition()
        after = db.get("DynamoDB spend report", key_of(key_hash)) or {}
        held = lines_in(before)
        if before.get(FOLDS) == after.get(FOLDS):  # no line left the key item between the reads
            return [*in_partition, *(rollup_of_line(line, v, key_name) for line, v in held.items())]
    raise StoreUnavailable("DynamoDB spend report: lines kept moving under the report; try again.")
