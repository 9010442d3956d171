"""Hot keys (issue 22, docs/SCALE.md section 4): a key's budget and rpm counters sharded over K DynamoDB items.

Under moto in-process (one request at a time, as DynamoDB applies each request atomically: tests/conftest.py).
What must hold: budget = unallocated + base + Σ(remaining + held + spent) after any interleaving; spend never
passes the budget and equals what was charged; a refusal only when the whole key's free budget is below the
hold; a retried settlement charges once; rpm admits exactly its count per minute across shards; and an
unsharded key (K = 1) makes exactly the calls it made before sharding existed.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from routeway.adapters.aws_store import DynamoStateStore
from routeway.clock import SystemClock
from routeway.domain.records import BudgetFigures, Hold
from routeway.errors import InvalidRequest, StoreUnavailable
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
    key_item = store.client.get_item(TableName=TABLE, Key={"pk": {"S": "key"}, "sk": {"S": key_hash}})["Item"]
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
