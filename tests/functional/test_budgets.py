"""Money (PRODUCT.md "Money and trust", RELIABILITY 36-38): budgets that hold under concurrency, streams that
are paid for when the client walks away, and a generation charged once even when its write is retried.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.domain.reservation import attempt_bound, plan_bound, prompt_token_bound
from routeway.domain.wire import parse_chat_request
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.routing import plan_for
from tests.conftest import FakeUpstream, budget_key, spend_of
from tests.fakes.openrouter import Scripted
from tests.media_files import b64, file_part, make_pdf
from tests.servers import poll_until, serve_in_thread

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

MODEL = "openai/gpt-5.4-mini"
VISION = "google/gemini-3-flash-preview"  # reads PDFs
HI = [{"role": "user", "content": "hi"}]


def _bound(gateway: Gateway, body: dict[str, Any]) -> float:
    catalog = gateway.catalog.current_blocking()
    request = parse_chat_request(body)
    plan, _, _ = plan_for(gateway, catalog, request, None)
    bound = plan_bound(plan.attempts, body, fan_out=plan.fan_out)
    assert bound is not None
    return bound


def test_rel_36_thirty_concurrent_requests_never_spend_past_the_budget(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    budget = 0.001
    body = {"model": "openai/gpt-4o-mini", "messages": HI, "max_tokens": 256}
    assert 0 < _bound(gateway, body) < budget / 2  # several fit at once, thirty do not
    key, key_hash = budget_key(gateway, "thirty", budget)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(lambda: gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers={"x-api-key": key}) as client:
            return list(
                await asyncio.gather(*(client.post("/v1/chat/completions", json=body, timeout=60) for _ in range(30)))
            )

    answers = asyncio.run(burst())
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 402}, statuses
    refused = next(a.json()["error"] for a in answers if a.status_code == 402)
    assert refused["code"] == "budget_exceeded" and "$0.001000 budget" in refused["message"]
    paid = [a.json()["usage"]["cost"] for a in answers if a.status_code == 200]
    spend = spend_of(gateway, key_hash)
    assert spend <= budget
    assert spend == pytest.approx(sum(paid), abs=1e-9)  # each answer charged once, what the client was told
    assert len(upstream.fake.chat_requests()) == len(paid)  # a refused request never reached the upstream


def test_rel_36_a_fan_out_holds_the_sum_of_its_models(gateway: Gateway, upstream: FakeUpstream) -> None:
    fan_out = {"model": "bodybuilder", "messages": HI, "max_tokens": 64}
    catalog = gateway.catalog.current_blocking()
    plan, _, _ = plan_for(gateway, catalog, parse_chat_request(fan_out), None)
    assert plan.fan_out and len(plan.attempts) >= 2
    tokens, media = prompt_token_bound(fan_out)
    each = [attempt_bound(c, fan_out, tokens, media) or 0.0 for c in plan.attempts]
    assert _bound(gateway, fan_out) == pytest.approx(sum(each))
    key, key_hash = budget_key(gateway, "fan-out", (max(each) + sum(each)) / 2)  # one model fits, all of them do not
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as test_client:
        refused = test_client.post("/v1/chat/completions", json=fan_out)
        assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
        assert upstream.fake.chat_requests() == []
        single = {"model": plan.attempts[0].row.model.id, "messages": HI, "max_tokens": 64}
        assert test_client.post("/v1/chat/completions", json=single).status_code == 200
    assert 0 < spend_of(gateway, key_hash) <= (max(each) + sum(each)) / 2


def test_rel_36_without_max_tokens_the_model_limit_is_held_and_the_402_says_so(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    body = {"model": MODEL, "messages": HI}
    bound = _bound(gateway, body)
    key, _ = budget_key(gateway, "no-max-tokens", bound / 2)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        refused = client.post("/v1/chat/completions", json=body)
        error = refused.json()["error"]
        assert refused.status_code == 402 and f"up to ${bound:.6f}" in error["message"]
        assert "max_tokens" in error["message"] and error["request_max_usd"] == round(bound, 6)
        assert client.post("/v1/chat/completions", json={**body, "max_tokens": 16}).status_code == 200


def _stream_pieces(generation_id: str) -> list[bytes | str]:
    def chunk(delta: dict[str, Any]) -> str:
        document = {
            "id": generation_id,
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "provider": "OpenAI",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        return f"data: {json.dumps(document)}\n\n"

    words = [chunk({"content": f"word{i} "}) for i in range(40)]
    return [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello "}), *words, "data: [DONE]\n\n"]


def _abandon_after_first_content(url: str, key: str) -> None:
    body = {"model": MODEL, "messages": HI, "stream": True, "max_tokens": 200}
    with (
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:") and "Hello" in line:
                return  # the client walks away


def _wait_for(check: Any, what: str = "the charge") -> None:
    """Poll until `check` holds; fail after 15 s. Never a fixed sleep."""
    poll_until(lambda: bool(check()), timeout_s=15.0, what=what)


@pytest.mark.parametrize("upstream_knows_it", [True, False])
def test_rel_37_a_stream_abandoned_after_its_first_content_is_charged(
    gateway: Gateway, upstream: FakeUpstream, upstream_knows_it: bool
) -> None:
    key, key_hash = budget_key(gateway, "walks-away", 1.0)
    generation = f"gen-abandoned-{upstream_knows_it}"
    if upstream_knows_it:
        # within the hold (~$0.00091 for 200 tokens): a bill past it is charged the hold (test_budget_excess.py)
        upstream.fake.generations[generation] = {"total_cost": 0.00042, "tokens_prompt": 8, "tokens_completion": 2}
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=_stream_pieces(generation), gate=release, gate_after=2))
    try:
        with serve_in_thread(create_app(lambda: gateway)) as url:
            _abandon_after_first_content(url, key)
            _wait_for(lambda: upstream.fake.streams_cancelled == 1)  # the upstream call was cancelled
            _wait_for(lambda: spend_of(gateway, key_hash) > 0)
    finally:
        release.set()
    spend = spend_of(gateway, key_hash)
    lookups = [r for r in upstream.fake.requests if r.path.endswith("/generation")]
    assert lookups  # OpenRouter was asked what it billed
    if upstream_knows_it:
        assert spend == pytest.approx(0.00042)
    else:  # an estimate from the prompt and the relayed tokens: above zero, far below the 200-token bound
        assert 0 < spend < 0.001


def test_rel_37_the_record_of_an_abandoned_stream_says_what_was_charged(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "walks-away-record", None)  # no budget: still charged
    upstream.fake.generations["gen-rec"] = {"total_cost": 0.0031}
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=_stream_pieces("gen-rec"), gate=release, gate_after=2))
    try:
        with serve_in_thread(create_app(lambda: gateway)) as url:
            body = {"model": MODEL, "messages": HI, "stream": True}
            with (
                httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
                client.stream("POST", "/v1/chat/completions", json=body) as response,
            ):
                generation_id = response.headers["x-routeway-generation-id"]
                next(line for line in response.iter_lines() if "Hello" in line)
            _wait_for(lambda: spend_of(gateway, key_hash) == pytest.approx(0.0031))

            def recorded() -> Any:
                found = gateway.state.sync.get_generation(generation_id, int(time.time()))
                return found if found and found.cost_usd == pytest.approx(0.0031) else None

            _wait_for(recorded)
    finally:
        release.set()
    record = recorded()
    assert record.error_code == "client_disconnected" and record.usage["cost_source"] == "upstream_generation"


def test_rel_38_a_retried_charge_write_charges_once(gateway: Gateway, upstream: FakeUpstream) -> None:
    """boto3 retries a write whose answer it did not get (a read timeout) although the write happened;
    here every store write is forced to run twice, and the key is still charged once per generation."""
    key, key_hash = budget_key(gateway, "retried", 1.0)
    if gateway.settings.store == "aws":
        retried: list[str] = []

        def retry_once(attempts: int, operation: Any, **_: Any) -> float | None:
            if attempts == 1 and operation.name in ("TransactWriteItems", "UpdateItem"):  # holds and settles
                retried.append(operation.name)
                return 0.0  # "retry now", as after a timeout
            return None

        for call in ("TransactWriteItems", "UpdateItem"):
            gateway.state.sync.client.meta.events.register(f"needs-retry.dynamodb.{call}", retry_once)
    else:  # SQLite has no client retry: write every settlement twice, as a retry would
        settle = gateway.state.sync.settle

        def twice(*args: Any) -> bool:
            first = settle(*args)
            second = settle(*args)
            assert first and not second
            return first

        gateway.state.sync.settle = twice  # type: ignore[method-assign]

    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        costs = [client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI}).json() for _ in range(3)]
    paid = [c["usage"]["cost"] for c in costs]
    assert all(p > 0 for p in paid)
    assert spend_of(gateway, key_hash) == pytest.approx(sum(paid), abs=1e-12)
    if gateway.settings.store == "aws":
        assert retried  # the forced retries did happen


def _big_completion(cost: float, size: int) -> dict[str, Any]:
    return {
        "id": "gen-big",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "provider": "OpenAI",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * size}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": size // 4, "total_tokens": 8 + size // 4, "cost": cost},
    }


def test_rel_46_an_answer_over_the_entry_limit_is_a_charged_502_and_no_fallback(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_ANSWER_LIMIT_BYTES": "50000"}))
    key, key_hash = budget_key(gateway, "big-answers", 1.0)
    upstream.fake.enqueue(Scripted(body=_big_completion(0.0123, 200_000)))
    body = {"model": MODEL, "models": [MODEL, "openai/gpt-4o-mini"], "messages": HI, "max_tokens": 60_000}
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=body)
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "response_too_large"
        assert len(answer.content) < 50_000  # never the oversized answer, never a truncated one
        assert len(upstream.fake.chat_requests()) == 1  # paid for: no second model answers the same again
        record = gateway.state.sync.get_generation(answer.headers["x-routeway-generation-id"], int(time.time()))
        assert record is not None and record.error_code == "response_too_large"
        assert record.cost_usd == pytest.approx(0.0123)
        assert client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI}).status_code == 200
    assert spend_of(gateway, key_hash) > 0.0123  # the big answer, and the normal one after it


def test_rel_46_a_stream_past_the_entry_limit_ends_with_an_error_event_and_is_charged(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_ANSWER_LIMIT_BYTES": "20000"}))
    key, key_hash = budget_key(gateway, "big-stream", None)
    upstream.fake.generations["gen-long"] = {"total_cost": 0.0077}
    pieces = _stream_pieces("gen-long")
    pieces[2:-1] = pieces[2:-1] * 30  # about 45 kB of events
    upstream.fake.enqueue(Scripted(stream=pieces))
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
    ):
        body = {"model": MODEL, "messages": HI, "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            events = [line for line in response.iter_lines() if line.startswith("data:")]
        _wait_for(lambda: spend_of(gateway, key_hash) == pytest.approx(0.0077))  # while the server runs
    last = json.loads(next(e for e in reversed(events) if e != "data: [DONE]").removeprefix("data: "))
    assert last["error"]["code"] == "response_too_large"
    assert sum(len(e) for e in events) < 25_000


def test_usage_is_found_in_the_tail_of_an_oversized_answer() -> None:
    from routeway.domain.oversize import usage_in_tail

    tail = b'xxxx"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "cost_details": {"a": 1}, "cost": 0.5}}'
    assert usage_in_tail(tail) == {"prompt_tokens": 3, "cost_details": {"a": 1}, "cost": 0.5}
    assert usage_in_tail(b'"usage": {"prompt_tokens": 3, "co') is None  # cut: not whole in the tail
    assert usage_in_tail(b"no usage here") is None


def test_a_hold_whose_request_died_is_released_once_it_expires(gateway: Gateway) -> None:
    from routeway.domain.records import Hold

    store = gateway.state.sync
    _, key_hash = budget_key(gateway, "died", 1.0)
    now = 1_800_000_000
    assert store.reserve(key_hash, Hold("gen-died", 0.8, now + 60), 1.0, now) is None  # its process then dies
    refused = store.reserve(key_hash, Hold("gen-next", 0.5, now + 960), 1.0, now + 30)
    assert refused is not None and refused.held_usd == pytest.approx(0.8)  # still in flight: it counts
    assert store.reserve(key_hash, Hold("gen-next", 0.5, now + 960), 1.0, now + 61) is None  # expired: released
    assert store.reserve(key_hash, Hold("gen-next", 0.5, now + 960), 1.0, now + 61) is None  # the same hold again
    assert store.settle(key_hash, "gen-next", 0.2, 0.5, now + 86_400)
    assert store.settle(key_hash, "gen-died", 0.3, 0.8, now + 86_400)  # a late settle of the released hold
    assert not store.settle(key_hash, "gen-died", 0.3, 0.8, now + 86_400)
    assert spend_of(gateway, key_hash) == pytest.approx(0.5)
    refused = store.reserve(key_hash, Hold("gen-last", 0.6, now + 960), 1.0, now + 62)
    assert refused is not None and refused.spend_usd == pytest.approx(0.5) and refused.held_usd == pytest.approx(0)
    assert store.reserve(key_hash, Hold("gen-last", 0.5, now + 960), 1.0, now + 62) is None  # exactly the rest


def test_rel_36_a_fallback_list_uses_the_attempts_the_budget_can_hold(gateway: Gateway, upstream: FakeUpstream) -> None:
    """`auto` ranks dear models too: a small budget skips the attempts it cannot hold, never the whole request."""
    body = {"model": "auto", "messages": HI, "max_tokens": 2000}
    catalog = gateway.catalog.current_blocking()
    plan, _, _ = plan_for(gateway, catalog, parse_chat_request(body), None)
    tokens, media = prompt_token_bound(body)
    bounds = [attempt_bound(c, body, tokens, media) or 0.0 for c in plan.attempts]
    affordable = next(i for i, b in enumerate(bounds) if b < bounds[0])  # a cheaper attempt after the first
    budget = (bounds[affordable] + bounds[0]) / 2
    key, key_hash = budget_key(gateway, "small-auto", budget)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    first = plan.attempts[0]
    sent = [(r.body["model"], (r.body.get("provider") or {}).get("order")) for r in upstream.fake.chat_requests()]
    assert sent and (first.upstream_model, [first.row.provider_slug]) not in sent  # never the attempt it cannot hold
    assert 0 < spend_of(gateway, key_hash) <= budget


def test_a_paid_request_makes_one_hold_and_one_write_for_its_record_and_charge(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "one-write", 1.0)
    store = gateway.state.sync
    calls: list[str] = []
    for name in ("reserve", "settle", "put_generation"):
        original = getattr(store, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        setattr(store, name, counted)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, "max_tokens": 50})
    assert answer.status_code == 200
    assert calls == ["reserve", "settle"]  # the record rides with the charge
    record = store.get_generation(answer.headers["x-routeway-generation-id"], int(time.time()))
    assert record is not None and record.cost_usd == pytest.approx(answer.json()["usage"]["cost"])
    assert spend_of(gateway, key_hash) == pytest.approx(answer.json()["usage"]["cost"])


def test_a_large_pdf_holds_its_pages_and_is_refused_past_a_small_budget(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    """PRODUCT.md "Holds bound media": a 3.6 MB PDF of 300 pages holds its pages, not a flat allowance that its
    bill would pass; a one-page PDF still fits the same budget. The refusal comes before any upstream call."""
    one_page = {"model": VISION, "messages": [_user_with(file_part(make_pdf(1)))], "max_tokens": 64}
    large = {**one_page, "messages": [_user_with(file_part(make_pdf(300, filler=11_500)))]}
    assert 3_600_000 < len(large["messages"][0]["content"][1]["file"]["file_data"]) < 5_000_000
    budget = 0.05  # a flat 3,000 tokens a part held the large PDF at under $0.01
    assert _bound(gateway, one_page) < budget
    key, key_hash = budget_key(gateway, "pdf-reader", budget)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        refused = client.post("/v1/chat/completions", json=large)
        assert refused.status_code == 402, refused.text[:300]
        assert refused.json()["error"]["code"] == "budget_exceeded"
        assert upstream.fake.chat_requests() == []
        document = {"type": "base64", "media_type": "application/pdf", "data": b64(make_pdf(300, filler=11_500))}
        anthropic = {
            "model": VISION,
            "max_tokens": 64,
            "messages": [_user_with({"type": "document", "source": document})],
        }
        assert client.post("/v1/messages", json=anthropic).status_code == 402  # the same hold in every dialect
        assert upstream.fake.chat_requests() == []
        answered = client.post("/v1/chat/completions", json=one_page)
        assert answered.status_code == 200, answered.text[:300]
    assert 0 < spend_of(gateway, key_hash) <= budget
    assert _bound(gateway, large) > 50 * budget  # 300 pages, each its page image and a page of text


def _user_with(part: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": "summarize"}, part]}
