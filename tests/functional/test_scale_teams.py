"""A team's budget across processes (issue 31): three `routeway serve` processes on one DynamoDB table (a moto
server), two keys of one team, one of them sharded, forty requests at once. The team's spend never passes its
budget and equals what the clients were charged; every refusal names the team.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from decimal import Decimal

import pytest

from routeway.domain.periods import window_at
from tests.functional.test_scale_multiprocess import TABLE, Cluster, burst, cluster  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.aws, pytest.mark.heavy]

REQUESTS = 40


def team_spend(on: Cluster, team: str) -> Decimal:
    account = f"team:{team}:day:{window_at('day', time.time()).start}"
    item = (
        on.dynamodb()
        .get_item(TableName=TABLE, Key={"pk": {"S": f"budget#{account}"}, "sk": {"S": "budget"}}, ConsistentRead=True)
        .get("Item", {})
    )
    return Decimal(item["spend_usd"]["N"]) if "spend_usd" in item else Decimal(0)


def test_a_team_budget_holds_across_three_processes_with_a_sharded_key(cluster: Cluster) -> None:  # noqa: F811
    probe = burst(cluster, cluster.create_key(), count=1, stream_every=REQUESTS + 1)[0]
    assert probe.status == 200 and probe.cost, probe
    budget = probe.cost * 8.5  # room for a few holds of max_tokens=16, far less than forty requests
    cluster.routeway("teams", "create", "scale-team", "--budget-usd", repr(budget), "--period", "day")
    plain = cluster.create_key("--team", "scale-team")
    sharded = cluster.create_key("--team", "scale-team", "--budget-usd", "5")
    listed = json.loads(cluster.routeway("keys", "list", "--json"))["keys"]
    (name,) = [k["name"] for k in listed if k["prefix"] == sharded[:10]]
    cluster.routeway("keys", "shard", name, "--shards", "4")
    outcomes = burst(cluster, [plain, sharded], count=REQUESTS)
    passed = [o for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status == 402]
    assert len(passed) + len(refused) == REQUESTS, Counter(o.status for o in outcomes)
    assert passed and refused
    assert {(o.error_code, o.scope) for o in refused} == {("budget_exceeded", "team")}
    spend = float(team_spend(cluster, "scale-team"))
    assert abs(spend - math.fsum(o.cost or 0.0 for o in passed)) <= 1e-9
    assert spend <= budget
