"""Write events/*.json: API Gateway HTTP API (payload v2.0) events, as `sam local generate-event
apigateway http-api-proxy` shapes them, one per function and scenario, plus the scheduled refresh input.

    python scripts/make_events.py            # rewrite events/
    python scripts/make_events.py --check    # exit 1 if events/ is out of step

The events carry EXAMPLE_KEY as their bearer key; tests store that key before invoking a handler.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"
EXAMPLE_KEY = "rw-example-events-key-0000000000000000000000"
ADMIN_KEY = "rw-example-admin-key-00000000000000000000000"  # the admin API's events (an admin key)
SCHEDULED_INPUT = {"source": "openrouter", "trigger": "schedule"}


def http_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    query: str = "",
    body: Any = None,
    path_parameters: dict[str, str] | None = None,
    auth: bool = True,
    key: str = EXAMPLE_KEY,
) -> dict[str, Any]:
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "user-agent": "OpenAI/Python 3.52.0",
        "x-forwarded-for": "192.0.2.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if auth:
        headers["authorization"] = f"Bearer {key}"
    route_key = f"{method} {route or path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "OpenAI/Python 3.52.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "21/Nov/2026:06:00:00 +0000",
            "timeEpoch": 1795240800000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def admin_event(method: str, proxy: str, **options: Any) -> dict[str, Any]:
    path = f"/admin/v1/{proxy}"
    return http_event(
        method, path, route="/admin/v1/{proxy+}", path_parameters={"proxy": proxy}, key=ADMIN_KEY, **options
    )


def function_url_event(method: str, path: str, body: Any) -> dict[str, Any]:
    """What a Lambda Function URL sends: payload 2.0 with routeKey $default and a lambda-url domain."""
    event = http_event(method, path, body=body)
    domain = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
    event["routeKey"] = "$default"
    event["headers"]["host"] = domain
    event["requestContext"].update(
        routeKey="$default",
        apiId="abcdefghijklmnopqrstuvwxyz012345",
        domainName=domain,
        domainPrefix="abcdefghijklmnopqrstuvwxyz012345",
    )
    del event["requestContext"]["stage"]
    return event


def anthropic(event: dict[str, Any]) -> dict[str, Any]:
    """What the anthropic SDKs and Claude Code send: the key in x-api-key, and Anthropic's version headers."""
    headers = event["headers"]
    headers["x-api-key"] = headers.pop("authorization").removeprefix("Bearer ")
    headers.update({"anthropic-version": "2023-06-01", "user-agent": "Anthropic/Python 2.14.0"})
    event["requestContext"]["http"]["userAgent"] = headers["user-agent"]
    return event


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Say hello in five words."}], **extra}


def events() -> dict[str, Any]:
    return {
        "completions_chat.json": http_event("POST", "/v1/chat/completions", body=chat("openai/gpt-5.4-mini")),
        "completions_stream.json": http_event(
            "POST", "/v1/chat/completions", body=chat("openai/gpt-5.4-mini", stream=True)
        ),
        "completions_image.json": http_event(
            "POST",
            "/v1/chat/completions",
            body={
                "model": "black-forest-labs/flux.2-pro",
                "modalities": ["image", "text"],
                "messages": [{"role": "user", "content": "A lighthouse at dawn, watercolour."}],
            },
        ),
        "completions_long_image.json": function_url_event(
            "POST",
            "/v1/chat/completions",
            {
                "model": "gpt-image",
                "modalities": ["image", "text"],
                "messages": [{"role": "user", "content": "A poster that reads ROUTEWAY in bold serif letters."}],
            },
        ),
        "completions_text.json": http_event(
            "POST", "/v1/completions", body={"model": "openai/gpt-5.4-mini", "prompt": "Say hello.", "max_tokens": 32}
        ),
        "completions_embeddings.json": http_event(
            "POST",
            "/v1/embeddings",
            body={"model": "openai/text-embedding-3-small", "input": ["Routeway routes requests."], "dimensions": 256},
        ),
        "completions_images.json": http_event(
            "POST",
            "/v1/images/generations",
            body={"model": "black-forest-labs/flux.2-pro", "prompt": "A lighthouse at dawn.", "size": "1792x1024"},
        ),
        "completions_messages.json": anthropic(
            http_event(
                "POST",
                "/v1/messages",
                query="beta=true",
                body={
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 256,
                    "system": "Be brief.",
                    "messages": [{"role": "user", "content": "Say hello in five words."}],
                },
            )
        ),
        "completions_messages_count_tokens.json": anthropic(
            http_event(
                "POST",
                "/v1/messages/count_tokens",
                body={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Say hello."}]},
            )
        ),
        "completions_responses.json": http_event(
            "POST", "/v1/responses", body={"model": "openai/gpt-5.4-mini", "input": "Say hello in five words."}
        ),
        "completions_responses_stream.json": http_event(
            "POST",
            "/v1/responses",
            body={"model": "openai/gpt-5.4-mini", "input": "Say hello in five words.", "stream": True},
        ),
        "completions_responses_compact.json": http_event(
            "POST",
            "/v1/responses/compact",
            body={
                "model": "openai/gpt-5.4-mini",
                "input": [
                    {"role": "user", "content": "Plan a weekend in Lisbon."},
                    {"role": "assistant", "content": "Day one: Alfama and the castle; day two: Belem."},
                ],
            },
        ),
        "completions_responses_get.json": http_event(
            "GET",
            "/v1/responses/resp_example",
            route="/v1/responses/{response_id}",
            path_parameters={"response_id": "resp_example"},
        ),
        "completions_responses_delete.json": http_event(
            "DELETE",
            "/v1/responses/resp_example",
            route="/v1/responses/{response_id}",
            path_parameters={"response_id": "resp_example"},
        ),
        "info_info.json": http_event("GET", "/v1/info"),
        "info_key.json": http_event("GET", "/v1/key"),
        "info_models.json": http_event("GET", "/v1/models", query="output_modalities=image"),
        "info_model.json": http_event(
            "GET",
            "/v1/models/black-forest-labs/flux.2-pro",
            route="/v1/models/{id+}",
            path_parameters={"id": "black-forest-labs/flux.2-pro"},
        ),
        "info_readyz.json": http_event("GET", "/readyz"),
        "info_healthz.json": http_event("GET", "/healthz", auth=False),
        "info_console.json": http_event("GET", "/console", auth=False),
        "info_console_file.json": http_event(
            "GET", "/console/app.js", route="/console/{name}", path_parameters={"name": "app.js"}, auth=False
        ),
        "info_admin_keys.json": admin_event("GET", "keys"),
        "info_admin_key_update.json": admin_event("PATCH", "keys/seeded", body={"rpm": 1000}),
        "info_admin_spend.json": admin_event("GET", "spend", query="group_by=key,model,day"),
        "info_admin_team_create.json": admin_event(
            "POST", "teams", body={"name": "from-the-events", "budget_usd": 10, "period": "month"}
        ),
        "route_preview_preview.json": http_event(
            "POST", "/v1/route/preview", body=chat("deepseek/deepseek-v4-flash", top_n=3)
        ),
        "route_preview_explain.json": http_event(
            "GET",
            "/v1/route/explain/gen-rw-example",
            route="/v1/route/explain/{generation_id}",
            path_parameters={"generation_id": "gen-rw-example"},
        ),
        "catalog_refresh_scheduled.json": SCHEDULED_INPUT,
    }


def render(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write or check events/*.json")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for name, document in events().items():
        path = EVENTS / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != render(document):
                stale.append(name)
        else:
            path.write_text(render(document), encoding="utf-8")
    if stale:
        print(f"out of step: {', '.join(stale)} (run python scripts/make_events.py)")
        sys.exit(1)


if __name__ == "__main__":
    main()
