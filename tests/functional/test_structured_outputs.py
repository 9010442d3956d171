"""Structured outputs in every dialect (issue 32): the upstream gets chat's `response_format`, routing keeps only
endpoints that support it (OpenRouter's `require_parameters`), the answer is the dialect's usual shape holding
JSON that validates, and a schema that is not an object is refused in the dialect's own error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import orjson
import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from tests.conftest import FakeUpstream

CHAT_MODEL = "openai/gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"  # anthropic/claude-sonnet-4.5: two of its six endpoints (google-vertex) lack them
NO_STRUCTURED = "amazon/nova-lite-v1"  # no endpoint supports structured outputs
SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature_c": {"type": "number", "minimum": -90, "maximum": 60},
        "sky": {"type": "string", "enum": ["sunny", "cloudy"]},
        "hours": {"type": "array", "items": {"$ref": "#/$defs/Hour"}},
    },
    "required": ["city", "temperature_c", "sky", "hours"],
    "additionalProperties": False,
    "$defs": {
        "Hour": {
            "type": "object",
            "properties": {"at": {"type": "integer"}, "rain": {"type": "boolean"}},
            "required": ["at", "rain"],
            "additionalProperties": False,
        }
    },
}
EXPECTED = {"city": "example", "temperature_c": 1, "sky": "sunny", "hours": [{"at": 1, "rain": True}]}
CHAT_FORMAT = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}}
ANTHROPIC_FORMAT = {"type": "json_schema", "schema": SCHEMA}
USER = [{"role": "user", "content": "The weather in Paris, as JSON"}]


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def sent(upstream: FakeUpstream) -> dict[str, Any]:
    bodies = upstream.fake.chat_requests()
    assert len(bodies) == 1, [b.body for b in bodies]
    body = bodies[0].body
    assert isinstance(body, dict)
    return body


def assert_structured_upstream(body: dict[str, Any], response_format: dict[str, Any]) -> None:
    assert body["response_format"] == response_format
    assert body["provider"]["require_parameters"] is True
    assert not body["provider"]["order"][0].startswith("google-vertex")


def sse_data(text: str) -> list[dict[str, Any]]:
    lines = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    return [orjson.loads(line) for line in lines if line != "[DONE]"]


@pytest.mark.parametrize("stream", [False, True])
def test_rel_64_chat_json_schema_passes_through_and_answers_valid_json(
    client: TestClient, upstream: FakeUpstream, stream: bool
) -> None:
    body = {"model": CHAT_MODEL, "messages": USER, "response_format": CHAT_FORMAT, "stream": stream}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    if stream:
        deltas = [c["choices"][0]["delta"].get("content") or "" for c in sse_data(response.text) if c.get("choices")]
        assert len([d for d in deltas if d]) > 3  # JSON in pieces, as models stream it
        content = "".join(deltas)
    else:
        content = response.json()["choices"][0]["message"]["content"]
    answer = orjson.loads(content)
    jsonschema.validate(answer, SCHEMA)
    assert answer == EXPECTED
    assert_structured_upstream(sent(upstream), CHAT_FORMAT)


def test_chat_json_object_answers_a_json_object(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": CHAT_MODEL, "messages": USER, "response_format": {"type": "json_object"}}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert isinstance(orjson.loads(response.json()["choices"][0]["message"]["content"]), dict)
    assert_structured_upstream(sent(upstream), {"type": "json_object"})


@pytest.mark.parametrize("field", ["output_config", "output_format"])
@pytest.mark.parametrize("stream", [False, True])
def test_rel_64_messages_output_format_becomes_response_format(
    client: TestClient, upstream: FakeUpstream, field: str, stream: bool
) -> None:
    fmt = {"format": ANTHROPIC_FORMAT} if field == "output_config" else ANTHROPIC_FORMAT
    body = {"model": CLAUDE, "max_tokens": 512, "messages": USER, field: fmt, "stream": stream}
    response = client.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    if stream:
        events = sse_data(response.text)
        text = "".join(e["delta"]["text"] for e in events if e.get("type") == "content_block_delta")
    else:
        blocks = response.json()["content"]
        assert [b["type"] for b in blocks] == ["text"]
        text = blocks[0]["text"]
    assert orjson.loads(text) == EXPECTED
    strict = {"type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA, "strict": True}}
    assert_structured_upstream(sent(upstream), strict)


@pytest.mark.parametrize("stream", [False, True])
def test_rel_64_responses_text_format_answers_output_text(
    client: TestClient, upstream: FakeUpstream, stream: bool
) -> None:
    fmt = {"type": "json_schema", "name": "weather", "schema": SCHEMA, "strict": True}
    body = {"model": CHAT_MODEL, "input": "The weather in Paris", "text": {"format": fmt}, "stream": stream}
    response = client.post("/v1/responses", json=body)
    assert response.status_code == 200, response.text
    if stream:
        events = sse_data(response.text)
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        assert len(deltas) > 3
        reply = next(e["response"] for e in events if e["type"] == "response.completed")
        assert orjson.loads("".join(deltas)) == EXPECTED
    else:
        reply = response.json()
    assert reply["text"] == {"format": fmt}
    message = next(item for item in reply["output"] if item["type"] == "message")
    assert orjson.loads(message["content"][0]["text"]) == EXPECTED
    assert_structured_upstream(sent(upstream), CHAT_FORMAT)


def test_rel_64_preview_shows_the_endpoints_without_structured_outputs_excluded(client: TestClient) -> None:
    plain = client.post("/v1/route/preview", json={"model": CLAUDE, "messages": USER, "top_n": 10}).json()
    body = {"model": CLAUDE, "messages": USER, "response_format": CHAT_FORMAT, "top_n": 10}
    structured = client.post("/v1/route/preview", json=body).json()
    assert structured["excluded"]["no_structured_output"] == 2
    assert "no_structured_output" not in plain["excluded"]
    slugs = {c["provider_slug"] for c in structured["candidates"]}
    assert slugs and not any(s.startswith("google-vertex") for s in slugs)
    assert len(plain["candidates"]) == len(structured["candidates"]) + 2
    assert any(c["provider_slug"].startswith("google-vertex") for c in plain["candidates"])


def test_rel_64_a_structured_request_is_planned_as_with_require_parameters(client: TestClient) -> None:
    """OpenRouter refuses, under require_parameters, an endpoint lacking a parameter the request sends:
    Anthropic's own claude-opus-4.5 endpoints list no `top_k`, so a structured request with it plans Bedrock's.
    `max_tokens` is supported where an endpoint lists it as `max_completion_tokens` (Azure's)."""
    plain = {"model": "anthropic/claude-opus-4.5", "messages": USER, "top_k": 5, "max_tokens": 100, "top_n": 10}
    kept = client.post("/v1/route/preview", json=plain).json()
    structured = client.post("/v1/route/preview", json={**plain, "response_format": CHAT_FORMAT}).json()
    assert {c["provider_slug"].split("/")[0] for c in kept["candidates"]} >= {"anthropic", "amazon-bedrock"}
    assert {c["provider_slug"].split("/")[0] for c in structured["candidates"]} == {"amazon-bedrock"}
    assert structured["excluded"]["unsupported_parameters"] == 2
    gpt = {"model": CHAT_MODEL, "messages": USER, "max_tokens": 100, "response_format": CHAT_FORMAT, "top_n": 10}
    azure_too = client.post("/v1/route/preview", json=gpt).json()
    assert {c["provider_slug"].split("/")[0] for c in azure_too["candidates"]} == {"azure", "openai"}


def test_rel_64_a_parameter_no_structured_endpoint_supports_is_no_route_naming_it(
    client: TestClient, upstream: FakeUpstream
) -> None:
    body = {"model": CHAT_MODEL, "messages": USER, "top_k": 5, "response_format": CHAT_FORMAT}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert [step["filter"] for step in error["funnel"]] == ["unsupported_parameters"]
    assert "require_parameters" in error["message"]
    assert upstream.fake.chat_requests() == []
    plain = client.post("/v1/chat/completions", json={**body, "response_format": None})
    assert plain.status_code == 200, plain.text  # without a schema, OpenRouter ignores what it does not support


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": NO_STRUCTURED, "messages": USER, "response_format": CHAT_FORMAT}),
        (
            "/v1/messages",
            {"model": NO_STRUCTURED, "max_tokens": 64, "messages": USER, "output_format": ANTHROPIC_FORMAT},
        ),
        ("/v1/responses", {"model": NO_STRUCTURED, "input": "hi", "text": {"format": {"type": "json_object"}}}),
    ],
)
def test_rel_64_a_model_without_structured_outputs_is_no_route_never_free_text(
    client: TestClient, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "no_route"
    assert [step["filter"] for step in error["funnel"]] == ["no_structured_output"]
    assert "Structured outputs" in error["message"]
    assert upstream.fake.chat_requests() == []


NOT_AN_OBJECT: list[Any] = ["{}", ["type", "object"], 3]


@pytest.mark.parametrize("schema", NOT_AN_OBJECT)
@pytest.mark.parametrize(
    ("path", "make", "param"),
    [
        (
            "/v1/chat/completions",
            lambda s: {
                "model": CHAT_MODEL,
                "messages": USER,
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": s}},
            },
            "response_format.json_schema.schema",
        ),
        (
            "/v1/messages",
            lambda s: {
                "model": CLAUDE,
                "max_tokens": 64,
                "messages": USER,
                "output_config": {"format": {"type": "json_schema", "schema": s}},
            },
            "output_config.format.schema",
        ),
        (
            "/v1/messages",
            lambda s: {
                "model": CLAUDE,
                "max_tokens": 64,
                "messages": USER,
                "output_format": {"type": "json_schema", "schema": s},
            },
            "output_format.schema",
        ),
        (
            "/v1/responses",
            lambda s: {
                "model": CHAT_MODEL,
                "input": "hi",
                "text": {"format": {"type": "json_schema", "name": "x", "schema": s}},
            },
            "text.format.schema",
        ),
    ],
)
def test_rel_64_a_schema_that_is_not_an_object_is_400_with_the_dialects_param(
    client: TestClient, upstream: FakeUpstream, path: str, make: Any, param: str, schema: Any
) -> None:
    response = client.post(path, json=make(schema))
    assert response.status_code == 400, response.text
    document = response.json()
    if path == "/v1/messages":
        assert document["type"] == "error" and document["error"]["type"] == "invalid_request_error"
    assert document["error"]["param"] == param
    assert upstream.fake.chat_requests() == []


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/messages", {"output_config": {"format": {"type": "xml"}}}, "output_config.format.type"),
        (
            "/v1/messages",
            {"output_config": {"format": ANTHROPIC_FORMAT}, "output_format": ANTHROPIC_FORMAT},
            "output_format",
        ),
        ("/v1/messages", {"output_config": "json"}, "output_config"),
        ("/v1/responses", {"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        (
            "/v1/responses",
            {"text": {"format": {"type": "json_schema", "schema": SCHEMA, "strict": "yes"}}},
            "text.format.strict",
        ),
        (
            "/v1/chat/completions",
            {"response_format": {"type": "json_schema", "json_schema": "weather"}},
            "response_format.json_schema",
        ),
    ],
)
def test_malformed_formats_are_400_with_param(
    client: TestClient, upstream: FakeUpstream, path: str, body: dict[str, Any], param: str
) -> None:
    base: dict[str, Any] = {"model": CLAUDE, "max_tokens": 64, "messages": USER}
    if path == "/v1/responses":
        base = {"model": CHAT_MODEL, "input": "hi"}
    elif path == "/v1/chat/completions":
        base = {"model": CHAT_MODEL, "messages": USER}
    response = client.post(path, json={**base, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert upstream.fake.chat_requests() == []
