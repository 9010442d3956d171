"""Hot keys (issue 22, docs/SCALE.md section 4): a key's budget and rpm counters sharded over K DynamoDB items.

Under moto in-process (one request at a time, as DynamoDB applies each request atomically: tests/conftest.py).
What must hold: budget = unallocated + base + Σ(remaining + held + spent) after any interleaving; spend never
passes the budget and equals what was charged; a refusal only when the whole key's free budget is below the
hold; a retried settlement charges once; rpm admits exactly its count per minute across shards; and an
unsharded key (K = 1) makes exactly the calls it made before sharding existed.
"""

from __future__ import annotations

import math
import random
import threading
from decimal import Decimal
from typing import Any

import pytest

from routeway.adapters.aws_store import DynamoStateStore
from routeway.clock import SystemClock
from routeway.domain.records import BudgetFigures, Hold, MinuteCount
from routeway.errors import InvalidRequest, StoreUnavailable
from routeway.gateway import Gateway
from routeway.services.keys import create_key, shard_key
from tests.conftest import TABLE, register_secret

pytestmark = pytest.mark.aws
NOW = 1_800_000_000
WINDOW = NOW // 60
DAY = 86_400


@pytest.fixture
def store(moto_aws: None) -> DynamoStateStore:
    return DynamoStateStore(TABLE, rng=random.Random(22))


def _key(store: DynamoStateStore, name: str, **limits: Any) -> str:
    key, record = create_key(store, SystemClock(), name, **limits)
    register_secret(key)
    return record.key_hash


def _items(store: DynamoStateStore, key_hash: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    key_item = store.client.get_item(TableName=TABLE, Key={"pk": {"S": f"key#{key_hash}"}, "sk": {"S": "key"}})["Item"]
    shards = int(key_item.get("shards", {"N": "1"})["N"])
    found = [
        store.client.get_item(TableName=TABLE, Key={"pk": {"S": f"shard#{key_hash}#{i}"}, "sk": {"S": "shard"}})
        for i in range(shards if shards > 1 else 0)
    ]
    return key_item, [f["Item"] for f in found]


def _n(item: dict[str, Any], name: str) -> Decimal:
    return Decimal(item[name]["N"]) if name in item else Decimal(0)


def _totals(store: DynamoStateStore, key_hash: str) -> dict[str, Decimal]:
    key_item, shards = _items(store, key_hash)
    return {
        "budget_terms": _n(key_item, "unallocated")
        + _n(key_item, "base")
        + sum((_n(s, "remaining") + _n(s, "held") + _n(s, "spent") for s in shards), Decimal(0)),
        "spend": _n(key_item, "spend_usd") + sum((_n(s, "spent") for s in shards), Decimal(0)),
        "held": _n(key_item, "committed_usd")
        - _n(key_item, "spend_usd")
        + sum((_n(s, "held") for s in shards), Decimal(0)),
    }


def _hold(gen: str, usd: float, until: int = NOW + 900) -> Hold:
    return Hold(gen, usd, until)


def test_a_sharded_key_holds_and_charges_on_its_shards_and_keeps_the_invariant(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot", budget_usd=5.0)
    assert shard_key(store, SystemClock(), "hot", 4) == 1
    assert store.reserve(key_hash, _hold("gen-1", 0.5), 5.0, NOW) is None
    assert store.settle(key_hash, "gen-1", 0.125, 0.5, NOW + DAY)
    assert not store.settle(key_hash, "gen-1", 0.125, 0.5, NOW + DAY)  # once
    totals = _totals(store, key_hash)
    assert totals == {"budget_terms": Decimal("5"), "spend": Decimal("0.125"), "held": Decimal(0)}
    assert store.budget_figures(key_hash) == BudgetFigures(spend_usd=0.125, held_usd=0.0)


def _spend_concurrently(
    store: DynamoStateStore, key_hash: str, budget: float, hold_usd: float, cost_of: Any, workers: int, each: int
) -> tuple[list[float], list[tuple[float, BudgetFigures]], int]:
    """`workers` threads, each holding `hold_usd` and settling at `cost_of(rng)` `each` times until refused;
    a retryable 503 is retried, as a client would. Returns the charged costs, the refusals, the 503s."""
    charged: list[float] = []
    refusals: list[tuple[float, BudgetFigures]] = []
    retried = [0]
    lock = threading.Lock()

    def worker(number: int) -> None:
        rng = random.Random(number)
        for attempt in range(each):
            generation = f"gen-{number}-{attempt}"
            while True:
                try:
                    refused = store.reserve(key_hash, _hold(generation, hold_usd), budget, NOW)
                    break
                except StoreUnavailable:
                    with lock:
                        retried[0] += 1
            if refused is not None:
                with lock:
                    refusals.append((hold_usd, refused))
                return
            cost = cost_of(rng)
            assert store.settle(key_hash, generation, cost, hold_usd, NOW + DAY)
            with lock:
                charged.append(cost)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return charged, refusals, retried[0]


def test_concurrent_holds_at_their_full_cost_spend_exactly_the_budget_and_refuse_only_when_it_is_gone(
    store: DynamoStateStore,
) -> None:
    """Each request costs what it holds, so free budget only shrinks: a refusal means less than one hold is
    left anywhere, and the number served is exactly budget / hold."""
    key_hash = _key(store, "hot-full", budget_usd=5.0)
    shard_key(store, SystemClock(), "hot-full", 4)
    charged, refusals, _ = _spend_concurrently(store, key_hash, 5.0, 0.25, lambda _: 0.25, workers=12, each=4)
    assert len(charged) == 20 and refusals  # 48 tries, 5.0 / 0.25 served
    totals = _totals(store, key_hash)
    assert totals == {"budget_terms": Decimal("5"), "spend": Decimal("5"), "held": Decimal(0)}
    for hold_usd, figures in refusals:  # what the refusal read: less than one hold free, the same figures as today
        assert 5.0 - figures.spend_usd - figures.held_usd < hold_usd


def test_concurrent_holds_at_varying_costs_never_pass_the_budget(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-vary", budget_usd=3.0)
    shard_key(store, SystemClock(), "hot-vary", 5)
    charged, refusals, _ = _spend_concurrently(
        store, key_hash, 3.0, 0.2, lambda rng: round(rng.uniform(0.01, 0.2), 6), workers=12, each=5
    )
    totals = _totals(store, key_hash)
    assert totals["budget_terms"] == Decimal("3") and totals["held"] == 0
    assert totals["spend"] == sum(Decimal(repr(c)) for c in charged) <= Decimal("3")
    for hold_usd, figures in refusals:
        assert 3.0 - figures.spend_usd - figures.held_usd < hold_usd + 1e-12


def test_a_retried_settlement_on_a_shard_charges_once(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-retry", budget_usd=2.0)
    shard_key(store, SystemClock(), "hot-retry", 3)
    retried: list[str] = []

    def retry_once(attempts: int, operation: Any, **_: Any) -> float | None:
        if attempts == 1 and operation.name == "TransactWriteItems":
            retried.append(operation.name)
            return 0.0  # "retry now", as after a read timeout: the write already happened
        return None

    store.client.meta.events.register("needs-retry.dynamodb.TransactWriteItems", retry_once)
    for n in range(4):
        assert store.reserve(key_hash, _hold(f"gen-r{n}", 0.3), 2.0, NOW) is None
        assert store.settle(key_hash, f"gen-r{n}", 0.1, 0.3, NOW + DAY) in (True, False)  # the retry sees its marker
    assert retried
    assert _totals(store, key_hash) == {"budget_terms": Decimal("2"), "spend": Decimal("0.4"), "held": Decimal(0)}


def test_rpm_across_shards_admits_exactly_its_count_per_minute(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-rpm", rpm=7)
    shard_key(store, SystemClock(), "hot-rpm", 3)
    assert store.find_key(key_hash) is not None  # the process learns the key is sharded, as authentication does
    for window in (WINDOW, WINDOW + 1):
        counts: list[int] = []
        lock = threading.Lock()

        def one(window: int = window, counts: list[int] = counts, lock: threading.Lock = lock) -> None:
            count = store.count_request(key_hash, window, (window + 2) * 60)
            with lock:
                counts.append(count)

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(c <= 7 for c in counts) == 7 and len(counts) == 20
        rate = store.client.get_item(TableName=TABLE, Key={"pk": {"S": f"rate#{key_hash}"}, "sk": {"S": str(window)}})
        assert rate["Item"]["count"]["N"] == "7"  # every admission claimed from the minute, no more


def test_an_unsharded_key_makes_exactly_the_calls_it_made_before_shards(store: DynamoStateStore) -> None:
    key_hash = _key(store, "cold", budget_usd=1.0, rpm=100)
    calls: list[str] = []
    store.client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    assert store.find_key(key_hash) is not None
    minute = MinuteCount(WINDOW, 100, (WINDOW + 2) * 60)
    assert store.reserve(key_hash, _hold("gen-c1", 0.6), 1.0, NOW, minute) is None  # the rpm count rides along
    assert store.settle(key_hash, "gen-c1", 0.2, 0.6, NOW + DAY)
    assert store.reserve(key_hash, _hold("gen-c2", 0.9), 1.0, NOW) is not None  # refused: 0.2 spent
    figures = store.budget_figures(key_hash)  # today's float arithmetic: committed - spend
    assert figures.spend_usd == pytest.approx(0.2) and figures.held_usd == pytest.approx(0.0, abs=1e-12)
    assert calls == [
        "GetItem",  # authenticate: the key item
        "UpdateItem",  # hold and rpm count, in the key item (issue 35)
        "UpdateItem",  # settle (the record, when given, is a PutItem beside it)
        "UpdateItem",  # refused hold
        "GetItem",  # the figures of the refusal (and its holds: none expired)
        "Query",  # expired hold items from before issue 35
        "GetItem",  # budget_figures
    ]
    assert _items(store, key_hash)[0][f"m{WINDOW}"] == {"N": "1"}
    key_item, shards = _items(store, key_hash)
    assert shards == [] and not {"shards", "unallocated", "base"} & set(key_item)
    found = store.client.scan(TableName=TABLE, FilterExpression="begins_with(pk, :s)",
                              ExpressionAttributeValues={":s": {"S": "shard#"}})  # fmt: skip
    assert found["Items"] == []


def test_a_hold_on_a_shard_whose_request_died_is_released_once_it_expires(store: DynamoStateStore) -> None:
    key_hash = _key(store, "hot-died", budget_usd=1.0)
    shard_key(store, SystemClock(), "hot-died", 2)
    assert store.reserve(key_hash, _hold("gen-died", 0.8, NOW + 60), 1.0, NOW) is None
    store.hold_shards.clear()  # its process dies: nobody will settle it
    refused = store.reserve(key_hash, _hold("gen-next", 0.5), 1.0, NOW + 30)
    assert refused is not None and refused.held_usd == pytest.approx(0.8)  # still in flight: it counts
    assert store.reserve(key_hash, _hold("gen-next", 0.5), 1.0, NOW + 61) is None  # expired: released
    assert store.settle(key_hash, "gen-next", 0.2, 0.5, NOW + DAY)
    assert store.settle(key_hash, "gen-died", 0.3, 0.8, NOW + DAY)  # a late settle of the released hold
    assert not store.settle(key_hash, "gen-died", 0.3, 0.8, NOW + DAY)
    assert _totals(store, key_hash) == {"budget_terms": Decimal("1"), "spend": Decimal("0.5"), "held": Decimal(0)}


def test_sharding_and_resharding_with_holds_in_flight_stay_exact(store: DynamoStateStore) -> None:
    key_hash = _key(store, "growing", budget_usd=2.0)
    assert store.reserve(key_hash, _hold("gen-before", 0.5), 2.0, NOW) is None  # held on the key item
    assert shard_key(store, SystemClock(), "growing", 2) == 1
    assert store.reserve(key_hash, _hold("gen-on-2", 0.5), 2.0, NOW) is None  # on a shard
    assert shard_key(store, SystemClock(), "growing", 5) == 2
    assert store.settle(key_hash, "gen-before", 0.1, 0.5, NOW + DAY)  # settles where it was held
    assert store.settle(key_hash, "gen-on-2", 0.2, 0.5, NOW + DAY)
    assert _totals(store, key_hash) == {"budget_terms": Decimal("2"), "spend": Decimal("0.3"), "held": Decimal(0)}
    assert store.reserve(key_hash, _hold("gen-all", 1.7), 2.0, NOW) is None  # everything left, from everywhere
    assert store.reserve(key_hash, _hold("gen-more", 0.01), 2.0, NOW) is not None
    assert store.budget_figures(key_hash) == BudgetFigures(spend_usd=pytest.approx(0.3), held_usd=pytest.approx(1.7))
    with pytest.raises(InvalidRequest):
        shard_key(store, SystemClock(), "growing", 3)  # shards are added, not taken away


def test_revocation_reaches_every_shard(store: DynamoStateStore) -> None:
    key_hash = _key(store, "revoked-hot", budget_usd=1.0)
    shard_key(store, SystemClock(), "revoked-hot", 4)
    assert store.revoke_key("revoked-hot")
    _, shards = _items(store, key_hash)
    assert len(shards) == 4 and all('"revoked":true' in s["record"]["S"] for s in shards)
    for _ in range(8):  # whichever shard authentication reads
        found = store.find_key(key_hash)
        assert found is not None and found.revoked


def test_shard_counts_are_validated_and_the_local_store_says_sharding_is_for_aws(tmp_path: Any) -> None:
    from routeway.adapters.local_store import LocalStateStore

    local = LocalStateStore(tmp_path)
    create_key(local, SystemClock(), "local-key", budget_usd=1.0)
    for wrong in (0, 100):
        with pytest.raises(InvalidRequest, match="1 to 99"):
            shard_key(local, SystemClock(), "local-key", wrong)
    with pytest.raises(InvalidRequest, match="AWS store"):
        shard_key(local, SystemClock(), "local-key", 4)


@pytest.mark.parametrize("store_env", ["aws"], indirect=True)
def test_requests_on_a_sharded_key_are_charged_on_its_shards_and_get_v1_key_sums_them(gateway: Gateway) -> None:
    from fastapi.testclient import TestClient

    from routeway.http.app import create_app

    key, record = create_key(gateway.state.sync, gateway.clock, "hot-http", budget_usd=1.0, rpm=50)
    register_secret(key)
    shard_key(gateway.state.sync, gateway.clock, "hot-http", 3)
    body = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answers = [client.post("/v1/chat/completions", json=body) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        costs = [a.json()["usage"]["cost"] for a in answers]
        summary = client.get("/v1/key").json()
        store = gateway.state.sync
        assert isinstance(store, DynamoStateStore)
        totals = _totals(store, record.key_hash)
        assert totals["budget_terms"] == Decimal("1") and totals["held"] == 0
        assert abs(float(totals["spend"]) - math.fsum(costs)) <= 1e-9
        assert abs(summary["spend_usd"] - math.fsum(costs)) <= 1e-8
        key_item, shards = _items(store, record.key_hash)
        assert _n(key_item, "spend_usd") == 0 and sum(_n(s, "spent") > 0 for s in shards) >= 2  # spread
        listed = {k.name: k for k in store.list_keys()}["hot-http"]
        assert listed.shards == 3 and abs(listed.spend_usd - math.fsum(costs)) <= 1e-9
        store.revoke_key("hot-http")
        assert client.post("/v1/chat/completions", json=body).status_code == 401


@pytest.mark.both_stores
def test_keys_shard_on_the_command_line(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """On the AWS store it shards and `keys list` shows it; on the local store it refuses and says why."""
    import json

    from typer.testing import CliRunner

    from routeway.cli.app import app

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ROUTEWAY_CONFIG", raising=False)
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "batch-job", "--budget-usd", "5", "--rpm", "600"])
    assert created.exit_code == 0, created.output
    register_secret(created.stdout.strip().splitlines()[-1])
    for wrong in ("0", "100"):
        refused = runner.invoke(app, ["keys", "shard", "batch-job", "--shards", wrong])
        assert refused.exit_code == 1 and "1 to 99" in refused.stderr
    sharded = runner.invoke(app, ["keys", "shard", "batch-job", "--shards", "4"])
    if env["ROUTEWAY_STORE"] == "local":
        assert sharded.exit_code == 1 and "applies to the AWS store" in sharded.stderr
        return
    assert sharded.exit_code == 0 and "1 -> 4 shards" in sharded.stdout, sharded.output
    row = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)["keys"][0]
    assert row["shards"] == 4 and row["spend_usd"] == 0
    fewer = runner.invoke(app, ["keys", "shard", "batch-job", "--shards", "2"])
    assert fewer.exit_code == 1 and "not taken away" in fewer.stderr
    missing = runner.invoke(app, ["keys", "shard", "nobody", "--shards", "2"])
    assert missing.exit_code == 1 and "not_found" in missing.stderr


def test_a_hold_taken_before_sharding_can_still_be_raised_and_settles_exactly(store: DynamoStateStore) -> None:
    key_hash = _key(store, "raised", budget_usd=2.0)
    assert store.reserve(key_hash, _hold("gen-fallback", 0.5), 2.0, NOW) is None  # on the key item
    shard_key(store, SystemClock(), "raised", 3)
    raised = Hold("gen-fallback", 0.9, NOW + 900, before_usd=0.5)  # a dearer fallback attempt, after sharding
    assert store.reserve(key_hash, raised, 2.0, NOW) is None
    assert _totals(store, key_hash)["held"] == Decimal("0.9")
    assert store.settle(key_hash, "gen-fallback", 0.7, 0.9, NOW + DAY)
    assert _totals(store, key_hash) == {"budget_terms": Decimal("2"), "spend": Decimal("0.7"), "held": Decimal(0)}
    assert store.reserve(key_hash, _hold("gen-rest", 1.3), 2.0, NOW) is None  # what it gave back is free again
    assert store.reserve(key_hash, _hold("gen-over", 0.01), 2.0, NOW) is not None
