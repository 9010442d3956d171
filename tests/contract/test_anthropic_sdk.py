"""Issue 15's Messages "Done when": the official anthropic SDK against a real uvicorn server running the
gateway, with the fake OpenRouter (which calls tools when offered them) behind it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from routeway.gateway import Gateway
from routeway.services.keys import hash_key
from tests.conftest import FakeUpstream

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
MODEL = "claude-sonnet-4-5"
SERVED = "anthropic/claude-sonnet-4.5"
TIMEOUT_S = 30.0  # the suite runs the aws store under moto, slow on a loaded machine
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def claude(gateway_url: str, api_key: str) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=gateway_url, api_key=api_key, max_retries=0, timeout=TIMEOUT_S)
    yield client
    client.close()


def spend(gateway: Gateway, api_key: str) -> float:
    record = gateway.state.sync.find_key(hash_key(api_key))
    assert record is not None
    return record.spend_usd


@pytest.mark.both_stores
def test_messages_create_answers_and_proves_the_route(
    claude: anthropic.Anthropic, gateway: Gateway, api_key: str, gateway_url: str, upstream: FakeUpstream
) -> None:
    raw = claude.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=1024,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the fake OpenRouter."
    assert message.id.startswith("msg_") and message.model == SERVED and message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert raw.headers["x-routeway-model"] == SERVED
    assert f"model_resolved={SERVED}" in raw.headers["x-routeway-applied"].split(",")
    sent = upstream.fake.chat_requests()[0].body
    assert sent["model"] == SERVED and sent["messages"][0] == {
        "role": "system",
        "content": [{"type": "text", "text": "Be brief."}],
    }
    generation_id = raw.headers["x-routeway-generation-id"]
    explained = httpx.get(
        f"{gateway_url}/v1/route/explain/{generation_id}", headers={"x-api-key": api_key}, timeout=TIMEOUT_S
    ).json()
    assert explained["route"]["model"] == SERVED and explained["route"]["attempts"][0]["status"] == 200
    assert spend(gateway, api_key) > 0


@pytest.mark.both_stores
def test_messages_stream_gives_text_and_the_final_message(
    claude: anthropic.Anthropic, gateway: Gateway, api_key: str, upstream: FakeUpstream
) -> None:
    with claude.messages.stream(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the fake OpenRouter."
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    assert final.model == SERVED
    sent = upstream.fake.chat_requests()[0].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert spend(gateway, api_key) > 0


def test_a_streamed_event_sequence_is_anthropics(gateway_url: str, api_key: str) -> None:
    body = {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", f"{gateway_url}/v1/messages", json=body, headers={"x-api-key": api_key}, timeout=TIMEOUT_S
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-routeway-model"] == SERVED
        names = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def tool_turn(claude: anthropic.Anthropic, messages: list[Any], stream: bool) -> anthropic.types.Message:
    if stream:
        with claude.messages.stream(model=MODEL, max_tokens=1024, tools=[WEATHER], messages=messages) as events:
            return events.get_final_message()
    return claude.messages.create(model=MODEL, max_tokens=1024, tools=[WEATHER], messages=messages)


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_use_and_tool_result_round_trip(
    claude: anthropic.Anthropic, upstream: FakeUpstream, stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris? Use get_weather."}]
    first = tool_turn(claude, messages, stream)
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "example"}
    messages += [
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]},
    ]
    second = tool_turn(claude, messages, stream)
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    sent = upstream.fake.chat_requests()[-1].body["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.id
    assert sent[-2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"example"}'}
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}
    assert upstream.fake.chat_requests()[0].body["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_count_tokens_calls_no_upstream(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    short = claude.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    long = claude.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "word " * 400}])
    assert 0 < short.input_tokens < long.input_tokens
    assert upstream.fake.chat_requests() == []


def test_missing_max_tokens_is_an_invalid_request_error(gateway_url: str, api_key: str) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{gateway_url}/v1/messages", json=body, headers={"x-api-key": api_key}, timeout=TIMEOUT_S)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "invalid_request" and error["error"]["param"] == "max_tokens"
    assert response.headers["x-routeway-generation-id"]


def test_sdk_errors(claude: anthropic.Anthropic, gateway_url: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(model=MODEL, max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="claude-sonnet-9-9", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    error = missing.value.body["error"]  # type: ignore[index]
    assert error["type"] == "not_found_error" and error["code"] == "model_not_found" and error["suggestions"]
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    with pytest.raises(anthropic.BadRequestError) as url_image:
        claude.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, image]}]
        )
    error = url_image.value.body["error"]  # type: ignore[index]
    assert error["code"] == "image_url_not_supported" and error["param"] == "messages[0].content[1].source.url"
    stranger = anthropic.Anthropic(base_url=gateway_url, api_key="rw-not-a-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        stranger.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert "rw-not-a-key" not in str(denied.value)


def test_a_bearer_key_works_and_anthropic_version_is_optional(gateway_url: str, api_key: str) -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(
        f"{gateway_url}/v1/messages", json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=TIMEOUT_S
    )
    assert response.status_code == 200 and response.json()["model"] == "openai/gpt-4o-mini"
    assert "model_resolved=openai/gpt-4o-mini" in response.headers["x-routeway-applied"]


def test_chat_resolves_native_names_too(sdk: Any) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="claude-haiku-4-5-20251001", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-routeway-model"] == "anthropic/claude-haiku-4.5"
    assert "model_resolved=anthropic/claude-haiku-4.5" in raw.headers["x-routeway-applied"]
    assert raw.parse().model_extra["route"]["applied"][0] == "model_resolved=anthropic/claude-haiku-4.5"


def test_preview_resolves_native_names_like_chat(gateway_url: str, api_key: str) -> None:
    body = {"model": "claude-sonnet-4-5-20250929", "messages": [{"role": "user", "content": "hi"}]}
    preview = httpx.post(
        f"{gateway_url}/v1/route/preview", json=body, headers={"x-api-key": api_key}, timeout=TIMEOUT_S
    ).json()
    assert preview["requested_model"] == "claude-sonnet-4-5-20250929"
    assert preview["candidates"][0]["model"] == SERVED and f"model_resolved={SERVED}" in preview["notes"]
