"""domain/bedrock_wire.py: OpenAI chat ↔ Bedrock Converse, both ways; Bedrock's errors as the core reads them; the
`kind: bedrock` configuration; and the fake Bedrock's event-stream frames as botocore decodes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routeway.config import ConfigError, load_routing_config
from routeway.domain.bedrock_answers import StreamTranslator, bedrock_error, to_chat_completion
from routeway.domain.bedrock_wire import BedrockRequestError, bedrock_model_id, to_converse
from tests.fakes.bedrock import event, exception_frame

PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_tool_history_becomes_alternating_turns_with_tool_results_merged() -> None:
    payload = {
        "model": "anthropic/claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "w", "arguments": '{"city": "Paris"}'}},
                    {"id": "b", "type": "function", "function": {"name": "w", "arguments": '{"city": "Rome"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "a", "content": "18C"},
            {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "w"}},
        "top_p": 0.9,
        "stop": "END",
        "max_completion_tokens": 500,
    }
    request = to_converse(payload, PROFILE, reasoning=False)
    assert request["system"] == [{"text": "Be brief."}, {"text": "Use tools."}]
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert request["messages"][1]["content"][1] == {
        "toolUse": {"toolUseId": "b", "name": "w", "input": {"city": "Rome"}}
    }
    assert request["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "a", "content": [{"text": "18C"}]}},
        {"toolResult": {"toolUseId": "b", "content": [{"text": "21C"}]}},
        {"text": "Thanks"},
    ]
    assert request["inferenceConfig"] == {"maxTokens": 500, "topP": 0.9, "stopSequences": ["END"]}
    assert request["toolConfig"]["toolChoice"] == {"tool": {"name": "w"}}
    assert "additionalModelRequestFields" not in request


def test_reasoning_asks_anthropic_models_for_thinking_within_max_tokens() -> None:
    payload = {"messages": [{"role": "user", "content": "hi"}], "reasoning": {"max_tokens": 3000}, "max_tokens": 1000}
    payload["temperature"] = 0.5
    request = to_converse(payload, PROFILE)
    assert request["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 3000}}
    assert request["inferenceConfig"]["maxTokens"] > 3000 and "temperature" not in request["inferenceConfig"]
    assert "additionalModelRequestFields" not in to_converse(payload, "amazon.nova-pro-v1:0")
    effort = to_converse({"messages": [], "reasoning_effort": "low"}, PROFILE)
    assert effort["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 2048


def test_an_image_by_url_or_an_unknown_format_is_the_client_s_error() -> None:
    by_url = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(BedrockRequestError, match="data URLs"):
        to_converse({"messages": [{"role": "user", "content": by_url}]}, PROFILE)
    tiff = [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]
    with pytest.raises(BedrockRequestError, match="tiff"):
        to_converse({"messages": [{"role": "user", "content": tiff}]}, PROFILE)


def test_a_pdf_becomes_a_document_and_unknown_parts_are_refused() -> None:
    pdf = {
        "type": "file",
        "file": {"filename": "Q3 report.v2.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
    }
    request = to_converse({"messages": [{"role": "user", "content": [pdf]}]}, PROFILE)
    document = request["messages"][0]["content"][0]["document"]
    assert document == {"format": "pdf", "name": "Q3 report v2", "source": {"bytes": b"%PDF-"}}
    with pytest.raises(BedrockRequestError, match="input_audio"):
        to_converse({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, PROFILE)


def test_an_answer_with_reasoning_and_a_tool_call_becomes_a_chat_completion() -> None:
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig"}}},
                    {"text": "Checking."},
                    {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 90},
    }
    completion = to_chat_completion(answer, "anthropic/claude-sonnet-4.5", "r1", created=1_700_000_000)
    message = completion["choices"][0]["message"]
    assert completion["choices"][0]["finish_reason"] == "tool_calls" and completion["id"] == "gen-bedrock-r1"
    assert message["content"] == "Checking." and message["reasoning"] == "Think."
    assert message["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"city": "Paris"}'}
    assert completion["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "total_tokens": 105,
        "prompt_tokens_details": {"cached_tokens": 90, "cache_write_tokens": 0},
    }
    # the reasoning's signature goes back to Bedrock on the next turn
    again = to_converse({"messages": [message]}, PROFILE)
    assert again["messages"][0]["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig"}}
    }


def test_stream_events_become_chunks_and_a_stream_without_its_stop_is_not_finished() -> None:
    translator = StreamTranslator("m", created=1_700_000_000)
    chunks = [
        c
        for e in (
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}},
            {"contentBlockStart": {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "w"}}}},
            {"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"a":'}}}},
        )
        for c in translator.take(e)
    ]
    assert not translator.stopped
    assert chunks[1]["choices"][0]["delta"] == {"content": "Hi"}
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0]["id"] == "t"
    assert chunks[3]["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": '{"a":'}}]
    stop = translator.take({"messageStop": {"stopReason": "tool_use"}})
    assert stop[0]["choices"][0]["finish_reason"] == "tool_calls" and translator.stopped
    usage = translator.take({"metadata": {"usage": {"inputTokens": 3, "outputTokens": 2}}})
    assert usage[0]["choices"] == [] and usage[0]["usage"]["total_tokens"] == 5


def test_errors_name_the_model_and_the_permission_never_bedrock_s_text_about_the_caller() -> None:
    throttled = bedrock_error("ThrottlingException", 429, PROFILE, "us-east-1", stream=False)
    assert throttled.status == 429 and PROFILE in throttled.message
    denied = bedrock_error("AccessDeniedException", 403, "amazon.nova-pro-v1:0", "eu-west-1", stream=True)
    assert denied.kind == "access_denied" and "bedrock:InvokeModelWithResponseStream" in denied.message
    assert "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0" in denied.message
    signing = bedrock_error("InvalidSignatureException", 403, PROFILE, "us-east-1", stream=False)
    assert signing.kind == "credentials" and signing.status == 503
    invalid_model = "The provided model identifier is invalid."
    not_served = bedrock_error("ValidationException", 400, PROFILE, "us-east-1", stream=False, detail=invalid_model)
    assert not_served.status == 400 and PROFILE in not_served.message and "model access" in not_served.message
    bad = bedrock_error("ValidationException", 400, PROFILE, "us-east-1", stream=False, detail="messages: empty")
    assert bad.status == 400 and "messages: empty" in bad.message
    assert bedrock_error("ModelNotReadyException", 429, PROFILE, "us-east-1", stream=False).status == 503


def test_model_ids_map_catalog_ids_and_their_variants() -> None:
    mapping = {"anthropic/claude-sonnet-4.5": PROFILE}
    assert bedrock_model_id("anthropic/claude-sonnet-4.5", mapping) == PROFILE
    assert bedrock_model_id("anthropic/claude-sonnet-4.5:nitro", mapping) == PROFILE
    assert bedrock_model_id("amazon.nova-pro-v1:0", mapping) == "amazon.nova-pro-v1:0"


def test_a_bedrock_backend_in_routeway_config(tmp_path: Path) -> None:
    config = tmp_path / "routeway.yaml"
    config.write_text(
        "backends:\n  - name: bedrock\n    kind: bedrock\n    region: us-east-1\n    models:\n"
        f"      anthropic/claude-sonnet-4.5: {PROFILE}\n"
    )
    backend = load_routing_config(config).backends[0]
    assert backend.kind == "bedrock" and backend.region == "us-east-1"
    assert backend.model_ids == {"anthropic/claude-sonnet-4.5": PROFILE}
    assert backend.models == ("anthropic/claude-sonnet-4.5",)
    config.write_text("backends:\n  - {name: bedrock, kind: bedrock, models: [anthropic/claude-sonnet-4.5]}\n")
    with pytest.raises(ConfigError, match="must map catalog model ids"):
        load_routing_config(config)


def test_the_fake_s_frames_are_what_botocore_decodes() -> None:
    from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(event("messageStart", {"role": "assistant"}) + exception_frame("throttlingException", "slow"))
    first, second = list(buffer)
    assert first.headers[":event-type"] == "messageStart" and json.loads(first.payload) == {"role": "assistant"}
    assert second.headers[":message-type"] == "exception" and second.headers[":exception-type"] == "throttlingException"
    broken = EventStreamBuffer()
    broken.add_data(event("messageStop", {"stopReason": "end_turn"}, corrupt=True))
    with pytest.raises(ChecksumMismatch):
        list(broken)


def test_thinking_is_not_asked_for_when_the_last_tool_turn_lost_its_signed_reasoning() -> None:
    call = {"id": "a", "type": "function", "function": {"name": "w", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "a", "content": "18C"},
    ]
    unsigned = to_converse({"messages": history, "reasoning": {"effort": "high"}}, PROFILE)
    assert "additionalModelRequestFields" not in unsigned
    signed = {"type": "reasoning.text", "text": "Think.", "signature": "sig"}
    history[1] = {**history[1], "reasoning_details": [signed]}
    assert "additionalModelRequestFields" in to_converse(
        {"messages": history, "reasoning": {"effort": "high"}}, PROFILE
    )


def test_streamed_reasoning_carries_its_signature_and_goes_back_as_one_signed_block() -> None:
    """ConverseStream sends a reasoning block's text, then its signature; a client echoes the deltas' details as
    they came, and Converse gets one reasoningContent block per index, unsigned ones left out."""
    translator = StreamTranslator(model="anthropic/claude-sonnet-4.5")
    chunks = [
        chunk
        for delta in ({"text": "Think"}, {"text": "ing."}, {"signature": "sig-1"})
        for chunk in translator.take(
            {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": delta}}}
        )
    ]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert [d.get("reasoning") for d in deltas] == ["Think", "ing.", None]
    details = [detail for d in deltas for detail in d["reasoning_details"]]
    assert details[-1] == {
        "type": "reasoning.text",
        "text": "",
        "index": 0,
        "signature": "sig-1",
        "format": "anthropic-claude-v1",
    }
    unsigned = {"type": "reasoning.text", "text": "not signed", "index": 1}
    message = {"role": "assistant", "content": "Hi", "reasoning_details": [*details, unsigned]}
    sent = to_converse({"messages": [{"role": "user", "content": "Hi"}, message]}, PROFILE)["messages"][1]["content"]
    assert sent == [
        {"reasoningContent": {"reasoningText": {"text": "Thinking.", "signature": "sig-1"}}},
        {"text": "Hi"},
    ]
