"""Every key and team in its own partition (issue 35), and `routeway store migrate` moving a table made on the
layout before it: keys with spend and holds in flight, a sharded key, a team. Requests during and after the
move settle exactly; a write racing the move is never lost; a second run changes nothing.

Under moto in-process (tests/conftest.py). The old layout is made the way it was: each item moved back to the
partition it had before ("key", <hash>) and ("team", <name>).
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from routeway.adapters.aws_store import DynamoStateStore
from routeway.cli.app import app
from routeway.clock import SystemClock
from routeway.domain.records import Hold
from routeway.services.keys import create_key, shard_key
from routeway.services.people import create_team
from tests.conftest import BUCKET, TABLE, register_secret

pytestmark = pytest.mark.aws
NOW = 1_800_000_000
DAY = 86_400


@pytest.fixture
def store(moto_aws: None) -> DynamoStateStore:
    return DynamoStateStore(TABLE, rng=random.Random(3))


def _get(store: DynamoStateStore, pk: str, sk: str) -> dict[str, Any]:
    found = store.client.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
    item: dict[str, Any] = found.get("Item", {})
    return item


def _to_old_layout(store: DynamoStateStore, new: tuple[str, str], old: tuple[str, str]) -> None:
    """Put the item back where the layout before issue 35 kept it (and drop a team's listing item)."""
    item = _get(store, *new)
    assert item, new
    store.client.put_item(TableName=TABLE, Item={**item, "pk": {"S": old[0]}, "sk": {"S": old[1]}})
    store.client.delete_item(TableName=TABLE, Key={"pk": {"S": new[0]}, "sk": {"S": new[1]}})
    if old[0] == "team":
        store.client.delete_item(TableName=TABLE, Key={"pk": {"S": "teamname"}, "sk": {"S": old[1]}})


def _old_key(store: DynamoStateStore, name: str, budget_usd: float) -> str:
    """A key on the old layout with $0.25 spent and a $0.10 hold in flight (gen-<name>)."""
    key, record = create_key(store, SystemClock(), name, budget_usd=budget_usd)
    register_secret(key)
    assert store.reserve(record.key_hash, Hold(f"gen-{name}-spent", 0.3, NOW + DAY), budget_usd, NOW) is None
    assert store.settle(record.key_hash, f"gen-{name}-spent", 0.25, 0.3, NOW + DAY)
    assert store.reserve(record.key_hash, Hold(f"gen-{name}", 0.1, NOW + DAY), budget_usd, NOW) is None
    _to_old_layout(store, (f"key#{record.key_hash}", "key"), ("key", record.key_hash))
    return record.key_hash


def _money(item: dict[str, Any]) -> tuple[Decimal, Decimal]:
    return Decimal(item["spend_usd"]["N"]), Decimal(item["committed_usd"]["N"])


def _key_partitions(store: DynamoStateStore) -> list[str]:
    items = store.client.scan(TableName=TABLE, FilterExpression="attribute_exists(#r)", ExpressionAttributeNames={
        "#r": "record"})["Items"]  # fmt: skip
    return [i["pk"]["S"] for i in items if i["pk"]["S"].startswith("key")]


def test_a_new_key_and_team_are_each_in_a_partition_of_their_own(store: DynamoStateStore) -> None:
    hashes = [create_key(store, SystemClock(), f"own-{i}")[1].key_hash for i in range(3)]
    create_team(store, SystemClock(), "own-team", {})
    assert sorted(_key_partitions(store)) == sorted(f"key#{h}" for h in hashes)
    assert _get(store, "team#own-team", "team") and _get(store, "teamname", "own-team")
    assert [k.name for k in store.list_keys()] == ["own-0", "own-1", "own-2"]
    assert [t.name for t in store.list_teams()] == ["own-team"]


def test_a_key_on_the_old_layout_moves_on_first_read_with_its_spend_and_holds(store: DynamoStateStore) -> None:
    key_hash = _old_key(store, "lazy", 1.0)
    old = _get(store, "key", key_hash)
    assert _money(old) == (Decimal("0.25"), Decimal("0.35"))
    found = store.find_key(key_hash)
    assert found is not None and found.spend_usd == 0.25
    assert _get(store, "key", key_hash) == {} and _money(_get(store, f"key#{key_hash}", "key")) == _money(old)
    assert store.settle(key_hash, "gen-lazy", 0.04, 0.1, NOW + DAY)  # the hold taken before the move
    assert _money(_get(store, f"key#{key_hash}", "key")) == (Decimal("0.29"), Decimal("0.29"))
    assert not store.settle(key_hash, "gen-lazy", 0.04, 0.1, NOW + DAY)  # charged once


def test_store_migrate_moves_every_key_and_team_exactly_and_a_second_run_moves_nothing(
    store: DynamoStateStore,
) -> None:
    plain = _old_key(store, "plain", 1.0)
    sharded_key, sharded = create_key(store, SystemClock(), "hot", budget_usd=2.0)
    register_secret(sharded_key)
    shard_key(store, SystemClock(), "hot", 3)
    before_sharded = _get(store, f"key#{sharded.key_hash}", "key")
    _to_old_layout(store, (f"key#{sharded.key_hash}", "key"), ("key", sharded.key_hash))
    team = create_team(store, SystemClock(), "old-team", {"budget_usd": 3.0})
    _to_old_layout(store, ("team#old-team", "team"), ("team", "old-team"))
    assert store.list_teams() == [team]  # read where it is while not moved (and moved by the read)
    _to_old_layout(store, ("team#old-team", "team"), ("team", "old-team"))

    assert store.migrate_layout() == {"keys_moved": 2, "teams_moved": 1, "left_behind": 0}
    assert sorted(_key_partitions(store)) == sorted([f"key#{plain}", f"key#{sharded.key_hash}"])
    assert _get(store, f"key#{sharded.key_hash}", "key") == before_sharded  # shards, pool and base moved with it
    assert store.find_team("old-team") == team and _get(store, "teamname", "old-team")
    assert store.settle(plain, "gen-plain", 0.1, 0.1, NOW + DAY)  # the hold in flight settles after the move
    assert _money(_get(store, f"key#{plain}", "key")) == (Decimal("0.35"), Decimal("0.35"))
    assert store.budget_figures(sharded.key_hash).spend_usd == 0.0
    assert store.migrate_layout() == {"keys_moved": 0, "teams_moved": 0, "left_behind": 0}


def test_a_charge_racing_the_move_is_never_lost(store: DynamoStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write lands on the old item between the move's read and its transaction (a gateway settling there):
    the move's condition refuses, it reads again and moves the new figures."""
    key_hash = _old_key(store, "raced", 1.0)
    transact = store.db.transact
    raced: list[str] = []

    def racing(what: str, items: list[dict[str, Any]], token: str | None = None) -> list[str] | None:
        if what == "DynamoDB migrate item" and not raced:
            raced.append(what)
            store.client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "key"}, "sk": {"S": key_hash}},
                UpdateExpression="ADD spend_usd :c, committed_usd :d",
                ExpressionAttributeValues={":c": {"N": "0.05"}, ":d": {"N": "-0.05"}},
            )
        return transact(what, items, token)

    monkeypatch.setattr(store.db, "transact", racing)
    assert store.migrate_layout()["keys_moved"] == 1 and raced
    assert _money(_get(store, f"key#{key_hash}", "key")) == (Decimal("0.30"), Decimal("0.30"))
    assert _get(store, "key", key_hash) == {}


def test_the_cli_migrates_the_local_store_by_saying_there_is_nothing_to_move(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTEWAY_HOME", str(tmp_path))
    monkeypatch.setenv("ROUTEWAY_STORE", "local")
    done = CliRunner().invoke(app, ["store", "migrate"])
    assert done.exit_code == 0, done.output
    assert "nothing to migrate" in done.output


def test_the_cli_migrates_an_aws_table(store: DynamoStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    key_hash = _old_key(store, "by-cli", 1.0)
    monkeypatch.setenv("ROUTEWAY_STORE", "aws")
    monkeypatch.setenv("ROUTEWAY_TABLE", TABLE)
    monkeypatch.setenv("ROUTEWAY_BUCKET", BUCKET)
    done = CliRunner().invoke(app, ["store", "migrate", "--json"])
    assert done.exit_code == 0, done.output
    assert '"keys_moved": 1' in done.output
    assert _get(store, f"key#{key_hash}", "key") and _get(store, "key", key_hash) == {}


def test_a_settle_after_its_hold_was_released_as_expired_charges_once(store: DynamoStateStore) -> None:
    """Issue 35 cut the charge marker from a held settle (the hold's conditional Delete is the once): a hold
    released as expired leaves a marker of its own, so the late settle is charged on its own, exactly once."""
    key, record = create_key(store, SystemClock(), "late", budget_usd=1.0)
    register_secret(key)
    key_hash = record.key_hash
    assert store.reserve(key_hash, Hold("gen-late", 0.4, NOW + 60), 1.0, NOW) is None
    assert store.reserve(key_hash, Hold("gen-next", 0.9, NOW + 900), 1.0, NOW + 61) is None  # released gen-late
    assert _get(store, f"hold#{key_hash}", "gen-late") == {}
    assert _get(store, f"released#{key_hash}#gen-late", "released")
    assert store.settle(key_hash, "gen-late", 0.3, 0.4, NOW + DAY)  # its process was only slow
    assert not store.settle(key_hash, "gen-late", 0.3, 0.4, NOW + DAY)  # a retry: charged once
    assert _money(_get(store, f"key#{key_hash}", "key")) == (Decimal("0.3"), Decimal("1.2"))
    assert store.settle(key_hash, "gen-next", 0.5, 0.9, NOW + DAY)
    assert not store.settle(key_hash, "gen-next", 0.5, 0.9, NOW + DAY)
    assert _money(_get(store, f"key#{key_hash}", "key")) == (Decimal("0.8"), Decimal("0.8"))
    assert _get(store, "charge#gen-next", "charge") == {}  # a held settle writes no charge marker
