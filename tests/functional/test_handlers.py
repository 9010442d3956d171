"""Each functions/*/app.handler invoked with its events/*.json under moto, as `sam local invoke` would.

The upstream key comes from an SSM SecureString (moto), as in a deployed stack.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from routeway import runtime
from routeway.domain.records import GenerationRecord
from routeway.gateway import Gateway
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import BUCKET, TABLE, UPSTREAM_KEY, FakeUpstream, seed_key
from tests.fakes.data import REPO
from tests.fakes.lambda_context import LambdaContext

EVENTS = REPO / "events"
KEY_PARAM = "/routeway/openrouter-api-key"


def load_handler(function: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    path = REPO / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{function}", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler  # type: ignore[no-any-return]


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def lambda_env(
    moto_aws: None, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Gateway]:
    import boto3

    boto3.client("ssm").put_parameter(Name=KEY_PARAM, Value=UPSTREAM_KEY, Type="SecureString")
    yield start_lambda_env(upstream, monkeypatch, tmp_path)
    runtime.forget()


def start_lambda_env(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Gateway:
    """A deployed function's environment under moto (the SSM parameter is the caller's to create), and the
    gateway the events' key is seeded in. Each gateway reads SSM through its own cache (adapters/secrets.py)."""
    for name, value in {
        "AWS_LAMBDA_FUNCTION_NAME": "routeway-test",
        "ROUTEWAY_BUCKET": BUCKET,
        "ROUTEWAY_TABLE": TABLE,
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY_PARAM": KEY_PARAM,
        "ROUTEWAY_HOME": str(tmp_path / "unused"),
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("OPENROUTER_API_KEY", "ROUTEWAY_STORE", "ROUTEWAY_AUTH", "ROUTEWAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    runtime.forget()
    _forget_powertools_logger()  # its handler holds the stdout of the test that made it
    gateway = build_gateway(Settings.from_env(os.environ))
    assert gateway.settings.store == "aws"  # inside Lambda the default store is AWS
    seed_key(gateway, event("info_info.json")["headers"]["authorization"].removeprefix("Bearer "))
    return gateway


def _forget_powertools_logger() -> None:
    import logging

    service_logger = logging.getLogger("routeway")
    service_logger.handlers.clear()
    for marker in ("init", "powertools_handler"):
        if hasattr(service_logger, marker):
            delattr(service_logger, marker)


def invoke(function: str, event_name: str, **changes: Any) -> tuple[int, dict[str, str], Any]:
    payload = {**event(event_name), **changes}
    result = load_handler(function)(payload, LambdaContext())
    body = json.loads(result["body"]) if result.get("body") else None
    return result["statusCode"], result.get("headers", {}), body


def test_healthz_answers_without_a_key(lambda_env: Gateway) -> None:
    status, _, body = invoke("info", "info_healthz.json")
    assert (status, body) == (200, {"status": "ok"})


def test_console_events_serve_the_page_and_its_files_without_a_key(lambda_env: Gateway) -> None:
    result = load_handler("info")(event("info_console.json"), LambdaContext())
    assert result["statusCode"] == 200 and result["headers"]["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in result["headers"]["content-security-policy"]
    assert not result.get("isBase64Encoded") and "<title>Routeway console</title>" in result["body"]
    result = load_handler("info")(event("info_console_file.json"), LambdaContext())
    assert result["statusCode"] == 200 and result["headers"]["content-type"].startswith("text/javascript")
    assert not result.get("isBase64Encoded") and "sessionStorage" not in result["body"]  # app.js, not api.js
    assert "parseHash" in result["body"]


def test_info_event(lambda_env: Gateway) -> None:
    status, _, body = invoke("info", "info_info.json")
    assert status == 200
    assert body["catalog"]["source"] == "bundled"  # nothing published yet
    assert {a["alias"] for a in body["aliases"]} >= {"flagship", "image-gen"}
    assert {b["name"]: b["status"] for b in body["backends"]}["openrouter"] == "available"


def test_models_event_lists_flux(lambda_env: Gateway) -> None:
    status, _, body = invoke("info", "info_models.json")
    assert status == 200
    assert "black-forest-labs/flux.2-klein-4b" in {m["id"] for m in body["data"]}


def test_model_event_reads_an_id_with_a_slash(lambda_env: Gateway) -> None:
    status, _, body = invoke("info", "info_model.json")
    assert status == 200 and body["id"] == "black-forest-labs/flux.2-pro"


def test_readyz_event(lambda_env: Gateway) -> None:
    status, _, body = invoke("info", "info_readyz.json")
    assert status == 200 and body["status"] == "ready"


def test_missing_key_is_401(lambda_env: Gateway) -> None:
    anonymous = event("info_info.json")
    del anonymous["headers"]["authorization"]
    status, _, body = invoke("info", "info_info.json", headers=anonymous["headers"])
    assert status == 401 and body["error"]["code"] == "invalid_api_key"


def test_chat_event_uses_the_key_from_ssm_and_writes_a_record(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, headers, body = invoke("completions", "completions_chat.json")
    assert status == 200, body
    assert body["choices"][0]["message"]["content"]
    assert upstream.fake.chat_requests()[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    record = lambda_env.state.sync.get_generation(headers["x-routeway-generation-id"], now_epoch=0)
    assert record is not None and record.status == "success" and record.key_name == "seeded"


def test_costly_bodies_take_the_same_path_behind_mangum(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    """Issue 33: the cheap limits and the parse off the event loop are the Lambda function's too."""
    chat = json.loads(event("completions_chat.json")["body"])
    junk = json.dumps({**chat, "junk": [{}] * 100_001})
    status, _, body = invoke("completions", "completions_chat.json", body=junk, isBase64Encoded=False)
    assert status == 400 and "objects and arrays" in body["error"]["message"]
    large = json.dumps({**chat, "messages": [{"role": "user", "content": "word, " * 250_000}]})  # 1.5 MB: a thread
    status, _, body = invoke("completions", "completions_chat.json", body=large, isBase64Encoded=False)
    assert status == 200, body


def test_preview_event(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, _, body = invoke("route_preview", "route_preview_preview.json")
    assert status == 200 and 1 <= len(body["candidates"]) <= 3
    assert upstream.fake.chat_requests() == []


def test_explain_event(lambda_env: Gateway) -> None:
    status, _, body = invoke("route_preview", "route_preview_explain.json")
    assert status == 404 and body["error"]["code"] == "generation_not_found"
    lambda_env.state.sync.put_generation(
        GenerationRecord(
            id="gen-rw-example",
            key_name="seeded",  # the key the event carries: a record answers only the key that made it
            created_at="2026-11-21T06:00:00Z",
            expires_at=4_000_000_000,
            status="success",
            http_status=200,
            route={"attempts": [{"model": "m", "status": 200}]},
        )
    )
    status, _, body = invoke("route_preview", "route_preview_explain.json")
    assert status == 200 and body["route"]["attempts"][0]["model"] == "m"


def test_rel_28_the_scheduled_refresh_twice_is_a_no_op(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    _, _, before = invoke("info", "info_info.json")
    handler = load_handler("catalog_refresh")
    first = handler(event("catalog_refresh_scheduled.json"), LambdaContext())
    assert first["outcome"] == "published", first
    assert first["model_count"] == 366  # the image-only and embedding models were fetched too
    assert first["version"] == before["catalog"]["version"]  # same data as the bundled snapshot
    assert first["diff"]["removed"] == []
    second = handler(event("catalog_refresh_scheduled.json"), LambdaContext())
    assert second["outcome"] == "unchanged" and second["version"] == first["version"]
    status, _, body = invoke("info", "info_info.json")
    assert body["catalog"] == {**body["catalog"], "source": "store", "version": first["version"]}
    queried = {r.headers.get("authorization") for r in upstream.fake.requests if "/models" in r.path}
    assert queried == {f"Bearer {UPSTREAM_KEY}"}


def test_the_scheduled_refresh_flushes_the_catalogs_age_for_the_stacks_alarms(
    lambda_env: Gateway, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a refused run reports the served catalog's age, in EMF, with the function's name as a dimension:
    the template's catalog alarms read exactly this metric, so two stacks never mix."""
    from tests.fakes.openrouter import Scripted

    upstream.fake.enqueue(Scripted(path="/models", status=404, body={"error": {"code": 404, "message": "gone"}}))
    capsys.readouterr()
    report = load_handler("catalog_refresh")(event("catalog_refresh_scheduled.json"), LambdaContext())
    assert report["outcome"] == "refused", report
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (emf,) = (line for line in lines if "_aws" in line)
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Routeway"
    assert [m["Name"] for m in directive["Metrics"]] == ["CatalogAgeSeconds"]
    assert sorted(directive["Dimensions"][0]) == ["function_name", "service"]
    assert (emf["function_name"], emf["service"]) == (LambdaContext.function_name, "routeway")
    (age,) = emf["CatalogAgeSeconds"]
    assert age > 3600 and emf["refresh_outcome"] == "refused"  # the bundled snapshot's age


def test_stream_event_is_buffered_whole_behind_mangum(lambda_env: Gateway) -> None:
    """Mangum buffers: the SSE body arrives at once, complete and well formed, route in the last chunk."""
    result = load_handler("completions")(event("completions_stream.json"), LambdaContext())
    assert result["statusCode"] == 200 and result["headers"]["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in result["body"].split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and "OPENROUTER PROCESSING" not in result["body"]
    assert json.loads(events[-2])["route"]["model"] == "openai/gpt-5.4-mini"


def test_embeddings_event_is_routed_recorded_and_charged(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, headers, body = invoke("completions", "completions_embeddings.json")
    assert status == 200, body
    assert len(body["data"][0]["embedding"]) == 256 and body["usage"]["cost"] > 0
    assert headers["x-routeway-model"] == "openai/text-embedding-3-small"
    record = lambda_env.state.sync.get_generation(headers["x-routeway-generation-id"], 0)
    assert record is not None and record.status == "success"


def test_images_event_gives_a_png(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, headers, body = invoke("completions", "completions_images.json")
    assert status == 200, body
    assert base64.b64decode(body["data"][0]["b64_json"]).startswith(b"\x89PNG")
    assert upstream.fake.chat_requests()[-1].body["image_config"] == {"aspect_ratio": "16:9"}
    assert headers["x-routeway-model"] == "black-forest-labs/flux.2-pro"


def test_image_event_gets_flux_its_modalities(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, headers, body = invoke("completions", "completions_image.json")
    assert status == 200 and body["choices"][0]["message"]["images"]
    assert headers["x-routeway-applied"] == "modalities=image"


def test_text_completion_event(lambda_env: Gateway) -> None:
    status, _, body = invoke("completions", "completions_text.json")
    assert status == 200 and body["object"] == "text_completion" and body["choices"][0]["text"]


def test_chat_emits_emf_metrics_and_logs_with_the_correlation_id(
    lambda_env: Gateway, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.openrouter import Scripted

    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "overloaded"}}))
    status, _, _ = invoke("completions", "completions_chat.json")
    assert status == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = next(line for line in lines if "_aws" in line)
    names = {m["Name"] for d in emf["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Requests", "Latency", "Attempts", "Fallbacks", "CostUSD", "CatalogAge"} <= names
    assert (emf["Attempts"], emf["Fallbacks"]) == ([2.0], [1.0]), emf
    logged = next(line for line in lines if line.get("message") == "upstream error")
    assert logged["correlation_id"] == event("completions_chat.json")["requestContext"]["requestId"]
    assert logged["status"] == 503 and logged["model"] == "openai/gpt-5.4-mini"


def test_rel_33_a_slow_alias_via_api_gateway_gets_our_504_and_the_function_url_waits(
    lambda_env: Gateway, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RELIABILITY 33: short deadline + hint on the API path; the long deadline on the Function URL."""
    from tests.fakes.openrouter import Scripted

    monkeypatch.setenv("ROUTEWAY_DEADLINE_S", "2.5")  # its store calls get 2 s: enough on a loaded machine
    monkeypatch.setenv("ROUTEWAY_LONG_DEADLINE_S", "10")
    runtime.forget()
    slow = Scripted(delay_s=5.0, model="openai/gpt-5.4-image-2", body=None)
    upstream.fake.enqueue(slow)
    api_event = {
        **event("completions_long_image.json"),
        "requestContext": event("completions_chat.json")["requestContext"],
    }
    status, _, body = invoke("completions", "completions_long_image.json", requestContext=api_event["requestContext"])
    assert status == 504 and body["error"]["code"] == "upstream_timeout"
    assert body["error"]["hint"] == "use_long_request_url" and "LongRequestUrl" in body["error"]["message"]
    upstream.fake.reset()
    upstream.fake.enqueue(
        Scripted(delay_s=3.0, model="openai/gpt-5.4-image-2", body=_image_completion("openai/gpt-5.4-image-2"))
    )
    status, headers, body = invoke("completions", "completions_long_image.json")
    assert status == 200, body
    assert body["choices"][0]["message"]["images"]


def _image_completion(model: str) -> dict[str, Any]:
    url = "data:image/png;base64,iVBORw0KGgo="
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "provider": "OpenAI",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "images": [{"type": "image_url", "image_url": {"url": url}}],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1290, "total_tokens": 1300},
    }


def test_tracing_can_be_switched_on(lambda_env: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTEWAY_TRACING", "on")
    runtime.forget()
    status, _, body = invoke("info", "info_info.json")
    assert status == 200 and body["catalog"]["model_count"] == 366


def test_key_event_describes_the_callers_key(lambda_env: Gateway) -> None:
    status, _, body = invoke("info", "info_key.json")
    assert status == 200 and body["name"] == "seeded" and body["spend_usd"] == 0.0


def test_messages_events_answer_in_anthropics_shape(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, headers, body = invoke("completions", "completions_messages.json")
    assert status == 200 and body["type"] == "message" and body["content"][0]["text"]
    assert headers["x-routeway-model"] == body["model"] == "anthropic/claude-sonnet-4.5"
    status, _, body = invoke("completions", "completions_messages_count_tokens.json")
    assert status == 200 and body["input_tokens"] > 0
    status, _, body = invoke("completions", "completions_messages.json", body=json.dumps({"model": "x"}))
    assert status == 400 and body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


def _for_response(event_name: str, response_id: str) -> dict[str, Any]:
    """The GET/DELETE sample events pointed at a real response id."""
    sample = event(event_name)
    path = f"/v1/responses/{response_id}"
    sample["rawPath"] = path
    sample["requestContext"]["http"]["path"] = path
    sample["pathParameters"] = {"response_id": response_id}
    return sample


def test_responses_events_create_stream_retrieve_and_delete(lambda_env: Gateway, upstream: FakeUpstream) -> None:
    status, headers, body = invoke("completions", "completions_responses.json")
    assert status == 200, body
    assert body["object"] == "response" and body["output"][0]["content"][0]["text"]
    assert headers["x-routeway-model"] == "openai/gpt-5.4-mini"
    record = lambda_env.state.sync.get_generation(headers["x-routeway-generation-id"], now_epoch=0)
    assert record is not None and record.status == "success" and record.key_name == "seeded"
    handler = load_handler("completions")
    got = handler(_for_response("completions_responses_get.json", body["id"]), LambdaContext())
    assert got["statusCode"] == 200 and json.loads(got["body"])["output"] == body["output"]
    deleted = handler(_for_response("completions_responses_delete.json", body["id"]), LambdaContext())
    assert json.loads(deleted["body"]) == {"id": body["id"], "object": "response.deleted", "deleted": True}
    status, _, missing = invoke("completions", "completions_responses_get.json")
    assert status == 404 and missing["error"]["code"] == "response_not_found"
    streamed = handler(event("completions_responses_stream.json"), LambdaContext())
    assert streamed["statusCode"] == 200 and streamed["headers"]["content-type"].startswith("text/event-stream")
    types = [line.removeprefix("event: ") for line in streamed["body"].split("\n") if line.startswith("event: ")]
    assert types[0] == "response.created" and types[-1] == "response.completed"
