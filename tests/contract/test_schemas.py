"""Real gateway answers against the official schemas kept in tests/schemas (README there names their sources):
OpenAI's chat completion and Responses schemas and stream events, the Open Responses specification's response
object, and Anthropic's Message and stream events. Raw HTTP, so nothing an SDK forgives is hidden.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.schemas import event_problems, problems

MODEL = "openai/gpt-5.4-mini"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def post(url: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"}
    answer = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def sse(answer: httpx.Response) -> list[dict[str, Any]]:
    lines = [line.removeprefix("data: ") for line in answer.text.splitlines() if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


# Where OpenAI's schema and its own API part: the API sends `user: null` and, while in progress, `usage: null`,
# which the Open Responses specification requires (present, null when unknown) and OpenAI's schema types as a
# string and an object. The OpenAI check is made without those nulls; the Open Responses check keeps them.
NULLS_OPENAI_SENDS = ("user", "usage")


def openai_view(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if not (k in NULLS_OPENAI_SENDS and v is None)}


def openai_event_view(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "response": openai_view(event["response"])} if "response" in event else event


RESPONSES_BODIES = [
    {"model": MODEL, "input": "Say hello", "instructions": "Be brief."},
    {"model": MODEL, "input": "Weather in Paris? Use get_weather.", "tools": [WEATHER], "store": False},
    {"model": "nano-banana", "input": "Draw a fox", "tools": [{"type": "image_generation"}], "temperature": 0.2},
]


@pytest.mark.parametrize("body", RESPONSES_BODIES, ids=["text", "tool_call", "image"])
def test_a_response_has_every_field_both_schemas_require(gateway_url: str, api_key: str, body: dict[str, Any]) -> None:
    response = post(gateway_url, api_key, "/v1/responses", body).json()
    assert not (found := problems("openresponses", "ResponseResource", response)), found
    assert not (found := problems("openai", "Response", openai_view(response))), found
    assert isinstance(response["temperature"], float | int) and isinstance(response["top_p"], float | int)
    assert isinstance(response["completed_at"], int) and response["completed_at"] >= response["created_at"]


@pytest.mark.parametrize("body", RESPONSES_BODIES, ids=["text", "tool_call", "image"])
def test_every_streamed_responses_event_matches_openais_event_schema(
    gateway_url: str, api_key: str, body: dict[str, Any]
) -> None:
    events = sse(post(gateway_url, api_key, "/v1/responses", {**body, "stream": True}))
    assert events and events[-1]["type"] == "response.completed"
    for event in events:
        assert not (found := event_problems("openai", "ResponseStreamEvent", openai_event_view(event))), (
            event["type"],
            found,
        )
    for event in (events[0], events[-1]):
        assert not (found := problems("openresponses", "ResponseResource", event["response"])), (event["type"], found)


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}]}


def test_a_chat_completion_matches_openais_schema(gateway_url: str, api_key: str) -> None:
    assert (
        problems(
            "openai", "CreateChatCompletionResponse", post(gateway_url, api_key, "/v1/chat/completions", CHAT).json()
        )
        == []
    )
    tools = [{"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}]
    called = post(gateway_url, api_key, "/v1/chat/completions", {**CHAT, "tools": tools}).json()
    assert not (found := problems("openai", "CreateChatCompletionResponse", called)), found


def test_every_chat_chunk_matches_openais_chunk_schema(gateway_url: str, api_key: str) -> None:
    chunks = sse(post(gateway_url, api_key, "/v1/chat/completions", {**CHAT, "stream": True}))
    assert chunks
    for chunk in chunks:
        assert not (found := problems("openai", "CreateChatCompletionStreamResponse", chunk)), found


MESSAGES = {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 200, "messages": [{"role": "user", "content": "Hi"}]}


def test_a_message_has_every_field_of_anthropics_schema(gateway_url: str, api_key: str) -> None:
    message = post(gateway_url, api_key, "/v1/messages", MESSAGES).json()
    assert not (found := problems("anthropic", "Message", message)), found
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER["parameters"]}]
    called = post(gateway_url, api_key, "/v1/messages", {**MESSAGES, "tools": tools}).json()
    assert [b["type"] for b in called["content"]][-1] == "tool_use"
    assert not (found := problems("anthropic", "Message", called)), found


def test_every_streamed_message_event_matches_anthropics_event_schema(gateway_url: str, api_key: str) -> None:
    events = sse(post(gateway_url, api_key, "/v1/messages", {**MESSAGES, "stream": True}))
    assert [e["type"] for e in events][:1] == ["message_start"] and events[-1]["type"] == "message_stop"
    for event in events:
        if event["type"] != "ping":
            assert not (found := event_problems("anthropic", "RawMessageStreamEvent", event)), (event["type"], found)
