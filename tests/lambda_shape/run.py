"""The Lambda-shaped run itself: every function of the host build, every `events/*.json`, one stack at moto.

Run once per test session (tests/lambda_shape/conftest.py); the tests read what it recorded: each event's
result, each function's AWS calls, the streaming function's stream, and the cold starts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.data import REPO
from tests.lambda_shape.aws import RecordingMoto
from tests.lambda_shape.runtime_api import Invocation, RuntimeApi
from tests.lambda_shape.sandbox import (
    HOST_BUILD,
    LambdaProcess,
    adapter_wrapper_command,
    lambda_environment,
    runtime_command,
    start,
)
from tests.lambda_shape.stack import Stack

EVENTS = REPO / "events"
EVENT_PREFIX = {  # the refresh first, as README's first deployment does: the others then read its snapshot
    "CatalogRefreshFunction": "catalog_refresh_",
    "CompletionsFunction": "completions_",
    "InfoFunction": "info_",
    "RoutePreviewFunction": "route_preview_",
}
LAST = ("completions_responses_get.json", "completions_responses_delete.json")  # after the response they read
AGAIN = "catalog_refresh_scheduled.json"  # the schedule runs again: the second finds the catalog unchanged
READY_WAIT_S = 60.0
FIRST_KEY_CHAT = "completions_chat.json with README's first key"
MISSING_PARAMETER = "/routeway/not-created-yet"
SPENT_KEY_CHAT = "completions_chat.json with a key whose budget is spent"
CRASHED_KEY_CHAT = "completions_chat.json with a key held by a request that died"
BEDROCK_CHAT = "completions_chat.json for a model the stack's BedrockModels serves, Bedrock only"
BEDROCK_STREAM = "completions_stream.json for a model the stack's BedrockModels serves, Bedrock only"
# what the run's BedrockModels names (conftest.py): the chat and the stream below go to the fake Bedrock
BEDROCK_MODEL = "anthropic/claude-sonnet-4.5"
ONLY_BEDROCK = {"provider": {"only": ["amazon-bedrock-own"]}}


@dataclass(frozen=True)
class Keys:
    """The gateway keys the run sends, each already in the store."""

    events: str  # the one every events/*.json carries (a budget: holds and charges run)
    first: str  # made as README's deploy section makes the first key
    spent: str  # its budget cannot cover a request: refused 402
    crashed: dict[str, str]  # by function: nearly all its budget held by a request that died
    streaming: str  # the streaming function's request: a budget alert of its own


@dataclass
class ColdStart:
    init_ms: float  # process start to the runtime's first request for work (Lambda's Init Duration)
    first_invoke_ms: float  # the first event's Duration


@dataclass
class Outcome:
    results: dict[str, Invocation] = field(default_factory=dict)  # by event file name
    logs: dict[str, str] = field(default_factory=dict)  # by function
    cold_starts: dict[str, ColdStart] = field(default_factory=dict)
    access_keys: dict[str, str] = field(default_factory=dict)  # function -> its role's access key id
    stream_chunks: list[str] = field(default_factory=list)
    stream_status: int = 0
    stream_ready_ms: float = 0.0
    stream_refused: dict[str, Any] = field(default_factory=dict)  # a stream asked with a spent key
    stream_after_crash: int = 0  # the status of a stream whose key a dead request held
    bedrock_stream_chunks: list[str] = field(default_factory=list)  # a stream the fake Bedrock served
    bedrock_stream_headers: dict[str, str] = field(default_factory=dict)
    bedrock_whole: dict[str, Any] = field(default_factory=dict)  # the streaming function asked for a whole answer


def events_for(function: str) -> list[str]:
    names = sorted(p.name for p in EVENTS.glob(f"{EVENT_PREFIX[function]}*.json"))
    return [n for n in names if n not in LAST] + [n for n in LAST if n in names] + [AGAIN] * (AGAIN in names)


def event(name: str, response_id: str | None) -> dict[str, Any]:
    text = (EVENTS / name).read_text(encoding="utf-8")
    if response_id and name in LAST:
        text = text.replace("resp_example", response_id)  # the response the run made, not a made-up id
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def with_key(name: str, key: str) -> dict[str, Any]:
    """An event sent with another gateway key."""
    changed = event(name, None)
    changed["headers"] = {**changed["headers"], "authorization": f"Bearer {key}"}
    return changed


def for_bedrock(body: dict[str, Any]) -> dict[str, Any]:
    """A request body asking for the model Bedrock serves in this run, from Bedrock only."""
    return {**body, "model": BEDROCK_MODEL, **ONLY_BEDROCK}


def bedrock_event(name: str) -> dict[str, Any]:
    changed = event(name, None)
    changed["body"] = json.dumps(for_bedrock(json.loads(changed["body"])))
    return changed


@contextmanager
def running(
    stack: Stack, moto: RecordingMoto, function: str, access_key: str, log_path: Path, endpoints: dict[str, str]
) -> Iterator[tuple[RuntimeApi, float, LambdaProcess]]:
    """One cold runtime of `function` (its Runtime API, its process and when it started), stopped after."""
    handler = stack.function_property(function, "Handler")
    timeout_s = int(stack.function_property(function, "Timeout"))
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:routeway-{function}"
    with RuntimeApi(arn, timeout_s) as api:
        environment = lambda_environment(
            function,
            handler,
            stack.environment(function),
            memory_mb=int(stack.function_property(function, "MemorySize")),
            timeout_s=timeout_s,
            access_key=access_key,
        )
        environment |= {"AWS_LAMBDA_RUNTIME_API": api.address, "AWS_ENDPOINT_URL": moto.url, **endpoints}
        started = time.monotonic()
        process = start(
            HOST_BUILD / function, HOST_BUILD / "RoutingLayer", environment, runtime_command(handler), log_path
        )
        try:
            yield api, started, process
        finally:
            process.stop()


def run_function(
    stack: Stack,
    moto: RecordingMoto,
    function: str,
    keys: Keys,
    outcome: Outcome,
    workdir: Path,
    endpoints: dict[str, str],
) -> None:
    """Every event of `function`, in one runtime (the first is its cold start). `endpoints`: the AWS services the
    run serves elsewhere than moto (Bedrock: tests/fakes/bedrock.py)."""
    access_key = f"ROLE{function.upper()}"[:20]
    outcome.access_keys[function] = access_key
    log = workdir / f"{function}.log"
    with running(stack, moto, function, access_key, log, endpoints) as (api, started, process):
        response_id = None
        try:
            for name in events_for(function):
                invocation = api.invoke(event(name, response_id), wait_s=90)
                outcome.results[name if name not in outcome.results else f"{name} again"] = invocation
                if function not in outcome.cold_starts and api.first_poll_at is not None:
                    outcome.cold_starts[function] = ColdStart(
                        (api.first_poll_at - started) * 1000, invocation.duration_ms
                    )
                if name == "completions_responses.json" and invocation.result:
                    response_id = json.loads(invocation.result.get("body") or "{}").get("id")
            if function == "CompletionsFunction":  # the key README's deploy section makes, used at once
                for label, key in ((FIRST_KEY_CHAT, keys.first), (SPENT_KEY_CHAT, keys.spent)):
                    outcome.results[label] = api.invoke(with_key("completions_chat.json", key), wait_s=90)
                crashed = with_key("completions_chat.json", keys.crashed[function])
                outcome.results[CRASHED_KEY_CHAT] = api.invoke(crashed, wait_s=90)
                outcome.results[BEDROCK_CHAT] = api.invoke(bedrock_event("completions_chat.json"), wait_s=90)
                outcome.results[BEDROCK_STREAM] = api.invoke(bedrock_event("completions_stream.json"), wait_s=90)
        finally:
            outcome.logs[function] = process.stop()


def run_without_the_ssm_key(stack: Stack, moto: RecordingMoto, outcome: Outcome, workdir: Path) -> None:
    """A stack deployed before its SSM parameter was put (README step 3 not done yet): /readyz and a chat."""
    missing = Stack(parameters={**stack.parameters, "OpenRouterKeyParameterName": MISSING_PARAMETER})
    missing.physical = stack.physical
    for function, name in (("InfoFunction", "info_readyz.json"), ("CompletionsFunction", "completions_chat.json")):
        log = workdir / f"{function}-no-key.log"
        with running(missing, moto, function, f"NOKEY{function.upper()}"[:20], log, {}) as (api, _, process):
            outcome.results[f"{name} without the SSM key"] = api.invoke(event(name, None), wait_s=90)
            outcome.logs[f"{function} without the SSM key"] = process.stop()


def exited(process: LambdaProcess, within_s: float) -> bool:
    """Whether the process ends within `within_s` (waiting on it, not sleeping)."""
    try:
        process.process.wait(within_s)
    except subprocess.TimeoutExpired:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_streaming(
    stack: Stack, moto: RecordingMoto, keys: Keys, outcome: Outcome, workdir: Path, endpoints: dict[str, str]
) -> None:
    """The streaming function as the Web Adapter runs it: its wrapper execs run.sh, the adapter waits for the
    readiness path, then forwards each invocation as an HTTP request to AWS_LWA_PORT and streams the answer."""
    function = "StreamingFunction"
    access_key = "ROLESTREAMING"
    outcome.access_keys[function] = access_key
    template_env = stack.environment(function)
    port = free_port()  # the template's 8080 may be taken on a shared machine; the adapter reads the variable
    environment = lambda_environment(
        function,
        stack.function_property(function, "Handler"),
        {**template_env, "AWS_LWA_PORT": str(port)},
        memory_mb=int(stack.function_property(function, "MemorySize")),
        timeout_s=int(stack.function_property(function, "Timeout")),
        access_key=access_key,
    )
    environment |= {"AWS_ENDPOINT_URL": moto.url, **endpoints}
    started = time.monotonic()
    process = start(
        HOST_BUILD / function, HOST_BUILD / "RoutingLayer", environment, adapter_wrapper_command(), workdir / "s.log"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready_path = template_env["AWS_LWA_READINESS_CHECK_PATH"]
        deadline = started + READY_WAIT_S
        while time.monotonic() < deadline:  # as the adapter does: poll the readiness path until it answers
            try:
                if httpx.get(base + ready_path, timeout=2).status_code < 500:
                    outcome.stream_ready_ms = (time.monotonic() - started) * 1000
                    break
            except httpx.TransportError:
                if exited(process, within_s=0.1):  # between polls, watch for the process dying
                    break
        if not outcome.stream_ready_ms:
            return
        body = json.loads(event("completions_stream.json", None)["body"])
        headers = {"authorization": f"Bearer {keys.streaming}"}
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, headers=headers, timeout=60) as response:
            outcome.stream_status = response.status_code
            outcome.stream_chunks = [line for line in response.iter_lines() if line.startswith("data: ")]
        refused = httpx.post(
            f"{base}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {keys.spent}"}
        )
        outcome.stream_refused = {"status": refused.status_code, **refused.json()}
        crashed = {"authorization": f"Bearer {keys.crashed[function]}"}
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, headers=crashed, timeout=60) as response:
            outcome.stream_after_crash = response.status_code
            response.read()
        own = for_bedrock(body)
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=own, headers=headers, timeout=60) as response:
            outcome.bedrock_stream_headers = dict(response.headers)
            outcome.bedrock_stream_chunks = [line for line in response.iter_lines() if line.startswith("data: ")]
        whole = httpx.post(f"{base}/v1/chat/completions", json={**own, "stream": False}, headers=headers, timeout=60)
        outcome.bedrock_whole = {"status": whole.status_code, "backend": whole.headers.get("x-routeway-backend")}
    finally:
        outcome.logs[function] = process.stop()
