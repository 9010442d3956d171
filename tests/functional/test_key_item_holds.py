"""An unsharded key's holds live in its key item (issue 35, adapters/aws_key_holds.py): the settle's conditional
removal of its hold is what makes a charge happen once, a dead process's hold there is still found and charged
by its generation id (released only without one), its spend line rides in the settle and reaches the report
exactly, and the rpm count rides in the hold. What one write costs as holds pile up in the item is measured
here for docs/SCALE.md section 0.

Under moto in-process (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from decimal import Decimal
from typing import Any

import pytest
from bench.capacity import item_bytes

from routeway.adapters.aws_rollups import fold
from routeway.adapters.aws_store import DynamoStateStore
from routeway.clock import SystemClock
from routeway.domain.records import Hold, HoldNote, MinuteCount, Rollup
from routeway.errors import MinuteFull
from routeway.gateway import Gateway
from routeway.services.keys import create_key
from routeway.services.reconcile import reconcile_holds
from tests.conftest import TABLE, FakeUpstream, register_secret

pytestmark = pytest.mark.aws
NOW = 1_800_000_000
DAY = 86_400
OWNER = "ip-10-0-12-34:4242:0f0f0f0f"  # as long as a Lambda host's
UPSTREAM_ID = "gen-1733480000-AbCdEfGhIjKlMnOpQrSt"  # as long as OpenRouter's
UNITS_IN_FLIGHT = {1: 1, 8: 2, 32: 6}  # write units of one update of the key item with N noted holds in it


@pytest.fixture
def store(moto_aws: None) -> DynamoStateStore:
    return DynamoStateStore(TABLE, rng=random.Random(3))


def _key(store: DynamoStateStore, name: str, budget_usd: float, rpm: int | None = None) -> str:
    key, record = create_key(store, SystemClock(), name, budget_usd=budget_usd, rpm=rpm)
    register_secret(key)
    return record.key_hash


def _item(store: DynamoStateStore, key_hash: str) -> dict[str, Any]:
    key = {"pk": {"S": f"key#{key_hash}"}, "sk": {"S": "key"}}
    found: dict[str, Any] = store.client.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item", {})
    return found


def _line(cost: float, model: str = "openai/gpt-4o-mini", day: str = "2027-01-15") -> Rollup:
    return Rollup(day=day, key_name="in-item", model=model, prompt_tokens=12, completion_tokens=30, cost_usd=cost)


def test_a_settle_retried_after_it_landed_changes_nothing(store: DynamoStateStore) -> None:
    key_hash = _key(store, "in-item", 1.0)
    assert store.reserve(key_hash, Hold("gen-once", 0.5, NOW + 900, owner=OWNER), 1.0, NOW) is None
    assert store.settle(key_hash, "gen-once", 0.125, 0.5, NOW + DAY, rollup=_line(0.125))
    settled = _item(store, key_hash)
    assert settled["h"] == {"M": {}} and Decimal(settled["spend_usd"]["N"]) == Decimal("0.125")
    assert Decimal(settled["committed_usd"]["N"]) == Decimal("0.125")
    for process in (store, DynamoStateStore(TABLE)):  # the same process's retry, another process's
        assert not process.settle(key_hash, "gen-once", 0.125, 0.5, NOW + DAY, rollup=_line(0.125))
    assert _item(store, key_hash) == settled  # nothing written: not the spend, not the line
    (line,) = store.spend_rollups("2027-01-15", "2027-01-15")
    assert (line.requests, line.cost_usd, line.prompt_tokens, line.completion_tokens) == (1, 0.125, 12, 30)


@pytest.mark.parametrize("store_env", ["aws"], indirect=True)
@pytest.mark.parametrize("billed", [True, False])
def test_a_dead_processs_hold_in_the_key_item_is_charged_by_its_generation_id_or_released(
    gateway: Gateway, upstream: FakeUpstream, billed: bool
) -> None:
    key, record = create_key(gateway.state.sync, gateway.clock, "died", budget_usd=1.0)
    register_secret(key)
    key_hash, now = record.key_hash, int(time.time())
    sync = gateway.state.sync
    assert sync.reserve(key_hash, Hold("gen-dead", 0.01, now - 1, owner="elsewhere:1:dead"), 1.0, now - 600) is None
    if billed:
        upstream.fake.generations["gen-up-dead"] = {"total_cost": 0.004}
        assert sync.note_attempt(key_hash, "gen-dead", HoldNote("openrouter", "gen-up-dead", 0.001))
    (found,) = sync.open_holds(now)  # the at-start pass finds it in the key item (no hold item exists)
    assert found.generation_id == "gen-dead" and found.key_hash == key_hash
    assert asyncio.run(reconcile_holds(gateway)) == 1
    item = _item(sync, key_hash)
    assert item["h"] == {"M": {}}
    spend = Decimal("0.004") if billed else Decimal(0)
    assert Decimal(item["spend_usd"]["N"]) == spend == Decimal(item["committed_usd"]["N"])
    assert (sync.get_generation("gen-dead", 0) is not None) is billed  # a reconciled record for a billed one
    assert asyncio.run(reconcile_holds(gateway)) == 0 and sync.open_holds(now) == []


def test_the_rpm_count_rides_in_the_hold_and_a_full_minute_holds_nothing(store: DynamoStateStore) -> None:
    key_hash = _key(store, "counted", 1.0, rpm=2)
    store.find_key(key_hash)
    window = NOW // 60
    minute = MinuteCount(window, 2, (window + 2) * 60)
    for n in range(2):
        assert store.reserve(key_hash, Hold(f"gen-m{n}", 0.1, NOW + 900), 1.0, NOW, minute) is None
    with pytest.raises(MinuteFull):
        store.reserve(key_hash, Hold("gen-m2", 0.1, NOW + 900), 1.0, NOW, minute)
    with pytest.raises(MinuteFull):  # a request that holds nothing (a free model) counts in the same minute
        store.count_minute(key_hash, minute)
    item = _item(store, key_hash)
    assert item[f"m{window}"] == {"N": "2"} and set(item["h"]["M"]) == {"gen-m0", "gen-m1"}
    assert Decimal(item["committed_usd"]["N"]) == Decimal("0.2")
    store.find_key(key_hash)  # the next minute's first hold removes the old minute's counter
    later = MinuteCount(window + 1, 2, (window + 3) * 60)
    assert store.reserve(key_hash, Hold("gen-m3", 0.1, NOW + 960), 1.0, NOW + 60, later) is None
    store.count_minute(key_hash, later)
    item = _item(store, key_hash)
    assert item[f"m{window + 1}"] == {"N": "2"} and f"m{window}" not in item


def test_spend_lines_fold_out_of_the_key_item_exactly(store: DynamoStateStore) -> None:
    key_hash = _key(store, "in-item", 10.0)
    days = ("2027-01-14", "2027-01-15")
    for n, day in enumerate([days[0]] * 3 + [days[1]] * 2):
        assert store.reserve(key_hash, Hold(f"gen-f{n}", 0.5, NOW + 900), 10.0, NOW) is None
        assert store.settle(key_hash, f"gen-f{n}", 0.25, 0.5, NOW + DAY, rollup=_line(0.25, day=day))
    before = store.spend_rollups(*days)
    assert store.find_key(key_hash) is not None  # the read folds the older day's line out of the key item
    assert not [name for name in _item(store, key_hash) if name.startswith(f"r|{days[0]}")]
    assert fold(store.db, _item(store, key_hash)) == 0  # nothing older left: a second fold moves nothing
    after = store.spend_rollups(*days)
    totals = {d: sum(r.cost_usd for r in after if r.day == d) for d in days}
    assert totals == {days[0]: 0.75, days[1]: 0.5}
    assert sorted((r.day, r.requests) for r in before) == sorted((r.day, r.requests) for r in after)


def test_what_one_write_of_the_key_item_costs_with_holds_in_flight(store: DynamoStateStore) -> None:
    """docs/SCALE.md section 0: the key item with N holds in flight, each noted as a real attempt is."""
    key_hash = _key(store, "a-typical-key-name", 5.0, rpm=1000)
    store.find_key(key_hash)
    window = NOW // 60
    minute = MinuteCount(window, 1000, (window + 2) * 60)
    note = HoldNote("openrouter", UPSTREAM_ID, 0.000123)
    assert store.reserve(key_hash, Hold("gen-settled", 0.01, NOW + 900, owner=OWNER), 5.0, NOW, minute) is None
    assert store.settle(key_hash, "gen-settled", 0.001, 0.01, NOW + DAY, rollup=_line(0.001))  # today's line
    measured = {}
    for n in range(1, 33):
        hold_id = f"gen-{n:08d}-{'x' * 18}"  # as long as a gateway generation id
        assert store.reserve(key_hash, Hold(hold_id, 0.0123456, NOW + 900, owner=OWNER), 5.0, NOW) is None
        assert store.note_attempt(key_hash, hold_id, note)
        if n in UNITS_IN_FLIGHT:
            measured[n] = math.ceil(item_bytes(_item(store, key_hash)) / 1024)  # 625, 1,710, 5,430 bytes
    assert measured == UNITS_IN_FLIGHT


def test_a_key_item_carries_two_lines_a_day_and_a_third_model_goes_to_the_report_at_once(
    store: DynamoStateStore,
) -> None:
    key_hash = _key(store, "in-item", 10.0)
    models = ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash")
    for n, model in enumerate(models * 2):
        assert store.reserve(key_hash, Hold(f"gen-l{n}", 0.5, NOW + 900), 10.0, NOW) is None
        assert store.settle(key_hash, f"gen-l{n}", 0.25, 0.5, NOW + DAY, rollup=_line(0.25, model=model))
    in_item = {name.rsplit("|", 1)[1] for name in _item(store, key_hash) if name.startswith("r|")}
    assert in_item == set(models[:2])
    report = store.spend_rollups("2027-01-15", "2027-01-15")
    by_model = {m: sum(r.cost_usd for r in report if r.model == m) for m in models}
    assert by_model == dict.fromkeys(models, 0.5)
    assert sum(r.requests for r in report) == 6
