"""Teams and in-place key updates on DynamoDB.

Items: ("team#<name>", "team") holds a team's record (its limits), in a partition of its own; ("teamname",
<name>) lists it (written when the team is made, read by `teams list` only). Before issue 35 a team's record
was ("team", <name>): it is moved on first read (aws_migrate.py). A key's record is on its key item and, once the
key is sharded, copied on every shard (aws_shard_limits.py): an update reaches all of them in one transaction.
Each update is conditional on the record it read, so two updates racing never lose one's change.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from routeway.adapters.aws_common import DynamoTable, call, s
from routeway.adapters.aws_items import key_of, name_of, record_text, team_name_of, team_of
from routeway.adapters.aws_migrate import key_item, team_item
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
            name_item = self.db.get("DynamoDB update key", name_of(name))
            item = name_item and key_item(self.db, name_item["key_hash"]["S"], "DynamoDB update key")
            if not item:
                return None
            old = ApiKeyRecord.model_validate_json(item["record"]["S"])
            new = change(old)
            try:
                if "shards" in item:
                    self._update_sharded(old, new, int(item["shards"]["N"]))
                else:
                    self._write(key_of(old.key_hash), item["record"]["S"], record_text(new))
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
        self.shard_limits.write_record(old.key_hash, shards, record_text(new), budget_delta=delta)

    def create_team(self, record: TeamRecord) -> None:
        """The team's item and its listing item, on the condition that no team of that name exists (one still on
        the old layout is moved first, so it is found)."""
        if team_item(self.db, record.name, "DynamoDB create team") is not None:  # moves one on the old layout
            raise ConflictError(f"a team named {record.name!r} exists")
        not_exists = {"ConditionExpression": "attribute_not_exists(pk)"}
        item = {**team_of(record.name), "record": s(record.model_dump_json())}
        items = [
            {"Put": {"TableName": self.table, "Item": item, **not_exists}},
            {"Put": {"TableName": self.table, "Item": team_name_of(record.name), **not_exists}},
        ]
        if self.db.transact("DynamoDB create team", items) is not None:
            raise ConflictError(f"a team named {record.name!r} exists")

    def find_team(self, name: str) -> TeamRecord | None:
        item = team_item(self.db, name, "DynamoDB find team")
        return None if item is None else TeamRecord.model_validate_json(item["record"]["S"])

    def list_teams(self) -> list[TeamRecord]:
        names = [i["sk"]["S"] for i in self.db.query("DynamoDB list teams", "teamname")]
        names += [i["sk"]["S"] for i in self.db.query("DynamoDB list teams", "team")]  # not moved yet
        items = [team_item(self.db, name, "DynamoDB list teams") for name in sorted(set(names))]
        return [TeamRecord.model_validate_json(i["record"]["S"]) for i in items if i is not None]

    def update_team(self, name: str, change: Callable[[TeamRecord], TeamRecord]) -> TeamRecord | None:
        for _ in range(ROUNDS):
            item = team_item(self.db, name, "DynamoDB update team")
            if item is None:
                return None
            new = change(TeamRecord.model_validate_json(item["record"]["S"]))
            try:
                self._write(team_of(name), item["record"]["S"], new.model_dump_json())
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
