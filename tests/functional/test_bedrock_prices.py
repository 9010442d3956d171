"""Bedrock's own prices through the gateway (issue 34, part 2): a key is charged the packaged table's price, or the
operator's from ROUTEWAY_CONFIG; a Bedrock model without a price is served, but refused to a budgeted key with a
message naming the setting that prices it (and such a key's request goes on to OpenRouter when it allows)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, budget_key, spend_of
from tests.fakes.bedrock import FakeBedrock
from tests.functional.test_bedrock import HI, MODEL, ONLY_BEDROCK, PROFILE, _bedrock_server, bedrock

__all__ = ["_bedrock_server", "bedrock"]  # the Bedrock module's fixtures, used here too
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
UNPRICED = "acme.unpriced-model-v1:0"


def _gateway(
    env: dict[str, str], tmp_path: Path, server: tuple[FakeBedrock, str], bedrock_id: str, extra: str
) -> Gateway:
    config = tmp_path / "routeway.yaml"
    config.write_text(
        "backends:\n  - {name: openrouter, kind: openrouter}\n  - name: bedrock\n    kind: bedrock\n"
        f"    region: us-east-1\n    models:\n      {MODEL}: {bedrock_id}\n{extra}"
    )
    fake, url = server
    fake.access_key, fake.secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    fake.session_token = os.environ.get("AWS_SESSION_TOKEN")
    return build_gateway(
        Settings.from_env({**env, "ROUTEWAY_CONFIG": str(config), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url})
    )


@pytest.fixture
def unpriced(
    env: dict[str, str], tmp_path: Path, _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock
) -> Gateway:
    return _gateway(env, tmp_path, _bedrock_server, UNPRICED, "")


def _client(gateway: Gateway, key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        yield client


def test_an_unpriced_bedrock_model_is_refused_to_a_budgeted_key_naming_the_setting(
    unpriced: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(unpriced, "budgeted", 5.0)
    for client in _client(unpriced, key):
        response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK})
        assert response.status_code == 402, response.text
        message = response.json()["error"]["message"]
        assert UNPRICED in message and "ROUTEWAY_CONFIG" in message and "prices:" in message
        assert "'bedrock'" in message and "us-east-1" in message
        assert bedrock.seen == []  # nothing was sent
        # allowed elsewhere, the request goes on to OpenRouter's providers of the same model
        moved = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, "max_tokens": 50})
        assert moved.status_code == 200, moved.text
        assert moved.headers["x-routeway-backend"] == "openrouter" and bedrock.seen == []
    assert spend_of(unpriced, key_hash) > 0  # OpenRouter's answer was charged


def test_an_unpriced_bedrock_model_is_still_listed_and_served_without_a_budget(
    unpriced: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    key, _ = budget_key(unpriced, "unbudgeted", None)
    for client in _client(unpriced, key):
        preview = client.post("/v1/route/preview", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK})
        assert [c["backend"] for c in preview.json()["candidates"]] == ["bedrock"]
        response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK})
        assert response.status_code == 200, response.text
        assert response.headers["x-routeway-backend"] == "bedrock" and bedrock.seen[-1].model_id == UNPRICED
        assert "cost" not in response.json()["usage"]  # no price: none is made up


def test_the_operator_s_price_is_what_a_key_is_charged(
    env: dict[str, str],
    tmp_path: Path,
    _bedrock_server: tuple[FakeBedrock, str],
    bedrock: FakeBedrock,
    upstream: FakeUpstream,
) -> None:
    prices = f"    prices:\n      {PROFILE}: {{prompt: 1.0, completion: 2.0}}\n"
    gateway = _gateway(env, tmp_path, _bedrock_server, PROFILE, prices)
    key, key_hash = budget_key(gateway, "budgeted", 5.0)
    for client in _client(gateway, key):
        response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK})
        assert response.status_code == 200, response.text
    price = 12 * 1e-6 + 7 * 2e-6  # the fake's usage at the operator's price, not the table's
    assert response.json()["usage"]["cost"] == pytest.approx(price)
    assert spend_of(gateway, key_hash) == pytest.approx(price)
