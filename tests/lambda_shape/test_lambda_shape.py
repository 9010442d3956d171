"""What `sam build` built, run as Lambda runs it: every event answered, the stream streamed, cold starts known."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.lambda_shape.conftest import LambdaRun
from tests.lambda_shape.run import EVENT_PREFIX, EVENTS, events_for

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
    assert status == 200, (status, body, _logs(lambda_run))
    if name.startswith("completions_") and name not in ("completions_responses_get.json",):
        assert headers.get("x-routeway-generation-id") or name.endswith(("_delete.json", "count_tokens.json"))


def test_the_scheduled_refresh_publishes_from_the_built_function(lambda_run: LambdaRun) -> None:
    invocation = lambda_run.outcome.results["catalog_refresh_scheduled.json"]
    assert invocation.error is None, (invocation.error, _logs(lambda_run))
    assert invocation.result["outcome"] in ("published", "unchanged"), invocation.result
    assert invocation.result["model_count"] > 300


def test_the_streaming_function_starts_behind_the_adapter_wrapper_and_streams(lambda_run: LambdaRun) -> None:
    """run.sh is exec'd with PYTHONPATH=$LAMBDA_RUNTIME_DIR only: it must put the layer on the path itself."""
    outcome = lambda_run.outcome
    assert outcome.stream_ready_ms, f"never ready on its readiness path:\n{outcome.logs.get('StreamingFunction')}"
    assert outcome.stream_status == 200
    assert outcome.stream_chunks[-1] == "data: [DONE]" and len(outcome.stream_chunks) > 3
    last = json.loads(outcome.stream_chunks[-2].removeprefix("data: "))
    assert last["route"]["model"] == "openai/gpt-5.4-mini"


def test_cold_starts_are_measured_for_each_function(lambda_run: LambdaRun) -> None:
    assert set(lambda_run.outcome.cold_starts) == set(EVENT_PREFIX)
    for function, cold in lambda_run.outcome.cold_starts.items():
        assert 0 < cold.init_ms < 30_000 and 0 < cold.first_invoke_ms < 60_000, (function, cold)
