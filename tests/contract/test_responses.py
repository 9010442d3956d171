"""The OpenAI Responses API as the official openai SDK sees it: a real uvicorn server running the gateway,
the fake OpenRouter behind it. Answers the tests depend on are scripted, so they hold whether or not the
fake calls tools on its own when tools are offered.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from routeway.gateway import Gateway
from routeway.services.keys import create_key
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.openrouter import Scripted

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

MODEL = "openai/gpt-5.4-mini"
HELLO = "Hello from the fake OpenRouter."
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def chat_completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "gen-scripted",
        "object": "chat.completion",
        "created": 1_795_240_800,
        "model": MODEL,
        "provider": "OpenAI",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19, "cost": 0.00002},
    }


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def sse_chunks(deltas: list[dict[str, Any]], finish: str, *, error_after: int | None = None) -> list[bytes | str]:
    """A scripted upstream stream: one chunk per delta, the finish reason, usage, [DONE] (or an error event)."""
    head = {"id": "gen-scripted", "object": "chat.completion.chunk", "created": 1_795_240_800, "model": MODEL}

    def data(document: dict[str, Any]) -> str:
        return "data: " + json.dumps({**head, **document}) + "\n\n"

    pieces: list[bytes | str] = [data({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    for index, delta in enumerate(deltas):
        if error_after is not None and index == error_after:
            return [*pieces, "data: " + json.dumps({"error": {"code": 502, "message": "provider fell over"}}) + "\n\n"]
        pieces.append(data({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
    pieces.append(data({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    usage = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19, "cost": 0.00002}
    pieces += [data({"choices": [], "usage": usage}), "data: [DONE]\n\n"]
    return pieces


def last_chat(upstream: FakeUpstream) -> dict[str, Any]:
    body: dict[str, Any] = upstream.fake.chat_requests()[-1].body
    return body


def test_create_answers_a_response_with_proof_record_and_charge(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str, gateway: Gateway
) -> None:
    raw = sdk.responses.with_raw_response.create(model=MODEL, input="Say hello", instructions="Be brief.")
    response = raw.parse()
    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.output_text == HELLO
    assert response.output[0].type == "message" and response.output[0].content[0].type == "output_text"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.total_tokens > 0
    assert response.instructions == "Be brief." and response.model == MODEL
    assert response.model_extra is not None and response.model_extra["route"]["model"] == MODEL
    assert raw.headers["x-routeway-model"] == MODEL and raw.headers["x-routeway-attempts"] == "1"
    sent = last_chat(upstream)
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    assert "input" not in sent and "instructions" not in sent
    generation_id = raw.headers["x-routeway-generation-id"]
    explained = httpx.get(f"{gateway_url}/v1/route/explain/{generation_id}", headers={"x-api-key": api_key})
    assert explained.status_code == 200 and explained.json()["route"]["attempts"][0]["status"] == 200
    assert "Say hello" not in explained.text
    key = httpx.get(f"{gateway_url}/v1/key", headers={"x-api-key": api_key}).json()
    assert key["spend_usd"] > 0


def test_stream_sends_the_lifecycle_in_order(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    with sdk.responses.stream(model=MODEL, input="Say hello") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    deltas = [i for i, t in enumerate(types) if t == "response.output_text.delta"]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert len(deltas) > 1 and deltas == list(range(4, 4 + len(deltas)))
    assert types[4 + len(deltas) :] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == HELLO
    assert final.output_text == HELLO and final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens > 0
    assert final.model_extra is not None and final.model_extra["route"]["model"] == MODEL
    sent = last_chat(upstream)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_stream_events_are_named_and_keepalives_are_comments(gateway_url: str, api_key: str) -> None:
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1/responses",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": MODEL, "input": "Say hello", "stream": True},
    ) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert reply.headers["x-routeway-model"] == MODEL
        text = reply.read().decode()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    for block in blocks:
        lines = block.split("\n")
        if lines[0].startswith(":"):
            continue
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ")
        assert json.loads(lines[1][6:])["type"] == lines[0][7:]
    assert "[DONE]" not in text


def test_function_call_round_trip(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    call = tool_call("call_w1", "get_weather", '{"city": "Paris"}')
    upstream.fake.enqueue(Scripted(body=chat_completion({"content": None, "tool_calls": [call]}, "tool_calls")))
    first = sdk.responses.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    (item,) = first.output
    assert item.type == "function_call" and item.call_id == "call_w1" and item.name == "get_weather"
    assert json.loads(item.arguments) == {"city": "Paris"}
    assert last_chat(upstream)["tools"] == [
        {
            "type": "function",
            "function": {k: WEATHER_TOOL[k] for k in ("name", "description", "parameters")},
        }
    ]
    upstream.fake.enqueue(Scripted(body=chat_completion({"content": "It is sunny in Paris."})))
    second = sdk.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_w1", "output": "sunny, 21 C"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert second.output_text == "It is sunny in Paris." and second.previous_response_id == first.id
    messages = last_chat(upstream)["messages"]
    assert messages[0] == {"role": "user", "content": "Weather in Paris?"}
    assert messages[1]["role"] == "assistant" and messages[1]["tool_calls"][0]["id"] == "call_w1"
    assert messages[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21 C"}


def test_function_calls_sent_back_as_items_become_one_assistant_turn(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.fake.enqueue(Scripted(body=chat_completion({"content": "Paris is sunny, Oslo is not."})))
    reply = sdk.responses.create(
        model=MODEL,
        store=False,
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris and Oslo?"}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "c2", "output": "rain"},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert reply.output_text == "Paris is sunny, Oslo is not."
    messages = last_chat(upstream)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c1", "c2"]


def test_streamed_text_then_several_tool_calls_in_pieces(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    def piece(index: int, **function: str) -> dict[str, Any]:
        head = {"id": f"call_{index}", "type": "function"} if "name" in function else {}
        return {"tool_calls": [{"index": index, **head, "function": function}]}

    deltas = [
        {"content": "Checking"},
        {"content": " both."},
        piece(0, name="get_weather", arguments=""),
        piece(0, arguments='{"city":'),
        piece(0, arguments=' "Paris"}'),
        piece(1, name="get_weather", arguments='{"ci'),
        piece(1, arguments='ty": "Oslo"}'),
    ]
    upstream.fake.enqueue(Scripted(stream=sse_chunks(deltas, "tool_calls")))
    with sdk.responses.stream(model=MODEL, input="Weather in Paris and Oslo?", tools=[WEATHER_TOOL]) as stream:  # type: ignore[list-item]
        events = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = [e.item.type for e in events if e.type == "response.output_item.added"]
    assert added == ["message", "function_call", "function_call"]
    assert [o.type for o in final.output] == ["message", "function_call", "function_call"]
    assert final.output_text == "Checking both."
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("call_0", {"city": "Paris"}),
        ("call_1", {"city": "Oslo"}),
    ]
    done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(a) for a in done] == [{"city": "Paris"}, {"city": "Oslo"}]
    types = [e.type for e in events]
    assert types.index("response.output_text.done") < types.index("response.function_call_arguments.delta")


def test_a_stream_that_fails_after_content_ends_with_response_failed(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.fake.enqueue(
        Scripted(stream=sse_chunks([{"content": "Half"}, {"content": " a sentence"}], "stop", error_after=1))
    )
    with sdk.responses.stream(model=MODEL, input="Say hello") as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None and "provider fell over" in failed.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_previous_response_id_sends_the_earlier_turn_upstream(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    first = sdk.responses.create(model=MODEL, input="My name is Ada.")
    second = sdk.responses.create(model=MODEL, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert last_chat(upstream)["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": HELLO},
        {"role": "user", "content": "What is my name?"},
    ]
    third = sdk.responses.create(model=MODEL, input="And again?", previous_response_id=second.id)
    assert third.status == "completed"
    assert [m["content"] for m in last_chat(upstream)["messages"]] == [
        "My name is Ada.",
        HELLO,
        "What is my name?",
        HELLO,
        "And again?",
    ]


def test_retrieve_and_delete(sdk: openai.OpenAI, gateway_url: str, api_key: str) -> None:
    created = sdk.responses.create(model=MODEL, input="Say hello")
    again = sdk.responses.retrieve(created.id)
    assert again.id == created.id and again.output_text == HELLO and again.status == "completed"
    items = httpx.get(f"{gateway_url}/v1/responses/{created.id}/input_items", headers={"x-api-key": api_key}).json()
    assert items["data"] == [{"type": "message", "role": "user", "content": "Say hello"}]
    deleted = httpx.delete(f"{gateway_url}/v1/responses/{created.id}", headers={"x-api-key": api_key})
    assert deleted.json() == {"id": created.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(created.id)


def test_streamed_responses_are_stored_too(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model=MODEL, input="Say hello") as stream:
        final = stream.get_final_response()
    assert sdk.responses.retrieve(final.id).output_text == HELLO


def test_store_false_keeps_nothing(sdk: openai.OpenAI) -> None:
    created = sdk.responses.create(model=MODEL, input="Say hello", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)


def test_another_keys_response_is_not_found(sdk: openai.OpenAI, gateway: Gateway, gateway_url: str) -> None:
    created = sdk.responses.create(model=MODEL, input="Say hello")
    other_key, _ = create_key(gateway.state.sync, gateway.clock, "other")
    other = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=register_secret(other_key), max_retries=0)
    for attempt in (lambda: other.responses.retrieve(created.id), lambda: other.responses.delete(created.id)):
        with pytest.raises(openai.NotFoundError):
            attempt()
    with pytest.raises(openai.NotFoundError) as caught:
        other.responses.create(model=MODEL, input="And?", previous_response_id=created.id)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "previous_response_id" and body["code"] == "response_not_found"
    assert caught.value.response.headers["x-routeway-generation-id"]
    assert sdk.responses.retrieve(created.id).id == created.id  # still the owner's


def test_request_fields_translate_to_chat(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    sdk.responses.create(
        model=MODEL,
        input="Answer briefly",
        max_output_tokens=300,
        temperature=0.2,
        top_p=0.9,
        reasoning={"effort": "low"},
        metadata={"objective": "cheapest", "team": "docs"},
    )
    sent = last_chat(upstream)
    assert sent["max_tokens"] == 300 and sent["temperature"] == 0.2 and sent["top_p"] == 0.9
    assert sent["reasoning"] == {"effort": "low"}
    assert sent["metadata"] == {"team": "docs"}  # routing goals are Routeway's, never forwarded


def test_text_format_translates_to_response_format(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    """Sent with require_parameters, a structured request carries only what its endpoints support (this
    model's list no temperature or top_p: tests/functional/test_structured_outputs.py)."""
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    reply = sdk.responses.create(
        model=MODEL,
        input="Answer in JSON",
        max_output_tokens=300,
        reasoning={"effort": "low"},
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
    )
    assert reply.output_text == '{"answer":"example"}'
    sent = last_chat(upstream)
    assert sent["max_tokens"] == 300 and sent["reasoning"] == {"effort": "low"}
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert sent["provider"]["require_parameters"] is True


def test_cut_by_max_output_tokens_is_incomplete(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(Scripted(body=chat_completion({"content": "Once upon a"}, "length")))
    reply = sdk.responses.create(model=MODEL, input="Tell a story", max_output_tokens=16)
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"


def test_bad_input_answers_in_openais_error_shape(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    image = {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "auto"}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(
            model=MODEL,
            input=[{"role": "user", "content": [{"type": "input_text", "text": "What is this?"}, image]}],
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "image_url_not_supported"
    assert body["param"] == "input[0].content[1].image_url"
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.responses.create(model=MODEL, input="hi", previous_response_id="resp_unknown")
    assert isinstance(unknown.value.body, dict) and unknown.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model=MODEL, input=42)  # type: ignore[arg-type]
    assert upstream.fake.chat_requests() == []
