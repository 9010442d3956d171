"""The `routeway` command as a user runs it: output, JSON, exit codes, and `serve` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from routeway.cli.app import app
from tests.conftest import UPSTREAM_KEY, FakeUpstream
from tests.fakes.data import OPENROUTER_DATA
from tests.servers import answers, poll_until

runner = CliRunner()


@pytest.fixture
def cli_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ROUTEWAY_CONFIG", raising=False)
    return env


@pytest.mark.both_stores
def test_keys_create_prints_the_key_once_on_the_last_line(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["keys", "create", "ci-bot", "--rpm", "60", "--budget-usd", "5"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("rw-") and len(key) > 30
    listed = runner.invoke(app, ["keys", "list", "--json"])
    rows = json.loads(listed.stdout)["keys"]
    assert rows[0]["name"] == "ci-bot" and rows[0]["rpm"] == 60 and rows[0]["budget_usd"] == 5
    assert key not in listed.stdout and "key_hash" not in listed.stdout
    again = runner.invoke(app, ["keys", "create", "ci-bot"])
    assert again.exit_code == 1 and "key_exists" in again.stderr
    assert runner.invoke(app, ["keys", "revoke", "ci-bot"]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "nobody"]).exit_code == 1


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "ünïcode", "a;DROP TABLE"])
def test_bad_key_names_fail_with_one_line(cli_env: dict[str, str], name: str) -> None:
    result = runner.invoke(app, ["keys", "create", name])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid_request:") and "Traceback" not in result.output


def test_models_json_is_the_http_listing(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["models", "--output", "image,text", "--match", "all", "--json"])
    assert result.exit_code == 0, result.output
    ids = {m["id"] for m in json.loads(result.stdout)["data"]}
    assert "google/gemini-3.1-flash-image-preview" in ids and "black-forest-labs/flux.2-pro" not in ids
    table = runner.invoke(app, ["models", "--output", "image"])
    assert "flux.2-pro" in table.stdout
    free = json.loads(runner.invoke(app, ["models", "--free", "--json"]).stdout)["data"]
    assert free and all(m["pricing"]["prompt"] == 0 and m["pricing"]["completion"] == 0 for m in free)
    deepinfra = json.loads(runner.invoke(app, ["models", "--provider", "DeepInfra", "--json"]).stdout)["data"]
    assert deepinfra and all("DeepInfra" in m["providers"] for m in deepinfra)
    bad = runner.invoke(app, ["models", "--match", "most"])
    assert bad.exit_code == 1 and "invalid_request" in bad.stderr


@pytest.mark.both_stores
def test_catalog_refresh_from_a_folder_then_status_history(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["catalog", "refresh", "--source", str(OPENROUTER_DATA)])
    assert result.exit_code == 0, result.output
    assert "published" in result.stdout and "366 models" in result.stdout
    status = json.loads(runner.invoke(app, ["catalog", "status", "--json"]).stdout)
    assert status["source"] == "store" and status["model_count"] == 366
    history = json.loads(runner.invoke(app, ["catalog", "history", "--json"]).stdout)
    assert history["versions"][0]["live"] is True and history["versions"][0]["version"] == status["version"]


@pytest.mark.both_stores
def test_catalog_refresh_names_every_changed_id(cli_env: dict[str, str], tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "openrouter"
    shutil.copytree(OPENROUTER_DATA, folder)
    assert runner.invoke(app, ["catalog", "refresh", "--source", str(folder)]).exit_code == 0
    original = (folder / "models.json").read_text()
    document = json.loads(original)
    repriced, removed = document["data"][0], document["data"][1]
    repriced["pricing"]["prompt"] = str(float(repriced["pricing"]["prompt"]) + 0.000001)
    document["data"].remove(removed)
    (folder / "models.json").write_text(json.dumps(document))
    as_json = runner.invoke(app, ["catalog", "refresh", "--source", str(folder), "--json"])
    assert as_json.exit_code == 0, as_json.output
    diff = json.loads(as_json.stdout)["diff"]
    assert (diff["added"], diff["removed"], diff["repriced"]) == ([], [removed["id"]], [repriced["id"]])
    (folder / "models.json").write_text(original)  # back again: the removed model returns
    table = runner.invoke(app, ["catalog", "refresh", "--source", str(folder)])
    assert table.exit_code == 0, table.output
    assert f"+ added {removed['id']}" in table.stdout and f"~ repriced {repriced['id']}" in table.stdout


@pytest.mark.both_stores
def test_a_refused_refresh_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "models.json").write_text("<html>rate limited</html>")
    result = runner.invoke(app, ["catalog", "refresh", "--source", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("refused:")
    missing = runner.invoke(app, ["catalog", "refresh", "--source", str(tmp_path / "nope")])
    assert missing.exit_code == 2


@pytest.mark.both_stores
def test_serve_creates_a_first_key_and_answers(tmp_path: Path, upstream: FakeUpstream) -> None:
    """`routeway serve` as a new user starts it: a key is printed, /v1/models answers from the bundle."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "ROUTEWAY_HOME": str(tmp_path / "home"),
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
    }
    env.pop("ROUTEWAY_AUTH", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "routeway", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        key = None
        deadline = time.monotonic() + 30
        for line in process.stdout:  # read until the server says it listens
            if line.startswith("routeway key: "):
                key = line.removeprefix("routeway key: ").strip()
            if "listening on" in line or time.monotonic() > deadline:
                break
        assert key and key.startswith("rw-")
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers(f"{url}/healthz"), what="routeway serve accepting connections")
        response = httpx.get(
            f"{url}/v1/models", params={"output_modalities": "image"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200
        assert "black-forest-labs/flux.2-klein-4b" in {m["id"] for m in response.json()["data"]}
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        reply = sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "Hello from the fake OpenRouter."
        stream = sdk.chat.completions.create(
            model="flagship", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).startswith("Hello")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_preview_json_matches_the_http_preview_and_reads_a_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from routeway.http.app import create_app
    from routeway.services.keys import create_key
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    request = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Hello"}],
        "objective": "cheapest",
        "allowed_models": ["openai/*"],
        "top_n": 3,
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    result = runner.invoke(app, ["preview", "-f", str(path), "--json"])  # the file's top_n, as over HTTP
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    assert len(from_cli["candidates"]) == 3
    overridden = json.loads(runner.invoke(app, ["preview", "-f", str(path), "--top", "1", "--json"]).stdout)
    assert len(overridden["candidates"]) == 1
    gateway = build_gateway(Settings.from_env(cli_env))
    key, _ = create_key(gateway.state.sync, gateway.clock, "http")
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        assert client.post("/v1/route/preview", json=request).json() == from_cli
    table = runner.invoke(app, ["preview", "--model", "deepseek/deepseek-v4-flash:nitro", "--top", "2"])
    assert table.exit_code == 0 and "deepseek/deepseek-v4-flash" in table.stdout and "throughput" in table.stdout
    args = ["preview", "--model", "auto", "--objective", "cheapest", "--top", "40"]
    pooled, as_json = runner.invoke(app, args), json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    notes = [line for line in pooled.stdout.splitlines() if line.startswith("note: ")]
    assert pooled.exit_code == 0 and notes == [f"note: {n}" for n in as_json["notes"]]  # the table prints them
    assert any(line.startswith("note: pool: ") for line in notes)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["preview", "-f", "/nonexistent/request.json"], "invalid_request"),
        (["preview", "--model", "moonshot/kimi-k2.6"], "model_not_found"),
        (["preview", "--objective", "vibes"], "invalid_request"),
        (["preview", "--allow", "anthropic/*", "--max-cost", "0.000001"], "no_route"),
    ],
)
def test_preview_errors_are_one_line(cli_env: dict[str, str], args: list[str], code: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {code}:"), result.output


def test_smoke_reports_each_alias_and_fails_when_one_fails(cli_env: dict[str, str], upstream: FakeUpstream) -> None:
    ok = runner.invoke(app, ["smoke", "flagship", "nano-banana", "openai/gpt-5.4-mini", "--json"])
    assert ok.exit_code == 0, ok.output
    rows = {r["target"]: r for r in json.loads(ok.stdout)["results"]}
    assert all(r["ok"] for r in rows.values())
    assert rows["nano-banana"]["model"] == "google/gemini-3.1-flash-image-preview"
    table = runner.invoke(app, ["smoke", "local", "moonshot/kimi-k2.6"])
    assert table.exit_code == 1
    assert "OK" in table.stdout and "error: model_not_found" in table.stdout


@pytest.mark.both_stores
def test_explain_shows_a_past_request(cli_env: dict[str, str], upstream: FakeUpstream) -> None:
    from fastapi.testclient import TestClient

    from routeway.http.app import create_app
    from routeway.services.keys import create_key
    from routeway.settings import Settings
    from routeway.wiring import build_gateway
    from tests.fakes.openrouter import Scripted

    gateway = build_gateway(Settings.from_env(cli_env))
    key, _ = create_key(gateway.state.sync, gateway.clock, "explainer")
    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "down"}}))
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]},
        )
    generation_id = response.headers["x-routeway-generation-id"]
    as_json = json.loads(runner.invoke(app, ["explain", generation_id, "--json"]).stdout)
    assert [a["status"] for a in as_json["route"]["attempts"]] == [503, 200]
    table = runner.invoke(app, ["explain", generation_id])
    assert table.exit_code == 0 and "503" in table.stdout and "success" in table.stdout
    assert response.json()["id"] == generation_id  # the chat id is the generation id
    for client_id in (f"msg_{generation_id}", "resp_" + generation_id.removeprefix("gen-rw-")):  # any dialect's id
        assert json.loads(runner.invoke(app, ["explain", client_id, "--json"]).stdout)["id"] == generation_id
    missing = runner.invoke(app, ["explain", "gen-rw-nope"])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: generation_not_found:")
