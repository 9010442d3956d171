"""RELIABILITY.md 6-23 against the scripted fake OpenRouter: input checks, upstream faults, streaming faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.cooldowns import CooldownTracker
from tests.conftest import UPSTREAM_KEY, FakeUpstream
from tests.fakes.openrouter import Scripted
from tests.servers import serve_in_thread

PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
MODEL = "openai/gpt-5.4-mini"


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def vision(url: str, model: str = "google/gemini-3-flash-preview") -> dict[str, Any]:
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": model, "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/cat.png",
        "https://example.com/cat.png",
        "HtTpS://example.com/cat.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/cat.png",
        "//example.com/cat.png",
        "  https://example.com/cat.png",
        "https:\\\\example.com\\cat.png",
        "javascript:alert(1)",
        "",
    ],
)
def test_rel_07_image_url_schemes_are_refused_before_any_call(
    client: TestClient, upstream: FakeUpstream, url: str
) -> None:
    for model in ["google/gemini-3-flash-preview", "auto", "nano-banana"]:
        response = client.post("/v1/chat/completions", json=vision(url, model))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] in ("image_url_not_supported", "invalid_request")
        assert error["param"] == "messages[0].content[1].image_url.url"
    assert upstream.fake.chat_requests() == []


@pytest.mark.parametrize(
    "url",
    [
        "data:text/plain;base64,aGVsbG8=",
        "data:image/png;base64,***not base64***",
        "data:image/png;base64,",
        "data:image/png,rawbytes",
    ],
)
def test_rel_08_bad_data_uris_are_400(client: TestClient, upstream: FakeUpstream, url: str) -> None:
    response = client.post("/v1/chat/completions", json=vision(url))
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages[0].content[1].image_url.url"
    assert upstream.fake.chat_requests() == []


def test_a_valid_data_image_goes_through(client: TestClient, upstream: FakeUpstream) -> None:
    response = client.post("/v1/chat/completions", json=vision(PNG))
    assert response.status_code == 200, response.text
    assert upstream.fake.chat_requests()[0].body["messages"][0]["content"][1]["image_url"]["url"] == PNG


def test_rel_06_09_client_auth_and_redirects_are_never_forwarded(client: TestClient, upstream: FakeUpstream) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "base_url": "http://169.254.169.254/",
        "api_base": "http://evil.example",
        "headers": {"Authorization": "Bearer stolen"},
    }
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    sent = upstream.fake.chat_requests()[0]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert not {"base_url", "api_base", "headers"} & set(sent.body)


def test_tools_never_reach_a_model_without_tool_support(client: TestClient, upstream: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = {"model": "black-forest-labs/flux.2-pro", "messages": [{"role": "user", "content": "x"}], "tools": tools}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_route"
    assert response.json()["error"]["funnel"][0]["filter"] == "no_tools"
    assert upstream.fake.chat_requests() == []


@pytest.mark.parametrize(
    ("model", "floor"), [("openai/gpt-5.3-chat", 16), (MODEL, 200), ("moonshotai/kimi-k2-thinking", 200)]
)
def test_max_tokens_floors(client: TestClient, upstream: FakeUpstream, model: str, floor: int) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    response = client.post("/v1/chat/completions", json=body)
    assert response.headers["x-routeway-applied"] == f"max_tokens_floored={floor}"
    assert upstream.fake.chat_requests()[-1].body["max_tokens"] == floor


def test_no_max_tokens_is_never_invented(client: TestClient, upstream: FakeUpstream) -> None:
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert "x-routeway-applied" not in response.headers
    assert "max_tokens" not in upstream.fake.chat_requests()[0].body


@pytest.mark.both_stores
def test_rel_13_a_429_cools_the_target_down_and_preview_shows_it(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(Scripted(status=429, headers={"Retry-After": "20"}, body={"error": {"code": 429}}))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and response.headers["x-routeway-attempts"] == "2"
    limited = response.json()["route"]["attempts"][0]["provider_slug"]
    preview = client.post("/v1/route/preview", json={**body, "top_n": 20}).json()["candidates"]
    cooled = next(c for c in preview if c["provider_slug"] == limited)
    assert any(r.startswith("cooling_down (429, ") for r in cooled["reasons"])
    assert preview[0]["provider_slug"] != limited


def test_rel_15_a_401_from_upstream_is_not_retried_on_the_same_backend(
    client: TestClient, upstream: FakeUpstream
) -> None:
    upstream.fake.enqueue(Scripted(status=401, body={"error": {"code": 401, "message": "No auth credentials found"}}))
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 502 and len(upstream.fake.chat_requests()) == 1


def test_rel_16_timeouts_end_in_our_own_504(
    gateway: Gateway, api_key: str, upstream: FakeUpstream, env: dict[str, str]
) -> None:
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    quick = build_gateway(Settings.from_env({**env, "ROUTEWAY_DEADLINE_S": "1.5"}))
    from routeway.services.keys import create_key

    key, _ = create_key(quick.state.sync, quick.clock, "quick")
    upstream.fake.enqueue(*[Scripted(delay_s=3.0, body={"error": {"code": 504}})] * 3)
    with TestClient(create_app(lambda: quick), headers={"x-api-key": key}) as slow_client:
        response = slow_client.post(
            "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
        )
    assert response.status_code == 504 and response.json()["error"]["code"] == "upstream_timeout"


@pytest.mark.both_stores
def test_rel_19_composite_alias_falls_back_only_on_hard_failures(
    client: TestClient, upstream: FakeUpstream, gateway: Gateway
) -> None:
    nano, gpt_image = "google/gemini-3.1-flash-image-preview", "openai/gpt-5.4-image-2"
    body = {"model": "image-gen", "messages": [{"role": "user", "content": "a fox"}], "modalities": ["image"]}
    upstream.fake.enqueue(*[Scripted(status=502, model=nano, body={"error": {"code": 502}})] * 5)
    hard = client.post("/v1/chat/completions", json=body)
    assert hard.status_code == 200 and hard.headers["x-routeway-model"] == gpt_image
    upstream.fake.reset()
    gateway.cooldowns = CooldownTracker(gateway.clock)  # forget the 502s: nano-banana is healthy again
    upstream.fake.enqueue(Scripted(status=400, model=nano, body={"error": {"code": 400, "message": "bad size"}}))
    soft = client.post("/v1/chat/completions", json=body)
    assert soft.status_code == 400
    assert {r.body["model"] for r in upstream.fake.chat_requests()} == {nano}


def sse(*documents: Any, done: bool = True) -> list[bytes | str]:
    pieces: list[bytes | str] = [": OPENROUTER PROCESSING\n\n"]
    pieces += [f"data: {json.dumps(d)}\n\n" for d in documents]
    return pieces + (["data: [DONE]\n\n"] if done else [])


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "provider": "OpenAI",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@pytest.fixture
def sdk(gateway: Gateway, api_key: str) -> Iterator[openai.OpenAI]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)


class Streamed:
    """A streaming chat through the SDK: the generation id from the headers, then the text."""

    def __init__(self, sdk: openai.OpenAI) -> None:
        raw = sdk.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        self.generation_id = raw.headers["x-routeway-generation-id"]
        self.stream = raw.parse()

    def text(self) -> str:
        return "".join(c.choices[0].delta.content or "" for c in self.stream if c.choices)


def stream_text(sdk: openai.OpenAI) -> str:
    return Streamed(sdk).text()


def record_of(gateway: Gateway, generation_id: str) -> dict[str, Any]:
    record = gateway.state.sync.get_generation(generation_id, 0)
    assert record is not None
    return record.model_dump()


@pytest.mark.both_stores
def test_rel_20_comments_are_never_data_and_the_sdk_parses(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway: Gateway
) -> None:
    upstream.fake.enqueue(
        Scripted(stream=sse(chunk("a"), chunk("b", "stop"), {**chunk(), "choices": [], "usage": {"prompt_tokens": 1}}))
    )
    streamed = Streamed(sdk)
    assert streamed.text() == "ab"
    assert record_of(gateway, streamed.generation_id)["usage"]["prompt_tokens"] == 1


@pytest.mark.both_stores
def test_rel_22_a_mid_stream_error_is_forwarded_and_recorded(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway: Gateway
) -> None:
    upstream.fake.enqueue(Scripted(stream=sse(chunk("a"), {"error": {"code": 502, "message": "provider died"}})))
    streamed = Streamed(sdk)
    with pytest.raises(openai.APIError, match="provider died"):
        streamed.text()
    assert len(upstream.fake.chat_requests()) == 1  # no switch after the first byte
    assert record_of(gateway, streamed.generation_id)["status"] == "error"


@pytest.mark.both_stores
def test_rel_23_a_cut_stream_is_a_failure_not_a_success(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway: Gateway
) -> None:
    upstream.fake.enqueue(Scripted(stream=sse(chunk("a"), chunk("b"), done=False)))
    streamed = Streamed(sdk)
    with pytest.raises(openai.APIError, match="ended before it finished"):
        streamed.text()
    assert len(upstream.fake.chat_requests()) == 1
    record = record_of(gateway, streamed.generation_id)
    assert record["status"] == "error" and record["error_code"] == "stream_cut"


def test_an_error_before_the_first_chunk_falls_back(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(Scripted(stream=sse({"error": {"code": 503, "message": "no capacity"}})))
    assert stream_text(sdk) == "Hello from the fake OpenRouter."
    assert len(upstream.fake.chat_requests()) == 2
    upstream.fake.reset()
    upstream.fake.enqueue(Scripted(status=429, body={"error": {"code": 429}}))
    assert stream_text(sdk) == "Hello from the fake OpenRouter."
    assert len(upstream.fake.chat_requests()) == 2


def test_every_stream_attempt_failing_is_a_json_502(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(*[Scripted(status=503, body={"error": {"code": 503}})] * 5)
    with pytest.raises(openai.InternalServerError) as caught:
        stream_text(sdk)
    assert caught.value.status_code == 502


def test_bodybuilder_fans_out_and_names_each_choices_model(client: TestClient, upstream: FakeUpstream) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "bodybuilder", "top_n": 3, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200, response.text
    choices = response.json()["choices"]
    assert len(choices) == 3 and len({c["model"] for c in choices}) == 3
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert len(response.json()["route"]["attempts"]) == 3 and len(upstream.fake.chat_requests()) == 3


@pytest.mark.both_stores
def test_rel_32_a_failed_record_write_never_causes_a_second_call(
    client: TestClient, upstream: FakeUpstream, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routeway.errors import StoreUnavailable

    def broken(_record: object) -> None:
        raise StoreUnavailable("DynamoDB put generation: ProvisionedThroughputExceededException")

    monkeypatch.setattr(gateway.state, "put_generation", broken)
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 200 and len(upstream.fake.chat_requests()) == 1


@pytest.mark.parametrize("aiohttp_client", [False, True], ids=["httpx", "aiohttp"])  # serve's transport too
def test_rel_14_connection_refused_moves_to_the_next_backend(
    env: dict[str, str], upstream: FakeUpstream, aiohttp_client: bool
) -> None:
    from routeway.services.keys import create_key
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    closed = {**env, "ROUTEWAY_VLLM_BASE_URL": "http://127.0.0.1:9/v1"}  # nothing listens on port 9
    gateway = build_gateway(Settings.from_env(closed), aiohttp_client=aiohttp_client)
    key, _ = create_key(gateway.state.sync, gateway.clock, "refused")
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as local_client:
        response = local_client.post(
            "/v1/chat/completions", json={"model": "local", "messages": [{"role": "user", "content": "x"}]}
        )
    assert response.status_code == 200, response.text
    attempts = response.json()["route"]["attempts"]
    assert attempts[0]["backend"] == "vllm" and attempts[0]["error_code"] == "unreachable"
    assert response.headers["x-routeway-backend"] == "openrouter"


@pytest.mark.both_stores
def test_rel_04_no_key_or_prompt_in_the_logs(
    client: TestClient, upstream: FakeUpstream, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "overloaded"}}))
    client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "TOP-SECRET"}]})
    client.post(
        "/v1/chat/completions",
        headers={"Authorization": "Bearer rw-guess-1234567890"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "TOP-SECRET"}]},
    )
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "upstream error" in text  # the failure was logged, with its status and model
    for secret in (api_key, UPSTREAM_KEY, "rw-guess-1234567890", "TOP-SECRET"):
        assert secret not in text


def test_bodybuilder_does_not_stream(client: TestClient, upstream: FakeUpstream) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "bodybuilder", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "stream"
    assert upstream.fake.chat_requests() == []


def test_image_cost_counts_the_image_price(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": "black-forest-labs/flux.2-pro", "messages": [{"role": "user", "content": "a fox"}]}
    reported = client.post("/v1/chat/completions", json=body).json()["usage"]["cost"]
    assert reported == pytest.approx(0.03)  # FLUX.2 pro: no token prices, $0.03 per image
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    upstream.fake.enqueue(
        Scripted(
            model="black-forest-labs/flux.2-pro",
            body={
                "id": "g",
                "object": "chat.completion",
                "created": 1,
                "model": "black-forest-labs/flux.2-pro",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "", "images": [image]},
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
            },
        )
    )
    computed = client.post("/v1/chat/completions", json=body).json()["usage"]["cost"]
    assert computed == pytest.approx(0.03)  # no cost from upstream: computed from catalog prices
