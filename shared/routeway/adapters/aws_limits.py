"""tpm and parallel-request counters on DynamoDB, each move one conditional UpdateItem.

Items:
    ("tpm#<counter>", <minute>)   `tokens` taken in that minute (TTL `expires_at`): added to on the condition the
                                  minute stays within the limit; a settle adds its correction unconditionally
    ("alert#<budget>@<threshold>", "alert")  claimed by the first process to see a threshold crossed in a period
                                  (TTL `expires_at`), so its alert is sent once
    ("par#<counter>", "slots")    `open`: a string set of "<request>|<until>", one per request in flight, added on
                                  the condition the set has room; a request that leaves deletes its own; one whose
                                  process died is removed once `until` has passed, by the next request refused
"""

from __future__ import annotations

from typing import Any

from routeway.adapters.aws_common import DynamoTable, call, s
from routeway.errors import ConflictError


class DynamoLimits:
    def __init__(self, db: DynamoTable) -> None:
        self.db = db
        self.table = db.name

    def take_tokens(self, counter: str, window: int, tokens: int, limit: int | None, expires_at: int) -> int | None:
        key = {"pk": s(f"tpm#{counter}"), "sk": s(str(window))}
        change: dict[str, Any] = {
            "TableName": self.table,
            "Key": key,
            "UpdateExpression": "ADD tokens :n SET expires_at = :expires",
            "ExpressionAttributeValues": {":n": {"N": str(tokens)}, ":expires": {"N": str(expires_at)}},
        }
        if limit is not None:
            change["ConditionExpression"] = "attribute_not_exists(tokens) OR tokens <= :room"
            change["ExpressionAttributeValues"][":room"] = {"N": str(limit - tokens)}
        try:
            call("DynamoDB take tokens", lambda: self.db.client.update_item(**change))
        except ConflictError:
            item = self.db.get("DynamoDB tokens", key) or {}
            return int(item.get("tokens", {}).get("N", 0))
        return None

    def enter(self, counter: str, slot: str, limit: int, until: int, now_epoch: int) -> int | None:
        key = {"pk": s(f"par#{counter}"), "sk": s("slots")}
        for cleaned in (False, True):
            try:
                call(
                    "DynamoDB enter",
                    lambda: self.db.client.update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="ADD #open :slot",
                        ConditionExpression="attribute_not_exists(#open) OR size(#open) < :limit",
                        ExpressionAttributeNames={"#open": "open"},
                        ExpressionAttributeValues={":slot": {"SS": [f"{slot}|{until}"]}, ":limit": {"N": str(limit)}},
                    ),
                )
            except ConflictError:
                item = self.db.get("DynamoDB parallel slots", key) or {}
                entries = item.get("open", {}).get("SS", [])
                lapsed = [e for e in entries if int(e.rsplit("|", 1)[1]) <= now_epoch]
                if cleaned or not lapsed:
                    return len(entries)
                self._remove(key, lapsed)
                continue
            return None
        return limit

    def claim_alert(self, alert_id: str, expires_at: int) -> bool:
        item = {"pk": s(f"alert#{alert_id}"), "sk": s("alert"), "expires_at": {"N": str(expires_at)}}
        try:
            call(
                "DynamoDB claim alert",
                lambda: self.db.client.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                ),
            )
        except ConflictError:  # sent already, by this process or another
            return False
        return True

    def leave(self, counter: str, slot: str, until: int) -> None:
        self._remove({"pk": s(f"par#{counter}"), "sk": s("slots")}, [f"{slot}|{until}"])

    def _remove(self, key: dict[str, Any], entries: list[str]) -> None:
        call(
            "DynamoDB leave",
            lambda: self.db.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="DELETE #open :gone",
                ExpressionAttributeNames={"#open": "open"},
                ExpressionAttributeValues={":gone": {"SS": entries}},
            ),
        )
