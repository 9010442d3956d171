"""The negative key cache (PRODUCT.md "Robust under load"): unknown and revoked keys are remembered for
ROUTEWAY_KEY_CACHE_S, so a burst of junk keys reads the store once per distinct key per period. Reads are
counted through the StateStore port (a wrapper around it), whatever store is behind it."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from routeway.errors import InvalidApiKey
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.off_loop import OffLoopState
from routeway.ports import StateStore
from routeway.services import keys as key_service
from routeway.services.keys import KeyCache, authenticate, create_key, hash_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import register_secret
from tests.functional.test_keys import ManualClock

pytestmark = pytest.mark.both_stores


class CountingStore:
    """The StateStore port, counting the key reads that go through it."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.reads: Counter[str] = Counter()

    def find_key(self, key_hash: str) -> Any:
        self.reads[key_hash] += 1
        return self.store.find_key(key_hash)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def counted(env: dict[str, str], clock: ManualClock) -> tuple[Gateway, CountingStore]:
    gateway = build_gateway(Settings.from_env(env), clock=clock)
    spy = CountingStore(gateway.state.sync)
    gateway.state = OffLoopState(cast(StateStore, spy), gateway.off_loop)
    return gateway, spy


def test_a_burst_of_junk_keys_reads_the_store_once_per_key_per_period(
    counted: tuple[Gateway, CountingStore], clock: ManualClock
) -> None:
    gateway, spy = counted
    client = TestClient(create_app(lambda: gateway))
    junk = [f"rw-junk-{i % 7}" for i in range(60)]  # 7 distinct keys, each presented many times
    for key in junk:
        refused = client.get("/v1/info", headers={"x-api-key": key})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert spy.reads == Counter({hash_key(k): 1 for k in set(junk)})

    clock.t += gateway.settings.key_cache_s - 0.5  # still within the period: no new read
    assert client.get("/v1/info", headers={"x-api-key": junk[0]}).status_code == 401
    assert spy.reads[hash_key(junk[0])] == 1
    clock.t += 0.5  # the period is over: read again, once
    for _ in range(3):
        assert client.get("/v1/info", headers={"x-api-key": junk[0]}).status_code == 401
    assert spy.reads[hash_key(junk[0])] == 2


def test_concurrent_lookups_of_one_unknown_key_share_one_read(counted: tuple[Gateway, CountingStore]) -> None:
    gateway, spy = counted

    async def burst() -> list[Any]:
        lookups = [authenticate(gateway.state, f"rw-same-{i % 3}", gateway.key_cache) for i in range(30)]
        return await asyncio.gather(*lookups, return_exceptions=True)

    outcomes = asyncio.run(burst())
    assert all(isinstance(o, InvalidApiKey) for o in outcomes)
    assert spy.reads == Counter({hash_key(f"rw-same-{i}"): 1 for i in range(3)})


def test_a_revoked_key_is_remembered_as_unknown(counted: tuple[Gateway, CountingStore], clock: ManualClock) -> None:
    gateway, spy = counted
    key, record = create_key(gateway.state.sync, gateway.clock, "soon-revoked", budget_usd=1.0)  # never cached
    register_secret(key)
    client = TestClient(create_app(lambda: gateway), headers={"x-api-key": key})
    assert gateway.state.sync.revoke_key("soon-revoked")
    for _ in range(5):
        assert client.get("/v1/info").status_code == 401
    assert spy.reads[record.key_hash] == 1


def test_a_key_created_through_the_admin_api_works_at_once_after_its_hash_was_refused(
    counted: tuple[Gateway, CountingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, spy = counted
    admin, _ = create_key(gateway.state.sync, gateway.clock, "admin", admin=True)
    register_secret(admin)
    client = TestClient(create_app(lambda: gateway))
    monkeypatch.setattr(key_service.secrets, "token_urlsafe", lambda _n: "the-next-secret")
    upcoming = register_secret(key_service.KEY_PREFIX + "the-next-secret")
    assert client.get("/v1/info", headers={"x-api-key": upcoming}).status_code == 401  # now negatively cached
    created = client.post("/admin/v1/keys", json={"name": "fresh"}, headers={"x-api-key": admin})
    assert created.status_code == 201 and created.json()["key"] == upcoming
    assert client.get("/v1/info", headers={"x-api-key": upcoming}).status_code == 200
    assert spy.reads[hash_key(upcoming)] == 2  # the refusal, then the read after the creation


def test_the_negative_cache_is_bounded_and_evicts_the_least_recently_seen(clock: ManualClock) -> None:
    cache = KeyCache(5.0, clock)
    cache.MAX_UNKNOWN = 3
    for digest in ("a", "b", "c"):
        cache.keep_unknown(digest)
    assert cache.is_unknown("a")  # "a" is now the most recently seen
    cache.keep_unknown("d")
    assert [cache.is_unknown(d) for d in ("a", "b", "c", "d")] == [True, False, True, True]
    off = KeyCache(0.0, clock)  # ROUTEWAY_KEY_CACHE_S=0: nothing is remembered
    off.keep_unknown("a")
    assert not off.is_unknown("a")
