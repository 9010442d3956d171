"""`cache_control` is kept on every Messages block that carries it, and thinking goes back only to its family."""

from __future__ import annotations

from typing import Any

import pytest

from routeway.dialects.messages import chat_body_from
from routeway.dialects.responses import chat_body, parse_responses
from routeway.domain.reasoning_details import drop_foreign_reasoning
from routeway.errors import InvalidRequest, UnsupportedContent

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
MARK = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 100, **extra}


def test_cache_control_is_kept_on_every_block_that_carries_it() -> None:
    chat = chat_body_from(
        body(
            system=[{"type": "text", "text": "You are a coder.", "cache_control": HOUR}],
            tools=[{"name": "read", "input_schema": {"type": "object"}, "cache_control": MARK}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Look", "cache_control": MARK},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                        | {"cache_control": MARK},
                        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf"}}
                        | {"source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}
                        | {"cache_control": MARK},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Reading.", "cache_control": MARK},
                        {"type": "tool_use", "id": "t1", "name": "read", "input": {}, "cache_control": MARK},
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42", "cache_control": MARK}],
                },
            ],
        )
    )
    system, user, assistant, tool = chat["messages"]
    assert system["content"][0]["cache_control"] == HOUR
    assert [part.get("cache_control") for part in user["content"]] == [MARK, MARK, MARK]
    assert assistant["content"] == [{"type": "text", "text": "Reading.", "cache_control": MARK}]
    assert assistant["tool_calls"][0]["cache_control"] == MARK
    assert tool["content"] == [{"type": "text", "text": "42", "cache_control": MARK}]
    assert chat["tools"][0]["cache_control"] == MARK


def test_a_tool_results_inner_text_mark_is_kept() -> None:
    inner = [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": MARK}]
    messages = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": inner}]}]
    (tool,) = chat_body_from(body(messages=messages))["messages"]
    assert tool["content"] == [{"type": "text", "text": "a\nb", "cache_control": MARK}]


def test_unmarked_blocks_translate_as_before() -> None:
    messages = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}]
    assert chat_body_from(body(messages=messages))["messages"] == [
        {"role": "tool", "tool_call_id": "t1", "content": "42"}
    ]


def test_cache_control_on_an_unknown_block_type_is_refused_with_its_param() -> None:
    block = {"type": "search_result", "text": "x", "cache_control": MARK}
    with pytest.raises(UnsupportedContent) as caught:
        chat_body_from(body(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}]))
    assert caught.value.status == 400 and caught.value.param == "messages[0].content[1]"


def test_a_cache_control_that_is_not_an_object_is_refused() -> None:
    block = {"type": "text", "text": "hi", "cache_control": "ephemeral"}
    with pytest.raises(InvalidRequest) as caught:
        chat_body_from(body(messages=[{"role": "user", "content": [block]}]))
    assert caught.value.param == "messages[0].content[0].cache_control"


def test_responses_input_parts_keep_cache_control() -> None:
    request = parse_responses(
        {
            "model": "anthropic/claude-sonnet-4.5",
            "prompt_cache_key": "conv-1",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi", "cache_control": MARK}]}],
        }
    )
    chat = chat_body(request, [])
    assert chat["messages"][0]["content"] == [{"type": "text", "text": "hi", "cache_control": MARK}]
    assert chat["prompt_cache_key"] == "conv-1"


def test_rel_65_thinking_reaches_only_the_family_that_issued_it() -> None:
    chat = chat_body_from(
        body(
            messages=[
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "forged-or-not"},
                        {"type": "redacted_thinking", "data": "opaque"},
                        {"type": "text", "text": "Hello"},
                    ],
                },
                {"role": "user", "content": "again"},
            ]
        )
    )
    to_claude = dict(chat)
    assert drop_foreign_reasoning(to_claude, "anthropic") == []
    details = to_claude["messages"][1]["reasoning_details"]
    assert details[0]["signature"] == "forged-or-not"  # as the client sent it, to its issuer only
    assert details[1] == {"type": "reasoning.encrypted", "data": "opaque", "format": "anthropic-claude-v1", "index": 1}
    to_gpt = dict(chat)
    assert drop_foreign_reasoning(to_gpt, "openai") == ["thinking_dropped=2"]
    assert "reasoning_details" not in to_gpt["messages"][1]
    assert "reasoning_details" in chat["messages"][1]  # the next attempt still has them: nothing shared changed


def test_rel_65_a_thinking_block_without_text_is_refused() -> None:
    messages = [{"role": "assistant", "content": [{"type": "thinking", "signature": "s"}]}]
    with pytest.raises(InvalidRequest) as caught:
        chat_body_from(body(messages=[{"role": "user", "content": "hi"}, *messages]))
    assert caught.value.param == "messages[1].content[0].thinking"
