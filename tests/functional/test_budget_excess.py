"""The charge never exceeds the hold (PRODUCT.md "Money that cannot leak", RELIABILITY 68).

An upstream that bills more than the hold (a stale catalog price, a bad `usage.cost`) charges the key the
hold at most; the generation records `excess_usd` and a warning names it. A `usage.cost` that is missing,
a bool, not a number, negative or above the hold is replaced by the catalog price of the reported usage.
Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.domain.catalog import Pricing
from routeway.domain.reservation import plan_bound
from routeway.domain.wire import parse_chat_request
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.routing import plan_for
from tests.conftest import FakeUpstream, budget_key, spend_of
from tests.fakes.openrouter import Scripted

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

MODEL = "openai/gpt-5.4-mini"
HI = [{"role": "user", "content": "hi"}]
BODY = {"model": MODEL, "messages": HI, "max_tokens": 50}
BUDGET = 0.001
MISSING = object()


def _hold_and_pricing(gateway: Gateway, body: dict[str, Any]) -> tuple[float, Pricing]:
    catalog = gateway.catalog.current_blocking()
    plan, _, _ = plan_for(gateway, catalog, parse_chat_request(body), None)
    bound = plan_bound(plan.attempts, body, fan_out=plan.fan_out)
    assert bound is not None
    row = plan.attempts[0].row
    return bound, row.endpoint.pricing if row.endpoint else row.model.pricing


def _usage(cost: Any, prompt: int = 8, completion: int = 2) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    if cost is not MISSING:
        usage["cost"] = cost
    return usage


def _answer(usage: dict[str, Any]) -> dict[str, Any]:
    message = {"role": "assistant", "content": "ok"}
    return {
        "id": "gen-upstream",
        "object": "chat.completion",
        "model": MODEL,
        "provider": "OpenAI",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
    }


def _raw(usage: dict[str, Any]) -> bytes:
    """The answer as the upstream sends it: JSON with whatever `cost` it claims (1e300 included)."""
    return json.dumps(_answer(usage)).encode()


def _excess_warnings(caplog: pytest.LogCaptureFixture, generation_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING
        and getattr(r, "generation_id", None) == generation_id
        and getattr(r, "excess_usd", 0) > 0
    ]


@pytest.mark.parametrize(
    "cost", [5, 1e300, -1, True, "abc", MISSING, None], ids=["5", "1e300", "-1", "true", "abc", "missing", "null"]
)
def test_rel_68_a_nonsense_usage_cost_is_charged_the_catalog_price_within_the_hold(
    gateway: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture, cost: Any
) -> None:
    key, key_hash = budget_key(gateway, "hostile-cost", BUDGET)
    hold, pricing = _hold_and_pricing(gateway, BODY)
    assert hold <= BUDGET
    catalog_price = 8 * pricing.prompt + 2 * pricing.completion + pricing.request
    assert 0 < catalog_price < hold
    upstream.fake.enqueue(Scripted(body=_raw(_usage(cost))))
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=BODY)
        assert answer.status_code == 200, answer.text
        generation_id = answer.headers["x-routeway-generation-id"]
        shown = answer.json()["usage"]["cost"]
        explained = client.get(f"/v1/route/explain/{generation_id}").json()
        again = client.post("/v1/chat/completions", json=BODY)  # the key is never locked out by the figure
        assert again.status_code == 200
    spend = spend_of(gateway, key_hash)
    assert shown == pytest.approx(catalog_price)  # the client is told what it was charged
    assert spend <= BUDGET
    record = gateway.state.sync.get_generation(generation_id, int(time.time()))
    assert record is not None and record.cost_usd == pytest.approx(catalog_price)
    billed_over = isinstance(cost, int | float) and not isinstance(cost, bool) and cost > hold
    if billed_over:  # the upstream's own figure passed the hold: the excess is recorded, logged and shown
        assert record.excess_usd == pytest.approx(cost - catalog_price)
        assert explained["excess_usd"] == pytest.approx(cost - catalog_price)
        warnings = _excess_warnings(caplog, generation_id)
        assert warnings and warnings[0].key_name == "hostile-cost"  # type: ignore[attr-defined]
    else:
        assert record.excess_usd is None and explained["excess_usd"] is None
        assert not _excess_warnings(caplog, generation_id)


def test_rel_68_a_stale_catalog_price_charges_the_hold_and_records_the_excess(
    gateway: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """The upstream billed $0.00525 for more tokens than the hold allowed: the key pays the hold, no more."""
    key, key_hash = budget_key(gateway, "stale-price", BUDGET)
    hold, _ = _hold_and_pricing(gateway, BODY)
    upstream.fake.enqueue(Scripted(body=_answer(_usage(0.00525, completion=20_000))))
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=BODY)
        assert answer.status_code == 200, answer.text
    generation_id = answer.headers["x-routeway-generation-id"]
    assert answer.json()["usage"]["cost"] == pytest.approx(hold)
    assert spend_of(gateway, key_hash) == pytest.approx(hold)
    record = gateway.state.sync.get_generation(generation_id, int(time.time()))
    assert record is not None and record.excess_usd == pytest.approx(0.00525 - hold)
    warnings = _excess_warnings(caplog, generation_id)
    assert len(warnings) == 1 and warnings[0].charged_usd == pytest.approx(hold)  # type: ignore[attr-defined]


def test_a_key_without_a_budget_is_charged_a_usable_cost_as_reported(gateway: Gateway, upstream: FakeUpstream) -> None:
    key, key_hash = budget_key(gateway, "no-budget", None)
    upstream.fake.enqueue(Scripted(body=_answer(_usage(0.25))))
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=BODY)
    assert answer.json()["usage"]["cost"] == pytest.approx(0.25)
    assert spend_of(gateway, key_hash) == pytest.approx(0.25)


def _stream(usage: dict[str, Any]) -> list[str]:
    head = {"id": "gen-stream-cost", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    pieces = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": usage},
    ]
    return [f"data: {json.dumps(p)}\n\n" for p in pieces] + ["data: [DONE]\n\n"]


@pytest.mark.parametrize("cost", [5, "abc"], ids=["5", "abc"])
def test_rel_68_a_stream_with_a_bad_cost_is_charged_within_the_hold(
    gateway: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture, cost: Any
) -> None:
    key, key_hash = budget_key(gateway, "stream-cost", BUDGET)
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    hold, pricing = _hold_and_pricing(gateway, body)
    catalog_price = 8 * pricing.prompt + 2 * pricing.completion + pricing.request
    upstream.fake.enqueue(Scripted(stream=_stream(_usage(cost))))
    caplog.set_level(logging.WARNING)
    with (
        TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as answer,
    ):
        assert answer.status_code == 200
        generation_id = answer.headers["x-routeway-generation-id"]
        events = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: {")]
    shown = next(e["usage"]["cost"] for e in events if e.get("usage"))
    spend = spend_of(gateway, key_hash)
    assert shown == pytest.approx(catalog_price) and spend == pytest.approx(catalog_price)
    assert spend <= hold
    record = gateway.state.sync.get_generation(generation_id, int(time.time()))
    assert record is not None and record.cost_usd == pytest.approx(catalog_price)
    if cost == 5:
        assert record.excess_usd == pytest.approx(5 - catalog_price)
        assert _excess_warnings(caplog, generation_id)
    else:
        assert record.excess_usd is None


def test_rel_68_an_embedding_billed_past_the_hold_is_charged_within_it(
    gateway: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    key, key_hash = budget_key(gateway, "embeds", BUDGET)
    answer_body = {
        "object": "list",
        "model": "openai/text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4, "cost": 5},
    }
    upstream.fake.enqueue(Scripted(path="/embeddings", body=answer_body))
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        body = {"model": "openai/text-embedding-3-small", "input": "hi", "encoding_format": "float"}
        answer = client.post("/v1/embeddings", json=body)
        assert answer.status_code == 200, answer.text
    generation_id = answer.headers["x-routeway-generation-id"]
    shown = answer.json()["usage"]["cost"]
    spend = spend_of(gateway, key_hash)
    assert 0 < shown < 0.001 and spend == pytest.approx(shown)  # the catalog price of 4 tokens
    record = gateway.state.sync.get_generation(generation_id, int(time.time()))
    assert record is not None and record.excess_usd == pytest.approx(5 - shown)
    assert _excess_warnings(caplog, generation_id)
