"""LiteLLM's proxy, run beside `routeway serve` against the same fixed-reply upstream (issue 19: Routeway's
added latency must be at least 8x below LiteLLM's, measured in the same run).

LiteLLM pins its own fastapi/pydantic/httpx, so it lives in its own venv (`.venv-litellm`, pinned by
constraints-litellm.txt), which only `make bench` installs. When it is missing or will not start, the
bench goes on without it and the report says why; it never makes up a figure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-litellm"
MASTER_KEY = "sk-litellm-bench"  # the proxy checks a key on every request, as Routeway does
TARGET_RATIO = 15.0  # issue 33 (issue 19's was 8)
START_TIMEOUT_S = 180.0  # it imports for ~10 s on a quiet machine, several times that when the cores are shared
WARM_UP_REQUESTS = 20
REQUESTS_PER_ROUND = 500  # fewer than Routeway's 1,500: LiteLLM takes ~10x longer a request; p99 stays meaningful


@dataclass(frozen=True)
class Proxy:
    """A running LiteLLM proxy: where to post, and what it is."""

    url: str
    headers: dict[str, str]
    version: str
    pid: int = 0  # its process, whose CPU the stream rounds read


def _version() -> str:
    args = [str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    out = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    return out.stdout.strip() or "unknown version"


def _config(upstream: str, model: str) -> dict[str, Any]:
    """One model, served by the fake upstream as an OpenAI-compatible endpoint; no database, no callbacks.
    (YAML is a superset of JSON, so this is written as JSON.)"""
    return {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {"model": f"openai/{model}", "api_base": upstream, "api_key": "sk-bench"},
            }
        ],
        "litellm_settings": {"set_verbose": False, "json_logs": False, "callbacks": [], "success_callback": []},
        "general_settings": {"master_key": MASTER_KEY},
    }


def _environment() -> dict[str, str]:
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the bundled cost map: no fetch from GitHub at start-up
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",  # no .env loading
        "DISABLE_ADMIN_UI": "True",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name in ("DATABASE_URL", "DATABASE_URL_READ_REPLICA", "REDIS_HOST", "REDIS_URL", "PYTHONPATH"):
        env.pop(name, None)
    return env


def _wait_until_answering(proc: subprocess.Popen[bytes], proxy: Proxy, body: dict[str, Any]) -> str | None:
    """Poll (bounded) until a chat completion comes back 200; None when it does, else why not."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return f"the proxy exited with code {proc.returncode} while starting"
            try:
                response = client.post(f"{proxy.url}/v1/chat/completions", json=body, headers=proxy.headers)
            except httpx.TransportError as error:
                last = type(error).__name__
                time.sleep(0.25)
                continue
            if response.status_code == 200:
                for _ in range(WARM_UP_REQUESTS):  # first-request initialisation stays out of the samples
                    client.post(f"{proxy.url}/v1/chat/completions", json=body, headers=proxy.headers)
                return None
            last = f"HTTP {response.status_code} {response.text[:200]}"
            time.sleep(0.25)
    return f"no chat completion within {START_TIMEOUT_S:.0f} s (last: {last})"


@contextmanager
def litellm_proxy(upstream: str, port: int, body: dict[str, Any]) -> Iterator[Proxy | str]:
    """LiteLLM's proxy (one uvicorn worker, its default) on `port`, answering `body`'s model from `upstream`;
    yields a Proxy, or a sentence saying why there is none."""
    executable = VENV / "bin" / "litellm"
    if not (VENV / ".installed").exists() or not executable.exists():
        yield "LiteLLM is not installed (`make bench` installs .venv-litellm; see its output for why it could not)"
        return
    workdir = Path(tempfile.mkdtemp(prefix="litellm-bench-"))
    config = workdir / "config.yaml"
    config.write_text(json.dumps(_config(upstream, body["model"]), indent=2), encoding="utf-8")
    log_path = workdir / "proxy.log"
    proxy = Proxy(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {MASTER_KEY}"}, _version())
    args = [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, env=_environment(), cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        proxy = replace(proxy, pid=proc.pid)
        try:
            started = time.monotonic()
            problem = _wait_until_answering(proc, proxy, body)
            if problem is None:
                print(f"LiteLLM {proxy.version}'s proxy answered after {time.monotonic() - started:.0f} s", flush=True)
                yield proxy
            else:
                tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                print(f"LiteLLM's proxy did not start: {problem}", flush=True)
                yield f"LiteLLM {proxy.version}'s proxy did not start: {problem}" + (
                    f"; its log ends: {' / '.join(tail)}" if tail else ""
                )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)


def _added(pair: dict[str, Any], path: str) -> tuple[float, float]:
    return pair[path]["median"] - pair["direct"]["median"], pair[path]["p99"] - pair["direct"]["p99"]


def _ratio(theirs: float, ours: float, judged: bool) -> str:
    if ours <= 0 or theirs <= 0:
        return "not meaningful (an added latency below zero: the direct calls' noise is larger)"
    ratio = theirs / ours
    if not judged:
        return f"{ratio:.1f}x"
    return f"{ratio:.1f}x ({'meets' if ratio >= TARGET_RATIO else 'misses'} the {TARGET_RATIO:.0f}x target)"


def report_lines(http: dict[str, Any], status: dict[str, str] | str | None, issue_figure: str) -> list[str]:
    """Section 2's paragraph on LiteLLM: its added latency and the ratio to Routeway's, or why it is absent."""
    if not isinstance(status, dict):
        return [
            f"LiteLLM's proxy was not measured in this run: {status or 'not attempted'}."
            f" The issue's side-by-side figure: {issue_figure}."
        ]
    lines = [
        f"LiteLLM {status['version']}'s proxy (`litellm --config`: one worker, a master key, no database, no"
        " callbacks, the bundled cost map) ran in the same rounds as Routeway, against the same upstream, with"
        " the same client and body (the `litellm` rows). Ratio = LiteLLM's added latency ÷ Routeway's; issue 33's"
        f" target, at concurrency 1: at least {TARGET_RATIO:.0f}x.",
        "",
    ]
    for level, pair in http.items():
        if "litellm" not in pair:
            continue
        ours, theirs = _added(pair, "gateway"), _added(pair, "litellm")
        judged = level == "c1"
        lines.append(
            f"- Concurrency {level[1:]}: LiteLLM {theirs[0]:+.2f} ms p50 / {theirs[1]:+.2f} ms p99, Routeway"
            f" {ours[0]:+.2f} / {ours[1]:+.2f} ms; ratio p50 {_ratio(theirs[0], ours[0], judged)},"
            f" p99 {_ratio(theirs[1], ours[1], judged)}."
        )
    return lines
