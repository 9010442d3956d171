"""The official openai SDK against a real uvicorn server running the gateway, with the fake OpenRouter behind."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from tests.conftest import FakeUpstream
from tests.fakes.data import OPENAI_SCHEMAS


def schema_validator(root: str) -> jsonschema.Draft202012Validator:
    document = json.loads(OPENAI_SCHEMAS.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{root}", "$defs": document["$defs"]})


def test_sdk_gets_a_completion_that_matches_openais_schema(sdk: openai.OpenAI, gateway_url: str, api_key: str) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="openai/gpt-5.4-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        extra_body={"objective": "cheapest"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the fake OpenRouter."
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert raw.headers["x-routeway-model"] == "openai/gpt-5.4-mini"
    body = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]},
    ).json()
    schema_validator("CreateChatCompletionResponse").validate(body)


def test_sdk_lists_models(sdk: openai.OpenAI) -> None:
    ids = {m.id for m in sdk.models.list()}
    assert "black-forest-labs/flux.2-klein-4b" in ids and "anthropic/claude-opus-4.7" in ids


def test_sdk_sees_model_not_found_with_suggestions(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="moonshot/kimi-k2.6", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"
    assert caught.value.body["suggestions"][0] == "moonshotai/kimi-k2.6"  # type: ignore[index]


def test_sdk_with_a_bad_key_gets_authentication_error(gateway_url: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="rw-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert "rw-not-a-key" not in str(caught.value)


def test_error_bodies_match_openais_error_schema(gateway_url: str, api_key: str) -> None:
    validator = schema_validator("ErrorResponse")
    for response in [
        httpx.get(f"{gateway_url}/v1/models"),
        httpx.get(f"{gateway_url}/v1/models/nope/nope", headers={"x-api-key": api_key}),
        httpx.post(f"{gateway_url}/v1/chat/completions", headers={"x-api-key": api_key}, content=b"{"),
    ]:
        assert response.status_code >= 400
        validator.validate(response.json())


@pytest.mark.both_stores
def test_sdk_chat_n_3_with_a_failing_call_gets_the_two_choices_made(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str
) -> None:
    """A fan-out part that fails (RELIABILITY 69) through the official SDK: a 200 it parses, choices 0 and 1."""
    from tests.contract.conftest import spend
    from tests.fakes.openrouter import Scripted

    down = Scripted(status=500, body={"error": {"code": 500, "message": "down"}})
    upstream.fake.enqueue(Scripted(through=True), down)  # the second of the three calls fails
    raw = sdk.chat.completions.with_raw_response.create(
        model="openai/gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}], n=3
    )
    completion = raw.parse()
    assert [c.index for c in completion.choices] == [0, 1] and all(c.message.content for c in completion.choices)
    assert "partial=2/3" in raw.headers["x-routeway-applied"]
    assert completion.usage is not None
    assert spend(gateway_url, api_key) == pytest.approx(raw.http_response.json()["usage"]["cost"])
