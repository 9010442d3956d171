"""Gateway keys on both stores: spend, budgets, rate limits, model lists, and a key store that is down."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from routeway.errors import StoreUnavailable
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key, hash_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.servers import serve_in_thread

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

CHAT = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}


class ManualClock:
    def __init__(self, t: float = 1_795_240_815.0) -> None:  # 15 s into a minute
        self.t = t

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def timed_gateway(env: dict[str, str], clock: ManualClock) -> Gateway:
    return build_gateway(Settings.from_env(env), clock=clock)


def client_with(gateway: Gateway, name: str, **limits: Any) -> tuple[str, TestClient]:
    key, _ = create_key(gateway.state.sync, gateway.clock, name, **limits)
    return register_secret(key), TestClient(create_app(lambda: gateway), headers={"x-api-key": key})


def test_key_info_and_spend_grows_with_each_completion(timed_gateway: Gateway, upstream: FakeUpstream) -> None:
    _, client = client_with(timed_gateway, "spender", budget_usd=5.0, rpm=100, models=("openai/*",))
    assert client.get("/v1/key").json() == {
        "name": "spender",
        "prefix": client.headers["x-api-key"][:10],
        "spend_usd": 0.0,
        "budget_usd": 5.0,
        "rpm": 100,
        "models": ["openai/*"],
        "period": "total",
        "team": None,
        "tpm": None,
        "max_parallel": None,
        "expires_at": None,
    }
    costs = [client.post("/v1/chat/completions", json=CHAT).json()["usage"]["cost"] for _ in range(3)]
    assert all(c > 0 for c in costs)
    assert client.get("/v1/key").json()["spend_usd"] == pytest.approx(sum(costs))


def test_concurrent_charges_are_added_atomically_and_once(gateway: Gateway) -> None:
    key, record = create_key(gateway.state.sync, gateway.clock, "atomic")
    register_secret(key)
    workers = 8  # moto handles one request at a time, as DynamoDB applies each transaction atomically
    expires = int(gateway.clock.now()) + 3600
    with ThreadPoolExecutor(max_workers=workers) as pool:
        charged = list(
            pool.map(
                lambda i: gateway.state.sync.settle(record.key_hash, f"gen-{i % 40}", 0.25, 0.0, expires), range(80)
            )
        )
    assert charged.count(True) == 40  # each generation once, however often its charge is written
    found = gateway.state.sync.find_key(record.key_hash)
    assert found is not None and found.spend_usd == pytest.approx(10.0)


def test_over_budget_is_402_before_any_upstream_call(timed_gateway: Gateway, upstream: FakeUpstream) -> None:
    key, client = client_with(timed_gateway, "broke", budget_usd=0.0001)
    timed_gateway.state.sync.settle(hash_key(key), "gen-earlier", 0.000123, 0.0, 1_900_000_000)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 402 and response.json()["error"]["code"] == "budget_exceeded"
    assert "$0.000123 of its $0.000100 budget" in response.json()["error"]["message"]
    assert upstream.fake.chat_requests() == []
    assert response.headers["x-routeway-generation-id"]


def test_sdk_sees_budget_exceeded_and_authentication_error(timed_gateway: Gateway, upstream: FakeUpstream) -> None:
    key, _ = client_with(timed_gateway, "sdk-broke", budget_usd=1e-9)
    with serve_in_thread(create_app(lambda: timed_gateway)) as url:
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert caught.value.status_code == 402 and caught.value.code == "budget_exceeded"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="rw-wrong", max_retries=0).chat.completions.create(**CHAT)  # type: ignore[call-overload]


def test_rpm_is_a_fixed_window_aligned_to_the_minute(
    timed_gateway: Gateway, clock: ManualClock, upstream: FakeUpstream
) -> None:
    _, client = client_with(timed_gateway, "limited", rpm=2)
    assert [client.post("/v1/chat/completions", json=CHAT).status_code for _ in range(2)] == [200, 200]
    limited = client.post("/v1/chat/completions", json=CHAT)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert limited.headers["retry-after"] == "46"  # 45 s left in the minute, rounded up
    assert len(upstream.fake.chat_requests()) == 2
    assert client.get("/v1/models").status_code == 200  # only completions count
    clock.t += 45  # the next minute
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_a_fixed_model_outside_the_keys_list_is_403_and_routing_modes_filter(
    timed_gateway: Gateway, upstream: FakeUpstream
) -> None:
    _, client = client_with(timed_gateway, "openai-only", models=("openai/*",))
    denied = client.post("/v1/chat/completions", json={**CHAT, "model": "anthropic/claude-sonnet-4.6"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "model_not_allowed"
    fallback = client.post("/v1/chat/completions", json={**CHAT, "models": ["anthropic/claude-sonnet-4.6"]})
    assert fallback.status_code == 403 and fallback.json()["error"]["param"] == "models[0]"
    assert upstream.fake.chat_requests() == []
    preview = client.post("/v1/route/preview", json={**CHAT, "model": "auto", "top_n": 10}).json()
    assert preview["excluded"]["key_model_not_allowed"] > 0
    assert all(c["model"].startswith("openai/") for c in preview["candidates"])
    routed = client.post("/v1/chat/completions", json={**CHAT, "model": "auto"})
    assert routed.status_code == 200 and routed.headers["x-routeway-model"].startswith("openai/")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"x-api-key": "' OR ''='"},
        {"x-api-key": '{"$ne": null}'},
        {"x-api-key": "k" * 10_240},
    ],
)
def test_rel_02_hostile_keys_get_401(gateway: Gateway, headers: dict[str, str]) -> None:
    with TestClient(create_app(lambda: gateway)) as client:
        response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_rel_02_a_unicode_key_gets_401(gateway: Gateway) -> None:
    import httpx

    with serve_in_thread(create_app(lambda: gateway)) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=[(b"x-api-key", "ключ-🔑".encode())])
    assert response.status_code == 401


@pytest.fixture
def key_then_store_down(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> str:
    """A valid key, then a key store that cannot answer: a botocore hook in moto, the adapter raising locally."""
    key, _ = create_key(gateway.state.sync, gateway.clock, "closed")
    if gateway.settings.store == "aws":
        from botocore.exceptions import ClientError

        def throttle(**_kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")

        gateway.state.sync.client.meta.events.register("before-call.dynamodb.GetItem", throttle)  # type: ignore[attr-defined]
    else:

        def unreachable(_hash: str) -> None:
            raise StoreUnavailable("local state store: OperationalError")

        monkeypatch.setattr(gateway.state.sync, "find_key", unreachable)
    return register_secret(key)


def test_rel_05_an_unreachable_key_store_fails_closed(
    gateway: Gateway, upstream: FakeUpstream, key_then_store_down: str
) -> None:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key_then_store_down}) as client:
        response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503 and response.json()["error"]["code"] == "store_unavailable"
    assert upstream.fake.chat_requests() == []


def test_rel_03_only_a_hash_and_a_prefix_are_stored(gateway: Gateway) -> None:
    key, record = create_key(gateway.state.sync, gateway.clock, "stored")
    register_secret(key)
    assert record.key_hash == hash_key(key) and record.prefix == key[:10]
    assert key not in record.model_dump_json()
    if gateway.settings.store == "local":
        stored = b"".join(p.read_bytes() for p in gateway.settings.home.glob("state.db*"))
    else:
        items = gateway.state.sync.client.scan(TableName=gateway.settings.table)["Items"]  # type: ignore[attr-defined]
        stored = repr(items).encode()
    assert key.encode() not in stored and key[10:].encode() not in stored


def test_a_revoked_key_is_refused_once_the_key_cache_has_let_it_go(timed_gateway: Gateway, clock: ManualClock) -> None:
    """A key record serves the next requests for ROUTEWAY_KEY_CACHE_S (5 s by default), so a revocation takes
    effect within that time, and no later."""
    _, client = client_with(timed_gateway, "cached")
    assert client.get("/v1/info").status_code == 200
    assert timed_gateway.state.sync.revoke_key("cached")
    assert client.get("/v1/info").status_code == 200  # the clock has not moved: still the cached record
    clock.t += timed_gateway.settings.key_cache_s
    refused = client.get("/v1/info")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_keys_with_a_budget_and_key_cache_zero_are_read_fresh(env: dict[str, str], clock: ManualClock) -> None:
    """Nothing money-related reads a cached record: a budgeted key is read from the store on every request
    (its revocation is immediate too); ROUTEWAY_KEY_CACHE_S=0 turns the cache off for every key."""
    budgeted = build_gateway(Settings.from_env(env), clock=clock)
    uncached = build_gateway(Settings.from_env({**env, "ROUTEWAY_KEY_CACHE_S": "0"}), clock=clock)
    for gateway, name, limits in ((budgeted, "budgeted", {"budget_usd": 1.0}), (uncached, "plain", {})):
        _, client = client_with(gateway, name, **limits)
        assert client.get("/v1/info").status_code == 200
        assert gateway.state.sync.revoke_key(name)
        assert client.get("/v1/info").status_code == 401, name


def test_key_info_reads_fresh_spend_for_a_cached_key(timed_gateway: Gateway, upstream: FakeUpstream) -> None:
    _, client = client_with(timed_gateway, "no-budget")
    assert client.get("/v1/key").json()["spend_usd"] == 0.0
    cost = client.post("/v1/chat/completions", json=CHAT).json()["usage"]["cost"]  # authenticated from the cache
    assert cost > 0
    assert client.get("/v1/key").json()["spend_usd"] == pytest.approx(cost)
