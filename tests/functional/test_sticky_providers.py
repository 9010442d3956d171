"""Sticky providers (PRODUCT.md "Sticky providers", RELIABILITY 63): a conversation's turns go to the provider
that answered its last turn while it is healthy; a failure moves it; another key never inherits it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.cooldowns import CooldownTracker
from tests.conftest import FakeUpstream, register_secret, seed_key
from tests.fakes.openrouter import Scripted

MODEL = "anthropic/claude-sonnet-4.5"  # six endpoints at one price: without stickiness a draw picks each turn
SYSTEM = [{"type": "text", "text": "You are a careful coder. " * 40, "cache_control": {"type": "ephemeral"}}]
OTHER_KEY = "rw-sticky-test-other-key-000000000000"


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def messages_turn(client: TestClient, history: list[dict[str, Any]], **headers: str) -> tuple[str, list[str], Any]:
    body = {"model": MODEL, "max_tokens": 64, "system": SYSTEM, "messages": history}
    answer = client.post("/v1/messages", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    return document["route"]["attempts"][-1]["provider_slug"], document["route"]["reason"], document


def conversation(turns: int) -> Iterator[list[dict[str, Any]]]:
    history: list[dict[str, Any]] = []
    for index in range(turns):
        history = [*history, {"role": "user", "content": f"step {index}: go on"}]
        yield history
        history = [*history, {"role": "assistant", "content": "done"}]


def test_every_turn_after_the_first_goes_to_the_same_provider(client: TestClient, upstream: FakeUpstream) -> None:
    served = [messages_turn(client, history) for history in conversation(10)]
    providers = [provider for provider, _, _ in served]
    assert len(set(providers)) == 1, providers
    assert all(reason[0] == "sticky" for _, reason, _ in served[1:])
    assert served[0][1][0] != "sticky"
    usages = [document["usage"] for _, _, document in served]
    assert usages[0]["cache_creation_input_tokens"] > 0
    assert all(u["cache_read_input_tokens"] > 0 for u in usages[1:])  # the provider's cache hit every turn
    sent = [r.body["provider"]["order"] for r in upstream.fake.chat_requests()]
    assert all(order == sent[0] for order in sent)


def test_without_a_conversation_the_draw_spreads_turns(client: TestClient) -> None:
    """The control: different conversations are spread over the providers, so the test above can fail."""
    providers = {messages_turn(client, [{"role": "user", "content": f"question {i}"}])[0] for i in range(12)}
    assert len(providers) > 1


def test_a_failure_of_the_sticky_provider_moves_the_conversation(client: TestClient, upstream: FakeUpstream) -> None:
    turns = conversation(4)
    first, _, _ = messages_turn(client, next(turns))
    upstream.fake.enqueue(Scripted(status=500, body={"error": {"code": 500, "message": "down"}}, model=MODEL))
    second, reason, document = messages_turn(client, next(turns))
    attempts = document["route"]["attempts"]
    assert attempts[0]["status"] == 500 and "sticky" not in reason  # the sticky one failed; another answered
    assert attempts[0]["provider_slug"] == first and second != first
    third, reason, _ = messages_turn(client, next(turns))  # the one that answered is sticky now; the failed one
    assert reason[0] == "sticky" and third == second  # is cooling down, so it is not put first either


def test_stickiness_is_scoped_per_key_rel_63(client: TestClient, gateway: Gateway) -> None:
    seed_key(gateway, register_secret(OTHER_KEY), name="other")
    history = [{"role": "user", "content": "the same words"}]
    session = {"x-routeway-session": "shared-session"}
    messages_turn(client, history, **session)
    _, reason, _ = messages_turn(client, history, **session)
    assert reason[0] == "sticky"
    other = {**session, "authorization": f"Bearer {OTHER_KEY}"}
    _, reason, _ = messages_turn(client, history, **other)
    assert "sticky" not in reason  # another key's first turn, whatever header or body it shares


def test_rel_63_a_session_header_names_the_conversation_whatever_the_body(client: TestClient) -> None:
    session = {"x-routeway-session": "s" * 10_240}  # 10 KB: hashed, bounded, never echoed
    first = client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "one"}]},
        headers=session,
    )
    assert first.status_code == 200
    for index in range(3):
        answer = client.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": f"unrelated {index}"}]},
            headers=session,
        )
        assert answer.status_code == 200
        assert answer.json()["route"]["reason"][0] == "sticky"
        assert "sss" not in answer.text and not any("sss" in v for v in answer.headers.values())


def test_prompt_cache_key_names_the_conversation_in_responses(client: TestClient) -> None:
    bodies = [{"model": MODEL, "input": f"turn {i}", "prompt_cache_key": "conv-7", "store": False} for i in range(3)]
    reasons = [client.post("/v1/responses", json=body).json()["route"]["reason"] for body in bodies]
    assert reasons[0][0] != "sticky" and all(r[0] == "sticky" for r in reasons[1:])


def test_a_cooldown_breaks_stickiness_for_that_turn(client: TestClient, gateway: Gateway) -> None:
    turns = conversation(3)
    first, _, _ = messages_turn(client, next(turns))
    target = f"openrouter|{MODEL}|{first}"  # the row key cooldowns and stickiness share
    gateway.cooldowns.failed(target, 429, retry_after_s=600)  # another request saw it rate limited
    second, reason, _ = messages_turn(client, next(turns))
    assert second != first and "sticky" not in reason


def test_a_models_chain_returns_to_its_first_model_once_healthy(
    client: TestClient, gateway: Gateway, upstream: FakeUpstream
) -> None:
    second_model = "openai/gpt-5.4-mini"
    body = {"model": MODEL, "models": [MODEL, second_model], "messages": [{"role": "user", "content": "hi"}]}
    upstream.fake.enqueue(*[Scripted(status=502, model=MODEL, body={"error": {"code": 502}})] * 3)
    fell_back = client.post("/v1/chat/completions", json=body)
    assert fell_back.headers["x-routeway-model"] == second_model
    gateway.cooldowns = CooldownTracker(gateway.clock)  # the first model's providers are healthy again
    again = client.post("/v1/chat/completions", json=body)
    assert again.headers["x-routeway-model"] == MODEL  # the client's order of models stands
    third = client.post("/v1/chat/completions", json=body).json()
    assert third["route"]["reason"][0] == "sticky" and third["model"] == MODEL
