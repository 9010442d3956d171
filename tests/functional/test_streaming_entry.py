"""Real streaming: the same app under uvicorn flushes each chunk as the upstream produces it.

No timing is asserted. The fake upstream holds the rest of its stream until the test has read the
first chunk through the gateway: a gateway that buffered would never deliver it, and the test would
fail on its read timeout instead of passing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.fakes.data import REPO
from tests.fakes.openrouter import Scripted
from tests.servers import answers, poll_until, serve_in_thread

MODEL = "openai/gpt-5.4-mini"


def chunk(content: str | None, finish: str | None = None) -> str:
    delta = {"content": content} if content is not None else {}
    document = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(document)}\n\n"


def gated_stream(gate: threading.Event) -> Scripted:
    pieces: list[bytes | str] = [chunk("Hello"), chunk(" world"), chunk(None, "stop"), "data: [DONE]\n\n"]
    return Scripted(stream=pieces, gate=gate, gate_after=1)


def read_until(lines: Iterator[str], wanted: Any) -> list[str]:
    seen = []
    for line in lines:
        seen.append(line)
        if wanted(line):
            return seen
    raise AssertionError(f"stream ended without the awaited line; saw {seen}")


def stream_chat(url: str, key: str) -> Any:
    return httpx.stream(
        "POST",
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        timeout=httpx.Timeout(20.0),
    )


def test_the_first_chunk_arrives_while_the_upstream_is_still_sending(
    gateway: Gateway, api_key: str, upstream: FakeUpstream
) -> None:
    gate = threading.Event()
    upstream.fake.enqueue(gated_stream(gate))
    with serve_in_thread(create_app(lambda: gateway)) as url, stream_chat(url, api_key) as response:
        lines = response.iter_lines()
        first = read_until(lines, lambda line: line.startswith("data: "))
        assert '"Hello"' in first[-1]  # delivered while the upstream is blocked on the gate
        gate.set()
        rest = read_until(lines, lambda line: line == "data: [DONE]")
    assert any('" world"' in line for line in rest)


def test_keep_alive_comments_while_the_upstream_is_silent(env: dict[str, str], upstream: FakeUpstream) -> None:
    quick = {**env, "ROUTEWAY_KEEPALIVE_S": "0.05"}
    gateway = build_gateway(Settings.from_env(quick))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "keepalive")[0])
    gate = threading.Event()
    upstream.fake.enqueue(gated_stream(gate))
    with serve_in_thread(create_app(lambda: gateway)) as url, stream_chat(url, key) as response:
        lines = response.iter_lines()
        read_until(lines, lambda line: line.startswith("data: "))
        read_until(lines, lambda line: line == ": keep-alive")  # sent while the upstream says nothing
        gate.set()
        rest = read_until(lines, lambda line: line == "data: [DONE]")
    assert any('" world"' in line for line in rest)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("port_variable", ["AWS_LWA_PORT", "PORT"])
def test_run_sh_starts_the_app_as_the_web_adapter_would(
    tmp_path: Path, upstream: FakeUpstream, port_variable: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        port_variable: str(port),
        "PYTHON": sys.executable,
        "ROUTEWAY_HOME": str(tmp_path),
        "ROUTEWAY_STORE": "local",
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
    }
    env.pop("AWS_LWA_PORT" if port_variable == "PORT" else "PORT", None)
    home_gateway = build_gateway(Settings.from_env(env))
    key = register_secret(create_key(home_gateway.state.sync, home_gateway.clock, "lwa")[0])
    process = subprocess.Popen(
        ["bash", str(REPO / "functions" / "streaming" / "run.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers(f"{url}/healthz"), what="run.sh serving")  # the adapter's readiness check
        gate = threading.Event()
        upstream.fake.enqueue(gated_stream(gate))
        with stream_chat(url, key) as response:
            lines = response.iter_lines()
            assert '"Hello"' in read_until(lines, lambda line: line.startswith("data: "))[-1]
            gate.set()
            read_until(lines, lambda line: line == "data: [DONE]")
    finally:
        process.terminate()
        process.wait(timeout=10)
