"""The whole app in process (every router), against the fake OpenRouter on a real port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream
from tests.fakes.openrouter import Scripted
from tests.servers import poll_until

FLUX = {"black-forest-labs/flux.2-klein-4b", "black-forest-labs/flux.2-pro", "black-forest-labs/flux.2-max"}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def assert_openai_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["code"] == code
    return error


def chat_body(model: str = "openai/gpt-5.4-mini", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "Say hello"}], **extra}


def test_healthz_needs_no_key(gateway: Gateway) -> None:
    with TestClient(create_app(lambda: gateway)) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer rw-wrong"},
        {"x-api-key": "' OR 1=1 --"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"x-api-key": "k" * 10_000},
    ],
)
def test_rel_01_every_route_but_healthz_needs_a_valid_key(gateway: Gateway, headers: dict[str, str]) -> None:
    with TestClient(create_app(lambda: gateway)) as anonymous:
        for method, path in [
            ("GET", "/v1/models"),
            ("GET", "/v1/info"),
            ("GET", "/readyz"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/route/preview"),
        ]:
            response = anonymous.request(method, path, headers=headers, json=chat_body())
            error = assert_openai_error(response, 401, "invalid_api_key")
            for value in headers.values():
                secret = value.partition(" ")[2] if value.startswith(("Bearer ", "Basic ")) else value
                assert not secret or secret not in error["message"]


@pytest.mark.both_stores
def test_rel_01_a_revoked_key_is_refused(env: dict[str, str], api_key: str) -> None:
    """Within the key cache's time (ROUTEWAY_KEY_CACHE_S; its own test is in test_keys.py): here 0.2 s."""
    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_KEY_CACHE_S": "0.2"}))
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as client:
        assert client.get("/v1/info").status_code == 200
        gateway.state.sync.revoke_key("tester")
        poll_until(lambda: client.get("/v1/info").status_code == 401, timeout_s=10, what="the revocation")
        assert_openai_error(client.get("/v1/info"), 401, "invalid_api_key")


def test_models_list_has_flux_only_when_image_output_is_asked(client: TestClient) -> None:
    listed = client.get("/v1/models").json()
    assert listed["object"] == "list"
    ids = {m["id"] for m in listed["data"]}
    assert FLUX <= ids  # Routeway's own list is complete
    images = client.get("/v1/models", params={"output_modalities": "image"}).json()["data"]
    image_ids = {m["id"] for m in images}
    assert FLUX <= image_ids
    assert all("image" in m["architecture"]["output_modalities"] for m in images)
    both = client.get("/v1/models", params={"output_modalities": "image,text", "match": "all"}).json()["data"]
    both_ids = {m["id"] for m in both}
    assert not FLUX & both_ids and "google/gemini-3.1-flash-image-preview" in both_ids
    flux = next(m for m in images if m["id"] == "black-forest-labs/flux.2-pro")
    assert flux["object"] == "model" and flux["owned_by"] == "black-forest-labs"


def test_models_filters_reject_nonsense(client: TestClient) -> None:
    assert_openai_error(client.get("/v1/models", params={"match": "some"}), 400, "invalid_request")
    assert_openai_error(client.get("/v1/models", params={"output_modalities": "<script>"}), 400, "invalid_request")


def test_model_by_id_with_slash_and_unknown_model_suggestions(client: TestClient) -> None:
    model = client.get("/v1/models/anthropic/claude-opus-4.7").json()
    assert model["id"] == "anthropic/claude-opus-4.7" and model["endpoints"]
    error = assert_openai_error(client.get("/v1/models/moonshot/kimi-k2.6"), 404, "model_not_found")
    assert error["suggestions"][0] == "moonshotai/kimi-k2.6"


def test_info_lists_aliases_constraints_backends_and_catalog(client: TestClient) -> None:
    info = client.get("/v1/info").json()
    assert info["catalog"]["source"] == "bundled" and info["catalog"]["model_count"] == 366
    aliases = {a["alias"]: a for a in info["aliases"]}
    assert {"flagship", "nano-banana", "gpt-image", "image-gen", "reasoning", "local"} <= set(aliases)
    assert aliases["reasoning"]["constraints"]["min_max_tokens"] == 200
    assert aliases["gpt-image"]["constraints"]["typical_response_seconds"] == 150
    assert aliases["local"]["backends"] == ["vllm", "ollama", "openrouter"]
    assert all(a["constraints"]["accepts_image_url"] is False for a in aliases.values())
    backends = {b["name"]: b for b in info["backends"]}
    assert backends["openrouter"]["status"] == "available"
    assert backends["vllm"]["status"] == "unconfigured"
    assert backends["nvidia-nim"]["status"] == "deprecated"
    assert backends["bedrock"]["status"] == "planned"


def test_readyz_reports_the_catalog_source(client: TestClient) -> None:
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["catalog"]["source"] == "bundled"


@pytest.mark.both_stores
def test_chat_forwards_to_openrouter_with_proof_and_record(client: TestClient, upstream: FakeUpstream) -> None:
    response = client.post(
        "/v1/chat/completions",
        json=chat_body(temperature=0.3, objective="cheapest"),
        headers={"x-api-key": "ignored-second-header"},
    )
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["choices"][0]["message"]["content"] == "Hello from the fake OpenRouter."
    assert completion["usage"]["cost"] >= 0
    assert completion["route"]["model"] == "openai/gpt-5.4-mini"
    assert response.headers["x-routeway-model"] == "openai/gpt-5.4-mini"
    assert response.headers["x-routeway-backend"] == "openrouter"
    assert response.headers["x-routeway-attempts"] == "1"
    assert response.headers["x-routeway-provider"]
    assert response.headers["x-routeway-catalog-version"]
    sent = upstream.fake.chat_requests()[-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # never the client's key
    assert "objective" not in sent.body and sent.body["temperature"] == 0.3
    generation_id = response.headers["x-routeway-generation-id"]
    explained = client.get(f"/v1/route/explain/{generation_id}").json()
    assert explained["status"] == "success" and explained["route"]["attempts"][0]["status"] == 200
    assert "Say hello" not in str(explained) and "tester" == explained["key_name"]


def test_rel_10_odd_model_names_get_404_and_no_upstream_call(client: TestClient, upstream: FakeUpstream) -> None:
    for model in ["moonshot/kimi-k2.6", "openai/gpt-5.5#x", "../../etc/passwd", "http://evil.example/v1", "a\nb"]:
        response = client.post("/v1/chat/completions", json=chat_body(model))
        assert_openai_error(response, 404, "model_not_found")
        assert response.headers["x-routeway-generation-id"]
    assert upstream.fake.chat_requests() == []


def test_rel_14_a_503_falls_back_to_the_next_provider(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "overloaded"}}))
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-attempts"] == "2"
    first, second = response.json()["route"]["attempts"]
    assert first["status"] == 503 and second["status"] == 200 and first["provider_slug"] != second["provider_slug"]
    sent = [r.body["provider"] for r in upstream.fake.chat_requests()]
    assert sent == [
        {"order": [first["provider_slug"]], "allow_fallbacks": False},
        {"order": [second["provider_slug"]], "allow_fallbacks": False},
    ]
    assert response.headers["x-routeway-provider"] == second["provider"]


def test_rel_18_every_attempt_failing_is_a_502_with_attempts(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(*[Scripted(status=503, body={"error": {"code": 503, "message": "overloaded"}})] * 10)
    error = assert_openai_error(client.post("/v1/chat/completions", json=chat_body()), 502, "upstream_error")
    assert len(error["attempts"]) >= 2 and all(a["status"] == 503 for a in error["attempts"])


def test_rel_17_a_200_carrying_html_is_not_a_success(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(*[Scripted(status=200, body="<html>proxy error</html>")] * 10)
    assert_openai_error(client.post("/v1/chat/completions", json=chat_body()), 502, "upstream_error")


def test_rel_15_a_client_fault_400_returns_as_400(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.fake.enqueue(Scripted(status=400, body={"error": {"code": 400, "message": "temperature too high"}}))
    error = assert_openai_error(client.post("/v1/chat/completions", json=chat_body()), 400, "invalid_request")
    assert "temperature too high" in error["message"]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_request"),
        (b"[]", 400, "invalid_request"),
        (b'{"model": "x"}', 400, "invalid_request"),
    ],
)
def test_rel_11_malformed_bodies_get_400(client: TestClient, content: bytes, status: int, code: str) -> None:
    response = client.post("/v1/chat/completions", content=content, headers={"content-type": "application/json"})
    assert_openai_error(response, status, code)


def test_rel_12_a_body_over_5mb_gets_413(client: TestClient) -> None:
    big = b'{"model": "' + b"x" * (5 * 1024 * 1024 + 1) + b'"}'
    assert_openai_error(client.post("/v1/chat/completions", content=big), 413, "request_too_large")


def test_unknown_route_and_method_use_the_openai_shape(client: TestClient) -> None:
    assert_openai_error(client.get("/v1/nope"), 404, "not_found")
    assert_openai_error(client.get("/v1/chat/completions"), 405, "method_not_allowed")


def test_preview_ranks_the_models_providers_without_calling_a_model(client: TestClient, upstream: FakeUpstream) -> None:
    preview = client.post("/v1/route/preview", json=chat_body("deepseek/deepseek-v4-flash", top_n=3)).json()
    assert preview["mode"] == "fixed" and preview["catalog_version"]
    assert 1 <= len(preview["candidates"]) <= 3
    assert {c["model"] for c in preview["candidates"]} == {"deepseek/deepseek-v4-flash"}
    first = preview["candidates"][0]
    assert {
        "rank",
        "model",
        "provider",
        "provider_slug",
        "backend",
        "score",
        "est_cost_per_1k_tokens",
        "context_length",
        "latency_p50_ms",
        "throughput_p50_tps",
        "uptime_30m",
        "reasons",
    } <= set(first)
    cheapest = client.post(
        "/v1/route/preview", json=chat_body("deepseek/deepseek-v4-flash", top_n=10, objective="cheapest")
    ).json()["candidates"]
    costs = [c["est_cost_per_1k_tokens"] for c in cheapest]
    assert costs == sorted(costs)
    assert upstream.fake.chat_requests() == []  # a preview calls no model
    flux = client.post("/v1/route/preview", json=chat_body("black-forest-labs/flux.2-pro")).json()
    assert flux["candidates"][0]["provider"] == "Black Forest Labs"  # its maker, with the per-image price
    assert_openai_error(client.post("/v1/route/preview", json=chat_body(top_n=0)), 400, "invalid_request")


@pytest.mark.both_stores
def test_explain_of_unknown_id_is_404(client: TestClient) -> None:
    assert_openai_error(client.get("/v1/route/explain/gen-rw-nope"), 404, "generation_not_found")


PNG_DATA = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize(
    "body",
    [
        chat_body("deepseek/deepseek-v4-flash"),
        chat_body(
            "auto", objective="cheapest", allowed_models=["anthropic/*", "openai/*"], max_cost_per_1k_tokens=0.002
        ),
        chat_body("auto", provider={"only": ["deepinfra"]}),
        chat_body("deepseek/deepseek-v4-flash:nitro"),
        {
            "model": "free",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": PNG_DATA}},
                    ],
                }
            ],
        },
    ],
    ids=["fixed", "auto-cheapest", "only-deepinfra", "nitro", "free-image"],
)
def test_the_first_preview_candidate_is_what_chat_tries_first(
    client: TestClient, upstream: FakeUpstream, body: dict[str, object]
) -> None:
    first = client.post("/v1/route/preview", json=body).json()["candidates"][0]
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    sent = upstream.fake.chat_requests()[0].body
    assert sent["model"].split(":")[0] == first["model"].split(":")[0] or sent["model"] == first["model"]
    if first["provider_slug"]:
        assert sent["provider"]["order"] == [first["provider_slug"]]
    assert response.json()["route"]["attempts"][0]["provider_slug"] == first["provider_slug"]


def test_no_route_has_a_funnel_and_available_providers(client: TestClient) -> None:
    error = assert_openai_error(
        client.post(
            "/v1/chat/completions",
            json=chat_body("auto", allowed_models=["anthropic/*"], max_cost_per_1k_tokens=0.00001),
        ),
        404,
        "no_route",
    )
    assert error["funnel"][-1]["remaining"] == 0 and error["available_providers"]


def test_image_parts_to_a_text_model_get_vision_suggestions(client: TestClient, upstream: FakeUpstream) -> None:
    body = {
        "model": "deepseek/deepseek-v4-flash",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG_DATA}}]}],
    }
    error = assert_openai_error(client.post("/v1/chat/completions", json=body), 400, "model_does_not_support_images")
    assert error["suggestions"] and upstream.fake.chat_requests() == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.sampled_from(["auto", "free", "deepseek/deepseek-v4-flash", "openai/gpt-5.4-mini:floor", "flagship"]),
    objective=st.one_of(st.none(), st.sampled_from(["cheapest", "fastest", "reliable", "balanced"])),
    cap=st.one_of(st.none(), st.floats(min_value=0.0001, max_value=0.05)),
    prompt=st.text(min_size=1, max_size=200),
)
def test_property_first_preview_candidate_is_chats_first_attempt(
    client: TestClient, upstream: FakeUpstream, model: str, objective: str | None, cap: float | None, prompt: str
) -> None:
    upstream.fake.reset()
    body: dict[str, object] = chat_body(model)
    body["messages"] = [{"role": "user", "content": prompt}]
    if objective:
        body["objective"] = objective
    if cap is not None:
        body["max_cost_per_1k_tokens"] = cap
    preview = client.post("/v1/route/preview", json=body)
    chat = client.post("/v1/chat/completions", json=body)
    if preview.status_code != 200:
        assert chat.status_code == preview.status_code  # the same refusal, e.g. no_route
        return
    first = preview.json()["candidates"][0]
    attempt = chat.json()["route"]["attempts"][0]
    assert (attempt["model"], attempt["provider_slug"], attempt["backend"]) == (
        first["model"],
        first["provider_slug"],
        first["backend"],
    )
