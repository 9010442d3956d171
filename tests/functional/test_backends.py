"""Configured backends: vLLM / Ollama from the environment, ROUTEWAY_CONFIG overrides, reachability."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from routeway.cli.app import app as cli_app
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.services.refresh import refresh_catalog
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream
from tests.fakes.openai_compat import FakeOpenAICompatible
from tests.servers import serve_in_thread

VLLM_MODEL = "Qwen/Qwen3.6-27B"


@pytest.fixture(scope="module")
def vllm() -> Iterator[tuple[FakeOpenAICompatible, str]]:
    fake = FakeOpenAICompatible([VLLM_MODEL, "meta-llama/Llama-3.3-70B-Instruct"])
    with serve_in_thread(fake.app) as url:
        yield fake, f"{url}/v1"


def client_for(env: dict[str, str]) -> tuple[Gateway, TestClient]:
    gateway = build_gateway(Settings.from_env(env))
    key, _ = create_key(gateway.state.sync, gateway.clock, "tester")
    return gateway, TestClient(create_app(lambda: gateway), headers={"x-api-key": key})


def test_local_alias_goes_to_vllm_first(
    env: dict[str, str], vllm: tuple[FakeOpenAICompatible, str], upstream: FakeUpstream
) -> None:
    fake, base_url = vllm
    _, client = client_for({**env, "ROUTEWAY_VLLM_BASE_URL": base_url, "ROUTEWAY_VLLM_API_KEY": "vllm-secret"})
    response = client.post(
        "/v1/chat/completions", json={"model": "local", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from vLLM."
    assert response.headers["x-routeway-backend"] == "vllm"
    assert fake.chats[-1]["body"]["model"] == VLLM_MODEL
    assert fake.chats[-1]["authorization"] == "Bearer vllm-secret"
    assert upstream.fake.chat_requests() == []


def test_local_alias_falls_through_the_chain_to_openrouter_when_unconfigured(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    _, client = client_for(env)
    response = client.post(
        "/v1/chat/completions", json={"model": "local", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-routeway-backend"] == "openrouter"
    assert upstream.fake.chat_requests()[-1].body["model"] == "qwen/qwen3.6-27b"


def test_readyz_probes_each_configured_backend(env: dict[str, str], vllm: tuple[FakeOpenAICompatible, str]) -> None:
    _, base_url = vllm
    _, client = client_for(
        {**env, "ROUTEWAY_VLLM_BASE_URL": base_url, "ROUTEWAY_OLLAMA_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    backends = {b["name"]: b for b in client.get("/readyz").json()["backends"]}
    assert backends["openrouter"]["reachable"] is True
    assert backends["vllm"]["reachable"] is True
    assert backends["ollama"]["reachable"] is False and backends["ollama"]["reason"]
    assert backends["nvidia-nim"] == {**backends["nvidia-nim"], "status": "deprecated", "reachable": None}


@pytest.mark.both_stores
def test_refresh_records_what_each_backend_serves(env: dict[str, str], vllm: tuple[FakeOpenAICompatible, str]) -> None:
    _, base_url = vllm
    full_env = {**env, "ROUTEWAY_VLLM_BASE_URL": base_url}
    gateway = build_gateway(Settings.from_env(full_env))

    async def run() -> str:
        try:
            return (await refresh_catalog(gateway, gateway.sources.openrouter(240.0))).outcome
        finally:
            await gateway.upstreams.aclose()

    assert asyncio.run(run()) == "published"
    gateway.catalog.invalidate()
    assert gateway.catalog.current_blocking().backends["vllm"].models == (
        "Qwen/Qwen3.6-27B",
        "meta-llama/Llama-3.3-70B-Instruct",
    )


CUSTOM = """
backends:
  - {name: openrouter, kind: openrouter}
aliases:
  - alias: cheap-chat
    description: our house default
    targets: [deepseek/deepseek-v4-flash]
    constraints: {min_max_tokens: 32}
"""


def test_routeway_config_replaces_aliases_and_backends(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "routeway.yaml"
    config.write_text(CUSTOM)
    _, client = client_for({**env, "ROUTEWAY_CONFIG": str(config)})
    info = client.get("/v1/info").json()
    assert [a["alias"] for a in info["aliases"]] == ["cheap-chat"]
    assert info["aliases"][0]["constraints"]["min_max_tokens"] == 32
    assert [b["name"] for b in info["backends"]] == ["openrouter"]


@pytest.mark.parametrize(
    "document",
    [
        "aliases: [",
        "aliases:\n  - {alias: x}\n",
        "backends:\n  - {name: a, kind: nope}\n",
        "aliases:\n  - {alias: x, targets: [a/b], backends: [missing]}\n",
    ],
)
def test_a_bad_config_is_one_clear_line(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(document)
    for name, value in {**env, "ROUTEWAY_CONFIG": str(config)}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["models", "--json"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid_configuration:") and "Traceback" not in result.output


@pytest.mark.both_stores
def test_cli_refresh_against_openrouter_then_models_lists_flux(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    refreshed = runner.invoke(cli_app, ["catalog", "refresh"])  # --source defaults to openrouter
    assert refreshed.exit_code == 0, refreshed.output
    assert any(r.path.endswith("/models") for r in upstream.fake.requests)
    listed = runner.invoke(cli_app, ["models", "--output", "image", "--json"])
    assert "black-forest-labs/flux.2-klein-4b" in {m["id"] for m in __import__("json").loads(listed.stdout)["data"]}
