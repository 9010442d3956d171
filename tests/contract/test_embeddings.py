"""`client.embeddings.create` (the official openai SDK) against a real uvicorn server running the gateway,
with the fake OpenRouter (and a fake vLLM) behind it: dimensions, base64, fallbacks, proofs, records, spend.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.contract.conftest import spend
from tests.fakes.embeddings import embedding_vector
from tests.fakes.openai_compat import LOCAL_DIMENSIONS, FakeOpenAICompatible
from tests.fakes.openrouter import Scripted
from tests.servers import serve_in_thread

SMALL = "openai/text-embedding-3-small"


@pytest.mark.both_stores
def test_embeddings_with_the_sdks_default_base64(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str
) -> None:
    raw = sdk.embeddings.with_raw_response.create(model=SMALL, input=["hello", "world"])
    result = raw.parse()  # the SDK asked for base64 and decoded it
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 1536
    assert result.data[0].embedding == pytest.approx(embedding_vector("hello", 1536), abs=1e-6)
    assert result.model == SMALL and result.usage.prompt_tokens > 0
    sent = upstream.fake.embedding_requests()[-1].body
    assert sent["model"] == SMALL and sent["input"] == ["hello", "world"] and "encoding_format" not in sent
    assert raw.headers["x-routeway-model"] == SMALL and raw.headers["x-routeway-backend"] == "openrouter"
    cost = raw.http_response.json()["usage"]["cost"]
    assert cost > 0 and spend(gateway_url, api_key) == pytest.approx(cost)
    explained = httpx.get(
        f"{gateway_url}/v1/route/explain/{raw.headers['x-routeway-generation-id']}", headers={"x-api-key": api_key}
    ).json()
    assert explained["route"]["model"] == SMALL and explained["usage"]["cost"] == pytest.approx(cost)
    assert "hello" not in str(explained)


def test_embeddings_with_dimensions_and_floats(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    result = sdk.embeddings.create(model=SMALL, input="hello", dimensions=256, encoding_format="float")
    vector = result.data[0].embedding
    assert len(vector) == 256 and math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-3)
    assert upstream.fake.embedding_requests()[-1].body["dimensions"] == 256


def test_a_model_without_dimensions_is_400_with_param(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="openai/text-embedding-ada-002", input="hello", dimensions=256)
    assert caught.value.param == "dimensions" and caught.value.code == "invalid_request"
    assert SMALL in caught.value.body["suggestions"]  # type: ignore[index]
    assert caught.value.response.headers["x-routeway-generation-id"]
    assert upstream.fake.embedding_requests() == []  # refused before any call


def test_unknown_model_is_404_with_suggestions(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.embeddings.create(model="openai/text-embedding-3-smal", input="hello")
    assert caught.value.code == "model_not_found"
    assert SMALL in caught.value.body["suggestions"]  # type: ignore[index]


def test_a_chat_model_finds_no_route(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.embeddings.create(model="openai/gpt-5.4-mini", input="hello")
    assert caught.value.code == "no_route" and "missing_output_modality:embeddings" in str(caught.value.body)
    assert upstream.fake.requests == []


def test_models_fallback_after_a_503(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    down = Scripted(status=503, path="/embeddings", model=SMALL, body={"error": {"code": 503, "message": "down"}})
    upstream.fake.enqueue(down)
    raw = sdk.embeddings.with_raw_response.create(
        model=SMALL, input="hello", extra_body={"models": ["openai/text-embedding-3-large"]}
    )
    assert len(raw.parse().data[0].embedding) == 3072
    assert raw.headers["x-routeway-model"] == "openai/text-embedding-3-large"
    assert raw.headers["x-routeway-attempts"] == "2"
    assert all("models" not in r.body for r in upstream.fake.embedding_requests())


def test_bad_input_is_400_with_param(gateway_url: str, api_key: str) -> None:
    for body, param in [
        ({"model": SMALL, "input": []}, "input"),
        ({"model": SMALL, "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": SMALL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ]:
        response = httpx.post(f"{gateway_url}/v1/embeddings", headers={"x-api-key": api_key}, json=body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text


def test_models_lists_embedding_models(sdk: openai.OpenAI, gateway_url: str, api_key: str) -> None:
    listed = httpx.get(
        f"{gateway_url}/v1/models", params={"output_modalities": "embeddings"}, headers={"x-api-key": api_key}
    ).json()
    ids = {m["id"] for m in listed["data"]}
    assert SMALL in ids and "baai/bge-m3" in ids and len(ids) == 7
    assert SMALL in {m.id for m in sdk.models.list()}


LOCAL_CONFIG = """
backends:
  - {name: openrouter, kind: openrouter, base_url_env: OPENROUTER_BASE_URL}
  - {name: vllm, kind: openai_compat, base_url_env: ROUTEWAY_VLLM_BASE_URL}
aliases:
  - alias: local-embed
    description: bge-m3 on our vLLM, OpenRouter when it is down
    targets: [baai/bge-m3]
    backends: [vllm, openrouter]
    backend_models: {vllm: BAAI/bge-m3}
"""


@pytest.fixture
def local_sdk(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[openai.OpenAI, FakeOpenAICompatible, Gateway]]:
    vllm = FakeOpenAICompatible(["BAAI/bge-m3"])
    config = tmp_path / "routeway.yaml"
    config.write_text(LOCAL_CONFIG)
    with serve_in_thread(vllm.app) as vllm_url:
        settings = {**env, "ROUTEWAY_CONFIG": str(config), "ROUTEWAY_VLLM_BASE_URL": f"{vllm_url}/v1"}
        gateway = build_gateway(Settings.from_env(settings))
        key = register_secret(create_key(gateway.state.sync, gateway.clock, "local")[0])
        with serve_in_thread(create_app(lambda: gateway)) as url:
            yield openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0), vllm, gateway


def test_a_local_alias_embeds_on_vllm(
    local_sdk: tuple[openai.OpenAI, FakeOpenAICompatible, Gateway], upstream: FakeUpstream
) -> None:
    client, vllm, _ = local_sdk
    raw = client.embeddings.with_raw_response.create(model="local-embed", input=["a", "b", "c"])
    result = raw.parse()
    assert len(result.data) == 3 and len(result.data[2].embedding) == LOCAL_DIMENSIONS
    assert raw.headers["x-routeway-backend"] == "vllm" and raw.headers["x-routeway-model"] == "baai/bge-m3"
    assert vllm.embeddings_asked[-1]["body"]["model"] == "BAAI/bge-m3"
    assert upstream.fake.embedding_requests() == []
    assert raw.http_response.json()["usage"]["cost"] >= 0  # from catalog prices: vLLM reports none
