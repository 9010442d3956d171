"""Prompt caching and thinking with the real SDKs against the gateway and the fake upstream (PRODUCT.md "Prompt
caching", "Thinking blocks"; RELIABILITY 65): every marked block reaches the upstream marked, the cached tokens
the upstream reports are in each dialect's usage, streams included, and thinking goes back only to its family."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import FakeUpstream

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
MARK: dict[str, Any] = {"type": "ephemeral"}
SERVED = "anthropic/claude-sonnet-4.5"
LONG_SYSTEM = "You are a careful assistant who reads the tools first. " * 60
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "cache_control": MARK,
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture
def claude(gateway_url: str, api_key: str) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=gateway_url, api_key=api_key, max_retries=0, timeout=30.0)
    yield client
    client.close()


def _turn(tool_result_mark: bool) -> list[Any]:
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21 C and sunny"}
    if tool_result_mark:
        result["cache_control"] = MARK
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?", "cache_control": MARK},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                | {"cache_control": MARK},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I should call the tool.", "signature": "c2lnLWZyb20tY2xhdWRl"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                | {"cache_control": MARK},
            ],
        },
        {"role": "user", "content": [result]},
    ]


def test_anthropic_sdk_cache_control_on_every_block(claude: anthropic.Anthropic, upstream: FakeUpstream) -> None:
    system: Any = [{"type": "text", "text": LONG_SYSTEM, "cache_control": MARK}]
    first = claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, system=system, tools=[TOOL], messages=_turn(True)
    )
    second = claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, system=system, tools=[TOOL], messages=_turn(True)
    )
    sent = upstream.fake.chat_requests()[0].body
    system_message, user, assistant, tool = sent["messages"]
    assert system_message["content"][0]["cache_control"] == MARK
    assert sent["tools"][0]["cache_control"] == MARK
    assert [part["cache_control"] for part in user["content"]] == [MARK, MARK]
    assert assistant["tool_calls"][0]["cache_control"] == MARK
    assert tool["content"] == [{"type": "text", "text": "21 C and sunny", "cache_control": MARK}]
    # the thinking went back to Claude as OpenRouter's reasoning details, its signature as the client sent it
    assert assistant["reasoning_details"][0]["signature"] == "c2lnLWZyb20tY2xhdWRl"
    assert first.usage.cache_creation_input_tokens and not first.usage.cache_read_input_tokens
    assert second.usage.cache_read_input_tokens and second.usage.cache_read_input_tokens > 0


def test_rel_65_thinking_goes_only_to_the_family_that_issued_it(
    claude: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    raw = claude.messages.with_raw_response.create(
        model="openai/gpt-5.4-mini", max_tokens=256, tools=[TOOL], messages=_turn(False)
    )
    sent = upstream.fake.chat_requests()[0].body
    assert all("reasoning_details" not in m for m in sent["messages"])  # an altered or not, never to another family
    assert "thinking_dropped=1" in raw.headers["x-routeway-applied"].split(",")
    raw = claude.messages.with_raw_response.create(
        model="claude-sonnet-4-5", max_tokens=256, tools=[TOOL], messages=_turn(False)
    )
    assert "thinking_dropped" not in raw.headers.get("x-routeway-applied", "")


def test_anthropic_sdk_stream_reports_cached_tokens(claude: anthropic.Anthropic) -> None:
    system: Any = [{"type": "text", "text": LONG_SYSTEM, "cache_control": MARK}]
    messages: Any = [{"role": "user", "content": "Say hello"}]
    usages = []
    for _ in range(2):
        with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=64, system=system, messages=messages) as s:
            usages.append(s.get_final_message().usage)
    assert usages[0].cache_creation_input_tokens and usages[0].cache_creation_input_tokens > 0
    assert usages[1].cache_read_input_tokens and usages[1].cache_read_input_tokens > 0


def test_openai_sdk_chat_and_responses_report_cached_tokens(sdk: openai.OpenAI) -> None:
    system: Any = {"role": "system", "content": [{"type": "text", "text": LONG_SYSTEM, "cache_control": MARK}]}
    messages: Any = [system, {"role": "user", "content": "Say hello"}]
    chats = [sdk.chat.completions.create(model=SERVED, messages=messages) for _ in range(2)]
    first, second = (chat.usage for chat in chats)
    assert first is not None and second is not None
    first_details = first.prompt_tokens_details.model_dump() if first.prompt_tokens_details else {}
    assert first_details.get("cache_write_tokens", 0) > 0
    assert second.prompt_tokens_details is not None and (second.prompt_tokens_details.cached_tokens or 0) > 0
    stream = sdk.chat.completions.create(
        model=SERVED, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    streamed = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert streamed and streamed[-1].prompt_tokens_details is not None
    assert (streamed[-1].prompt_tokens_details.cached_tokens or 0) > 0
    part: Any = {"type": "input_text", "text": LONG_SYSTEM, "cache_control": MARK}
    inputs: Any = [{"role": "user", "content": [part]}]
    responses = [sdk.responses.create(model=SERVED, input=inputs, store=False) for _ in range(2)]
    assert responses[1].usage is not None and responses[1].usage.input_tokens_details.cached_tokens > 0


def test_cache_control_on_an_unknown_block_is_a_400_in_anthropics_shape(
    claude: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    block: Any = {"type": "container_upload", "file_id": "f1", "cache_control": MARK}
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": [block]}]
        )
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "messages[0].content[0]" and not upstream.fake.chat_requests()
