"""The Anthropic Messages dialect, pure: request translation, the message body, the event stream, errors,
and native model names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from routeway.dialects.messages import chat_body_from, parse_count_tokens, parse_messages
from routeway.dialects.messages_render import error_body, render_message, render_message_stream, tool_input
from routeway.domain.native_names import resolve_native_name, resolve_native_names
from routeway.domain.proof import RouteProof
from routeway.domain.wire import parse_chat_request
from routeway.errors import ImageUrlNotSupported, InvalidRequest, ModelNotFound, UpstreamError
from routeway.services.results import KEEPALIVE, Completion, CompletionStream, StreamChunk, StreamEvent, StreamFailure
from tests.fakes.data import load

IDS = tuple(m["id"] for m in load("models.json")["data"])
PNG = "iVBORw0KGgo="


def messages_body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **extra}


def test_a_full_conversation_translates_to_chat() -> None:
    body = messages_body(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "42"}]},
                    {"type": "text", "text": "And now?"},
                ],
            },
        ],
        tools=[{"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any"},
        stop_sequences=["END"],
        thinking={"type": "enabled", "budget_tokens": 2000},
        metadata={"user_id": "u-1", "objective": "cheapest"},
        top_k=5,
        stream=True,
    )
    chat = chat_body_from(body)
    system, user, assistant, tool, user2 = chat["messages"]
    assert system == {
        "role": "system",
        "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    }
    assert user["content"][1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert user["content"][2]["type"] == "file" and user["content"][2]["file"]["file_data"].startswith(
        "data:application/pdf"
    )
    assert assistant["content"] == "Let me look."
    assert assistant["reasoning_details"] == [  # the thinking block goes back as OpenRouter's reasoning detail
        {"type": "reasoning.text", "text": "hmm", "signature": "sig", "format": "anthropic-claude-v1", "index": 0}
    ]
    assert assistant["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}
    ]
    assert tool == {"role": "tool", "tool_call_id": "toolu_1", "content": "42"}
    assert user2 == {"role": "user", "content": [{"type": "text", "text": "And now?"}]}
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}}
    ]
    assert chat["tool_choice"] == "required" and chat["stop"] == ["END"] and chat["top_k"] == 5
    assert chat["reasoning"] == {"max_tokens": 2000} and chat["user"] == "u-1"
    assert chat["metadata"] == {"objective": "cheapest"}  # routing goals read from metadata, as for chat
    assert chat["stream_options"] == {"include_usage": True}
    assert parse_chat_request(chat).stream is True


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "lookup"}, {"type": "function", "function": {"name": "lookup"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    assert chat_body_from(messages_body(tool_choice=choice))["tool_choice"] == expected


def test_missing_max_tokens_is_refused_but_count_tokens_needs_none() -> None:
    body = messages_body()
    del body["max_tokens"]
    with pytest.raises(InvalidRequest) as caught:
        parse_messages(body)
    assert caught.value.param == "max_tokens"
    assert parse_count_tokens(body).messages == [{"role": "user", "content": "hi"}]


def test_an_image_url_source_is_refused_with_its_path() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    body = messages_body(messages=[{"role": "user", "content": [{"type": "text", "text": "see"}, image]}])
    with pytest.raises(ImageUrlNotSupported) as caught:
        parse_messages(body)
    assert caught.value.param == "messages[0].content[1].source.url"


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "tool", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": [{"type": "server_tool_use"}]}], "messages[0].content[0]"),
        ([{"role": "user", "content": [{"type": "tool_result"}]}], "messages[0].content[0].tool_use_id"),
        ([{"role": "user", "content": 3}], "messages[0].content"),
    ],
)
def test_bad_blocks_are_refused_with_a_param(messages: list[Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_messages(messages_body(messages=messages))
    assert caught.value.param == param


def test_routing_fields_models_and_provider_pass_through() -> None:
    chat = chat_body_from(messages_body(models=["openai/gpt-4o-mini"], metadata={"provider": {"sort": "price"}}))
    assert chat["models"] == ["openai/gpt-4o-mini"] and chat["provider"] == {"sort": "price"}
    assert "metadata" not in chat


def completion(message: dict[str, Any], finish: str, **choice: Any) -> Completion:
    proof = RouteProof("gen-1", model="anthropic/claude-sonnet-4.5")
    usage = {"prompt_tokens": 50, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 20}}
    body = {
        "model": "anthropic/claude-4.5-sonnet-20250929",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}],
        "usage": usage,
        "route": {"generation_id": "gen-1"},
    }
    return Completion(body, proof)


def test_a_completion_renders_as_a_message() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    broken = {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": '{"q": '}}
    message = {"role": "assistant", "content": "Sure.", "reasoning": "think", "tool_calls": [call, broken]}
    rendered = render_message(completion(message, "tool_calls"))
    assert rendered["id"] == "msg_gen-1" and rendered["model"] == "anthropic/claude-sonnet-4.5"
    assert rendered["content"] == [
        {"type": "thinking", "thinking": "think", "signature": ""},
        {"type": "text", "text": "Sure.", "citations": None},
        {
            "type": "tool_use",
            "id": "call_1",
            "name": "lookup",
            "input": {"q": "x"},
            "caller": None,
            "toolset_name": None,
        },
        # invalid JSON: {} and go on
        {"type": "tool_use", "id": "call_2", "name": "lookup", "input": {}, "caller": None, "toolset_name": None},
    ]
    assert rendered["stop_reason"] == "tool_use" and rendered["stop_sequence"] is None
    assert rendered["usage"] == {
        "input_tokens": 30,
        "output_tokens": 7,
        "cache_read_input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "output_tokens_details": None,
        "inference_geo": None,
        "speed": None,
    }
    assert rendered["stop_details"] is None and rendered["container"] is None
    assert rendered["route"] == {"generation_id": "gen-1"}


@pytest.mark.parametrize(
    ("finish", "choice", "stops", "expected"),
    [
        ("stop", {}, None, ("end_turn", None)),
        ("length", {}, None, ("max_tokens", None)),
        ("stop", {"native_finish_reason": "stop_sequence"}, ["END"], ("stop_sequence", "END")),
        ("stop", {"stop_reason": "B"}, ["A", "B"], ("stop_sequence", "B")),
    ],
)
def test_stop_reasons(finish: str, choice: dict[str, Any], stops: Any, expected: tuple[str, str | None]) -> None:
    rendered = render_message(completion({"role": "assistant", "content": "x"}, finish, **choice), stops)
    assert (rendered["stop_reason"], rendered["stop_sequence"]) == expected


def test_tool_input_is_always_an_object() -> None:
    assert tool_input('{"a": 1}') == {"a": 1}
    assert tool_input("[1]") == {} and tool_input("nope") == {} and tool_input("") == {}


def chunk(delta: dict[str, Any], finish: str | None = None) -> StreamChunk:
    return StreamChunk({"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def events_of(chunks: list[StreamEvent]) -> list[tuple[str, dict[str, Any]]]:
    async def source() -> AsyncIterator[StreamEvent]:
        for c in chunks:
            yield c

    stream = CompletionStream(RouteProof("gen-2", model="anthropic/claude-sonnet-4.5"), source())

    async def collect() -> bytes:
        return b"".join([piece async for piece in render_message_stream(stream)])

    raw = asyncio.run(collect()).decode()
    out = []
    for block in raw.split("\n\n"):
        if block.startswith("event: "):
            name_line, data_line = block.split("\n")
            data = orjson.loads(data_line.removeprefix("data: "))
            assert data["type"] == name_line.removeprefix("event: ")
            out.append((data["type"], data))
        elif block:
            assert block == ": keep-alive"
            out.append(("comment", {}))
    return out


def test_a_stream_with_text_then_tool_calls_in_pieces() -> None:
    last = StreamChunk({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}, "route": {"r": 1}})
    events = events_of(
        [
            chunk({"role": "assistant", "content": ""}),
            KEEPALIVE,
            chunk({"reasoning": "thinking..."}),
            chunk({"content": "Let me"}),
            chunk({"content": " check."}),
            chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "lookup", "arguments": '{"q"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ': "x"}'}}]}),
            chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "other", "arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
            last,
        ]
    )
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "comment",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use", "tool_use"]
    assert starts[2] == {
        "type": "tool_use",
        "id": "call_a",
        "name": "lookup",
        "input": {},
        "caller": None,
        "toolset_name": None,
    }
    json_parts = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 2]
    assert orjson.loads("".join(json_parts)) == {"q": "x"}
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["route"] == {"r": 1}
    assert delta["usage"]["input_tokens"] == 9 and delta["usage"]["output_tokens"] == 4
    assert events[0][1]["message"]["model"] == "anthropic/claude-sonnet-4.5"


def test_an_error_chunk_after_content_is_an_error_event() -> None:
    error = StreamFailure(UpstreamError("cut"), route={})
    events = events_of([chunk({"content": "Hel"}), error])
    assert [n for n, _ in events][-2:] == ["content_block_delta", "error"]
    assert events[-1][1]["error"] == {"type": "api_error", "message": "cut", "code": "upstream_error"}


def test_errors_take_anthropics_shape_with_routeways_code() -> None:
    missing = ModelNotFound("nope", param="model", suggestions=["anthropic/claude-sonnet-4.5"])
    assert error_body(missing) == {
        "type": "error",
        "error": {
            "type": "not_found_error",
            "message": "nope",
            "code": "model_not_found",
            "param": "model",
            "suggestions": ["anthropic/claude-sonnet-4.5"],
        },
    }
    assert error_body(UpstreamError("x"))["error"]["type"] == "api_error"
    assert error_body(InvalidRequest("x"))["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-sonnet-4-5", "anthropic/claude-sonnet-4.5"),
        ("claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4.5"),
        ("claude-haiku-4-5-20251001", "anthropic/claude-haiku-4.5"),
        ("claude-3-5-haiku-20241022", "anthropic/claude-3.5-haiku"),
        ("gpt-4o-mini", "openai/gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini-2024-07-18"),
        ("claude-sonnet-9-9", None),
        ("anthropic/claude-sonnet-4.5", None),  # already an id
        ("auto", None),
    ],
)
def test_native_names(name: str, expected: str | None) -> None:
    assert resolve_native_name(name, IDS, {"auto"}) == expected


def test_a_name_shared_by_two_vendors_is_not_resolved() -> None:
    assert resolve_native_name("same-model", ("a/same-model", "b/same-model")) is None
    request = parse_chat_request(
        {"model": "claude-sonnet-4-5", "models": ["gpt-4o-mini"], "messages": [{"role": "user", "content": "x"}]}
    )
    resolved, notes = resolve_native_names(request, IDS)
    assert (resolved.model, resolved.models) == ("anthropic/claude-sonnet-4.5", ("openai/gpt-4o-mini",))
    assert notes == ["model_resolved=anthropic/claude-sonnet-4.5", "model_resolved=openai/gpt-4o-mini"]


def test_an_error_before_any_content_is_the_only_event() -> None:
    error = StreamFailure(UpstreamError("all failed"), route={})
    events = events_of([KEEPALIVE, error])
    assert [n for n, _ in events] == ["comment", "error"]


def test_thinking_carries_the_upstreams_signature_whole_and_streamed() -> None:
    detail = {"type": "reasoning.text", "text": "hmm", "signature": "sig-1", "format": "anthropic-claude-v1"}
    message = {"role": "assistant", "content": "ok", "reasoning_details": [detail]}
    rendered = render_message(completion(message, "stop"))
    assert rendered["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": "sig-1"}
    events = events_of(
        [
            chunk({"reasoning": "hm", "reasoning_details": [{**detail, "text": "hm", "signature": None}]}),
            chunk({"reasoning_details": [{"type": "reasoning.text", "text": "", "signature": "sig-2"}]}),
            chunk({"content": "ok"}),
            chunk({}, "stop"),
        ]
    )
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas[:2] == [
        {"type": "thinking_delta", "thinking": "hm"},
        {"type": "signature_delta", "signature": "sig-2"},
    ]


def test_a_system_turn_among_the_messages_stays_a_system_message_in_its_place() -> None:
    """Claude Code sends its environment as a `system` message among the turns (for models it does not know)."""
    from routeway.dialects.messages import chat_messages

    body = {
        "system": "You are helpful.",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
        ],
    }
    roles = [(m["role"], m["content"]) for m in chat_messages(body)]
    assert roles[1] == ("user", "hi")
    assert roles[2] == ("system", [{"type": "text", "text": "# Environment"}])
    with pytest.raises(InvalidRequest) as refused:
        chat_messages({"messages": [{"role": "tool", "content": "x"}]})
    assert refused.value.param == "messages[0].role"
