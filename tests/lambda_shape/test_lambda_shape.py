"""What `sam build` built, run as Lambda runs it: every event answered, the stream streamed, cold starts known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.lambda_shape.conftest import BEDROCK_PROFILE, UNGRANTED, LambdaRun, operator_environment
from tests.lambda_shape.run import (
    BEDROCK_CHAT,
    BEDROCK_MODEL,
    BEDROCK_STREAM,
    CRASHED_KEY_CHAT,
    EVENT_PREFIX,
    EVENTS,
    FIRST_KEY_CHAT,
    MISSING_PARAMETER,
    SPENT_KEY_CHAT,
    events_for,
)
from tests.lambda_shape.sandbox import HOST_BUILD, lambda_environment, start

pytestmark = pytest.mark.heavy  # a step of its own in `make test` (Makefile)

ALL_EVENTS = sorted(p.name for p in EVENTS.glob("*.json"))


def test_every_event_belongs_to_a_function() -> None:
    covered = {name for function in EVENT_PREFIX for name in events_for(function)}
    assert covered == set(ALL_EVENTS)


def http_result(run: LambdaRun, name: str) -> tuple[int, dict[str, str], Any]:
    invocation = run.outcome.results.get(name)
    assert invocation is not None, f"{name} was not invoked: {run.outcome.logs}"
    assert invocation.error is None, f"{name}: the function failed: {invocation.error}\n{_logs(run)}"
    result = invocation.result
    assert isinstance(result, dict) and "statusCode" in result, result
    body, headers = result.get("body") or "", result.get("headers", {})
    is_json = headers.get("content-type", "").startswith("application/json")
    return result["statusCode"], headers, json.loads(body or "null") if is_json else body


def _logs(run: LambdaRun) -> str:
    return "\n".join(f"--- {k}\n{v[-4000:]}" for k, v in run.outcome.logs.items())


@pytest.mark.parametrize("name", [n for n in ALL_EVENTS if not n.startswith("catalog_refresh")])
def test_each_http_event_is_answered_by_the_built_function(lambda_run: LambdaRun, name: str) -> None:
    status, headers, body = http_result(lambda_run, name)
    assert status == (201 if name.endswith("_create.json") else 200), (status, body, _logs(lambda_run))
    if name.startswith("completions_") and name not in ("completions_responses_get.json",):
        assert headers.get("x-routeway-generation-id") or name.endswith(("_delete.json", "count_tokens.json"))


def test_the_first_key_made_as_readme_says_works_at_once(lambda_run: LambdaRun) -> None:
    status, headers, body = http_result(lambda_run, FIRST_KEY_CHAT)
    assert status == 200 and body["choices"][0]["message"]["content"], body


def test_a_spent_budget_is_refused_by_the_built_functions(lambda_run: LambdaRun) -> None:
    status, _, body = http_result(lambda_run, SPENT_KEY_CHAT)
    assert (status, body["error"]["code"]) == (402, "budget_exceeded"), body
    refused = lambda_run.outcome.stream_refused
    assert (refused["status"], refused["error"]["code"]) == (402, "budget_exceeded"), refused


def test_a_hold_left_by_a_dead_request_is_released_by_the_next_one(lambda_run: LambdaRun) -> None:
    status, _, body = http_result(lambda_run, CRASHED_KEY_CHAT)
    assert status == 200, body
    assert lambda_run.outcome.stream_after_crash == 200


@pytest.mark.parametrize("name", ["info_readyz.json", "completions_chat.json"])
def test_a_missing_ssm_parameter_is_a_503_naming_it_from_the_built_function(lambda_run: LambdaRun, name: str) -> None:
    status, _, body = http_result(lambda_run, f"{name} without the SSM key")
    error = body["error"]
    assert (status, error["code"]) == (503, "backend_unavailable"), body
    assert MISSING_PARAMETER in error["message"] and "put-parameter" in error["message"]


def test_the_scheduled_refresh_publishes_from_the_built_function(lambda_run: LambdaRun) -> None:
    invocation = lambda_run.outcome.results["catalog_refresh_scheduled.json"]
    assert invocation.error is None, (invocation.error, _logs(lambda_run))
    assert invocation.result["outcome"] == "published", invocation.result
    assert invocation.result["model_count"] > 300
    again = lambda_run.outcome.results["catalog_refresh_scheduled.json again"].result
    assert again["outcome"] == "unchanged" and again["version"] == invocation.result["version"]


def test_rel_53_the_streaming_function_starts_behind_the_adapter_wrapper_and_streams(lambda_run: LambdaRun) -> None:
    """run.sh is exec'd with PYTHONPATH=$LAMBDA_RUNTIME_DIR only: it must put the layer on the path itself."""
    outcome = lambda_run.outcome
    assert outcome.stream_ready_ms, (
        "the streaming function never answered its readiness path. If it cannot import routeway, run.sh must put"
        " the layer (/opt/python) on PYTHONPATH itself: the Web Adapter's wrapper gives it PYTHONPATH="
        f"$LAMBDA_RUNTIME_DIR only.\n{outcome.logs.get('StreamingFunction')}"
    )
    assert outcome.stream_status == 200
    assert outcome.stream_chunks[-1] == "data: [DONE]" and len(outcome.stream_chunks) > 3
    last = json.loads(outcome.stream_chunks[-2].removeprefix("data: "))
    assert last["route"]["model"] == "openai/gpt-5.4-mini"


def test_cold_starts_are_measured_for_each_function(lambda_run: LambdaRun) -> None:
    assert set(lambda_run.outcome.cold_starts) == set(EVENT_PREFIX)
    for function, cold in lambda_run.outcome.cold_starts.items():
        assert 0 < cold.init_ms < 30_000 and 0 < cold.first_invoke_ms < 60_000, (function, cold)


PROBE = """
import json, os, sys
def writable(path):
    try:
        with open(os.path.join(path, "probe"), "w") as handle:
            handle.write("x")
        return True
    except OSError:
        return False
print(json.dumps({
    "writable": {p: writable(p) for p in ("/var/task", "/opt/python", "/var/runtime", "/var/lang", "/", "/tmp")},
    "home": os.environ.get("HOME"),
    "pythonpath": os.environ.get("PYTHONPATH"),
    "executable": sys.executable,
    "layer": os.path.isdir("/opt/python/routeway"),
}))
"""


def test_the_sandbox_is_shaped_like_lambda(tmp_path: Path) -> None:
    """Only /tmp is writable; no HOME; Lambda's PYTHONPATH; the layer under /opt/python; Lambda's python."""
    environment = lambda_environment("Probe", "app.handler", {}, memory_mb=128, timeout_s=3, access_key="PROBE")
    process = start(
        HOST_BUILD / "InfoFunction",
        HOST_BUILD / "RoutingLayer",
        environment,
        ["/var/lang/bin/python3.12", "-c", PROBE],
        tmp_path / "probe.log",
    )
    assert process.process.wait(60) == 0, process.stop()
    seen = json.loads(process.stop().strip().splitlines()[-1])
    assert seen["writable"] == {p: p == "/tmp" for p in seen["writable"]}
    assert seen["home"] is None and seen["pythonpath"] == "/var/runtime"
    assert seen["executable"] == "/var/lang/bin/python3.12" and seen["layer"]


def test_bedrock_serves_the_chat_and_the_stream_signed_with_each_function_s_role(lambda_run: LambdaRun) -> None:
    """BedrockModels given: the refresh mapped what the fake Bedrock lists (only what the role may invoke), and
    the completions and streaming functions call it through the profile, signed with their own roles' keys."""
    status, headers, body = http_result(lambda_run, BEDROCK_CHAT)
    assert status == 200, body
    assert (
        headers["x-routeway-backend"] == "bedrock" and body["choices"][0]["message"]["content"] == "Hello from Bedrock."
    )
    chunks = [json.loads(line[6:]) for line in lambda_run.outcome.bedrock_stream_chunks if line != "data: [DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert (
        text == "Hello from Bedrock." and lambda_run.outcome.bedrock_stream_headers["x-routeway-backend"] == "bedrock"
    )
    status, headers, body = http_result(lambda_run, BEDROCK_STREAM)  # the HTTP API's buffered stream
    assert status == 200 and headers["x-routeway-backend"] == "bedrock" and "Hello" in body, body
    assert lambda_run.outcome.bedrock_whole == {"status": 200, "backend": "bedrock"}
    keys = lambda_run.outcome.access_keys
    calls = set(lambda_run.bedrock.calls)
    for function in ("CompletionsFunction", "StreamingFunction"):
        assert {(keys[function], operation, BEDROCK_PROFILE) for operation in ("Converse", "ConverseStream")} <= calls
    assert (keys["CatalogRefreshFunction"], "ListFoundationModels", "") in calls
    assert {key for key, *_ in calls} <= set(keys.values()) and not lambda_run.bedrock.refused


def test_the_refresh_maps_only_the_models_bedrock_models_grants(lambda_run: LambdaRun) -> None:
    """The fake lists Nova Pro too (on demand, a catalog model of its own), but the role may not invoke it."""
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    environment = {**operator_environment(lambda_run.stack, lambda_run.moto), "ROUTEWAY_HOME": "/nonexistent"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        catalog = build_gateway(Settings.from_env(environment)).catalog.current_blocking()
    bedrock = catalog.backends["bedrock"]
    assert catalog.source == "store" and bedrock.kind == "bedrock", bedrock
    assert bedrock.model_ids == {BEDROCK_MODEL: BEDROCK_PROFILE} and UNGRANTED not in bedrock.model_ids.values()


def test_info_lists_bedrock_on_when_the_stack_turns_it_on(lambda_run: LambdaRun) -> None:
    status, _, body = http_result(lambda_run, "info_info.json")
    backends = {b["name"]: b for b in body["backends"]}
    assert status == 200 and backends["bedrock"]["kind"] == "bedrock", backends
    assert backends["bedrock"]["status"] == "available", backends["bedrock"]
