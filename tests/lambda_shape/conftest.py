"""The Lambda-shaped run, once per session: a stack at a recording moto server, each built function run as
Lambda runs it with every event, and the streaming function behind its wrapper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret, seed_key
from tests.fakes.bedrock import FakeBedrock, listed_model, listed_profile
from tests.lambda_shape.aws import REGION, RecordingMoto, bedrock_calls
from tests.lambda_shape.run import (
    EVENT_PREFIX,
    EVENTS,
    Keys,
    Outcome,
    run_function,
    run_streaming,
    run_without_the_ssm_key,
)
from tests.lambda_shape.sandbox import HOST_BUILD, missing_prerequisites
from tests.lambda_shape.stack import Stack
from tests.servers import serve_in_thread

OPERATOR_KEY_ID = "OPERATOR"
SPENT_KEY = register_secret("rw-lambda-shape-spent-key-000000000000000000")
STREAMING_KEY = register_secret("rw-lambda-shape-streaming-key-00000000000000")
CRASHED_KEYS = {  # by function: the next request must release the dead hold (a Query, then a Delete) to pass
    "crashed-completions": register_secret("rw-lambda-shape-crashed-completions-00000000"),
    "crashed-streaming": register_secret("rw-lambda-shape-crashed-streaming-000000000"),
}
EVENTS_KEY = json.loads((EVENTS / "info_info.json").read_text())["headers"]["authorization"].removeprefix("Bearer ")
ADMIN_KEY = register_secret(
    json.loads((EVENTS / "info_admin_keys.json").read_text())["headers"]["authorization"].removeprefix("Bearer ")
)
REPORT = HOST_BUILD.parent / "lambda-shape.json"
# Bedrock on (template.yaml's BedrockModels): one cross-region profile. The fake Bedrock lists it and a model the
# parameter does not name (Nova Pro, on demand), which the refresh must leave unmapped: the role may not invoke it.
BEDROCK_PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK_FOUNDATION = BEDROCK_PROFILE.removeprefix("us.")
UNGRANTED = "amazon.nova-pro-v1:0"


@dataclass
class LambdaRun:
    stack: Stack
    moto: RecordingMoto
    outcome: Outcome
    keys: Keys
    bedrock: FakeBedrock


def fake_bedrock() -> FakeBedrock:
    """The account's Bedrock as the run's functions see it: any role's key id, the sandbox's one secret."""
    bedrock = FakeBedrock(access_key=None, secret_key="lambda-shape-secret", session_token="lambda-shape-session")
    bedrock.foundation_models = [
        listed_model(BEDROCK_FOUNDATION, "INFERENCE_PROFILE"),
        listed_model(UNGRANTED, "ON_DEMAND"),
    ]
    bedrock.inference_profiles = [listed_profile(BEDROCK_PROFILE, BEDROCK_FOUNDATION)]
    return bedrock


def readme_first_key(stack: Stack, moto: RecordingMoto, home: Path) -> str:
    """README, "Deploy to AWS", step 5, as written: `routeway keys create` against the deployed store."""
    environment = {**os.environ, **operator_environment(stack, moto), "ROUTEWAY_HOME": str(home)}
    command = [str(Path(sys.executable).parent / "routeway"), "keys", "create", "my-team"]
    command += ["--budget-usd", "50", "--rpm", "120"]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("rw-"), result.stdout
    return register_secret(key)


def operator_environment(stack: Stack, moto: RecordingMoto) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": OPERATOR_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_SESSION_TOKEN": "x",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto.url,
        "ROUTEWAY_STORE": "aws",
        "ROUTEWAY_TABLE": stack.table,
        "ROUTEWAY_BUCKET": stack.bucket,
    }


def prepare(stack: Stack, moto: RecordingMoto, home: Path) -> None:
    """What a deployer does before the first request (the stack's resources, the SSM key), then the keys the
    run sends besides README's (the events' own, a spent one, two held by a request that died) and the
    generation record the explain event names."""
    import boto3

    from routeway.domain.records import GenerationRecord, Hold
    from routeway.services.keys import hash_key
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    stack.create_resources(moto.url)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**operator_environment(stack, moto), "ROUTEWAY_HOME": str(home)}.items():
            patch.setenv(name, value)
        boto3.client("ssm").put_parameter(
            Name=stack.values["OpenRouterKeyParameterName"], Value=UPSTREAM_KEY, Type="SecureString"
        )
        gateway = build_gateway(Settings.from_env(os.environ))
        # the money path runs too: holds, charges, and a budget alert (a threshold the first charge crosses: an
        # EventBridge event); the streaming function's request has a key of its own, so it sends its own alert
        seed_key(gateway, EVENTS_KEY, budget_usd=50.0, rpm=1000, alert_at=(1e-9,))
        seed_key(gateway, STREAMING_KEY, name="streaming", budget_usd=50.0, alert_at=(1e-9,))
        seed_key(gateway, SPENT_KEY, name="spent", budget_usd=1e-9)
        seed_key(gateway, ADMIN_KEY, name="operator", admin=True)  # the admin API's events
        for name, key in CRASHED_KEYS.items():  # a request that died holding nearly all of its key's budget
            seed_key(gateway, key, name=name, budget_usd=1.0)
            dead = Hold(id=f"gen-rw-died-{name}", usd=0.9999, expires_at=int(time.time()) - 1)
            assert gateway.state.sync.reserve(hash_key(key), dead, 1.0, int(time.time()) - 900) is None
        gateway.state.sync.put_generation(
            GenerationRecord(
                id="gen-rw-example",
                key_name="seeded",
                created_at="2026-12-06T06:00:00Z",
                expires_at=4_000_000_000,
                status="success",
                http_status=200,
                route={"attempts": [{"model": "openai/gpt-5.4-mini", "status": 200}]},
            )
        )


@pytest.fixture(scope="session")
def lambda_run(_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaRun]:
    why_not = missing_prerequisites()
    if why_not:
        pytest.fail(why_not)
    workdir = tmp_path_factory.mktemp("lambda-shape")
    bedrock = fake_bedrock()
    with RecordingMoto() as moto, serve_in_thread(bedrock.app) as bedrock_url:
        endpoints = {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_url, "AWS_ENDPOINT_URL_BEDROCK": bedrock_url}
        parameters = {"OpenRouterBaseUrl": _upstream_server.base_url, "BedrockModels": BEDROCK_PROFILE}
        stack = Stack(parameters=parameters)
        prepare(stack, moto, workdir / "operator-home")
        crashed = {"CompletionsFunction": CRASHED_KEYS["crashed-completions"]}
        crashed["StreamingFunction"] = CRASHED_KEYS["crashed-streaming"]
        first = readme_first_key(stack, moto, workdir / "operator-home")
        keys = Keys(EVENTS_KEY, first, SPENT_KEY, crashed, STREAMING_KEY)
        outcome = Outcome()
        for function in EVENT_PREFIX:
            run_function(stack, moto, function, keys, outcome, workdir, endpoints)
        run_streaming(stack, moto, keys, outcome, workdir, endpoints)
        run_without_the_ssm_key(stack, moto, outcome, workdir)
        moto.add(bedrock_calls(bedrock.calls))
        REPORT.write_text(
            json.dumps(
                {
                    "cold_starts_ms": {k: vars(v) for k, v in outcome.cold_starts.items()},
                    "streaming_ready_ms": outcome.stream_ready_ms,
                },
                indent=2,
            )
        )
        yield LambdaRun(stack, moto, outcome, keys, bedrock)
