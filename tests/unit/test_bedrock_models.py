"""What Bedrock lists at refresh, mapped to catalog models (domain/bedrock_models.py), and the template's BedrockModels
turning the packaged backend on (config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from routeway.config import load_routing_config, template_bedrock_models
from routeway.domain.bedrock_models import listed_mapping
from routeway.services.catalog_provider import load_bundled_snapshot
from routeway.settings import Settings

CATALOG = [
    "anthropic/claude-sonnet-4.5",
    "anthropic/claude-3.5-haiku",
    "anthropic/claude-opus-4.1",
    "amazon/nova-pro-v1",
    "meta-llama/llama-3.3-70b-instruct",
    "meta-llama/llama-3.3-70b-instruct:free",
    "openai/gpt-5",
]


def model(model_id: str, *kinds: str, status: str = "ACTIVE", output: str = "TEXT") -> dict[str, Any]:
    return {
        "modelId": model_id,
        "inferenceTypesSupported": list(kinds),
        "modelLifecycle": {"status": status},
        "outputModalities": [output],
    }


def profile(profile_id: str, model_id: str, *regions: str) -> dict[str, Any]:
    arns = [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model_id}"} for r in regions]
    return {"inferenceProfileId": profile_id, "status": "ACTIVE", "models": arns}


SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
FOUNDATION = [
    model(SONNET, "INFERENCE_PROFILE"),  # served only through a cross-region profile
    model("anthropic.claude-3-5-haiku-20241022-v1:0", "ON_DEMAND"),
    model("anthropic.claude-opus-4-1-20250805-v1:0", "INFERENCE_PROFILE"),  # no profile listed for it
    model("amazon.nova-pro-v1:0", "ON_DEMAND"),
    model("amazon.titan-embed-text-v2:0", "ON_DEMAND", output="EMBEDDING"),
    model("meta.llama3-3-70b-instruct-v1:0", "ON_DEMAND"),
    model("anthropic.claude-v2:1", "ON_DEMAND", status="LEGACY"),
    model("acme.unknown-model-v1:0", "ON_DEMAND"),
]
PROFILES = [
    profile(f"global.{SONNET}", SONNET, "us-east-1", "eu-west-1"),
    profile(f"us.{SONNET}", SONNET, "us-east-1", "us-west-2"),
    profile(f"eu.{SONNET}", SONNET, "eu-west-1", "eu-central-1"),
]


def test_each_active_text_model_maps_to_the_catalog_model_with_its_maker_and_name() -> None:
    assert listed_mapping(FOUNDATION, PROFILES, "us-east-1", CATALOG) == {
        "anthropic/claude-sonnet-4.5": f"us.{SONNET}",  # its geography's profile
        "anthropic/claude-3.5-haiku": "anthropic.claude-3-5-haiku-20241022-v1:0",
        "amazon/nova-pro-v1": "amazon.nova-pro-v1:0",
        "meta-llama/llama-3.3-70b-instruct": "meta.llama3-3-70b-instruct-v1:0",
    }


def test_a_model_served_only_through_profiles_takes_its_geography_s_else_a_global_one() -> None:
    assert listed_mapping(FOUNDATION, PROFILES, "eu-central-1", CATALOG)["anthropic/claude-sonnet-4.5"] == (
        f"eu.{SONNET}"
    )
    tokyo = listed_mapping(FOUNDATION, PROFILES, "ap-northeast-1", CATALOG)
    assert tokyo["anthropic/claude-sonnet-4.5"] == f"global.{SONNET}"
    assert "anthropic/claude-opus-4.1" not in tokyo  # no profile serves it: not mapped
    assert listed_mapping(FOUNDATION, [], "us-east-1", CATALOG).get("anthropic/claude-sonnet-4.5") is None


def test_the_template_s_bedrock_models_turn_the_packaged_backend_on_and_a_config_file_decides_itself(
    tmp_path: Path,
) -> None:
    """template.yaml passes BedrockModels as ROUTEWAY_BEDROCK_MODELS: given, the packaged `bedrock` row (planned)
    is a `kind: bedrock` backend in the gateway's region, in the bundled catalog too (before the first refresh)."""
    settings = Settings.from_env({"ROUTEWAY_BEDROCK_MODELS": " us.anthropic.claude-sonnet-4-5-20250929-v1:0, x.y:0 "})
    given = template_bedrock_models(settings)
    assert given == ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "x.y:0")
    assert template_bedrock_models(Settings.from_env({"ROUTEWAY_BEDROCK_MODELS": ""})) == ()
    off = {b.name: b for b in load_routing_config(None, "us-east-1").backends}["bedrock"]
    on = {b.name: b for b in load_routing_config(None, "us-east-1", given).backends}["bedrock"]
    assert (off.kind, off.status) == ("openai_compat", "planned")
    assert (on.kind, on.status, on.model_ids) == ("bedrock", "available", {})
    bundled = {b.name: b for b in load_bundled_snapshot(None, "us-east-1", given).backends}
    assert bundled["bedrock"].kind == "bedrock" and bundled["openrouter"].kind == "openrouter"
    config = tmp_path / "routeway.yaml"
    config.write_text("backends:\n  - {name: openrouter, kind: openrouter}\n")
    assert [b.name for b in load_routing_config(config, "us-east-1", given).backends] == ["openrouter"]
