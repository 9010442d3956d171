"""Amazon Bedrock in the team's own account (issue 34, part 1): a `kind: bedrock` backend in ROUTEWAY_CONFIG, the
gateway reaching a fake Bedrock (tests/fakes/bedrock.py) through AWS_ENDPOINT_URL_BEDROCK_RUNTIME with real SigV4
signatures, beside the fake OpenRouter."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, budget_key, register_secret, spend_of
from tests.fakes.bedrock import FakeBedrock
from tests.servers import serve_in_thread

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
MODEL = "anthropic/claude-sonnet-4.5"
PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
OWN = "amazon-bedrock-own"
ONLY_BEDROCK = {"provider": {"only": [OWN]}}
BEDROCK_FIRST = {"provider": {"order": [OWN]}}
HI = [{"role": "user", "content": "Say hello"}]
# the fake's usage (12 in, 7 out) at the packaged table's us-east-1 price for the us. profile (USD per million
# tokens: 3.30 / 16.50, Claude 4.5's regional rate; OpenRouter's catalog says 3 / 15)
TABLE_PRICE = 12 * 3.3e-6 + 7 * 16.5e-6
API_KEY = register_secret("bedrock-api-key-ABSKQmVkcm9ja0FQSUtleS0xMjM0")
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CONFIG = f"""
backends:
  - {{name: openrouter, kind: openrouter}}
  - name: bedrock
    kind: bedrock
    region: us-east-1
    models:
      {MODEL}: {PROFILE}
"""


@pytest.fixture(scope="module")
def _bedrock_server() -> Iterator[tuple[FakeBedrock, str]]:
    fake = FakeBedrock()
    with serve_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture
def bedrock(_bedrock_server: tuple[FakeBedrock, str], aws_credentials: None) -> Iterator[FakeBedrock]:
    fake, _ = _bedrock_server
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def bedrock_env(
    env: dict[str, str], tmp_path: Path, _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock
) -> dict[str, str]:
    config = tmp_path / "routeway.yaml"
    config.write_text(CONFIG)
    # the account's credentials are the ones the gateway will find (moto's own, under the aws store)
    bedrock.access_key, bedrock.secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    bedrock.session_token = os.environ.get("AWS_SESSION_TOKEN")
    url = _bedrock_server[1]
    return {
        **env,
        "ROUTEWAY_CONFIG": str(config),
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
        "AWS_ENDPOINT_URL_BEDROCK": url,
    }


@pytest.fixture
def gateway(bedrock_env: dict[str, str]) -> Gateway:  # the conftest's `gateway`, with Bedrock configured
    return build_gateway(Settings.from_env(bedrock_env))


@pytest.fixture
def key(gateway: Gateway) -> str:
    return register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])


@pytest.fixture
def client(gateway: Gateway, key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as test_client:
        yield test_client


@pytest.fixture
def gateway_url(gateway: Gateway) -> Iterator[str]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield url


def chat(client: TestClient, **body: Any) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **body})


def record_of(gateway: Gateway, response: httpx.Response) -> Any:
    record = gateway.state.sync.get_generation(response.headers["x-routeway-generation-id"], int(time.time()))
    assert record is not None
    return record


@pytest.mark.both_stores
def test_a_chat_is_served_by_bedrock_signed_with_the_role(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    response = chat(client, max_tokens=300, temperature=0.2, stop=["END"], **ONLY_BEDROCK)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == "Hello from Bedrock."
    assert answer["model"] == MODEL and answer["choices"][0]["finish_reason"] == "stop"
    assert response.headers["x-routeway-backend"] == "bedrock"
    assert response.headers["x-routeway-provider"] == "Amazon Bedrock (own account)"
    usage = answer["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (12, 7)
    assert usage["cost"] == pytest.approx(TABLE_PRICE)  # Bedrock's own price in us-east-1 (the packaged table)
    seen = bedrock.seen[-1]
    assert seen.model_id == PROFILE and not seen.stream
    assert seen.authorization.startswith(f"AWS4-HMAC-SHA256 Credential={bedrock.access_key}/") and not bedrock.refused
    assert seen.body["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.2, "stopSequences": ["END"]}
    assert seen.body["messages"] == [{"role": "user", "content": [{"text": "Say hello"}]}]
    assert upstream.fake.chat_requests() == []
    record = record_of(gateway, response)
    assert record.route["backend"] == "bedrock" and record.route["provider_slug"] == f"{OWN}/us-east-1"


def test_a_system_prompt_and_an_image_reach_converse_as_blocks(client: TestClient, bedrock: FakeBedrock) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
            ],
        },
    ]
    response = chat(client, messages=messages, **ONLY_BEDROCK)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "I see an image. Hello from Bedrock."
    body = bedrock.seen[-1].body
    assert body["system"] == [{"text": "Be brief."}]
    image = body["messages"][0]["content"][1]["image"]
    assert image["format"] == "png" and image["source"]["bytes"] == png  # boto3 sends the bytes base64-encoded


def test_a_tool_round_trip_through_bedrock(client: TestClient, bedrock: FakeBedrock) -> None:
    first = chat(client, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER], **ONLY_BEDROCK)
    assert first.status_code == 200, first.text
    choice = first.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather" and json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    spec = bedrock.seen[-1].body["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["required"] == ["city"]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"},
    ]
    second = chat(client, messages=messages, tools=[WEATHER], **ONLY_BEDROCK)
    assert second.status_code == 200, second.text
    assert second.json()["choices"][0]["message"]["content"] == "The tool said: 18C and sunny"
    sent = bedrock.seen[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert {"toolUse": {"toolUseId": call["id"], "name": "get_weather", "input": {"city": "Paris"}}} in sent[1][
        "content"
    ]
    assert sent[2]["content"] == [{"toolResult": {"toolUseId": call["id"], "content": [{"text": "18C and sunny"}]}}]


def test_a_stream_with_the_openai_sdk(gateway_url: str, key: str, bedrock: FakeBedrock) -> None:
    sdk = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    stream = sdk.chat.completions.create(
        model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True}, extra_body=ONLY_BEDROCK
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Bedrock."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 7
    assert bedrock.seen[-1].stream and bedrock.seen[-1].model_id == PROFILE


def test_a_streamed_tool_call_with_the_openai_sdk(gateway_url: str, key: str, bedrock: FakeBedrock) -> None:
    sdk = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    stream = sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        stream=True,
        extra_body=ONLY_BEDROCK,
    )
    arguments, names = "", []
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            names += [call.function.name] if call.function and call.function.name else []
            arguments += call.function.arguments or "" if call.function else ""
    assert names == ["get_weather"] and json.loads(arguments) == {"city": "Paris"}


def test_claude_code_s_messages_through_bedrock_with_the_anthropic_sdk(
    gateway_url: str, key: str, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    claude = anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0, timeout=30.0)
    tool = {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    raw = claude.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        system="Be brief.",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[tool],  # type: ignore[list-item]
        extra_body=ONLY_BEDROCK,
    )
    message = raw.parse()
    assert raw.headers["x-routeway-backend"] == "bedrock"
    use = next(b for b in message.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and message.stop_reason == "tool_use"
    with claude.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},  # type: ignore[misc]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]},
        ],
        tools=[tool],  # type: ignore[list-item]
        extra_body=ONLY_BEDROCK,
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "The tool said: 18C"
    assert upstream.fake.chat_requests() == []
    claude.close()


def test_a_throttled_bedrock_falls_back_to_openrouter_and_cools_down(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    bedrock.fault = "throttle"
    response = chat(client, **BEDROCK_FIRST)
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-backend"] == "openrouter"
    assert response.headers["x-routeway-attempts"] == "2"
    attempts = record_of(gateway, response).route["attempts"]
    assert (attempts[0]["backend"], attempts[0]["status"]) == ("bedrock", 429)
    assert len(upstream.fake.chat_requests()) == 1
    preview = client.post("/v1/route/preview", json={"model": MODEL, "messages": HI, **BEDROCK_FIRST}).json()
    own = next(c for c in preview["candidates"] if c["backend"] == "bedrock")
    assert any(r.startswith("cooling_down (429") for r in own["reasons"]), own
    others = [c for c in preview["candidates"] if c["backend"] == "openrouter"]  # only that model in that region
    assert others and not any(r.startswith("cooling_down") for c in others for r in c["reasons"])


def test_a_throttled_stream_falls_back_to_openrouter(
    client: TestClient, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    bedrock.fault = "throttle"
    with client.stream(
        "POST", "/v1/chat/completions", json={"model": MODEL, "messages": HI, "stream": True, **BEDROCK_FIRST}
    ) as response:
        assert response.status_code == 200
        body = "".join(response.iter_text())
    assert response.headers["x-routeway-backend"] == "openrouter" and "[DONE]" in body


def test_bedrock_only_and_throttled_is_a_429(client: TestClient, bedrock: FakeBedrock) -> None:
    bedrock.fault = "throttle"
    response = chat(client, **ONLY_BEDROCK)
    assert response.status_code == 429 and response.headers["retry-after"]


@pytest.mark.parametrize("stream", [False, True])
def test_access_denied_is_a_403_naming_the_permission_never_the_credentials(
    client: TestClient, bedrock: FakeBedrock, stream: bool
) -> None:
    bedrock.fault = "denied"
    response = chat(client, stream=stream, **ONLY_BEDROCK)
    assert response.status_code == 403, response.text
    message = response.json()["error"]["message"]
    action = "bedrock:InvokeModelWithResponseStream" if stream else "bedrock:InvokeModel"
    assert action in message and f"inference-profile/{PROFILE}" in message
    assert "testing" not in message and "assumed-role" not in message  # no key id, no role from Bedrock's text


def test_access_denied_falls_back_to_openrouter_when_allowed(
    client: TestClient, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    bedrock.fault = "denied"
    response = chat(client, **BEDROCK_FIRST)
    assert response.status_code == 200 and response.headers["x-routeway-backend"] == "openrouter"


def test_a_model_not_enabled_is_a_400_naming_it(client: TestClient, bedrock: FakeBedrock) -> None:
    bedrock.served = {"amazon.nova-lite-v1:0"}
    response = chat(client, **ONLY_BEDROCK)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert PROFILE in message and "model access" in message


def test_a_model_not_enabled_moves_on_to_openrouter_when_allowed(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    bedrock.served = {"amazon.nova-lite-v1:0"}
    response = chat(client, **BEDROCK_FIRST)
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-backend"] == "openrouter"
    first = record_of(gateway, response).route["attempts"][0]
    assert first["backend"] == "bedrock" and first["error_code"] == "backend_unavailable"


def test_content_converse_cannot_carry_is_refused_never_dropped(
    client: TestClient, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    archive = {"type": "file", "file": {"filename": "a.zip", "file_data": "data:application/zip;base64,UEsDBA=="}}
    parts = [{"type": "text", "text": "Read this"}, archive]
    only = chat(client, messages=[{"role": "user", "content": parts}], **ONLY_BEDROCK)
    assert only.status_code == 400 and "application/zip" in only.json()["error"]["message"], only.text
    assert bedrock.seen == []
    moved_on = chat(client, messages=[{"role": "user", "content": parts}], **BEDROCK_FIRST)
    assert moved_on.headers.get("x-routeway-backend") == "openrouter", moved_on.text


@pytest.mark.parametrize("fault", ["cut", "malformed"])
def test_a_stream_cut_mid_frame_ends_with_the_stream_s_failure_event(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock, fault: str
) -> None:
    bedrock.fault = fault
    body = {"model": MODEL, "messages": HI, "stream": True, **ONLY_BEDROCK}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    relayed = "".join(c["choices"][0]["delta"].get("content") or "" for c in events if c.get("choices"))
    assert relayed == "Hello from"
    error = events[-1]["error"]  # the stream's usual failure event (services/streaming.py)
    assert error["code"] == "upstream_error" and "ended before it finished" in error["message"], error
    assert not any(c["choices"][0].get("finish_reason") for c in events if c.get("choices"))  # never "finished"
    record = gateway.state.sync.get_generation(response.headers["x-routeway-generation-id"], int(time.time()))
    assert record is not None and record.error_code == "stream_cut" and record.route["backend"] == "bedrock"


def test_the_fake_refuses_an_unsigned_request(_bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock) -> None:
    answer = httpx.post(f"{_bedrock_server[1]}/model/{PROFILE}/converse", json={"messages": []})
    assert answer.status_code == 403
    assert answer.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert bedrock.refused == ["no SigV4 Authorization header"] and bedrock.seen == []


@pytest.mark.parametrize(
    ("variable", "value", "refused"),
    [
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret", "the signature does not match"),
        ("AWS_SESSION_TOKEN", None, "the session token is missing or not signed"),
        ("AWS_ACCESS_KEY_ID", "AKIAOTHERKEY", "unknown access key"),
    ],
)
def test_a_wrongly_signed_request_is_refused_and_a_503_names_the_permission(
    bedrock_env: dict[str, str],
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str | None,
    refused: str,
) -> None:
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    gateway = build_gateway(Settings.from_env(bedrock_env))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        response = chat(client, **ONLY_BEDROCK)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "backend_unavailable" and "bedrock:InvokeModel" in error["message"]
    assert "not-the-secret" not in response.text and "AKIAOTHERKEY" not in response.text
    assert bedrock.refused == [refused] and bedrock.seen == []


def test_a_bedrock_api_key_is_sent_as_a_bearer_token_not_sigv4(
    env: dict[str, str], tmp_path: Path, _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock
) -> None:
    config = tmp_path / "routeway.yaml"
    config.write_text(
        CONFIG.replace("    region: us-east-1\n", "    region: us-east-1\n    api_key_env: BEDROCK_KEY\n")
    )
    bedrock.api_key = API_KEY
    settings = Settings.from_env(
        {**env, "ROUTEWAY_CONFIG": str(config), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": _bedrock_server[1]}
    )
    unset = build_gateway(settings)
    key = register_secret(create_key(unset.state.sync, unset.clock, "tester")[0])
    with TestClient(create_app(lambda: unset), headers={"x-api-key": key}) as client:
        backends = {b["name"]: b for b in client.get("/v1/info").json()["backends"]}
        assert backends["bedrock"]["status"] == "unconfigured" and "BEDROCK_KEY" in backends["bedrock"]["reason"]
    gateway = build_gateway(Settings.from_env({**settings.env, "BEDROCK_KEY": API_KEY}))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester2")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        response = chat(client, **ONLY_BEDROCK)
    assert response.status_code == 200, response.text
    assert bedrock.seen[-1].authorization == f"Bearer {API_KEY}"


@pytest.mark.both_stores
def test_a_budgeted_key_is_charged_and_its_record_says_bedrock(
    gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "budgeted", 2.0)  # 64k completion tokens at 16.50 a million are held
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        response = chat(client, **ONLY_BEDROCK)
        assert response.status_code == 200, response.text
        stream = {"model": MODEL, "messages": HI, "stream": True, **ONLY_BEDROCK}
        with client.stream("POST", "/v1/chat/completions", json=stream) as streamed:
            "".join(streamed.iter_text())
    price = TABLE_PRICE
    assert spend_of(gateway, key_hash) == pytest.approx(2 * price)
    for answer in (response, streamed):
        record = record_of(gateway, answer)
        assert record.route["backend"] == "bedrock" and record.cost_usd == pytest.approx(price)
        assert record.route["attempts"][0]["backend"] == "bedrock"


def test_preview_lists_bedrock_beside_openrouter_s_providers(client: TestClient, bedrock: FakeBedrock) -> None:
    response = client.post("/v1/route/preview", json={"model": MODEL, "messages": HI})
    assert response.status_code == 200, response.text
    candidates = response.json()["candidates"]
    by_backend = {(c["backend"], c["provider"]) for c in candidates}
    assert ("bedrock", "Amazon Bedrock (own account)") in by_backend
    assert ("openrouter", "Amazon Bedrock") in by_backend and ("openrouter", "Anthropic") in by_backend
    own = next(c for c in candidates if c["backend"] == "bedrock")
    assert own["model"] == MODEL and own["provider_slug"] == f"{OWN}/us-east-1"
    only = client.post("/v1/route/preview", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK}).json()
    assert [c["backend"] for c in only["candidates"]] == ["bedrock"]
    assert bedrock.seen == []  # a preview calls no model


def test_without_the_backend_configured_bedrock_is_never_a_candidate(client: TestClient, env: dict[str, str]) -> None:
    gateway = build_gateway(Settings.from_env(env))  # the packaged defaults: bedrock is only "planned"
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "other")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as plain:
        candidates = plain.post("/v1/route/preview", json={"model": MODEL, "messages": HI}).json()["candidates"]
    assert all(c["backend"] == "openrouter" for c in candidates)


def test_codex_s_responses_through_bedrock_with_a_function_call_round_trip(
    gateway_url: str, key: str, bedrock: FakeBedrock
) -> None:
    sdk = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    tool = {"type": "function", **WEATHER["function"]}  # type: ignore[dict-item]
    first = sdk.responses.create(model=MODEL, input="Weather in Paris?", tools=[tool], extra_body=ONLY_BEDROCK)  # type: ignore[list-item]
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    with sdk.responses.stream(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}],
        tools=[tool],  # type: ignore[list-item]
        extra_body=ONLY_BEDROCK,
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "The tool said: 18C"
    assert all(seen.model_id == PROFILE for seen in bedrock.seen) and len(bedrock.seen) == 2


ALIAS = """
aliases:
  - alias: claude-own-first
    targets: [anthropic/claude-sonnet-4.5]
    backends: [bedrock, openrouter]
"""


def test_an_alias_tries_bedrock_then_openrouter_as_its_chain_says(
    env: dict[str, str], tmp_path: Path, _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock
) -> None:
    config = tmp_path / "routeway.yaml"
    config.write_text(CONFIG + ALIAS)
    gateway = build_gateway(
        Settings.from_env(
            {**env, "ROUTEWAY_CONFIG": str(config), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": _bedrock_server[1]}
        )
    )
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        served = chat(client, model="claude-own-first")
        assert served.status_code == 200, served.text
        assert served.headers["x-routeway-backend"] == "bedrock" and bedrock.seen[-1].model_id == PROFILE
        bedrock.fault = "not_ready"
        fell_back = chat(client, model="claude-own-first")
        assert fell_back.status_code == 200 and fell_back.headers["x-routeway-backend"] == "openrouter"
        info = {b["name"]: b for b in client.get("/v1/info").json()["backends"]}
        assert info["bedrock"]["kind"] == "bedrock" and info["bedrock"]["status"] == "available"


def test_a_published_catalog_keeps_bedrock_beside_openrouter(gateway: Gateway, key: str) -> None:
    import asyncio

    from routeway.services.refresh import refresh_catalog

    async def run() -> str:
        try:
            return (await refresh_catalog(gateway, gateway.sources.openrouter(240.0))).outcome
        finally:
            await gateway.upstreams.aclose()

    assert asyncio.run(run()) == "published"
    gateway.catalog.invalidate()
    catalog = gateway.catalog.current_blocking()
    assert catalog.source == "store" and catalog.backends["bedrock"].model_ids == {MODEL: PROFILE}
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        candidates = client.post("/v1/route/preview", json={"model": MODEL, "messages": HI}).json()["candidates"]
    assert "bedrock" in {c["backend"] for c in candidates}


def test_an_exception_bedrock_sends_inside_a_stream_ends_it_with_an_error_event(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock
) -> None:
    bedrock.fault = "stream_throttle"
    body = {"model": MODEL, "messages": HI, "stream": True, **ONLY_BEDROCK}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        text = "".join(response.iter_text())
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert "error" in events[-1], events[-1]
    record = record_of(gateway, response)
    assert record.error_code == "upstream_error_in_body" and record.route["backend"] == "bedrock"


def test_a_bedrock_stream_past_the_first_token_timeout_moves_on_to_openrouter(
    client: TestClient, gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    bedrock.fault = "slow"
    body = {"model": MODEL, "messages": HI, "stream": True, "first_token_timeout_s": 1, **BEDROCK_FIRST}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        text = "".join(response.iter_text())
    assert not bedrock.slow_answered  # the whole answer came from OpenRouter while Bedrock still held its own
    assert response.headers["x-routeway-backend"] == "openrouter" and "[DONE]" in text
    first = record_of(gateway, response).route["attempts"][0]
    assert first["backend"] == "bedrock" and first["error_code"] in ("timeout", "first_token_timeout")


def test_claude_code_with_thinking_and_tools_through_bedrock(gateway_url: str, key: str, bedrock: FakeBedrock) -> None:
    claude = anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0, timeout=30.0)
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    thinking = {"type": "enabled", "budget_tokens": 2048}
    first = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking=thinking,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[tool],  # type: ignore[list-item]
        extra_body=ONLY_BEDROCK,
    )
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    assert first.content[0].thinking == "Thinking it over."  # type: ignore[union-attr]
    sent = bedrock.seen[-1].body
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    use = first.content[2]
    with claude.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking=thinking,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},  # type: ignore[misc]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]},  # type: ignore[union-attr]
        ],
        tools=[tool],  # type: ignore[list-item]
        extra_body=ONLY_BEDROCK,
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "The tool said: 18C"
    claude.close()
