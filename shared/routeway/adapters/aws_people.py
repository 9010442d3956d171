"""Teams and in-place key updates on DynamoDB.

Items: ("team", <name>) holds a team's record (its limits). A key's record is on its key item and, once the
key is sharded, copied on every shard (aws_shard_limits.py): an update reaches all of them in one transaction.
Each update is conditional on the record it read, so two updates racing never lose one's change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import DynamoTable, call, s
from routeway.adapters.aws_items import key_of
from routeway.adapters.aws_shard_limits import ShardedLimits
from routeway.domain.records import ApiKeyRecord, TeamRecord
from routeway.errors import ConflictError, InvalidRequest, StoreUnavailable

ROUNDS = 4  # read-change-write rounds an update gets against concurrent updates


class DynamoPeople:
    def __init__(self, db: DynamoTable, shard_limits: ShardedLimits) -> None:
        self.db = db
        self.table = db.name
        self.shard_limits = shard_limits

    def update_key(self, name: str, change: Callable[[ApiKeyRecord], ApiKeyRecord]) -> ApiKeyRecord | None:
        for _ in range(ROUNDS):
            name_item = self.db.get("DynamoDB update key", {"pk": s("keyname"), "sk": s(name)})
            item = name_item and self.db.get("DynamoDB update key", key_of(name_item["key_hash"]["S"]))
            if not item:
                return None
            old = ApiKeyRecord.model_validate_json(item["record"]["S"])
            new = change(old)
            try:
                if "shards" in item:
                    self._update_sharded(old, new, int(item["shards"]["N"]))
                else:
                    self._write(key_of(old.key_hash), item["record"]["S"], new.model_dump_json())
            except ConflictError:
                continue
            return new.model_copy(update={"spend_usd": float(item.get("spend_usd", {}).get("N", 0))})
        raise StoreUnavailable("The key is being changed by other updates; try again.")

    def _update_sharded(self, old: ApiKeyRecord, new: ApiKeyRecord, shards: int) -> None:
        """A sharded key's lifetime budget is spread over its pool and shards: a change moves the pool by the
        difference (aws_shard_limits.write_record)."""
        if (old.budget_usd is None) != (new.budget_usd is None):
            raise InvalidRequest(
                "A sharded key's budget can be changed but not added or removed; create a new key instead.",
                param="budget_usd",
            )
        delta = Decimal(0)
        if old.budget_usd is not None and new.budget_usd is not None:
            delta = Decimal(repr(new.budget_usd)) - Decimal(repr(old.budget_usd))
        self.shard_limits.write_record(old.key_hash, shards, new.model_dump_json(), budget_delta=delta)

    def create_team(self, record: TeamRecord) -> None:
        item = {"pk": s("team"), "sk": s(record.name), "record": s(record.model_dump_json())}
        try:
            call(
                "DynamoDB create team",
                lambda: self.db.client.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                ),
            )
        except ConflictError:
            raise ConflictError(f"a team named {record.name!r} exists") from None

    def find_team(self, name: str) -> TeamRecord | None:
        item = self.db.get("DynamoDB find team", {"pk": s("team"), "sk": s(name)})
        return None if item is None else TeamRecord.model_validate_json(item["record"]["S"])

    def list_teams(self) -> list[TeamRecord]:
        items = self.db.query("DynamoDB list teams", "team")
        return sorted((TeamRecord.model_validate_json(i["record"]["S"]) for i in items), key=lambda t: t.name)

    def update_team(self, name: str, change: Callable[[TeamRecord], TeamRecord]) -> TeamRecord | None:
        for _ in range(ROUNDS):
            item = self.db.get("DynamoDB update team", {"pk": s("team"), "sk": s(name)})
            if item is None:
                return None
            new = change(TeamRecord.model_validate_json(item["record"]["S"]))
            try:
                self._write({"pk": s("team"), "sk": s(name)}, item["record"]["S"], new.model_dump_json())
            except ConflictError:
                continue
            return new
        raise StoreUnavailable("The team is being changed by other updates; try again.")

    def _write(self, key: dict[str, Any], old: str, new: str) -> None:
        """The record, if it is still the one read (ConflictError when another update came first)."""
        call(
            "DynamoDB update record",
            lambda: self.db.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET #record = :new",
                ConditionExpression="#record = :old",
                ExpressionAttributeNames={"#record": "record"},
                ExpressionAttributeValues={":new": s(new), ":old": s(old)},
            ),
        )
