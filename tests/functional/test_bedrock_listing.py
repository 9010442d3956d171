"""A refresh reads Bedrock's models (issue 34, part 2): ListFoundationModels and ListInferenceProfiles through the
`bedrock` control plane (the fake Bedrock answers them, signed with SigV4 as the runtime is: moto has no
ListFoundationModels), mapped to the catalog models of the same maker and name, so `models:` is optional."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.services.refresh import refresh_catalog
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.bedrock import FakeBedrock, listed_model, listed_profile
from tests.functional.test_bedrock import HI, MODEL, ONLY_BEDROCK, PROFILE, TABLE_PRICE, _bedrock_server, bedrock

__all__ = ["_bedrock_server", "bedrock"]  # the Bedrock module's fixtures, used here too
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
SONNET = PROFILE.removeprefix("us.")
NOVA = "amazon.nova-pro-v1:0"


def _summary(model_id: str, *kinds: str) -> dict[str, Any]:
    return listed_model(model_id, *kinds)


def _profile(profile_id: str) -> dict[str, Any]:
    return dict(listed_profile(profile_id, SONNET))


@pytest.fixture
def gateway(
    env: dict[str, str], tmp_path: Path, _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock
) -> Gateway:
    config = tmp_path / "routeway.yaml"
    config.write_text(
        "backends:\n  - {name: openrouter, kind: openrouter}\n  - {name: bedrock, kind: bedrock, region: us-east-1}\n"
    )
    fake, url = _bedrock_server
    fake.access_key, fake.secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    fake.session_token = os.environ.get("AWS_SESSION_TOKEN")
    fake.foundation_models = [_summary(SONNET, "INFERENCE_PROFILE"), _summary(NOVA, "ON_DEMAND")]
    fake.inference_profiles = [_profile(PROFILE), _profile(f"global.{SONNET}")]
    settings = {
        "ROUTEWAY_CONFIG": str(config),
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url,
        "AWS_ENDPOINT_URL_BEDROCK": url,
    }
    return build_gateway(Settings.from_env({**env, **settings}))


def _refresh(gateway: Gateway) -> str:
    async def run() -> str:
        try:
            return (await refresh_catalog(gateway, gateway.sources.openrouter(240.0))).outcome
        finally:
            await gateway.upstreams.aclose()

    return asyncio.run(run())


def test_a_refresh_maps_what_bedrock_lists_and_the_gateway_serves_it(
    gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    assert _refresh(gateway) == "published"
    assert (
        sorted(bedrock.listed)
        == [
            "/foundation-models?",
            "/inference-profiles?type=SYSTEM_DEFINED",
        ]
        and not bedrock.refused
    )  # both asked, signed
    gateway.catalog.invalidate()
    backend = gateway.catalog.current_blocking().backends["bedrock"]
    # Sonnet 4.5 is served here only through a profile: its geography's; Nova Pro on demand
    assert backend.model_ids == {MODEL: PROFILE, "amazon/nova-pro-v1": NOVA}
    assert backend.prices[NOVA].prompt == pytest.approx(0.8e-6)
    # the same process serves it: its Bedrock upstream, made by the refresh, takes the new mapping
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK})
    assert response.status_code == 200, response.text
    assert bedrock.seen[-1].model_id == PROFILE and response.json()["usage"]["cost"] == pytest.approx(TABLE_PRICE)


def test_a_listing_bedrock_refuses_leaves_the_operator_s_mapping_and_says_why(
    gateway: Gateway, bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    bedrock.fault = "denied"
    assert _refresh(gateway) == "published"  # OpenRouter's catalog is still published
    gateway.catalog.invalidate()
    backend = gateway.catalog.current_blocking().backends["bedrock"]
    assert backend.model_ids == {} and "bedrock:ListFoundationModels" in backend.reason


def test_the_stack_s_bedrock_models_turn_the_packaged_backend_on_and_limit_what_is_mapped(
    env: dict[str, str], _bedrock_server: tuple[FakeBedrock, str], bedrock: FakeBedrock, upstream: FakeUpstream
) -> None:
    """No ROUTEWAY_CONFIG: the packaged defaults, with template.yaml's BedrockModels (ROUTEWAY_BEDROCK_MODELS)
    naming the Sonnet profile only. Bedrock also lists Nova Pro, which the role may not invoke: left unmapped."""
    fake, url = _bedrock_server
    fake.access_key, fake.secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    fake.session_token = os.environ.get("AWS_SESSION_TOKEN")
    fake.foundation_models = [_summary(SONNET, "INFERENCE_PROFILE"), _summary(NOVA, "ON_DEMAND")]
    fake.inference_profiles = [_profile(PROFILE)]
    endpoints = {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": url, "AWS_ENDPOINT_URL_BEDROCK": url, "AWS_REGION": "us-east-1"}
    gateway = build_gateway(Settings.from_env({**env, **endpoints, "ROUTEWAY_BEDROCK_MODELS": PROFILE}))
    before = gateway.catalog.current_blocking().backends["bedrock"]  # the bundled catalog, before any refresh
    assert (before.kind, before.model_ids) == ("bedrock", {})
    assert _refresh(gateway) == "published"
    gateway.catalog.invalidate()
    backend = gateway.catalog.current_blocking().backends["bedrock"]
    assert backend.model_ids == {MODEL: PROFILE}  # not amazon/nova-pro-v1
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        served = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **ONLY_BEDROCK})
        nova = client.post("/v1/chat/completions", json={"model": "amazon/nova-pro-v1", "messages": HI})
    assert served.status_code == 200 and served.headers["x-routeway-backend"] == "bedrock", served.text
    assert nova.headers.get("x-routeway-backend") == "openrouter", nova.text
    assert [seen.model_id for seen in bedrock.seen] == [PROFILE]
