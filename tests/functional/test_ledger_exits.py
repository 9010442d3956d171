"""Every way a request can leave goes through its ledger (PRODUCT.md "Money that cannot leak", issue 29):
an answer, an upstream error, a client that disconnects mid-stream, a cancelled request, the deadline, a
first-token timeout, an answer too large, and a store write that fails. Each exit is charged exactly once what
the upstream billed (within the hold), gives its hold back, and leaves a record.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routeway.domain.records import ApiKeyRecord, GenerationRecord
from routeway.domain.wire import parse_chat_request
from routeway.errors import StoreUnavailable
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.completions import CompletionsService
from routeway.services.written import drained
from tests.conftest import UPSTREAM_KEY, FakeUpstream, budget_key, spend_of
from tests.fakes.openrouter import Scripted
from tests.servers import poll_until, serve_in_thread

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

MODEL = "openai/gpt-5.4-mini"
OTHER = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "hi"}]
BUDGET = 1.0


@pytest.fixture
def release() -> Iterator[threading.Event]:
    gate = threading.Event()
    yield gate
    gate.set()  # the fake's held streams end with the test


def _chunk(generation: str, delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    document = {"id": generation, "object": "chat.completion.chunk", "created": 1, "choices": [choice]}
    return f"data: {json.dumps(document)}\n\n"


def _held_stream(generation: str, release: threading.Event, *, first_content: bool) -> Scripted:
    """A stream the upstream accepted (its generation id in the first chunk) whose rest waits for `release`."""
    first = _chunk(generation, {"role": "assistant", "content": "Hel" if first_content else ""})
    rest = [_chunk(generation, {"content": "lo"}), _chunk(generation, {}, "stop"), "data: [DONE]\n\n"]
    return Scripted(stream=[first, *rest], gate=release, gate_after=1)


def _record(gateway: Gateway, generation_id: str) -> GenerationRecord:
    poll_until(
        lambda: gateway.state.sync.get_generation(generation_id, int(gateway.clock.now())) is not None,
        timeout_s=15.0,
        what="the generation record",
    )
    record = gateway.state.sync.get_generation(generation_id, int(gateway.clock.now()))
    assert record is not None
    return record


def _settled(gateway: Gateway, key_hash: str, charged: float) -> None:
    """Charged exactly `charged`, and nothing held any more."""
    poll_until(lambda: gateway.state.sync.budget_figures(key_hash).held_usd == 0, timeout_s=15.0, what="the release")
    assert spend_of(gateway, key_hash) == pytest.approx(charged, abs=1e-12)
    assert gateway.state.sync.budget_figures(key_hash).held_usd == 0


def _post(gateway: Gateway, key: str, body: dict[str, Any]) -> httpx.Response:
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
    ):
        return client.post("/v1/chat/completions", json=body)


def test_an_answer_is_charged_its_cost_once(gateway: Gateway) -> None:
    key, key_hash = budget_key(gateway, "answer", BUDGET)
    answer = _post(gateway, key, {"model": MODEL, "messages": HI, "max_tokens": 50})
    assert answer.status_code == 200
    cost = answer.json()["usage"]["cost"]
    assert cost > 0
    _settled(gateway, key_hash, cost)
    assert _record(gateway, answer.headers["x-routeway-generation-id"]).cost_usd == pytest.approx(cost)


def test_an_upstream_error_is_charged_nothing_and_recorded(gateway: Gateway, upstream: FakeUpstream) -> None:
    key, key_hash = budget_key(gateway, "error", BUDGET)
    refusal = Scripted(status=400, body={"error": {"code": 400, "message": "bad things"}})
    upstream.fake.enqueue(refusal, refusal)
    answer = _post(gateway, key, {"model": MODEL, "models": [MODEL, OTHER], "messages": HI, "max_tokens": 50})
    assert answer.status_code == 400
    _settled(gateway, key_hash, 0.0)
    record = _record(gateway, answer.headers["x-routeway-generation-id"])
    assert record.status == "error" and record.http_status == 400


def test_a_client_that_leaves_mid_stream_is_charged_what_the_upstream_billed(
    gateway: Gateway, upstream: FakeUpstream, release: threading.Event
) -> None:
    key, key_hash = budget_key(gateway, "leaves", BUDGET)
    upstream.fake.generations["gen-leaves"] = {"total_cost": 0.00042}
    upstream.fake.enqueue(_held_stream("gen-leaves", release, first_content=True))
    body = {"model": MODEL, "messages": HI, "max_tokens": 50, "stream": True}
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
    ):
        with client.stream("POST", "/v1/chat/completions", json=body) as answer:
            generation_id = answer.headers["x-routeway-generation-id"]
            assert b"Hel" in next(answer.iter_bytes())
        # the client is gone; the upstream's bill is looked up and charged
        _settled(gateway, key_hash, 0.00042)
    record = _record(gateway, generation_id)
    assert record.error_code == "client_disconnected" and record.cost_usd == pytest.approx(0.00042)


def test_a_cancelled_request_charges_its_attempt_in_flight_and_leaves_a_record(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    _, key_hash = budget_key(gateway, "cancelled", BUDGET)
    found = gateway.state.sync.find_key(key_hash)
    assert isinstance(found, ApiKeyRecord)
    upstream.fake.enqueue(Scripted(delay_s=20))  # accepted, then slow: the request is cancelled meanwhile
    service = CompletionsService(gateway)
    request = parse_chat_request({"model": MODEL, "messages": HI, "max_tokens": 50})
    seen: dict[str, str] = {}

    async def run() -> None:
        task = asyncio.ensure_future(service.chat(request, found))
        while not upstream.fake.chat_requests():  # bounded by the test's timeout: the call is made at once
            await asyncio.sleep(0.01)
        held = gateway.state.sync.budget_figures(key_hash).held_usd
        assert held > 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await drained(15)
        seen["held"] = str(held)

    asyncio.run(asyncio.wait_for(run(), 30))
    spend = spend_of(gateway, key_hash)
    assert 0 < spend <= float(seen["held"])  # its prompt's estimate: it may have been billed
    assert gateway.state.sync.budget_figures(key_hash).held_usd == 0


def test_an_answer_too_large_is_charged_what_it_was_billed(gateway: Gateway, upstream: FakeUpstream) -> None:
    key, key_hash = budget_key(gateway, "too-large", BUDGET)
    big = {
        "id": "gen-big",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "x" * 7_000_000}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15, "cost": 0.00077},
    }
    upstream.fake.enqueue(Scripted(body=big))
    answer = _post(gateway, key, {"model": MODEL, "messages": HI, "max_tokens": 50})
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "response_too_large"
    charged = spend_of(gateway, key_hash)
    assert 0 < charged <= 0.00077  # its usage, within the hold
    _settled(gateway, key_hash, charged)
    assert _record(gateway, answer.headers["x-routeway-generation-id"]).cost_usd == pytest.approx(charged)


def test_a_first_token_timeout_and_a_deadline_are_charged_through_the_same_ledger(
    gateway: Gateway, upstream: FakeUpstream, release: threading.Event
) -> None:
    key, key_hash = budget_key(gateway, "timeouts", BUDGET)
    upstream.fake.generations["gen-slow-1"] = {"total_cost": 0.0001}
    upstream.fake.enqueue(_held_stream("gen-slow-1", release, first_content=False))  # no content in time
    body = {"model": MODEL, "models": [MODEL, OTHER], "messages": HI, "max_tokens": 50, "stream": True}
    answer = _post(gateway, key, {**body, "first_token_timeout_s": 1})
    assert answer.status_code == 200  # the next attempt answered
    text = answer.text
    assert "Hello" in text
    usage = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")][-1]
    assert usage["route"]["attempts"][0]["error_code"] == "first_token_timeout"
    poll_until(lambda: spend_of(gateway, key_hash) > 0.0001, timeout_s=15.0, what="the charge")
    _settled(gateway, key_hash, spend_of(gateway, key_hash))
    record = _record(gateway, answer.headers["x-routeway-generation-id"])
    assert record.cost_usd == pytest.approx(spend_of(gateway, key_hash))  # the abandoned attempt is in it
    assert record.route["attempts"][0]["cost_usd"] == pytest.approx(0.0001)


def test_a_settle_that_fails_is_retried_until_it_lands(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    key, key_hash = budget_key(gateway, "retried", BUDGET)
    store = gateway.state.sync
    real = store.settle
    failures = {"left": 2}

    def flaky(*args: Any, **kwargs: Any) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreUnavailable("the store is busy")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "settle", flaky)
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
    ):
        answer = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, "max_tokens": 50})
        assert answer.status_code == 200
        cost = answer.json()["usage"]["cost"]
        _settled(gateway, key_hash, cost)  # after two failed writes, the third landed (the server runs on)
    assert failures["left"] == 0
    assert _record(gateway, answer.headers["x-routeway-generation-id"]).cost_usd == pytest.approx(cost)


def test_a_record_write_that_fails_is_retried_until_it_lands(
    gateway: Gateway, api_key: str, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed request that held nothing and cost nothing has its record written on its own (not in a
    settle): a store that is busy then (a call past its timeout under load: RELIABILITY 31 lost one so) delays
    the record, never loses it."""
    store = gateway.state.sync
    real = store.put_generation
    failures = {"left": 2}

    def flaky(record: GenerationRecord) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreUnavailable("the store is busy")
        real(record)

    monkeypatch.setattr(store, "put_generation", flaky)
    upstream.fake.enqueue(Scripted(status=400, body={"error": {"code": 400, "message": "no"}}))
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": api_key}, timeout=30) as client,
    ):
        answer = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI})
        assert answer.status_code == 400
        record = _record(gateway, answer.headers["x-routeway-generation-id"])  # the server runs on meanwhile
    assert failures["left"] == 0
    assert record.http_status == 400 and record.status == "error" and not record.cost_usd


def test_a_sqlite_store_locked_for_12_s_at_settle_time_charges_and_records_once_it_is_free(
    tmp_path: Path, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer is the client's at once; the charge and its record wait for the store (RELIABILITY 73). (On
    DynamoDB, an outage at settle time is the failing-write test above.)"""
    import sqlite3

    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    env = {"ROUTEWAY_HOME": str(tmp_path / "home"), "ROUTEWAY_STORE": "local", "OPENROUTER_BASE_URL": upstream.base_url}
    gateway = build_gateway(Settings.from_env({**env, "OPENROUTER_API_KEY": UPSTREAM_KEY}))
    key, key_hash = budget_key(gateway, "locked", None)  # no budget: nothing held, the charge is all there is
    message = {"role": "assistant", "content": "Hello"}
    answered = {
        "id": "gen-locked",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10, "cost": 0.0004},
    }
    upstream.fake.enqueue(Scripted(delay_s=1.0, body=answered))  # time for the lock to be taken first
    locker = sqlite3.connect(gateway.state.sync.path, timeout=30, isolation_level=None, check_same_thread=False)

    def lock_while_answering() -> None:
        poll_until(lambda: bool(upstream.fake.chat_requests()), timeout_s=15.0, what="the upstream call")
        locker.execute("BEGIN EXCLUSIVE")  # every write waits from here on: the settle after the answer too
        threading.Timer(12.0, locker.rollback).start()

    locking = threading.Thread(target=lock_while_answering)
    locking.start()
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=60) as client,
    ):
        answer = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, "max_tokens": 50})
        locking.join(timeout=30)
        assert answer.status_code == 200
        cost = answer.json()["usage"]["cost"]
        generation_id = answer.headers["x-routeway-generation-id"]
        assert spend_of(gateway, key_hash) == 0  # the store is still locked
        poll_until(lambda: spend_of(gateway, key_hash) > 0, timeout_s=60.0, what="the charge after the lock")
    assert spend_of(gateway, key_hash) == pytest.approx(cost, abs=1e-12)
    assert _record(gateway, generation_id).cost_usd == pytest.approx(cost)
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retried and generation_id in retried[0] and "locked" in retried[0] and f"{cost:.6f}" in retried[0]
    locker.close()
