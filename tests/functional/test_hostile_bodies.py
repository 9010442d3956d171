"""RELIABILITY.md 40-42 through the HTTP app: hostile content parts, nested JSON, wrong types, odd model names,
client faults that must not cool a provider down, and 200s that are not completions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.openai_compat import FakeOpenAICompatible
from tests.fakes.openrouter import Scripted
from tests.servers import serve_in_thread

MODEL = "openai/gpt-5.4-mini"
VISION = "google/gemini-3-flash-preview"
LOCAL_MODELS = ["Qwen/Qwen3.6-27B", "qwen3.6:27b"]  # the `local` alias's names on vLLM and on Ollama
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SVG_BYTES = b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://169.254.169.254/"/></svg>'
SVG_B64 = base64.b64encode(SVG_BYTES).decode()
PDF_B64 = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n").decode()
PNG_PART = {"type": "image_url", "image_url": {"url": PNG}}

# Each part would reach the backend verbatim without the allow-list; each must be refused with its path.
HOSTILE_PARTS: list[tuple[str, dict[str, Any], str]] = [
    ("video_url", {"type": "video_url", "video_url": {"url": "http://10.0.0.1/v.mp4"}}, ""),
    ("audio_url", {"type": "audio_url", "audio_url": {"url": "http://10.0.0.1/a.wav"}}, ""),
    (
        "file_data_url",
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "http://10.0.0.1/a.pdf"}},
        ".file.file_data",
    ),
    ("file_id_only", {"type": "file", "file": {"file_id": "file-123"}}, ""),
    ("upper_case_type", {"type": "IMAGE_URL", "image_url": {"url": "http://10.0.0.1/x.png"}}, ""),
    ("untyped_image", {"image_url": {"url": "http://10.0.0.1/x.png"}}, ""),
    (
        "svg_data_uri",
        {"type": "image_url", "image_url": {"url": f"data:image/svg+xml;base64,{SVG_B64}"}},
        ".image_url.url",
    ),
    (
        "svg_labelled_png",
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{SVG_B64}"}},
        ".image_url.url",
    ),
    (
        "html_data_uri",
        {"type": "image_url", "image_url": {"url": "data:text/html;base64,PGI+aGk8L2I+"}},
        ".image_url.url",
    ),
    ("http_image", {"type": "image_url", "image_url": {"url": "http://10.0.0.1/x.png"}}, ".image_url.url"),
    (
        "audio_as_url",
        {"type": "input_audio", "input_audio": {"data": "http://10.0.0.1/a.wav", "format": "wav"}},
        ".input_audio.data",
    ),
    (
        "svg_as_file",
        {"type": "file", "file": {"filename": "x.svg", "file_data": f"data:image/svg+xml;base64,{SVG_B64}"}},
        ".file.file_data",
    ),
]


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def local_backend() -> Iterator[tuple[FakeOpenAICompatible, str]]:
    fake = FakeOpenAICompatible(LOCAL_MODELS)
    with serve_in_thread(fake.app) as url:
        yield fake, f"{url}/v1"


def with_part(part: Any, model: str = VISION) -> dict[str, Any]:
    content = [{"type": "text", "text": "what is this?"}, part]
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def assert_refused(response: Any, param_prefix: str, suffix: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in ("unsupported_content", "image_url_not_supported"), error
    assert error["param"] == param_prefix + suffix


@pytest.mark.parametrize(("name", "part", "suffix"), HOSTILE_PARTS, ids=[p[0] for p in HOSTILE_PARTS])
def test_rel_40_hostile_parts_are_refused_for_openrouter(
    client: TestClient, upstream: FakeUpstream, name: str, part: dict[str, Any], suffix: str
) -> None:
    for model in (VISION, "auto", MODEL):
        response = client.post("/v1/chat/completions", json=with_part(part, model))
        assert_refused(response, "messages[0].content[1]", suffix)
    assert upstream.fake.chat_requests() == []


@pytest.mark.parametrize("backend", ["vllm", "ollama"])
@pytest.mark.parametrize(("name", "part", "suffix"), HOSTILE_PARTS, ids=[p[0] for p in HOSTILE_PARTS])
def test_rel_40_hostile_parts_never_reach_a_self_hosted_backend(
    env: dict[str, str],
    upstream: FakeUpstream,
    local_backend: tuple[FakeOpenAICompatible, str],
    backend: str,
    name: str,
    part: dict[str, Any],
    suffix: str,
) -> None:
    fake, base_url = local_backend
    gateway = build_gateway(Settings.from_env({**env, f"ROUTEWAY_{backend.upper()}_BASE_URL": base_url}))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    client = TestClient(create_app(lambda: gateway), headers={"x-api-key": key})
    before = len(fake.chats)
    plain = client.post("/v1/chat/completions", json=with_part({"type": "text", "text": "hi"}, "local"))
    assert plain.status_code == 200 and plain.headers["x-routeway-backend"] == backend  # the control reaches it
    assert len(fake.chats) == before + 1
    response = client.post("/v1/chat/completions", json=with_part(part, "local"))
    assert_refused(response, "messages[0].content[1]", suffix)
    assert len(fake.chats) == before + 1 and upstream.fake.chat_requests() == []


def test_rel_40_inline_images_and_pdf_files_still_go_through(client: TestClient, upstream: FakeUpstream) -> None:
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}}
    body = {"model": VISION, "messages": [{"role": "user", "content": [{"type": "text", "text": "read"}, pdf]}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    sent = upstream.fake.chat_requests()[-1].body["messages"][0]["content"]
    assert sent[1] == pdf
    assert client.post("/v1/chat/completions", json=with_part(PNG_PART)).status_code == 200
    assert upstream.fake.chat_requests()[-1].body["messages"][0]["content"][1] == PNG_PART
    bad_audio = {"type": "input_audio", "input_audio": {"data": "%%%", "format": "wav"}}
    refused = client.post("/v1/chat/completions", json=with_part(bad_audio))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "messages[0].content[1].input_audio.data"


@pytest.mark.parametrize(
    ("block", "code", "param"),
    [
        (
            {"type": "document", "source": {"type": "url", "url": "http://10.0.0.1/a.pdf"}},
            "unsupported_content",
            "messages[0].content[1].source.url",
        ),
        (
            {"type": "image", "source": {"type": "base64", "media_type": "image/svg+xml", "data": SVG_B64}},
            "unsupported_content",
            "messages[0].content[1].source",
        ),
        (
            {"type": "image", "source": {"type": "url", "url": "http://10.0.0.1/x.png"}},
            "image_url_not_supported",
            "messages[0].content[1].source.url",
        ),
        (
            {"type": "video", "source": {"type": "url", "url": "http://10.0.0.1/v"}},
            "unsupported_content",
            "messages[0].content[1]",
        ),
    ],
)
def test_rel_40_messages_dialect_refuses_in_anthropic_shape(
    client: TestClient, upstream: FakeUpstream, block: dict[str, Any], code: str, param: str
) -> None:
    body = {
        "model": VISION,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, block]}],
    }
    response = client.post("/v1/messages", json=body)
    assert response.status_code == 400, response.text
    document = response.json()
    assert document["type"] == "error" and document["error"]["type"] == "invalid_request_error"
    assert (document["error"]["code"], document["error"]["param"]) == (code, param)
    assert upstream.fake.chat_requests() == []


@pytest.mark.parametrize(
    ("part", "code", "param"),
    [
        (
            {"type": "input_file", "file_data": "http://10.0.0.1/a.pdf"},
            "unsupported_content",
            "input[0].content[1].file_data",
        ),
        ({"type": "input_file", "file_url": "http://10.0.0.1/a.pdf"}, "unsupported_content", "input[0].content[1]"),
        (
            {"type": "input_image", "image_url": f"data:image/svg+xml;base64,{SVG_B64}"},
            "unsupported_content",
            "input[0].content[1].image_url",
        ),
        (
            {"type": "input_image", "image_url": "https://10.0.0.1/x.png"},
            "image_url_not_supported",
            "input[0].content[1].image_url",
        ),
        ({"type": "input_video", "video_url": "http://10.0.0.1/v"}, "unsupported_content", "input[0].content[1]"),
    ],
)
def test_rel_40_responses_dialect_refuses_in_openai_shape(
    client: TestClient, upstream: FakeUpstream, part: dict[str, Any], code: str, param: str
) -> None:
    body = {"model": VISION, "input": [{"role": "user", "content": [{"type": "input_text", "text": "see"}, part]}]}
    response = client.post("/v1/responses", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert upstream.fake.chat_requests() == []


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.both_stores
@pytest.mark.parametrize("depth", [65, 300, 1022, 5000])
def test_rel_41_deeply_nested_bodies_are_400_with_a_record(
    client: TestClient, upstream: FakeUpstream, gateway: Gateway, depth: int
) -> None:
    # built by hand: json.dumps would hit Python's recursion limit first
    deep = '{"k":' * depth + "1" + "}" * depth
    raw = f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "hi"}}], "metadata": {deep}}}'
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/responses"):
        response = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        body = response.json()
        error = body["error"]
        assert error["code"] == "invalid_request" and "64 levels" in error["message"]
        generation_id = response.headers["x-routeway-generation-id"]
        assert gateway.state.sync.get_generation(generation_id, 0) is not None
    assert upstream.fake.chat_requests() == []


def test_rel_41_nesting_within_the_limit_is_forwarded(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "x_vendor_option": nested(60)}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert upstream.fake.chat_requests()[-1].body["x_vendor_option"] == nested(60)


def deep_completion(depth: int) -> bytes:
    deep = '{"k":' * depth + "1" + "}" * depth
    message = f'{{"role": "assistant", "content": "hi", "extra": {deep}}}'
    return (
        f'{{"id": "gen-deep", "object": "chat.completion", "created": 1, "model": "{MODEL}", '
        f'"choices": [{{"index": 0, "message": {message}, "finish_reason": "stop"}}]}}'
    ).encode()


@pytest.mark.both_stores
@pytest.mark.parametrize("depth", [300, 1022])
def test_rel_41_an_upstream_answer_nested_too_deep_is_a_failed_attempt(
    client: TestClient, upstream: FakeUpstream, gateway: Gateway, depth: int
) -> None:
    upstream.fake.enqueue(Scripted(body=deep_completion(depth)))
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-attempts"] == "2"
    first = response.json()["route"]["attempts"][0]
    assert first["error_code"] == "invalid_response"
    assert gateway.state.sync.get_generation(response.headers["x-routeway-generation-id"], 0) is not None


def test_rel_41_a_stream_chunk_nested_too_deep_is_a_failed_attempt(client: TestClient, upstream: FakeUpstream) -> None:
    deep = '{"k":' * 300 + "1" + "}" * 300
    chunk = (
        f'{{"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": "{MODEL}", '
        f'"choices": [{{"index": 0, "delta": {{"content": "x", "extra": {deep}}}, "finish_reason": null}}]}}'
    )
    upstream.fake.enqueue(Scripted(stream=[f"data: {chunk}\n\n", "data: [DONE]\n\n"]))
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert events[-1]["route"]["attempts"][0]["error_code"] == "invalid_response"
    assert len(events[-1]["route"]["attempts"]) == 2 and "error" not in events[-1]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("modalities", "image"),
        ("modalities", ["image", 3]),
        ("modalities", ["video"]),
        ("max_tokens", 1.5),
        ("max_tokens", True),
        ("max_tokens", 0),
        ("max_tokens", "100"),
        ("max_completion_tokens", -3),
        ("temperature", "hot"),
        ("temperature", True),
        ("top_p", [1]),
        ("n", "2"),
        ("stream", "yes"),
        ("stop", 5),
        ("stop", ["a", 1]),
        ("tools", {"type": "function"}),
        ("tools", [1]),
        ("tool_choice", 3),
        ("response_format", "json"),
        ("stream_options", True),
        ("seed", 1.5),
        ("parallel_tool_calls", "yes"),
        ("messages", [1]),
        ("messages", [{"role": 1, "content": "hi"}]),
        ("messages", "hi"),
    ],
)
def test_rel_42_wrongly_typed_known_fields_are_400_with_param(
    client: TestClient, upstream: FakeUpstream, field: str, value: Any
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], field: value}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"].startswith(field)
    assert upstream.fake.chat_requests() == []


def test_rel_42_a_wrong_content_type_names_the_message(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages[0].content"
    assert upstream.fake.chat_requests() == []


ODD_NAMES = [
    f"{MODEL}\n",
    f" {MODEL}",
    f"{MODEL} ",
    f"{MODEL}\t",
    "openai/gpt\u200b-5.4-mini",
    "openai/gpt-5.4-mini\u200c",
    f"\u200d{MODEL}",
    f"{MODEL}\u2060",
    f"\ufeff{MODEL}",
    "openai/gpt-5.4\x00-mini",
    "openai/gpt-5.4\x1b-mini",
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=[repr(n) for n in ODD_NAMES])
def test_rel_42_odd_model_names_are_404(client: TestClient, upstream: FakeUpstream, name: str) -> None:
    message = [{"role": "user", "content": "hi"}]
    for body, param in (
        ({"model": name, "messages": message}, "model"),
        ({"model": MODEL, "models": [MODEL, name], "messages": message}, "models[1]"),
    ):
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 404, response.text
        assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("model_not_found", param)
    anthropic = client.post("/v1/messages", json={"model": name, "max_tokens": 5, "messages": message})
    assert anthropic.status_code == 404 and anthropic.json()["error"]["code"] == "model_not_found"
    assert upstream.fake.chat_requests() == []


@pytest.mark.both_stores
@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_rel_42_a_client_fault_upstream_never_cools_the_provider_for_other_keys(
    client: TestClient, upstream: FakeUpstream, gateway: Gateway, status: int
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    upstream.fake.enqueue(Scripted(status=status, body={"error": {"code": status, "message": "bad request"}}))
    first = client.post("/v1/chat/completions", json=body)
    refused = first.json()["route"]["attempts"][0] if first.status_code == 200 else first.json()["error"]["attempts"][0]
    assert refused["status"] == status
    other = register_secret(create_key(gateway.state.sync, gateway.clock, "other")[0])
    preview = client.post(
        "/v1/route/preview", json={**body, "top_n": 20}, headers={"Authorization": f"Bearer {other}"}
    ).json()["candidates"]
    same = next(c for c in preview if c["provider_slug"] == refused["provider_slug"])
    assert not any(r.startswith("cooling_down") for r in same["reasons"]), same["reasons"]
    assert preview[0]["provider_slug"] == refused["provider_slug"]  # still planned first


@pytest.mark.both_stores
def test_rel_42_a_server_fault_still_cools_the_provider(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "overloaded"}}))
    first = client.post("/v1/chat/completions", json=body)
    failed = first.json()["route"]["attempts"][0]
    preview = client.post("/v1/route/preview", json={**body, "top_n": 20}).json()["candidates"]
    same = next(c for c in preview if c["provider_slug"] == failed["provider_slug"])
    assert any(r.startswith("cooling_down (503") for r in same["reasons"]), same["reasons"]


@pytest.mark.parametrize("choices", [[None], [1], "x", [{"index": 0}, None]])
def test_rel_42_a_200_whose_choices_are_not_objects_is_a_failed_attempt(
    client: TestClient, upstream: FakeUpstream, choices: Any
) -> None:
    upstream.fake.enqueue(Scripted(body={"id": "gen-x", "object": "chat.completion", "choices": choices}))
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-attempts"] == "2"
    assert response.json()["route"]["attempts"][0]["error_code"] == "invalid_response"
    assert all(isinstance(c, dict) for c in response.json()["choices"])
