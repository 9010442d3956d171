"""Lambda entry points: the shared app behind Mangum, and the scheduled refresh.

Everything is built on the first invocation and cached for the life of the process; importing
this module costs nothing (cold start is import time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@cache
def _gateway() -> Any:
    from routeway.bootstrap import build_gateway
    from routeway.settings import Settings

    return build_gateway(Settings.from_env(os.environ), os.environ)


def configure_logging() -> Any:
    """Powertools structured JSON logs for every `routeway.*` logger (they propagate to it), in Lambda."""
    from aws_lambda_powertools import Logger

    return Logger(service="routeway")  # owns the "routeway" logger; child loggers propagate to its handler


@cache
def http_handler(routers: Sequence[str]) -> LambdaHandler:
    """Mangum around the shared app, with a correlation id per request, EMF metrics and X-Ray traces."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit
    from mangum import Mangum

    from routeway.adapters.telemetry import PowertoolsTelemetry
    from routeway.http.app import create_app

    logger = configure_logging()
    metrics = Metrics(namespace="Routeway", service="routeway")

    def gateway() -> Any:
        built = _gateway()
        built.telemetry = PowertoolsTelemetry(metrics)
        return built

    mangum = Mangum(create_app(gateway, routers), lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        response: dict[str, Any] = mangum(event, context)
        return response

    measured = metrics.log_metrics(_traced(handle))
    handler: LambdaHandler = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(
        measured
    )
    return handler


def _traced(handle: LambdaHandler) -> LambdaHandler:
    """X-Ray tracing when ROUTEWAY_TRACING=on: the X-Ray SDK costs about 300 ms of cold start, so it is opt-in."""
    if os.environ.get("ROUTEWAY_TRACING", "off").lower() not in ("on", "true", "1"):
        return handle
    from aws_lambda_powertools import Tracer

    traced: LambdaHandler = Tracer(service="routeway").capture_lambda_handler(capture_response=False)(handle)
    return traced  # responses hold completions: never captured


def streaming_app() -> Any:
    """The same app under uvicorn behind the Lambda Web Adapter (functions/streaming/run.sh).

    There is no Mangum here, so chunks reach the client as the upstream produces them.
    """
    from routeway.http.app import create_app

    configure_logging()
    return create_app(_gateway)


REFRESH_SAFETY_MARGIN_S = 30.0


def refresh_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The scheduled (or manual) catalog refresh. Returns the report: outcome, version, diff, reason."""
    import asyncio

    from routeway.services.refresh import openrouter_source, refresh_catalog

    configure_logging()
    if not isinstance(event, dict) or event.get("source", "openrouter") != "openrouter":
        return {"outcome": "refused", "reason": "a deployed refresh reads only from OpenRouter (source: openrouter)"}
    remaining_ms = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
    deadline_s = max(10.0, remaining_ms / 1000 - REFRESH_SAFETY_MARGIN_S) if remaining_ms else 240.0
    gateway = _gateway()

    async def run() -> dict[str, Any]:
        try:
            report = await refresh_catalog(
                gateway, openrouter_source(gateway, deadline_s), force=bool(event.get("force"))
            )
            return report.as_dict()
        finally:
            await gateway.http.aclose()

    loop = asyncio.new_event_loop()  # not asyncio.run: that would unset the loop Mangum keeps for the process
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()
