"""A hold on DynamoDB is found where it is (PRODUCT.md "Money that cannot leak"): the shard is part of the hold,
not of the process's memory. A settle retried after the store failed, or made by another process (a restart,
reconciliation), charges once on the hold's own shard; attempts the upstream accepted are noted on the hold;
open holds are listed with their owner and notes; and the store never frees an expired hold that carries notes
(it may have been billed: reconciliation settles it).

Under moto in-process (tests/conftest.py); "another process" is a second DynamoStateStore on the same table.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import pytest

from routeway.adapters.aws_store import DynamoStateStore
from routeway.clock import SystemClock
from routeway.domain.records import BudgetFigures, Hold, HoldNote, OpenHold
from routeway.errors import StoreUnavailable
from routeway.off_loop import OffLoop, OffLoopState
from routeway.services.keys import create_key, shard_key
from tests.conftest import TABLE, register_secret

pytestmark = pytest.mark.aws
NOW = 1_800_000_000
DAY = 86_400
OWNER = "host-a:4242:0f0f"


@pytest.fixture
def store(moto_aws: None) -> DynamoStateStore:
    return DynamoStateStore(TABLE, rng=random.Random(7))


def _key(store: DynamoStateStore, name: str, budget_usd: float, shards: int = 1) -> str:
    key, record = create_key(store, SystemClock(), name, budget_usd=budget_usd)
    register_secret(key)
    if shards > 1:
        shard_key(store, SystemClock(), name, shards)
    return record.key_hash


def _n(item: dict[str, Any], name: str) -> Decimal:
    return Decimal(item[name]["N"]) if name in item else Decimal(0)


def _item(store: DynamoStateStore, pk: str, sk: str) -> dict[str, Any]:
    found = store.client.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)
    return found.get("Item", {})


def _shards(store: DynamoStateStore, key_hash: str) -> list[dict[str, Any]]:
    count = int(_item(store, f"key#{key_hash}", "key")["shards"]["N"])
    return [_item(store, f"shard#{key_hash}#{i}", "shard") for i in range(count)]


def _hold_items(store: DynamoStateStore, key_hash: str) -> dict[str, str]:
    """generation id -> the partition its hold item is in, read from the table."""
    found = store.client.scan(
        TableName=TABLE,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": f"hold#{key_hash}"}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"]: item["pk"]["S"] for item in found["Items"]}


def _fail_next_transaction(store: DynamoStateStore) -> list[str]:
    """The next TransactWriteItems fails as an unreachable store would (a botocore error: StoreUnavailable)."""
    from botocore.exceptions import ClientError

    failed: list[str] = []

    def fail_once(**_: Any) -> None:
        if not failed:
            failed.append("TransactWriteItems")
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    store.client.meta.events.register("before-call.dynamodb.TransactWriteItems", fail_once)
    return failed


def _assert_charged_on(store: DynamoStateStore, key_hash: str, shard: int, cost: str, budget: str) -> None:
    """Charged once, on `shard`: its `spent` is the cost, no shard holds anything, no hold item is left, the key
    item was not charged, no money was made or lost, and the figures a 402 would show hold nothing."""
    shards = _shards(store, key_hash)
    assert [_n(s, "spent") for s in shards] == [Decimal(cost) if i == shard else 0 for i in range(len(shards))]
    assert [_n(s, "held") for s in shards] == [0] * len(shards)
    key_item = _item(store, f"key#{key_hash}", "key")
    assert _n(key_item, "spend_usd") == 0 and _n(key_item, "committed_usd") == _n(key_item, "base")
    terms = _n(key_item, "unallocated") + _n(key_item, "base")
    terms += sum((_n(s, "remaining") + _n(s, "held") + _n(s, "spent") for s in shards), Decimal(0))
    assert terms == Decimal(budget)
    assert _hold_items(store, key_hash) == {}
    assert store.budget_figures(key_hash) == BudgetFigures(spend_usd=float(cost), held_usd=0.0)


def test_a_settle_retried_after_the_store_failed_charges_once_on_the_holds_shard(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-retried", 2.0, shards=4)
    assert store.reserve(key_hash, Hold("gen-r", 0.5, NOW + 900, owner=OWNER), 2.0, NOW) is None
    (partition,) = _hold_items(store, key_hash).values()
    shard = int(partition.rsplit("#", 1)[1])
    failed = _fail_next_transaction(store)
    with pytest.raises(StoreUnavailable):
        store.settle(key_hash, "gen-r", 0.125, 0.5, NOW + DAY)
    assert failed and _hold_items(store, key_hash) == {"gen-r": partition}  # nothing was written
    assert store.settle(key_hash, "gen-r", 0.125, 0.5, NOW + DAY)  # the caller's retry
    assert not store.settle(key_hash, "gen-r", 0.125, 0.5, NOW + DAY)  # once
    _assert_charged_on(store, key_hash, shard, "0.125", "2")


def test_another_process_settles_a_hold_on_a_shard_where_it_is(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-elsewhere", 2.0, shards=3)
    assert store.reserve(key_hash, Hold("gen-e", 0.5, NOW + 900, owner=OWNER), 2.0, NOW) is None
    (partition,) = _hold_items(store, key_hash).values()
    restarted = DynamoStateStore(TABLE)  # another process: it has seen neither the key nor the hold
    assert restarted.settle(key_hash, "gen-e", 0.2, 0.5, NOW + DAY)
    assert not store.settle(key_hash, "gen-e", 0.2, 0.5, NOW + DAY)  # the process that held finds it charged
    _assert_charged_on(store, key_hash, int(partition.rsplit("#", 1)[1]), "0.2", "2")


def test_another_process_settles_an_unsharded_hold_with_the_calls_it_always_made(store: DynamoStateStore) -> None:
    key_hash = _key(store, "cold-elsewhere", 1.0)
    assert store.reserve(key_hash, Hold("gen-c", 0.5, NOW + 900), 1.0, NOW) is None
    restarted = DynamoStateStore(TABLE)
    calls: list[str] = []
    restarted.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    assert restarted.settle(key_hash, "gen-c", 0.3, 0.5, NOW + DAY)
    assert calls == ["UpdateItem"]  # no lookup: the hold is in the key item, settled by one conditional update
    assert store.budget_figures(key_hash) == BudgetFigures(spend_usd=0.3, held_usd=0.0)
    assert _hold_items(store, key_hash) == {}
    assert _item(store, f"key#{key_hash}", "key")["h"] == {"M": {}}


def test_attempts_are_noted_on_the_hold_wherever_it_is_and_not_once_it_is_settled(store: DynamoStateStore) -> None:
    cold = _key(store, "cold-noted", 1.0)
    hot = _key(store, "hot-noted", 1.0, shards=3)
    first = HoldNote(backend="openrouter", upstream_id="gen-upstream-1", estimate_usd=0.01)
    second = HoldNote(backend="vllm", upstream_id=None, estimate_usd=0.02)
    for key_hash in (cold, hot):
        assert store.reserve(key_hash, Hold(f"gen-{key_hash[:6]}", 0.4, NOW + 900, owner=OWNER), 1.0, NOW) is None
    assert store.note_attempt(cold, f"gen-{cold[:6]}", first)
    assert DynamoStateStore(TABLE).note_attempt(hot, f"gen-{hot[:6]}", first)  # another process finds the shard
    for key_hash in (cold, hot):
        assert store.note_attempt(key_hash, f"gen-{key_hash[:6]}", second)
        (hold,) = store.open_holds(NOW, key_hash=key_hash)
        assert hold == OpenHold(key_hash, f"gen-{key_hash[:6]}", 0.4, NOW + 900, OWNER, (first, second))
        assert store.settle(key_hash, f"gen-{key_hash[:6]}", 0.1, 0.4, NOW + DAY)
        assert not store.note_attempt(key_hash, f"gen-{key_hash[:6]}", first)  # settled: nothing to note
        assert not DynamoStateStore(TABLE).note_attempt(key_hash, f"gen-{key_hash[:6]}", first)
        assert not store.note_attempt(key_hash, "gen-never-held", first)
        assert store.open_holds(NOW, key_hash=key_hash) == []
    assert _item(store, "hold#" + cold, "gen-never-held") == {}  # a note makes no hold


def test_open_holds_lists_every_hold_expired_first_with_its_owner(store: DynamoStateStore) -> None:
    cold = _key(store, "cold-open", 5.0)
    hot = _key(store, "hot-open", 5.0)
    assert store.reserve(hot, Hold("gen-before-shards", 0.1, NOW + 500, owner="a"), 5.0, NOW) is None
    shard_key(store, SystemClock(), "hot-open", 3)
    holds = {
        "gen-1": (cold, NOW + 900, "b"),
        "gen-2": (hot, NOW - 10, "c"),  # expired
        "gen-3": (cold, NOW - 20, ""),  # expired, owner unknown
        "gen-4": (hot, NOW + 300, "d"),
    }
    for generation_id, (key_hash, until, owner) in holds.items():
        assert store.reserve(key_hash, Hold(generation_id, 0.2, until, owner=owner), 5.0, NOW - 60) is None
    raised = Hold("gen-4", 0.3, NOW + 300, before_usd=0.2, owner="someone else")
    assert store.reserve(hot, raised, 5.0, NOW) is None  # a raise keeps the hold's owner
    every = store.open_holds(NOW)
    assert [(h.generation_id, h.owner, h.expires_at <= NOW) for h in every] == [
        ("gen-3", "", True),
        ("gen-2", "c", True),
        ("gen-4", "d", False),
        ("gen-before-shards", "a", False),
        ("gen-1", "b", False),
    ]
    assert {h.generation_id: (h.key_hash, h.usd) for h in every}["gen-4"] == (hot, 0.3)
    assert [h.generation_id for h in store.open_holds(NOW, limit=2)] == ["gen-3", "gen-2"]
    on_hot = store.open_holds(NOW, key_hash=hot)  # its shards' holds and the one from before sharding
    assert [h.generation_id for h in on_hot] == ["gen-2", "gen-4", "gen-before-shards"]
    assert [h.generation_id for h in store.open_holds(NOW, key_hash=cold, limit=1)] == ["gen-3"]


def test_the_store_releases_an_expired_hold_without_notes_and_leaves_a_noted_one_to_reconciliation(
    store: DynamoStateStore,
) -> None:
    key_hash = _key(store, "cold-died", 1.0)
    note = HoldNote(backend="openrouter", upstream_id="gen-upstream-9", estimate_usd=0.25)
    assert store.reserve(key_hash, Hold("gen-billed", 0.4, NOW + 60), 1.0, NOW) is None
    assert store.reserve(key_hash, Hold("gen-unbilled", 0.4, NOW + 60), 1.0, NOW) is None
    assert store.note_attempt(key_hash, "gen-billed", note)  # then its process dies, and the other's
    refused = store.reserve(key_hash, Hold("gen-next", 0.7, NOW + 900), 1.0, NOW + 61)
    assert refused == BudgetFigures(spend_usd=0.0, held_usd=pytest.approx(0.4))  # only the unnoted was freed
    assert [h.generation_id for h in store.open_holds(NOW + 61, key_hash=key_hash)] == ["gen-billed"]
    assert store.reserve(key_hash, Hold("gen-next", 0.7, NOW + 900), 1.0, NOW + DAY) is not None  # ever
    assert store.settle(key_hash, "gen-billed", 0.25, 0.4, NOW + DAY)  # reconciliation charges it
    assert store.reserve(key_hash, Hold("gen-next", 0.7, NOW + 900), 1.0, NOW + 200) is None
    assert store.budget_figures(key_hash) == BudgetFigures(spend_usd=0.25, held_usd=pytest.approx(0.7))


def test_a_hold_noted_while_the_store_is_releasing_it_is_kept(store: DynamoStateStore) -> None:
    """The release is conditional on the hold still having no note, not only on the read that found it."""
    key_hash = _key(store, "cold-noted-late", 1.0)
    note = HoldNote(backend="openrouter", upstream_id="gen-upstream-6", estimate_usd=0.2)
    assert store.reserve(key_hash, Hold("gen-late", 0.6, NOW + 60), 1.0, NOW) is None
    noted: list[bool] = []

    def note_first(params: dict[str, Any], **_: Any) -> None:
        released = any("released#" in str(item) for item in params["TransactItems"])  # the expired hold's release
        if released and not noted:
            noted.append(store.note_attempt(key_hash, "gen-late", note))

    store.client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", note_first)
    assert store.reserve(key_hash, Hold("gen-next", 0.6, NOW + 900), 1.0, NOW + 61) is not None
    assert noted == [True]
    assert [h.notes for h in store.open_holds(NOW + 61, key_hash=key_hash)] == [(note,)]


def test_on_a_sharded_key_the_store_releases_only_the_expired_holds_without_notes(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-died", 1.0, shards=2)
    note = HoldNote(backend="openrouter", upstream_id="gen-upstream-8", estimate_usd=0.3)
    assert store.reserve(key_hash, Hold("gen-billed", 0.4, NOW + 60), 1.0, NOW) is None
    assert store.reserve(key_hash, Hold("gen-unbilled", 0.4, NOW + 60), 1.0, NOW) is None
    assert store.note_attempt(key_hash, "gen-billed", note)
    store.hold_shards.clear()  # their process dies
    refused = store.reserve(key_hash, Hold("gen-next", 0.7, NOW + 900), 1.0, NOW + 61)
    assert refused is not None and refused.held_usd == pytest.approx(0.4)  # the noted one still holds
    assert set(_hold_items(store, key_hash)) == {"gen-billed"}
    assert sum((_n(s, "held") for s in _shards(store, key_hash)), Decimal(0)) == Decimal("0.4")
    assert DynamoStateStore(TABLE).settle(key_hash, "gen-billed", 0.3, 0.4, NOW + DAY)  # reconciliation
    assert store.reserve(key_hash, Hold("gen-next", 0.7, NOW + 900), 1.0, NOW + 61) is None
    assert store.budget_figures(key_hash) == BudgetFigures(spend_usd=0.3, held_usd=0.7)


def test_a_reservation_that_loses_a_race_on_the_key_item_is_tried_again_not_refused(store: DynamoStateStore) -> None:
    """A transaction on the key item at the same moment (a settle with its spend line: the reserve's UpdateItem
    gets TransactionConflictException) is a lost race, not a full budget and not an unreachable store: the same
    rule as on a shard."""
    from botocore.exceptions import ClientError

    key_hash = _key(store, "cold-race", 1.0)
    raced: list[str] = []

    def conflict_once(**_: Any) -> None:
        if not raced:
            raced.append("UpdateItem")
            raise ClientError({"Error": {"Code": "TransactionConflictException"}}, "UpdateItem")

    store.client.meta.events.register("before-call.dynamodb.UpdateItem", conflict_once)
    assert store.reserve(key_hash, Hold("gen-raced", 0.6, NOW + 900), 1.0, NOW) is None
    assert raced and store.budget_figures(key_hash) == BudgetFigures(spend_usd=0.0, held_usd=0.6)


def test_the_off_loop_state_awaits_note_attempt_and_open_holds(store: DynamoStateStore) -> None:
    key_hash = _key(store, "cold-awaited", 1.0)
    state = OffLoopState(store, OffLoop(timeout_s=10))
    note = HoldNote(backend="openrouter", upstream_id="gen-upstream-7", estimate_usd=0.1)
    assert store.reserve(key_hash, Hold("gen-a", 0.2, NOW + 900, owner=OWNER), 1.0, NOW) is None

    async def both() -> tuple[bool, list[OpenHold], list[OpenHold]]:
        noted = await state.note_attempt(key_hash, "gen-a", note)
        return noted, await state.open_holds(NOW, key_hash=key_hash), await state.open_holds(NOW)

    noted, of_the_key, every = asyncio.run(both())
    assert noted and of_the_key == every == [OpenHold(key_hash, "gen-a", 0.2, NOW + 900, OWNER, (note,))]
