"""Bedrock beside OpenRouter (issue 34's last part): OpenRouter failing moves a request on to Bedrock, Bedrock's
provider slug in `provider.only`/`order` (plain and with its region), a region without the model, explain and
/readyz naming Bedrock, and reasoning streamed from ConverseStream (text and signature) into chat and Messages
and sent back on the next turn as Converse's signed reasoningContent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.openrouter import Scripted
from tests.functional.test_bedrock import (
    BEDROCK_FIRST,
    CONFIG,
    HI,
    MODEL,
    ONLY_BEDROCK,
    OWN,
    PROFILE,
    _bedrock_server,
    bedrock,
    bedrock_env,
    chat,
    client,
    gateway,
    gateway_url,
    key,
    record_of,
)

__all__ = ["_bedrock_server", "bedrock", "bedrock_env", "client", "gateway", "gateway_url", "key"]
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
THINKING = {"type": "enabled", "budget_tokens": 2048}
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
# Anthropic through OpenRouter first (its two endpoints, `anthropic` and `anthropic/2`), then Bedrock
OPENROUTER_FIRST = {"provider": {"only": ["anthropic", OWN], "order": ["anthropic", OWN]}}


def _openrouter_fails(upstream: FakeUpstream, status: int) -> None:
    failure = {"error": {"code": status, "message": "upstream trouble"}}
    upstream.fake.enqueue(Scripted(status=status, body=failure), Scripted(status=status, body=failure))


@pytest.mark.parametrize("status", [429, 502])
def test_openrouter_failing_moves_the_request_on_to_bedrock(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream, status: int
) -> None:
    _openrouter_fails(upstream, status)
    response = chat(client, **OPENROUTER_FIRST)
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-backend"] == "bedrock" and bedrock.seen[-1].model_id == PROFILE
    attempts = record_of(gateway, response).route["attempts"]
    assert [(a["backend"], a["status"]) for a in attempts] == [("openrouter", status)] * 2 + [("bedrock", 200)]


def test_openrouter_failing_a_stream_moves_it_on_to_bedrock(
    client: TestClient, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    _openrouter_fails(upstream, 503)
    body = {"model": MODEL, "messages": HI, "stream": True, **OPENROUTER_FIRST}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        text = "".join(response.iter_text())
    relayed = "".join(c["choices"][0]["delta"].get("content") or "" for c in _sse(text) if c.get("choices"))
    assert response.headers["x-routeway-backend"] == "bedrock" and relayed == "Hello from Bedrock."
    assert bedrock.seen[-1].stream


@pytest.mark.parametrize("slug", [OWN, f"{OWN}/us-east-1"])
def test_provider_only_and_order_take_bedrock_s_slug_with_or_without_its_region(
    client: TestClient, bedrock: FakeBedrock, upstream: FakeUpstream, slug: str
) -> None:
    only = chat(client, provider={"only": [slug]})
    assert only.status_code == 200 and only.headers["x-routeway-backend"] == "bedrock", only.text
    first = chat(client, provider={"order": [slug]})
    assert first.headers["x-routeway-backend"] == "bedrock"
    ignored = chat(client, provider={"ignore": [slug], "order": [slug, "anthropic"]})
    assert ignored.headers["x-routeway-backend"] == "openrouter" and len(bedrock.seen) == 2


def test_explain_and_readyz_name_bedrock(client: TestClient, bedrock: FakeBedrock) -> None:
    response = chat(client, **ONLY_BEDROCK)
    explained = client.get(f"/v1/route/explain/{response.headers['x-routeway-generation-id']}").json()
    assert explained["route"]["backend"] == "bedrock" and explained["route"]["provider_slug"] == f"{OWN}/us-east-1"
    assert explained["route"]["attempts"][0]["backend"] == "bedrock"
    ready = client.get("/readyz").json()
    row = next(b for b in ready["backends"] if b["name"] == "bedrock")
    assert row["status"] == "available" and row["reachable"] is None and "1 models mapped" in row["reason"], row
    info = next(b for b in client.get("/v1/info").json()["backends"] if b["name"] == "bedrock")
    assert info["region"] == "us-east-1" and info["models"] == {MODEL: PROFILE}
    assert len(bedrock.seen) == 1  # neither asks a model anything


def test_a_region_without_the_model_is_a_400_naming_the_model_and_the_region(
    env: dict[str, str], tmp_path: Path, _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock
) -> None:
    """The backend's own region (here eu-west-3, signed for it) does not serve the profile it was given."""
    config = tmp_path / "routeway.yaml"
    config.write_text(CONFIG.replace("region: us-east-1", "region: eu-west-3"))
    bedrock.region = "eu-west-3"
    bedrock.served = {"eu.amazon.nova-pro-v1:0"}
    settings = {"ROUTEWAY_CONFIG": str(config), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": _bedrock_server[1]}
    gateway = build_gateway(Settings.from_env({**env, **settings}))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        refused = chat(client, **ONLY_BEDROCK)
        moved_on = chat(client, **BEDROCK_FIRST)
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert "(eu-west-3)" in message and PROFILE in message and not bedrock.refused
    assert moved_on.status_code == 200 and moved_on.headers["x-routeway-backend"] == "openrouter"


def _sse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def test_streamed_reasoning_reaches_chat_with_its_signature_and_goes_back_to_bedrock(
    client: TestClient, bedrock: FakeBedrock
) -> None:
    body = {"model": MODEL, "messages": HI, "stream": True, "reasoning": {"max_tokens": 2048}, **ONLY_BEDROCK}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        chunks = _sse("".join(response.iter_text()))
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert "".join(d.get("reasoning") or "" for d in deltas) == "Thinking it over."
    details = [detail for d in deltas for detail in d.get("reasoning_details") or []]
    assert {d.get("signature") for d in details} == {None, "sig-fake-1"}
    assert bedrock.seen[-1].body["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    assistant = {"role": "assistant", "content": "Hello from Bedrock.", "reasoning_details": details}
    turns = [*HI, assistant, {"role": "user", "content": "Again"}]
    again = chat(client, messages=turns, reasoning={"max_tokens": 2048}, **ONLY_BEDROCK)
    assert again.status_code == 200, again.text
    sent = bedrock.seen[-1].body["messages"][1]["content"]
    signed = {"reasoningText": {"text": "Thinking it over.", "signature": "sig-fake-1"}}
    assert sent[0] == {"reasoningContent": signed}, sent  # the streamed deltas, one signed block again


def test_claude_code_s_streamed_thinking_keeps_its_signature_across_a_tool_round_trip(
    gateway_url: str, key: str, bedrock: FakeBedrock
) -> None:
    claude = anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0, timeout=30.0)
    asked: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "thinking": THINKING, "tools": [TOOL]}
    first_turn = [{"role": "user", "content": "Weather in Paris?"}]
    with claude.messages.stream(**asked, messages=first_turn, extra_body=ONLY_BEDROCK) as stream:  # type: ignore[arg-type]
        first = stream.get_final_message()
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    thinking = first.content[0]
    assert thinking.thinking == "Thinking it over." and thinking.signature == "sig-fake-1"  # type: ignore[union-attr]
    use = first.content[2]
    turns = [
        *first_turn,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]},  # type: ignore[union-attr]
    ]
    with claude.messages.stream(**asked, messages=turns, extra_body=ONLY_BEDROCK) as stream:  # type: ignore[arg-type]
        text = "".join(stream.text_stream)
    assert text == "The tool said: 18C"
    sent = bedrock.seen[-1].body
    assert sent["additionalModelRequestFields"]["thinking"] == THINKING  # kept on: the signed block came back
    signed = {"reasoningText": {"text": "Thinking it over.", "signature": "sig-fake-1"}}
    assert sent["messages"][1]["content"][0] == {"reasoningContent": signed}
    claude.close()


def test_codex_s_streamed_responses_through_bedrock_carry_its_reasoning(
    gateway_url: str, key: str, bedrock: FakeBedrock
) -> None:
    answer = httpx.post(
        f"{gateway_url}/v1/responses",
        headers={"authorization": f"Bearer {key}"},
        json={"model": MODEL, "input": "Say hello", "stream": True, "reasoning": {"effort": "low"}, **ONLY_BEDROCK},
        timeout=30,
    )
    events = _sse(answer.text)
    kinds = [e.get("type") for e in events]
    assert answer.status_code == 200 and kinds[-1] == "response.completed", kinds
    final = events[-1]["response"]
    said = "".join(p["text"] for o in final["output"] if o["type"] == "message" for p in o["content"])
    assert said == "Hello from Bedrock." and bedrock.seen[-1].stream and bedrock.seen[-1].model_id == PROFILE
    assert any(o["type"] == "reasoning" for o in final["output"]), final["output"]
