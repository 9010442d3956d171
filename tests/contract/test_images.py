"""`client.images.generate` (the official openai SDK) against a real uvicorn server running the gateway,
with the fake OpenRouter behind it: FLUX and Gemini image models, n, sizes, data URLs, proofs, records, spend.
"""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from tests.conftest import FakeUpstream
from tests.contract.conftest import spend

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FLUX = "black-forest-labs/flux.2-pro"


@pytest.mark.both_stores
def test_flux_gives_png_bytes_with_image_only_modalities(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str
) -> None:
    raw = sdk.images.with_raw_response.generate(model=FLUX, prompt="a red fox in snow", size="1792x1024")
    images = raw.parse()
    assert images.data is not None and len(images.data) == 1
    assert base64.b64decode(images.data[0].b64_json or "").startswith(PNG_SIGNATURE)
    sent = upstream.fake.chat_requests()[-1].body
    assert sent["modalities"] == ["image"] and sent["image_config"] == {"aspect_ratio": "16:9"}
    assert sent["messages"] == [{"role": "user", "content": "a red fox in snow"}]
    assert raw.headers["x-routeway-model"] == FLUX and raw.headers["x-routeway-attempts"] == "1"
    usage = raw.http_response.json()["usage"]
    assert usage["cost"] > 0 and usage["output_tokens"] > 0
    explained = httpx.get(
        f"{gateway_url}/v1/route/explain/{raw.headers['x-routeway-generation-id']}", headers={"x-api-key": api_key}
    ).json()
    assert explained["route"]["model"] == FLUX and "red fox" not in str(explained)
    assert spend(gateway_url, api_key) == pytest.approx(usage["cost"])


def test_gemini_image_model_gets_image_and_text(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = sdk.images.with_raw_response.generate(model="nano-banana", prompt="a lighthouse", size="1024x1024")
    images = raw.parse()
    assert images.data is not None
    assert base64.b64decode(images.data[0].b64_json or "").startswith(PNG_SIGNATURE)
    assert raw.headers["x-routeway-applied"] == "modalities=image+text"
    assert raw.headers["x-routeway-model"] == "google/gemini-3.1-flash-image-preview"
    sent = upstream.fake.chat_requests()[-1].body
    assert sent["modalities"] == ["image", "text"] and sent["image_config"] == {"aspect_ratio": "1:1"}
    assert images.data[0].revised_prompt  # Gemini's text, or the prompt


@pytest.mark.both_stores
def test_n_2_makes_two_calls_and_url_gives_data_urls(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str
) -> None:
    raw = sdk.images.with_raw_response.generate(model=FLUX, prompt="two foxes", n=2, response_format="url")
    images = raw.parse()
    assert images.data is not None and len(images.data) == 2
    for image in images.data:
        assert image.url is not None and image.url.startswith("data:image/png;base64,")
        assert base64.b64decode(image.url.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    assert len(upstream.fake.chat_requests()) == 2
    assert raw.headers["x-routeway-attempts"] == "2"  # one generation: both calls held, recorded, charged in it
    cost = raw.http_response.json()["usage"]["cost"]
    assert spend(gateway_url, api_key) == pytest.approx(cost)


def test_default_model_is_image_gen(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    raw = sdk.images.with_raw_response.generate(prompt="a cat")
    assert raw.headers["x-routeway-model"] == "google/gemini-3.1-flash-image-preview"
    assert upstream.fake.chat_requests()[-1].body["model"] == "google/gemini-3.1-flash-image-preview"


def test_unknown_model_is_404_with_suggestions(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.images.generate(model="black-forest-labs/flux.2-pr", prompt="a fox")
    assert caught.value.code == "model_not_found"
    assert FLUX in caught.value.body["suggestions"]  # type: ignore[index]
    assert caught.value.response.headers["x-routeway-generation-id"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 5}, "n"),
        ({"size": "1000x333"}, "size"),
        ({"stream": True}, "stream"),
        ({"response_format": "png"}, "response_format"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_bad_input_is_400_with_param(
    gateway_url: str, api_key: str, upstream: FakeUpstream, fields: dict[str, object], param: str
) -> None:
    body = {"model": FLUX, "prompt": "a fox", **fields}
    response = httpx.post(f"{gateway_url}/v1/images/generations", headers={"x-api-key": api_key}, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert response.headers["x-routeway-generation-id"]
    assert upstream.fake.chat_requests() == []


def test_a_text_only_model_finds_no_route(gateway_url: str, api_key: str, upstream: FakeUpstream) -> None:
    body = {"model": "openai/gpt-5.4-mini", "prompt": "a fox"}
    response = httpx.post(f"{gateway_url}/v1/images/generations", headers={"x-api-key": api_key}, json=body)
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_route"
    assert upstream.fake.chat_requests() == []


@pytest.mark.both_stores
def test_n_3_with_a_failing_call_gives_the_sdk_the_two_images_made_and_charges_them(
    sdk: openai.OpenAI, upstream: FakeUpstream, gateway_url: str, api_key: str
) -> None:
    """A fan-out part that fails (RELIABILITY 69), as the official SDK sees it: a 200 it parses, partial=2/3."""
    from tests.fakes.openrouter import Scripted

    upstream.fake.enqueue(Scripted(through=True))
    upstream.fake.enqueue(Scripted(status=500, body={"error": {"code": 500, "message": "provider down"}}))
    raw = sdk.images.with_raw_response.generate(model=FLUX, prompt="three foxes", n=3)
    images = raw.parse()
    assert images.data is not None and len(images.data) == 2
    assert all(base64.b64decode(i.b64_json or "").startswith(PNG_SIGNATURE) for i in images.data)
    assert "partial=2/3" in raw.headers["x-routeway-applied"]
    cost = raw.http_response.json()["usage"]["cost"]
    assert cost > 0 and spend(gateway_url, api_key) == pytest.approx(cost)
