"""`POST /v1/responses/compact` as the official openai SDK calls it (`client.responses.compact`): a long
conversation in, its user messages and one `compaction` item out, made by a summarising chat request to the same
routing; the compacted output continues the conversation as the next request's input.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import FakeUpstream
from tests.schemas import problems

MODEL = "openai/gpt-5.4-mini"
CONVERSATION: list[Any] = [
    {"role": "user", "content": "Create a landing page for a dog petting cafe."},
    {
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Here is index.html ...", "annotations": []}],
    },
    {"type": "function_call", "call_id": "call_1", "name": "write_file", "arguments": '{"path": "index.html"}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "written"},
    {"role": "user", "content": "Now add a booking form."},
]
WRITE_FILE = {"type": "function", "name": "write_file", "parameters": {"type": "object", "properties": {}}}


def test_compact_answers_the_user_messages_and_a_compaction_item(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = sdk.responses.with_raw_response.compact(model=MODEL, input=CONVERSATION, instructions="Be a web developer.")
    compacted = raw.parse()
    assert compacted.object == "response.compaction" and compacted.id.startswith("resp_")
    kinds = [(item.type, getattr(item, "role", None)) for item in compacted.output]
    assert kinds == [("message", "user"), ("message", "user"), ("compaction", None)]
    assert compacted.usage.input_tokens > 0 and compacted.usage.total_tokens > 0
    assert raw.headers["x-routeway-generation-id"]  # the same proof as every routed answer
    sent = upstream.fake.chat_requests()[-1].body  # one summarising chat request: the conversation, then the ask
    assert sent["messages"][0] == {"role": "system", "content": "Be a web developer."}
    assert "compacted" in sent["messages"][-1]["content"] and sent["messages"][-1]["role"] == "user"
    assert not sent.get("stream")


def test_the_compacted_output_continues_the_conversation(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    compacted = sdk.responses.compact(model=MODEL, input=CONVERSATION)
    summary_item = compacted.output[-1].model_dump()
    carried = [item.model_dump(exclude_none=True) for item in compacted.output]
    answer = sdk.responses.create(model=MODEL, input=[*carried, {"role": "user", "content": "Go on."}], store=False)
    assert answer.status == "completed"
    sent = upstream.fake.chat_requests()[-1].body["messages"]
    summary = base64.urlsafe_b64decode(summary_item["encrypted_content"].split(".", 1)[1]).decode()
    assert sent[-2] == {"role": "user", "content": "Summary of the earlier conversation (compacted):\n\n" + summary}
    assert summary  # what the model wrote, carried whole


def test_compact_continues_a_stored_response_and_matches_openais_schema(
    gateway_url: str, api_key: str, sdk: openai.OpenAI
) -> None:
    first = sdk.responses.create(model=MODEL, input="Plan a trip to Lisbon.", tools=[WRITE_FILE])
    headers = {"authorization": f"Bearer {api_key}"}
    body = {"model": MODEL, "previous_response_id": first.id, "input": "and Porto"}
    answer = httpx.post(f"{gateway_url}/v1/responses/compact", json=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert not (found := problems("openai", "CompactResource", document)), found
    texts = [item["content"][0]["text"] for item in document["output"] if item["type"] == "message"]
    assert texts == ["Plan a trip to Lisbon.", "and Porto"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL, "input": "x", "stream": True}, "stream"),
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": "x", "temperature": "hot"}, "temperature"),
        ({"model": MODEL, "input": [{"type": "compaction", "id": "cmp_1", "encrypted_content": "gAAAA"}]}, None),
    ],
)
def test_a_bad_compaction_is_a_400_with_its_param(sdk: openai.OpenAI, body: dict[str, Any], param: str | None) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.post("/responses/compact", body=body, cast_to=httpx.Response)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == (param or "input[0].encrypted_content")
