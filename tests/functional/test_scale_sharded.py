"""Hot keys past one machine (issue 22, docs/SCALE.md section 4): the three-gateway scenario of
test_scale_multiprocess.py on a key sharded with `routeway keys shard`. Spend equals the sum of the costs the
clients received, a small budget is never passed, and an rpm limit admits exactly its count per minute,
while each request reads and writes one random shard instead of the key's own item."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from routeway.services.keys import hash_key
from tests.conftest import register_secret
from tests.functional import test_scale_multiprocess
from tests.functional.test_scale_multiprocess import (
    REQUESTS,
    TABLE,
    Cluster,
    Outcome,
    _start_of_a_fresh_window,
    burst,
)

pytestmark = [pytest.mark.aws, pytest.mark.heavy]  # heavy: a step of its own in `make test` (Makefile)
cluster = test_scale_multiprocess.cluster  # this module's own moto server and three gateways
SHARDS = 3
_names = itertools.count()
unavailable: list[str] = []  # the 503s the last burst retried


def _sharded_key(cluster: Cluster, *limits: str) -> str:
    name = f"hot-{next(_names)}"
    key = register_secret(cluster.routeway("keys", "create", name, *limits).strip().splitlines()[-1])
    assert f"1 -> {SHARDS} shards" in cluster.routeway("keys", "shard", name, "--shards", str(SHARDS))
    return key


def _stored(cluster: Cluster, key: str) -> dict[str, Decimal]:
    """The key item and its shards as the gateways left them."""
    ddb = cluster.dynamodb()
    key_hash = hash_key(key)
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"key#{key_hash}"}, "sk": {"S": "key"}}, ConsistentRead=True)[
        "Item"
    ]
    shards = [
        ddb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"shard#{key_hash}#{i}"}, "sk": {"S": "shard"}}, ConsistentRead=True
        )["Item"]
        for i in range(int(item["shards"]["N"]))
    ]

    def n(it: dict[str, dict[str, str]], name: str) -> Decimal:
        return Decimal(it[name]["N"]) if name in it else Decimal(0)

    return {
        "spend": n(item, "spend_usd") + sum((n(s, "spent") for s in shards), Decimal(0)),
        "held": sum((n(s, "held") for s in shards), Decimal(0)),
        "terms": n(item, "unallocated")
        + n(item, "base")
        + sum((n(s, "remaining") + n(s, "held") + n(s, "spent") for s in shards), Decimal(0)),  # fmt: skip
        "shards_spent_on": Decimal(sum(n(s, "spent") > 0 for s in shards)),
    }


def _burst_retrying(cluster: Cluster, key: str) -> list[Outcome]:
    """burst() with a client's retry of a 503 store_unavailable (a sharded key's drain that kept losing races)."""
    unavailable.clear()
    return burst(cluster, key, retried=unavailable)


def test_a_sharded_key_spends_exactly_what_clients_received_across_three_gateways(cluster: Cluster) -> None:
    key = _sharded_key(cluster, "--budget-usd", "100")
    outcomes = _burst_retrying(cluster, key)
    assert [o for o in outcomes if o.status != 200 or o.error_code or o.cost is None] == []
    received = math.fsum(o.cost or 0.0 for o in outcomes)
    stored = _stored(cluster, key)
    assert abs(float(stored["spend"]) - received) <= 1e-9
    assert stored["held"] == 0 and stored["terms"] == Decimal(100)  # every hold settled; no money made or lost
    assert stored["shards_spent_on"] >= 2  # the requests really were spread
    for gateway in cluster.gateways:  # every process sums the shards the same way
        summary = httpx.get(f"{gateway}/v1/key", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        assert abs(summary["spend_usd"] - received) <= 1e-8


def test_a_small_budget_on_a_sharded_key_is_never_passed_across_processes(cluster: Cluster) -> None:
    probe = burst(cluster, cluster.create_key(), count=1, stream_every=REQUESTS + 1)[0]
    assert probe.status == 200 and probe.cost, probe
    budget = probe.cost * 10.5
    key = _sharded_key(cluster, "--budget-usd", repr(budget))
    outcomes = _burst_retrying(cluster, key)
    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status == 402]
    assert len(passed) + len(refused) == REQUESTS, Counter((o.status, o.error_code) for o in outcomes)
    assert passed and refused and {o.error_code for o in refused} == {"budget_exceeded"}
    stored = _stored(cluster, key)
    assert abs(float(stored["spend"]) - math.fsum(o.cost or 0.0 for o in passed)) <= 1e-9
    assert float(stored["spend"]) <= budget and stored["held"] == 0
    assert abs(float(stored["terms"]) - budget) <= 1e-12


def test_an_rpm_limit_on_a_sharded_key_admits_exactly_its_count_per_window(cluster: Cluster) -> None:
    rpm = 20
    key = _sharded_key(cluster, "--rpm", str(rpm))
    _start_of_a_fresh_window()
    outcomes = _burst_retrying(cluster, key)
    admitted = [o for o in outcomes if o.status == 200]
    limited = [o for o in outcomes if o.status == 429]
    assert len(admitted) + len(limited) == REQUESTS, Counter((o.status, o.error_code) for o in outcomes)
    assert {o.error_code for o in limited} == {"rate_limited"}
    claims = cluster.rate_counts(key)  # a sharded key's window counts admissions claimed by its shards
    assert len(claims) in (1, 2) and all(count <= rpm for count in claims.values())
    # every claimed admission used (= rpm when one window), but by a request a retried 503 answered, if any
    assert sum(claims.values()) - len(unavailable) <= len(admitted) <= sum(claims.values())
    assert len(claims) == 2 or unavailable or len(admitted) == rpm
    assert abs(float(_stored(cluster, key)["spend"]) - math.fsum(o.cost or 0.0 for o in admitted)) <= 1e-9
