"""RELIABILITY 55: the OpenRouter key's SSM parameter missing, denied, empty or unreachable.

Through the Lambda handlers with their events/*.json under moto, as deployed: every completion dialect
answers 503 `backend_unavailable` naming the parameter (and the permission when denied) in its own error
shape, /readyz says the same, and once the parameter exists (or access returns) the next request works
without a restart. Faults are injected with a botocore `before-call` hook on ssm.GetParameter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routeway import runtime
from routeway.gateway import Gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream
from tests.fakes.lambda_context import LambdaContext
from tests.functional.test_handlers import KEY_PARAM, event, invoke, load_handler, start_lambda_env

ANTHROPIC = ("completions_messages.json",)
OPENAI_SHAPED = (
    "completions_chat.json",
    "completions_text.json",
    "completions_stream.json",
    "completions_embeddings.json",
    "completions_images.json",
    "completions_image.json",
    "completions_responses.json",
    "completions_responses_stream.json",
)


class SsmHook:
    """Counts ssm.GetParameter calls, and raises `fault` (a botocore error) in place of the call while set."""

    def __init__(self) -> None:
        self.calls = 0
        self.fault: Exception | None = None

    def __call__(self, **_kwargs: Any) -> None:
        self.calls += 1
        if self.fault is not None:
            raise self.fault


@pytest.fixture
def ssm(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> SsmHook:
    """The hook rides in botocore's built-in handlers: the gateway's SSM client is made inside the handler."""
    from botocore import handlers

    hook = SsmHook()
    hooked = [*handlers.BUILTIN_HANDLERS, ("before-call.ssm.GetParameter", hook)]
    monkeypatch.setattr(handlers, "BUILTIN_HANDLERS", hooked)
    return hook


@pytest.fixture
def no_parameter(
    ssm: SsmHook, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Gateway]:
    """A deployed stack whose OpenRouterKeyParameterName names a parameter nobody created."""
    yield start_lambda_env(upstream, monkeypatch, tmp_path)
    runtime.forget()


def put_key(value: str = UPSTREAM_KEY, *, overwrite: bool = False) -> None:
    import boto3

    boto3.client("ssm").put_parameter(Name=KEY_PARAM, Value=value, Type="SecureString", Overwrite=overwrite)


def client_error(code: str) -> Exception:
    from botocore.exceptions import ClientError

    message = "User: arn:aws:sts::123456789012:assumed-role/fn-role/x is not authorized to perform: ssm:GetParameter"
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetParameter")


def error_of(event_name: str, body: Any) -> dict[str, Any]:
    """The error in the dialect's own shape: Anthropic's for Messages, OpenAI's for the rest."""
    if event_name in ANTHROPIC:
        assert body["type"] == "error" and body["error"]["type"] == "overloaded_error", body
    else:
        assert set(body) >= {"error"} and body["error"]["type"] == "api_error", body
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("event_name", OPENAI_SHAPED + ANTHROPIC)
def test_rel_55_a_missing_parameter_is_503_naming_it_in_every_dialect(
    no_parameter: Gateway, ssm: SsmHook, upstream: FakeUpstream, event_name: str
) -> None:
    status, headers, body = invoke("completions", event_name)
    assert status == 503, body  # a stream that fails before its first byte gets the HTTP error too
    error = error_of(event_name, body)
    assert error["code"] == "backend_unavailable"
    assert KEY_PARAM in error["message"] and "does not exist" in error["message"]
    assert f"aws ssm put-parameter --type SecureString --name {KEY_PARAM}" in error["message"]
    assert "OpenRouterKeyParameterName" in error["message"]
    assert upstream.fake.chat_requests() == [] and upstream.fake.embedding_requests() == []
    assert ssm.calls == 1  # one read: the backend's other targets are skipped, not each read again
    record = no_parameter.state.sync.get_generation(headers["x-routeway-generation-id"], now_epoch=0)
    assert record is not None and record.http_status == 503 and record.error_code == "backend_unavailable"
    assert runtime._gateway().cooldowns.active() == {}  # the handler's: our key's fault cools no provider down


def test_rel_55_readyz_is_503_naming_the_parameter_until_it_exists(no_parameter: Gateway, ssm: SsmHook) -> None:
    status, _, body = invoke("info", "info_readyz.json")
    assert status == 503, body
    assert body["error"]["code"] == "backend_unavailable" and KEY_PARAM in body["error"]["message"]
    row = next(b for b in body["error"]["backends"] if b["name"] == "openrouter")
    assert row["reachable"] is False and KEY_PARAM in row["reason"]
    put_key()
    status, _, body = invoke("info", "info_readyz.json")
    assert status == 200 and body["status"] == "ready", body


def test_rel_55_the_parameter_created_later_serves_the_next_request_without_a_restart(
    no_parameter: Gateway, ssm: SsmHook, upstream: FakeUpstream
) -> None:
    status, _, body = invoke("completions", "completions_chat.json")
    assert status == 503 and body["error"]["code"] == "backend_unavailable"
    put_key()
    status, _, body = invoke("completions", "completions_chat.json")  # same process: no runtime.forget()
    assert status == 200, body
    assert upstream.fake.chat_requests()[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    status, _, body = invoke("completions", "completions_messages.json")
    assert status == 200 and body["type"] == "message"
    assert ssm.calls == 2  # the failure was not cached; the success is
    assert UPSTREAM_KEY not in json.dumps(body)  # nor in any log: the autouse no_secret_in_any_log checks


def test_rel_55_the_decrypted_value_never_reaches_botocores_wire_log(
    ssm: SsmHook, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore logs each response body at DEBUG: the SSM client is made with its wire loggers at INFO."""
    from routeway.adapters.secrets import SsmSecrets

    put_key()  # before: this request's own body carries the value
    caplog.set_level(logging.DEBUG, logger="botocore")
    assert SsmSecrets().get(KEY_PARAM) == UPSTREAM_KEY
    assert ssm.calls == 1 and UPSTREAM_KEY not in caplog.text


@pytest.mark.parametrize("code", ["AccessDeniedException", "KMSAccessDeniedException"])
def test_rel_55_access_denied_names_the_missing_permission(
    no_parameter: Gateway, ssm: SsmHook, upstream: FakeUpstream, code: str
) -> None:
    put_key()
    ssm.fault = client_error(code)
    arn = f"arn:aws:ssm:us-east-1:<account>:parameter{KEY_PARAM}"
    for event_name in ("completions_chat.json", "completions_messages.json"):
        status, _, body = invoke("completions", event_name)
        assert status == 503, body
        error = error_of(event_name, body)
        assert error["code"] == "backend_unavailable" and KEY_PARAM in error["message"]
        assert f"ssm:GetParameter on {arn}" in error["message"] and "kms:Decrypt" in error["message"]
        assert code in error["message"] and "123456789012" not in error["message"]  # AWS's own text not echoed
        assert UPSTREAM_KEY not in json.dumps(body)
    if code == "KMSAccessDeniedException":
        assert error["message"].index("kms:Decrypt") < error["message"].index("ssm:GetParameter")
    status, _, body = invoke("info", "info_readyz.json")
    assert status == 503 and "ssm:GetParameter" in body["error"]["message"]
    ssm.fault = None  # the permission granted: the next request reads the key
    status, _, body = invoke("completions", "completions_chat.json")
    assert status == 200, body


@pytest.mark.parametrize("fault", ["ThrottlingException", "EndpointConnectionError"])
def test_rel_55_an_unreachable_or_throttled_ssm_is_503_naming_the_parameter(
    no_parameter: Gateway, ssm: SsmHook, fault: str
) -> None:
    from botocore.exceptions import EndpointConnectionError

    put_key()
    ssm.fault = (
        EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com/")
        if fault == "EndpointConnectionError"
        else client_error(fault)
    )
    status, _, body = invoke("completions", "completions_stream.json")
    assert status == 503 and body["error"]["code"] == "backend_unavailable", body
    assert KEY_PARAM in body["error"]["message"] and f"could not be read now ({fault})" in body["error"]["message"]
    ssm.fault = None
    status, _, body = invoke("completions", "completions_chat.json")
    assert status == 200, body


def test_rel_55_an_empty_parameter_is_503_and_is_not_kept(no_parameter: Gateway, upstream: FakeUpstream) -> None:
    put_key("   ")
    status, _, body = invoke("completions", "completions_chat.json")
    assert status == 503 and body["error"]["code"] == "backend_unavailable"
    assert f"SSM parameter {KEY_PARAM!r} is empty" in body["error"]["message"]
    put_key(overwrite=True)
    status, _, body = invoke("completions", "completions_chat.json")
    assert status == 200, body


def test_rel_55_the_streaming_function_answers_503_before_its_first_byte(no_parameter: Gateway) -> None:
    """The Function URL's app (uvicorn behind the Lambda Web Adapter): the stream's HTTP status is the error."""
    from fastapi.testclient import TestClient

    sample = event("completions_stream.json")
    with TestClient(runtime.streaming_app(), headers={"authorization": sample["headers"]["authorization"]}) as client:
        response = client.post("/v1/chat/completions", content=sample["body"])
        assert response.status_code == 503 and response.json()["error"]["code"] == "backend_unavailable"
        assert KEY_PARAM in response.json()["error"]["message"]
        handler = load_handler("completions")  # and the buffered entry alike
        assert handler(event("completions_stream.json"), LambdaContext())["statusCode"] == 503


class MissingParameter:
    """The SecretProvider of a stack whose parameter was never created (SsmSecrets' own translation)."""

    def get(self, name: str) -> str | None:
        from routeway.adapters.secrets import unreadable

        raise unreadable(name, client_error("ParameterNotFound"))


@pytest.mark.both_stores
def test_rel_55_beside_attempts_that_failed_upstream_the_502_still_names_the_parameter(
    env: dict[str, str], upstream: FakeUpstream
) -> None:
    """The `local` alias: vLLM unreachable, then OpenRouter whose key cannot be read. Not every attempt
    failed here, so the answer stays 502, but its message says why OpenRouter was not asked."""
    from fastapi.testclient import TestClient

    from routeway.http.app import create_app
    from routeway.services.keys import create_key
    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    changed = {"OPENROUTER_API_KEY_PARAM": KEY_PARAM, "ROUTEWAY_VLLM_BASE_URL": "http://127.0.0.1:9/v1"}
    settings = Settings.from_env({k: v for k, v in env.items() if k != "OPENROUTER_API_KEY"} | changed)
    gateway = build_gateway(settings, secrets=MissingParameter())
    key, _ = create_key(gateway.state.sync, gateway.clock, "tester")
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        response = client.post(
            "/v1/chat/completions", json={"model": "local", "messages": [{"role": "user", "content": "hi"}]}
        )
    error = response.json()["error"]
    assert response.status_code == 502 and error["code"] == "upstream_error", error
    assert KEY_PARAM in error["message"] and "does not exist" in error["message"]
    tried = [(a["backend"], a["error_code"]) for a in error["attempts"]]
    assert tried == [("vllm", "unreachable"), ("openrouter", "backend_unavailable")]
    assert upstream.fake.chat_requests() == []
