"""The AWS store: snapshots in S3 under content-hash keys, state in one DynamoDB table.

Table layout (pk, sk):
    ("catalog", "pointer")          the live version; moved only by a conditional write
    ("catalog", "version#<v>")      history, one item per published version
    ("key#<sha256>", "key")         a gateway key's record (hash + prefix, never the key), in a partition of
                                    its own; its number attributes spend_usd and committed_usd move only by
                                    conditional writes (adapters/aws_ledger.py: budget holds, charges once).
                                    Before issue 35: ("key", <sha256>), every key in one partition; the
                                    store moves an item on first read, `routeway store migrate` the rest
                                    (adapters/aws_migrate.py)
                                    An unsharded key's open holds, its rpm minute and today's spend lines
                                    are attributes of its item (adapters/aws_key_holds.py, aws_rollups.py)
    ("hold#<sha256>", <gen id>)     a hold taken before issue 35 (its owner, and notes of attempts the upstream
                                    accepted); ("charge#<gen id>", "charge") a charge marker
    ("shard#<sha256>#<i>", "shard") a hot key's shard i (adapters/aws_shards.py, `routeway keys shard`): its
                                    budget and rpm counters spread over K items; the key item then keeps
                                    `shards`, `unallocated` and `base`; ("hold#<sha256>#<i>", <gen id>) a hold on it
    ("keyname", <name>)             the name's listing item -> key_hash: makes names unique inside the
                                    create's transaction; read by the CLI, the admin API and the spend
                                    report, never by a request
    ("team#<name>", "team")         a team's record; ("teamname", <name>) its listing item (adapters/aws_people.py)
    ("rate#<sha256>", <minute>)     a key's request count in one fixed 60 s window (TTL expires_at)
    ("gen#<id>", "gen")             a generation record, with the TTL attribute expires_at
    ("resp#<id>", "resp")           a stored Responses answer and its conversation (gzip JSON), its
                                    owner (the key's hash) and the TTL attribute expires_at

boto3 is imported and clients are created on first use, so a function that never touches the
store never pays for them (cold start is import time), and moto can be started before them.

The state store holds its parts, it does not inherit them: the table (aws_common.DynamoTable), what this
process knows of sharded keys (aws_shards.ShardedKeys), the money (aws_ledger.DynamoLedger: the key item's
budget and the shards') and a sharded key's rpm and admin writes (aws_shard_limits.ShardedLimits).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import cached_property
from typing import Any

from routeway.adapters.aws_common import AwsSession, DynamoTable, generation_item, generation_of
from routeway.adapters.aws_common import call as _call
from routeway.adapters.aws_common import s as _s
from routeway.adapters.aws_items import key_of, name_of, record_text
from routeway.adapters.aws_ledger import DynamoLedger
from routeway.adapters.aws_limits import DynamoLimits
from routeway.adapters.aws_migrate import key_item, migrate
from routeway.adapters.aws_people import DynamoPeople
from routeway.adapters.aws_responses import DynamoResponses, S3Responses
from routeway.adapters.aws_rollups import fold, fold_due
from routeway.adapters.aws_shard_limits import ShardedLimits, require_key
from routeway.adapters.aws_shards import ShardedKeys
from routeway.domain.records import (
    ApiKeyRecord,
    BudgetFigures,
    CatalogVersion,
    GenerationRecord,
    Hold,
    HoldNote,
    MinuteCount,
    OpenHold,
    Rollup,
    StoredResponse,
    TeamRecord,
)
from routeway.errors import ConflictError


class S3SnapshotStore:
    def __init__(self, bucket: str, prefix: str = "snapshots/", session: AwsSession | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._session = session or AwsSession()

    @cached_property
    def client(self) -> Any:
        return self._session.client("s3")

    def _key(self, version: str) -> str:
        if not version.isalnum():
            raise ValueError(f"not a snapshot version: {version!r}")
        return f"{self.prefix}{version}.json.gz"

    def put_snapshot(self, version: str, data: bytes) -> bool:
        try:
            _call(
                "S3 put snapshot",
                lambda: self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(version),
                    Body=data,
                    ContentType="application/json",
                    ContentEncoding="gzip",
                    IfNoneMatch="*",  # never overwrite a published snapshot
                ),
            )
        except ConflictError:
            return False
        return True

    def get_snapshot(self, version: str) -> bytes | None:
        from botocore.exceptions import ClientError

        def fetch() -> bytes | None:
            try:
                body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(version))["Body"].read()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            return body

        return _call("S3 get snapshot", fetch)


def _version_item(pk_sk: tuple[str, str], entry: CatalogVersion) -> dict[str, Any]:
    return {
        "pk": _s(pk_sk[0]),
        "sk": _s(pk_sk[1]),
        "version": _s(entry.version),
        "created_at": _s(entry.created_at),
        "model_count": {"N": str(entry.model_count)},
        "published_at": _s(entry.published_at),
    }


def _version_from(item: dict[str, Any]) -> CatalogVersion:
    return CatalogVersion(
        version=item["version"]["S"],
        created_at=item["created_at"]["S"],
        model_count=int(item["model_count"]["N"]),
        published_at=item.get("published_at", {}).get("S", ""),
    )


def _key_from(item: dict[str, Any]) -> ApiKeyRecord:
    """The key's record, with its spend from the attribute that ADD updates atomically."""
    record = ApiKeyRecord.model_validate_json(item["record"]["S"])
    spend = float(item["spend_usd"]["N"]) if "spend_usd" in item else 0.0
    return record.model_copy(update={"spend_usd": spend})


class DynamoStateStore:
    """The StateStore port on one DynamoDB table: catalog, keys, records here; money and shards in its parts."""

    def __init__(
        self,
        table: str,
        session: AwsSession | None = None,
        rng: random.Random | None = None,
        bucket: str | None = None,
    ) -> None:
        """`bucket`: where stored responses too large for an item go (`responses/`); None keeps them in items only."""
        self.table = table
        session = session or AwsSession()
        self.db = DynamoTable(table, session)
        self.responses = DynamoResponses(self.db, S3Responses(bucket, session) if bucket else None)
        self.shards = ShardedKeys(self.db, rng or random.Random())  # rng picks a sharded key's shard per call
        self.shard_limits = ShardedLimits(self.db, self.shards)
        self.ledger = DynamoLedger(self.db, self.shards, self.shard_limits)
        self.people = DynamoPeople(self.db, self.shard_limits)
        self.limits = DynamoLimits(self.db)

    @property
    def client(self) -> Any:
        return self.db.client

    @property
    def hold_shards(self) -> dict[str, int]:
        """Which shard each of this process's open holds is on: a cache (a test clears it to play a restart)."""
        return self.shards.hold_shards

    def _get(self, what: str, pk: str, sk: str) -> dict[str, Any] | None:
        return self.db.get(what, {"pk": _s(pk), "sk": _s(sk)})

    # money (adapters/aws_ledger.py)
    def reserve(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None = None
    ) -> BudgetFigures | None:
        return self.ledger.reserve(key_hash, hold, budget_usd, now_epoch, rpm)

    def settle(
        self,
        key_hash: str,
        generation_id: str,
        cost_usd: float,
        held_usd: float,
        expires_at: int,
        record: GenerationRecord | None = None,
        rollup: Rollup | None = None,
    ) -> bool:
        return self.ledger.settle(key_hash, generation_id, cost_usd, held_usd, expires_at, record, rollup)

    def spend_rollups(self, since_day: str, until_day: str) -> list[Rollup]:
        return self.ledger.spend_rollups(since_day, until_day)

    def note_attempt(self, key_hash: str, generation_id: str, note: HoldNote) -> bool:
        return self.ledger.note_attempt(key_hash, generation_id, note)

    def open_holds(self, now_epoch: int, *, key_hash: str | None = None, limit: int = 100) -> list[OpenHold]:
        return self.ledger.open_holds(now_epoch, key_hash=key_hash, limit=limit)

    def budget_figures(self, key_hash: str) -> BudgetFigures:
        return self.ledger.budget_figures(key_hash)

    # tpm and parallel requests (adapters/aws_limits.py)
    def take_tokens(self, counter: str, window: int, tokens: int, limit: int | None, expires_at: int) -> int | None:
        return self.limits.take_tokens(counter, window, tokens, limit, expires_at)

    def enter(self, counter: str, slot: str, limit: int, until: int, now_epoch: int) -> int | None:
        return self.limits.enter(counter, slot, limit, until, now_epoch)

    def leave(self, counter: str, slot: str, until: int) -> None:
        self.limits.leave(counter, slot, until)

    def claim_alert(self, alert_id: str, expires_at: int) -> bool:
        return self.limits.claim_alert(alert_id, expires_at)

    # catalog pointer and history
    def get_pointer(self) -> CatalogVersion | None:
        item = self._get("DynamoDB get pointer", "catalog", "pointer")
        return None if item is None else _version_from(item)

    def publish(self, entry: CatalogVersion, expected_version: str | None) -> None:
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": _s(expected_version)},
            }
        pointer = _version_item(("catalog", "pointer"), entry)
        history = {  # first publication time is kept when a rollback points at it again
            "TableName": self.table,
            "Key": {"pk": _s("catalog"), "sk": _s(f"version#{entry.version}")},
            "UpdateExpression": "SET version = :v, created_at = :c, model_count = :m, "
            "published_at = if_not_exists(published_at, :p)",
            "ExpressionAttributeValues": {
                ":v": _s(entry.version),
                ":c": _s(entry.created_at),
                ":m": {"N": str(entry.model_count)},
                ":p": _s(entry.published_at),
            },
        }
        items = [{"Put": {"TableName": self.table, "Item": pointer, **condition}}, {"Update": history}]
        if self.db.transact("DynamoDB publish", items) is not None:
            raise ConflictError("DynamoDB publish")  # the live version moved (or another publish won the race)

    def list_history(self) -> list[CatalogVersion]:
        items = self.db.query("DynamoDB list history", "catalog", sk_prefix="version#")
        return sorted((_version_from(i) for i in items), key=lambda v: (v.published_at, v.version), reverse=True)

    # gateway keys
    def create_key(self, record: ApiKeyRecord) -> None:
        not_exists = {"ConditionExpression": "attribute_not_exists(pk)"}
        name_item = {**name_of(record.name), "key_hash": _s(record.key_hash)}
        item = {
            **key_of(record.key_hash),
            "record": _s(record_text(record)),
            "spend_usd": {"N": "0"},
            "committed_usd": {"N": "0"},
            "h": {"M": {}},  # its open holds (adapters/aws_key_holds.py)
        }
        items = [
            {"Put": {"TableName": self.table, "Item": name_item, **not_exists}},
            {"Put": {"TableName": self.table, "Item": item, **not_exists}},
        ]
        if self.db.transact("DynamoDB create key", items) is not None:
            raise ConflictError(f"a key named {record.name!r} exists")

    def find_key(self, key_hash: str) -> ApiKeyRecord | None:
        """One GetItem: of a random shard when this process knows the key is sharded, else of the key item."""
        on_shard = self.shards.find_record(key_hash)
        if on_shard is not None:
            return on_shard
        item = key_item(self.db, key_hash, "DynamoDB find key")
        if item is None:
            return None
        self.ledger.key_budget.ensure_committed(item)
        self.ledger.key_budget.item_holds.seen(item)
        if fold_due(item):  # spend lines of an older day, or too many: to the report's partition (aws_rollups.py)
            fold(self.db, item)
        return self.shards.remember(key_hash, item, _key_from(item))

    def list_keys(self) -> list[ApiKeyRecord]:
        """Every key (from the name listing), a sharded one with its spend summed over the key item and its shards."""
        records = []
        for listed in self.db.query("DynamoDB list keys", "keyname"):
            item = key_item(self.db, listed["key_hash"]["S"], "DynamoDB list keys")
            if item is None:
                continue
            record = _key_from(item)
            shards = int(item["shards"]["N"]) if "shards" in item else 1
            if shards > 1:
                spend = self.shards.figures(record.key_hash, shards).spend_usd
                record = record.model_copy(update={"shards": shards, "spend_usd": spend})
            records.append(record)
        return sorted(records, key=lambda k: k.name)

    def set_shards(self, name: str, shards: int, now_epoch: int) -> int:
        """Holds that died before settling are released first: they are not budget the pool can have."""
        key_hash = require_key(self.db.get("DynamoDB shard key", name_of(name)), name)["key_hash"]["S"]
        item = require_key(key_item(self.db, key_hash, "DynamoDB shard key"), name)
        if "shards" not in item:
            self.ledger.key_budget.ensure_committed(item)
            if self.ledger.key_budget.release_expired(key_hash, now_epoch):
                item = require_key(self.db.get("DynamoDB shard key", key_of(key_hash)), name)
        return self.shard_limits.set_shards(key_hash, item, shards)

    def count_minute(self, key_hash: str, rpm: MinuteCount) -> None:
        self.ledger.count_minute(key_hash, rpm)

    def count_request(self, key_hash: str, window: int, expires_at: int) -> int:
        return self.ledger.count_request(key_hash, window, expires_at)

    def update_key(self, name: str, change: Callable[[ApiKeyRecord], ApiKeyRecord]) -> ApiKeyRecord | None:
        return self.people.update_key(name, change)

    # teams (adapters/aws_people.py)
    def create_team(self, record: TeamRecord) -> None:
        self.people.create_team(record)

    def find_team(self, name: str) -> TeamRecord | None:
        return self.people.find_team(name)

    def list_teams(self) -> list[TeamRecord]:
        return self.people.list_teams()

    def update_team(self, name: str, change: Callable[[TeamRecord], TeamRecord]) -> TeamRecord | None:
        return self.people.update_team(name, change)

    def revoke_key(self, name: str) -> bool:
        name_item = self.db.get("DynamoDB revoke key", name_of(name))
        if name_item is None:
            return False
        key_hash = name_item["key_hash"]["S"]
        item = key_item(self.db, key_hash, "DynamoDB revoke key")
        if item is None:
            return False
        record = ApiKeyRecord.model_validate_json(item["record"]["S"]).model_copy(update={"revoked": True})
        if "shards" in item:  # every shard's copy too, in one transaction
            self.shard_limits.write_record(key_hash, int(item["shards"]["N"]), record_text(record))
            return True
        _call(
            "DynamoDB revoke key",
            lambda: self.client.update_item(
                TableName=self.table,
                Key=key_of(key_hash),
                UpdateExpression="SET #record = :record",
                ExpressionAttributeNames={"#record": "record"},
                ExpressionAttributeValues={":record": _s(record_text(record))},
            ),
        )
        return True

    def migrate_layout(self) -> dict[str, int]:
        """Move every key and team item still on the layout before issue 35 (adapters/aws_migrate.py)."""
        return migrate(self.db).as_dict()

    # generation records
    def put_generation(self, record: GenerationRecord) -> None:
        item = generation_item(record)
        _call("DynamoDB put generation", lambda: self.client.put_item(TableName=self.table, Item=item))

    def get_generation(self, generation_id: str, now_epoch: int) -> GenerationRecord | None:
        item = self._get("DynamoDB get generation", f"gen#{generation_id}", "gen")
        if item is None or int(item["expires_at"]["N"]) <= now_epoch:  # TTL deletion is lazy
            return None
        return generation_of(item)

    # stored Responses API answers (adapters/aws_responses.py: large ones in the bucket)
    def put_response(self, record: StoredResponse) -> None:
        self.responses.put(record)

    def get_response(self, response_id: str, now_epoch: int) -> StoredResponse | None:
        return self.responses.get(response_id, now_epoch)

    def delete_response(self, response_id: str, owner: str) -> bool:
        return self.responses.delete(response_id, owner)
