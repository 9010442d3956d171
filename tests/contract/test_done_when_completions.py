"""Issue 5's "Done when", as a user sees it: the official openai SDK against a real uvicorn server
running the gateway, with the fake OpenRouter (exact-match modalities, 400 for unknown ids, no tools
on image models) behind it.
"""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from tests.conftest import FakeUpstream
from tests.fakes.openrouter import Scripted


def test_plain_chat(sdk: openai.OpenAI) -> None:
    reply = sdk.chat.completions.create(model="openai/gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from the fake OpenRouter."


def test_streaming(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    """Without include_usage: OpenAI's quickstart loop, unguarded; the finish chunk is last and carries the route."""
    stream = sdk.chat.completions.create(
        model="openai/gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)  # never an empty `choices`
    assert text == "Hello from the fake OpenRouter."
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and all(c.usage is None for c in chunks)
    route = last.model_extra["route"]  # type: ignore[index]
    assert route["model"] == "openai/gpt-5.4-mini" and route["attempts"][0]["status"] == 200
    assert [c for c in chunks if c.model_extra and "route" in c.model_extra] == [last]
    assert upstream.fake.chat_requests()[0].body["stream"] is True


def test_streaming_with_include_usage_ends_with_one_usage_chunk(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    stream = sdk.chat.completions.create(
        model="openai/gpt-5.4-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens > 0
    assert [c for c in chunks if c.usage is not None] == [last]  # usage exactly once
    assert [c for c in chunks if not c.choices] == [last]
    assert last.model_extra["route"]["model"] == "openai/gpt-5.4-mini"  # type: ignore[index]


def image_of(reply: openai.types.chat.ChatCompletion) -> bytes:
    url = reply.choices[0].message.model_extra["images"][0]["image_url"]["url"]  # type: ignore[index]
    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_image_generation_on_flux_gets_image_only_modalities(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="black-forest-labs/flux.2-pro",
        messages=[{"role": "user", "content": "a red fox"}],
        extra_body={"modalities": ["image", "text"]},  # what breaks FLUX on OpenRouter directly
    )
    assert image_of(raw.parse()).startswith(b"\x89PNG")
    assert raw.headers["x-routeway-applied"] == "modalities=image"
    assert upstream.fake.chat_requests()[-1].body["modalities"] == ["image"]


def test_image_generation_on_gemini_gets_image_and_text(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="nano-banana",
        messages=[{"role": "user", "content": "a red fox"}],
        extra_body={"modalities": ["image"]},  # what breaks Gemini image on OpenRouter directly
    )
    assert image_of(raw.parse()).startswith(b"\x89PNG")
    assert raw.headers["x-routeway-applied"] == "modalities=image+text"
    assert upstream.fake.chat_requests()[-1].body["modalities"] == ["image", "text"]


def test_models_fallback_after_a_503(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(
        *[Scripted(status=503, model="openai/gpt-5.4-mini", body={"error": {"code": 503, "message": "down"}})] * 3
    )
    raw = sdk.chat.completions.with_raw_response.create(
        model="openai/gpt-5.4-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"models": ["anthropic/claude-sonnet-4.6"]},
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-routeway-model"] == "anthropic/claude-sonnet-4.6"
    assert int(raw.headers["x-routeway-attempts"]) >= 2
    assert all("models" not in r.body for r in upstream.fake.chat_requests())  # never forwarded


def test_reasoning_alias_with_max_tokens_5_still_answers(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="reasoning", messages=[{"role": "user", "content": "2+2?"}], max_tokens=5
    )
    reply = raw.parse()
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    assert raw.headers["x-routeway-applied"] == "max_tokens_floored=200"
    assert upstream.fake.chat_requests()[-1].body["max_tokens"] == 200


@pytest.mark.both_stores
def test_explain_shows_the_attempts(sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str) -> None:
    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "down"}}))
    raw = sdk.chat.completions.with_raw_response.create(
        model="openai/gpt-5.4-mini", messages=[{"role": "user", "content": "secret prompt"}]
    )
    generation_id = raw.headers["x-routeway-generation-id"]
    explained = httpx.get(f"{gateway_url}/v1/route/explain/{generation_id}", headers={"x-api-key": api_key}).json()
    statuses = [a["status"] for a in explained["route"]["attempts"]]
    assert statuses == [503, 200]
    assert "secret prompt" not in str(explained) and api_key not in str(explained)


def test_legacy_completions(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    reply = sdk.completions.create(model="openai/gpt-5.4-mini", prompt="Say hello", max_tokens=20)
    assert reply.object == "text_completion" and reply.choices[0].text == "Hello from the fake OpenRouter."
    assert upstream.fake.chat_requests()[-1].body["messages"] == [{"role": "user", "content": "Say hello"}]
    stream = sdk.completions.create(model="openai/gpt-5.4-mini", prompt="Say hello", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "Hello from the fake OpenRouter."
    with pytest.raises(openai.BadRequestError):
        sdk.completions.create(model="openai/gpt-5.4-mini", prompt=["a", "b"])
