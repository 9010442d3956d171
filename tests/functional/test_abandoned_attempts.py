"""Attempts the gateway gives up on are paid for (RELIABILITY 67, issue 29's first-token-timeout burn).

A stream attempt whose upstream accepted it (200, its generation id in the first chunk) but sent no content
within the first-token timeout, or before the request's deadline, is abandoned by the gateway and the next
one called: each may have been billed, so each is charged what OpenRouter's `GET /generation?id=` says, from
the request's one hold, and the request's attempts together never pass the key's budget.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from routeway.domain.reservation import attempt_bound, prompt_token_bound
from routeway.domain.wire import parse_chat_request
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.routing import plan_for
from tests.conftest import FakeUpstream, budget_key, spend_of
from tests.fakes.openrouter import Scripted
from tests.servers import poll_until, serve_in_thread

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

PRIMARY = "openai/gpt-5.4-mini"
FALLBACK = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "hi"}]
BUDGET = 0.003


def _smallest_bound(gateway: Gateway, body: dict[str, Any]) -> float:
    """The least any attempt of `body` holds: what an abandoned attempt is billed stays within it."""
    catalog = gateway.catalog.current_blocking()
    plan, _, _ = plan_for(gateway, catalog, parse_chat_request(body), None)
    tokens, media = prompt_token_bound(body)
    bounds = [attempt_bound(c, body, tokens, media) for c in plan.attempts]
    assert all(b is not None for b in bounds)
    return min(b for b in bounds if b is not None)


def _slow_first_token(generation: str, release: threading.Event) -> Scripted:
    """A stream the upstream accepts at once (200, a role chunk naming its generation) whose first content
    waits for `release`: past any first-token timeout."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        document = {"id": generation, "object": "chat.completion.chunk", "created": 1, "choices": [choice]}
        return f"data: {json.dumps(document)}\n\n"

    pieces = [chunk({"role": "assistant", "content": ""}), chunk({"content": "late"}), chunk({}, "stop")]
    return Scripted(stream=[*pieces, "data: [DONE]\n\n"], gate=release, gate_after=1)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    gate = threading.Event()
    yield gate
    gate.set()  # the fake's held streams end with the test


def _lookups(upstream: FakeUpstream) -> int:
    return len([r for r in upstream.fake.requests if r.path.endswith("/generation")])


def test_rel_67_the_first_token_timeout_burn_is_charged_and_stays_within_the_budget(
    gateway: Gateway, upstream: FakeUpstream, release: threading.Event
) -> None:
    key, key_hash = budget_key(gateway, "burn", BUDGET)
    body = {"model": PRIMARY, "models": [PRIMARY, FALLBACK], "messages": HI, "max_tokens": 1000, "stream": True}
    billed = _smallest_bound(gateway, body) * 0.9  # what the upstream bills each abandoned generation
    assert billed * 3 < BUDGET < billed * 10  # a few of its attempts fit in the budget, not ten requests' worth
    for index in range(20):
        upstream.fake.generations[f"gen-burn-{index}"] = {"total_cost": billed}
        upstream.fake.enqueue(_slow_first_token(f"gen-burn-{index}", release))
    statuses = []
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
    ):
        for _ in range(10):
            answer = client.post("/v1/chat/completions", json={**body, "first_token_timeout_s": 1})
            statuses.append(answer.status_code)
            if answer.status_code == 402:
                break
            route = answer.json()["error"]["attempts"]
            assert {a["error_code"] for a in route} == {"first_token_timeout"}
            assert all(a["cost_usd"] == pytest.approx(billed) for a in route)  # each abandoned one, its cost
    called = len(upstream.fake.chat_requests())  # each call took one scripted generation, in order
    assert statuses[-1] == 402 and set(statuses[:-1]) <= {502, 504}, statuses
    spend = spend_of(gateway, key_hash)
    assert spend <= BUDGET
    assert spend == pytest.approx(called * billed, abs=1e-12)  # what the upstream billed, every call of it
    assert _lookups(upstream) >= called  # OpenRouter was asked what each abandoned generation billed


def test_rel_67_an_attempt_abandoned_at_the_deadline_is_charged_and_a_plain_request_is_not_affected(
    env: dict[str, str], upstream: FakeUpstream, release: threading.Event
) -> None:
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_DEADLINE_S": "2.5"}))
    key, key_hash = budget_key(gateway, "deadline", 1.0)
    upstream.fake.generations["gen-deadline"] = {"total_cost": 0.00031}
    upstream.fake.enqueue(_slow_first_token("gen-deadline", release))
    body = {"model": PRIMARY, "messages": HI, "max_tokens": 200, "stream": True, "first_token_timeout_s": 60}
    with (
        serve_in_thread(create_app(lambda: gateway)) as url,
        httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
    ):
        answer = client.post("/v1/chat/completions", json=body)
        assert answer.status_code == 504, answer.text[:300]
        generation_id = answer.headers["x-routeway-generation-id"]
        assert spend_of(gateway, key_hash) == pytest.approx(0.00031)  # charged before the 504 was sent
        lookups = _lookups(upstream)
        plain = client.post("/v1/chat/completions", json={"model": PRIMARY, "messages": HI, "max_tokens": 200})
        assert plain.status_code == 200
        paid = plain.json()["usage"]["cost"]
        assert paid > 0
    assert spend_of(gateway, key_hash) == pytest.approx(0.00031 + paid, abs=1e-12)  # its own cost, no more
    assert _lookups(upstream) == lookups  # a whole answer's cost is its usage: nothing looked up

    def recorded() -> Any:
        return gateway.state.sync.get_generation(generation_id, int(time.time()))

    poll_until(lambda: recorded() is not None, timeout_s=15.0, what="the record")
    record = recorded()
    assert record.cost_usd == pytest.approx(0.00031)
    assert [a.get("cost_usd") for a in record.route["attempts"]] == [pytest.approx(0.00031)]
