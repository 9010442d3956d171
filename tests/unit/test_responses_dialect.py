"""The Responses dialect on its own: request items → chat messages, and chat chunks → the event lifecycle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from routeway.dialects.responses import parse_responses, render_response, to_chat_request
from routeway.dialects.responses_stream import render_responses_stream
from routeway.domain.proof import RouteProof
from routeway.errors import ImageUrlNotSupported, InvalidRequest, UpstreamError
from routeway.services.results import KEEPALIVE, Completion, CompletionStream, StreamChunk, StreamEvent, StreamFailure

PNG = "data:image/png;base64,iVBORw0KGgo="


def chat_of(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return to_chat_request(parse_responses({"model": "openai/gpt-5.4-mini", **body}), history).body


def test_items_become_chat_messages() -> None:
    chat = chat_of(
        {
            "instructions": "Be brief.",
            "input": [
                {"type": "message", "role": "developer", "content": "Use metric units."},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {"type": "input_image", "image_url": PNG},
                    ],
                },
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
                {"type": "function_call", "call_id": "c1", "name": "zoom", "arguments": '{"x": 1}'},
                {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "zoomed"}]},
            ],
        }
    )
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric units."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}}],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "zoom", "arguments": '{"x": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "zoomed"},
    ]


def test_history_goes_after_the_instructions_and_before_the_input() -> None:
    history = [{"type": "message", "role": "user", "content": "Hi"}]
    chat = chat_of({"input": "Again", "instructions": "Be brief."}, history)
    assert [m["content"] for m in chat["messages"]] == ["Be brief.", "Hi", "Again"]


def test_tools_and_options_translate() -> None:
    chat = chat_of(
        {
            "input": "hi",
            "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
                {"type": "web_search"},  # hosted: no chat equivalent
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
            "stream": True,
            "objective": "cheapest",
            "provider": {"order": ["openai"]},
            "models": ["openai/gpt-5.4-mini", "anthropic/claude-sonnet-4.6"],
            "prompt_cache_key": "abc",
            "include": ["reasoning.encrypted_content"],
        }
    )
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["parallel_tool_calls"] is False and chat["objective"] == "cheapest"
    assert chat["stream_options"] == {"include_usage": True} and chat["provider"] == {"order": ["openai"]}
    assert chat["models"] == ["openai/gpt-5.4-mini", "anthropic/claude-sonnet-4.6"]
    assert chat["prompt_cache_key"] == "abc" and "include" not in chat  # the key also keeps a conversation sticky


@pytest.mark.parametrize(
    ("body", "error", "param"),
    [
        ({"input": 3}, InvalidRequest, "input"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, InvalidRequest, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, InvalidRequest, None),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://x/y.png"}]}]},
            ImageUrlNotSupported,
            "input[0].content[0].image_url",
        ),
        ({"input": [{"type": "function_call", "name": "f"}]}, InvalidRequest, "input[0].call_id"),
        ({"input": "hi", "previous_response_id": 5}, InvalidRequest, "previous_response_id"),
        ({"input": "hi", "store": "yes"}, InvalidRequest, "store"),
        # every known field type-checked, with the Responses dialect's own param (issue 32)
        ({"input": "hi", "temperature": "hot"}, InvalidRequest, "temperature"),
        ({"input": "hi", "top_p": 3}, InvalidRequest, "top_p"),
        ({"input": "hi", "presence_penalty": "x"}, InvalidRequest, "presence_penalty"),
        ({"input": "hi", "top_logprobs": 50}, InvalidRequest, "top_logprobs"),
        ({"input": "hi", "max_output_tokens": 0}, InvalidRequest, "max_output_tokens"),
        ({"input": "hi", "max_tool_calls": "3"}, InvalidRequest, "max_tool_calls"),
        ({"input": "hi", "metadata": ["a"]}, InvalidRequest, "metadata"),
        ({"input": "hi", "background": True}, InvalidRequest, "background"),
        ({"input": "hi", "truncation": "yes"}, InvalidRequest, "truncation"),
        ({"input": "hi", "include": "reasoning"}, InvalidRequest, "include"),
        ({"input": "hi", "instructions": ["x"]}, InvalidRequest, "instructions"),
        ({"input": "hi", "reasoning": {"effort": "ludicrous"}}, InvalidRequest, "reasoning.effort"),
        ({"input": "hi", "reasoning": "high"}, InvalidRequest, "reasoning"),
        (
            {"input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": "{}"}}},
            InvalidRequest,
            "text.format.schema",
        ),
        ({"input": "hi", "stream_options": {"include_obfuscation": False}}, InvalidRequest, "stream_options"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {"city": "Paris"}}]},
            InvalidRequest,
            "input[0].arguments",
        ),
    ],
)
def test_bad_requests_name_their_param(body: dict[str, Any], error: type[Exception], param: str | None) -> None:
    with pytest.raises(error) as caught:
        chat_of(body)
    if param is not None:
        assert getattr(caught.value, "param", None) == param


def chunk(delta: dict[str, Any], finish: str | None = None) -> StreamChunk:
    return StreamChunk(
        {"id": "g", "created": 7, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    )


def render(events: list[StreamEvent], body: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    async def source() -> AsyncIterator[StreamEvent]:
        for event in events:
            yield event

    stored: list[dict[str, Any]] = []

    async def keep(response: dict[str, Any]) -> None:
        stored.append(response)

    async def run() -> list[bytes]:
        stream = CompletionStream(RouteProof("gen-rw-abc"), source())
        request = parse_responses({"model": "m", "input": "hi", "stream": True, **(body or {})})
        return [piece async for piece in render_responses_stream(stream, request, keep)]

    raw = b"".join(asyncio.run(run())).decode()
    documents, comments = [], []
    for block in filter(None, raw.split("\n\n")):
        if block.startswith(":"):
            comments.append(block)
            continue
        name, data = block.split("\n")
        document = json.loads(data.removeprefix("data: "))
        assert name == f"event: {document['type']}"
        documents.append(document)
    assert [d["sequence_number"] for d in documents] == list(range(len(documents)))
    assert stored == [documents[-1]["response"]]
    return documents, comments


def test_a_tool_call_whose_name_comes_late_opens_once_it_is_known() -> None:
    documents, comments = render(
        [
            KEEPALIVE,
            chunk({"reasoning": "Think"}),
            chunk({"reasoning": "ing."}),
            chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"arguments": '{"q"'}}]}),
            KEEPALIVE,
            chunk({"tool_calls": [{"index": 0, "function": {"name": "search", "arguments": ": 1}"}}]}),
            chunk({}, "tool_calls"),
            StreamChunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}, "route": {"m": 1}}),
        ]
    )
    assert comments == [": keep-alive", ": keep-alive"]
    types = [d["type"] for d in documents]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = documents[-1]["response"]
    assert final["id"] == "resp_abc" and final["status"] == "completed" and final["route"] == {"m": 1}
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": "Thinking."}]
    call = final["output"][1]
    assert (call["call_id"], call["name"], call["arguments"]) == ("call_a", "search", '{"q": 1}')
    assert final["usage"]["input_tokens"] == 3 and final["usage"]["output_tokens"] == 4
    assert final["usage"]["total_tokens"] == 7


def test_a_length_cut_stream_is_incomplete_and_an_error_fails_it() -> None:
    documents, _ = render([chunk({"content": "Once"}), chunk({}, "length")])
    assert documents[-1]["type"] == "response.incomplete"
    assert documents[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    error = StreamFailure(UpstreamError("cut"), route={"r": 2})
    documents, _ = render([chunk({"content": "Once"}), error])
    assert [d["type"] for d in documents[-4:]] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    failed = documents[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"] == "cut" and failed["route"] == {"r": 2}
    assert failed["output"][0]["content"][0]["text"] == "Once"


CODEX_LIKE_TOOLS = [
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: PATCH"},
    },
    {
        "type": "namespace",
        "name": "agents",
        "description": "Sub-agents",
        "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}],
    },
    {"type": "web_search"},
]


def test_custom_and_namespaced_tools_become_functions_and_come_back_as_themselves() -> None:
    request = parse_responses(
        {
            "model": "m",
            "tools": CODEX_LIKE_TOOLS,
            "input": [
                {"role": "user", "content": "Fix it"},
                {"type": "custom_tool_call", "call_id": "p1", "name": "apply_patch", "input": "*** Begin Patch"},
                {"type": "custom_tool_call_output", "call_id": "p1", "output": "Done"},
                {"type": "function_call", "call_id": "s1", "name": "spawn", "namespace": "agents", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "s1", "output": "spawned"},
            ],
        }
    )
    chat = to_chat_request(request).body
    assert [t["function"]["name"] for t in chat["tools"]] == ["apply_patch", "agents__spawn"]
    patch_tool = chat["tools"][0]["function"]
    assert patch_tool["parameters"]["required"] == ["input"] and "start: PATCH" in patch_tool["description"]
    calls = [m["tool_calls"][0]["function"] for m in chat["messages"] if m.get("tool_calls")]
    assert calls == [
        {"name": "apply_patch", "arguments": '{"input":"*** Begin Patch"}'},
        {"name": "agents__spawn", "arguments": "{}"},
    ]
    message = {
        "content": None,
        "tool_calls": [
            {"id": "p2", "function": {"name": "apply_patch", "arguments": '{"input": "*** Begin Patch\\n"}'}},
            {"id": "s2", "function": {"name": "agents__spawn", "arguments": '{"task": "x"}'}},
        ],
    }
    completion = Completion(
        {"created": 1, "model": "m", "choices": [{"message": message, "finish_reason": "tool_calls"}]},
        RouteProof("gen-rw-1"),
    )
    custom, function = render_response(completion, request, 1_795_240_801)["output"]
    assert (custom["type"], custom["name"], custom["input"]) == ("custom_tool_call", "apply_patch", "*** Begin Patch\n")
    assert (function["type"], function["name"], function["namespace"]) == ("function_call", "spawn", "agents")


def test_a_streamed_custom_tool_call_sends_its_raw_input() -> None:
    piece = {"index": 0, "id": "p1", "function": {"name": "apply_patch", "arguments": '{"input": "*** Begin'}}
    documents, _ = render(
        [
            chunk({"tool_calls": [piece]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' Patch"}'}}]}),
            chunk({}, "tool_calls"),
        ],
        {"tools": CODEX_LIKE_TOOLS},
    )
    types = [d["type"] for d in documents]
    assert "response.function_call_arguments.delta" not in types
    assert documents[-2]["item"] == {
        "id": documents[2]["item"]["id"],
        "type": "custom_tool_call",
        "call_id": "p1",
        "name": "apply_patch",
        "input": "*** Begin Patch",
        "status": "completed",
    }
    assert [d["input"] for d in documents if d["type"] == "response.custom_tool_call_input.done"] == ["*** Begin Patch"]


def test_images_a_tool_returned_follow_its_tool_message() -> None:
    chat = chat_of(
        {
            "input": [
                {"type": "function_call", "call_id": "v1", "name": "view_image", "arguments": "{}"},
                {"type": "function_call", "call_id": "v2", "name": "view_image", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "v1",
                    "output": [{"type": "input_text", "text": "a chart"}, {"type": "input_image", "image_url": PNG}],
                },
                {
                    "type": "function_call_output",
                    "call_id": "v2",
                    "output": [{"type": "input_image", "image_url": PNG}],
                },
            ],
            "tools": [{"type": "function", "name": "view_image", "parameters": {"type": "object"}}],
        }
    )
    first, second, user = chat["messages"][1:]  # both tool messages right after the calls, then the images
    assert first == {"role": "tool", "tool_call_id": "v1", "content": "a chart"}
    assert second["tool_call_id"] == "v2" and "1 image" in second["content"]
    assert user["role"] == "user" and user["content"][1:] == [{"type": "image_url", "image_url": {"url": PNG}}] * 2
    with pytest.raises(InvalidRequest) as caught:
        chat_of({"input": "hi", "max_output_tokens": 0})
    assert caught.value.param == "max_output_tokens"
