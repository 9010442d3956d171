"""`routeway configure` and `routeway run`, as a new user tries them, against the fake OpenRouter."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeway.cli.app import app
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.servers import serve_in_thread

runner = CliRunner()
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream) -> Path:
    """A fresh user: an empty ROUTEWAY_HOME, no OpenRouter variables in the environment."""
    for name in list(os.environ):
        if name.startswith(("OPENROUTER_", "ROUTEWAY_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("ROUTEWAY_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def configure(upstream: FakeUpstream) -> None:
    result = runner.invoke(app, ["configure", "--openrouter-key", UPSTREAM_KEY, "--base-url", upstream.base_url])
    assert result.exit_code == 0, result.output


def test_configure_writes_a_private_file_and_show_masks_the_key(
    user: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(upstream)
    path = user / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["OPENROUTER_API_KEY"] == UPSTREAM_KEY
    shown = runner.invoke(app, ["configure", "--show"])
    assert UPSTREAM_KEY not in shown.stdout and UPSTREAM_KEY[:8] in shown.stdout
    settings = json.loads(shown.stdout)["settings"]
    assert settings["OPENROUTER_BASE_URL"] == {"value": upstream.base_url, "from": "config file"}
    monkeypatch.setenv("OPENROUTER_BASE_URL", "http://127.0.0.1:9/api/v1")
    overridden = json.loads(runner.invoke(app, ["configure", "--show"]).stdout)["settings"]
    assert overridden["OPENROUTER_BASE_URL"]["from"] == "environment"


def test_configure_without_a_key_writes_nothing(user: Path) -> None:
    result = runner.invoke(app, ["configure", "--ollama-url", "http://localhost:11434/v1"])
    assert result.exit_code == 1 and result.stderr.startswith("error: missing_key:")
    assert not (user / "config.json").exists()
    bad = runner.invoke(app, ["configure", "--openrouter-key", "k", "--vllm-url", "ftp://x"])
    assert bad.exit_code == 1 and not (user / "config.json").exists()


def test_configure_into_an_unwritable_home_fails_cleanly(
    tmp_path: Path, user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ROUTEWAY_HOME", str(blocker / "home"))
    result = runner.invoke(app, ["configure", "--openrouter-key", "sk-or-x"])
    assert result.exit_code == 1 and result.stderr.startswith("error: unwritable_home:")
    assert "Traceback" not in result.output


def test_configure_then_run_prints_an_answer_and_a_route_summary(user: Path, upstream: FakeUpstream) -> None:
    configure(upstream)
    result = runner.invoke(app, ["run", "hello", "--model", "auto"])
    assert result.exit_code == 0, result.output
    assert "Hello from the fake OpenRouter." in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("route: model ") and "attempts 1" in summary and "cost $" in summary
    assert upstream.fake.chat_requests()[-1].body["stream"] is True
    plain = runner.invoke(app, ["run", "hello", "--model", "openai/gpt-5.4-mini", "--no-stream"])
    assert plain.exit_code == 0 and plain.stdout.startswith("Hello from the fake OpenRouter.")
    as_json = json.loads(runner.invoke(app, ["run", "hi", "--model", "openai/gpt-5.4-mini", "--json"]).stdout)
    assert as_json["route"]["model"] == "openai/gpt-5.4-mini"


def test_run_with_an_image_model_writes_a_png(user: Path, upstream: FakeUpstream, tmp_path: Path) -> None:
    configure(upstream)
    out = tmp_path / "images"
    result = runner.invoke(app, ["run", "a red fox", "--model", "black-forest-labs/flux.2-pro", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = list(out.glob("*.png"))
    assert len(written) == 1 and written[0].read_bytes().startswith(b"\x89PNG")
    assert f"image written to {written[0]}" in result.stdout and "applied modalities=image" in result.stdout


def test_run_inlines_a_local_image(user: Path, upstream: FakeUpstream, tmp_path: Path) -> None:
    configure(upstream)
    picture = tmp_path / "photo.png"
    picture.write_bytes(PNG)
    result = runner.invoke(
        app, ["run", "what is this?", "--model", "google/gemini-3-flash-preview", "--image", str(picture)]
    )
    assert result.exit_code == 0, result.output
    part = upstream.fake.chat_requests()[-1].body["messages"][0]["content"][1]
    assert part["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["run", "hi", "--model", "moonshot/kimi-k2.6"], "model_not_found"),
        (["run", "hi", "--image", "{text_file}"], "invalid_request"),
        (["run", "hi", "--url", "http://127.0.0.1:9", "--key", "rw-x"], "unreachable"),
        (["run", "hi", "--url", "http://127.0.0.1:9"], "missing_key"),
    ],
)
def test_run_errors_are_one_clear_line(
    user: Path, upstream: FakeUpstream, tmp_path: Path, args: list[str], code: str
) -> None:
    configure(upstream)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("just text")
    result = runner.invoke(app, [a.replace("{text_file}", str(text_file)) for a in args])
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {code}:"), result.output
    assert "Traceback" not in result.output
    if code == "model_not_found":
        assert "moonshotai/kimi-k2.6" in result.stderr
    assert upstream.fake.chat_requests() == []


def test_run_without_any_key_says_how_to_configure(user: Path) -> None:
    result = runner.invoke(app, ["run", "hi"])
    assert result.exit_code == 1 and "routeway configure" in result.stderr


def test_run_with_an_unwritable_home(
    user: Path, upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("ROUTEWAY_HOME", str(blocker / "home"))
    monkeypatch.setenv("OPENROUTER_API_KEY", UPSTREAM_KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", upstream.base_url)
    result = runner.invoke(app, ["run", "hi"])
    assert result.exit_code == 1 and result.stderr.startswith("error: unwritable_home:")


def test_run_against_a_running_gateway(user: Path, upstream: FakeUpstream, env: dict[str, str]) -> None:
    gateway = build_gateway(Settings.from_env(env))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "remote")[0])
    with serve_in_thread(create_app(lambda: gateway)) as url:
        streamed = runner.invoke(app, ["run", "hi", "--model", "openai/gpt-5.4-mini", "--url", url, "--key", key])
        plain = runner.invoke(
            app, ["run", "hi", "--model", "openai/gpt-5.4-mini", "--url", url, "--key", key, "--no-stream"]
        )
        with_v1 = runner.invoke(app, ["run", "hi", "--url", f"{url}/v1/", "--key", key, "--no-stream"])
    assert with_v1.exit_code == 0 and "Hello from the fake OpenRouter." in with_v1.stdout, with_v1.output
    assert streamed.exit_code == 0 and "Hello from the fake OpenRouter." in streamed.stdout, streamed.output
    assert plain.exit_code == 0 and streamed.stdout.strip().splitlines()[-1].startswith("route: model openai/")


def test_run_bodybuilder_prints_each_models_answer(user: Path, upstream: FakeUpstream) -> None:
    configure(upstream)
    result = runner.invoke(app, ["run", "hi", "--model", "bodybuilder"])
    assert result.exit_code == 0, result.output
    answers = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(answers) == 3 and all("Hello from the fake OpenRouter." in a for a in answers)
