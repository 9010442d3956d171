"""Lambda entry points: the shared app behind Mangum, the streaming app, and the scheduled refresh.

Everything is built on the first invocation and cached for the life of the process; importing
this module costs nothing (cold start is import time). The gateway itself comes from
`routeway.wiring`, with its telemetry passed in when it is built.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nothing heavy at import: this module is on every function's cold-start path
    from routeway.gateway import Gateway
    from routeway.settings import Settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# `import httpx` imports httpx's command line (httpx._main), which imports click, rich and pygments when they
# are installed (~60 ms: the dev and `routeway serve` installs have them, the layer does not). No Lambda entry
# point runs it; None in sys.modules makes that import fail at once, and httpx falls back as it does in the layer.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
REFRESH_SAFETY_MARGIN_S = 30.0
# gen-0 threshold while the app is built and answers its first request (the default is 700 allocations)
COLD_START_GC_THRESHOLD = 200_000
_gc_thresholds: tuple[int, ...] | None = None  # the ones to restore, while the cold start holds the collector


@cache
def _settings() -> Settings:
    from routeway.settings import Settings

    return Settings.from_process()


@cache
def _metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace="Routeway", service="routeway")


@cache
def _gateway() -> Gateway:
    """The process's one gateway, its completions measured as EMF metrics (flushed by each HTTP invocation)."""
    from routeway.adapters.telemetry import PowertoolsTelemetry
    from routeway.wiring import build_gateway

    return build_gateway(_settings(), telemetry=PowertoolsTelemetry(_metrics()))


def forget() -> None:
    """Drop what the process built (settings, gateways, handlers): the next invocation builds anew."""
    _settings.cache_clear()
    _metrics.cache_clear()
    _gateway.cache_clear()
    http_handler.cache_clear()
    release_gc()  # a handler built but never invoked held it


def configure_logging() -> Any:
    """Powertools structured JSON logs for every `routeway.*` logger (they propagate to it), in Lambda."""
    from aws_lambda_powertools import Logger

    return Logger(service="routeway")  # owns the "routeway" logger; child loggers propagate to its handler


def hold_gc() -> None:
    """Collect rarely while the app is built and answers its first request: nearly everything a cold start
    allocates (modules, classes, the catalog) lives as long as the process, and the default thresholds walked
    it again and again (~130 collections, one full: ~90 ms of a completions cold start here)."""
    global _gc_thresholds
    if _gc_thresholds is None:
        _gc_thresholds = gc.get_threshold()
        gc.set_threshold(COLD_START_GC_THRESHOLD, *_gc_thresholds[1:])


def release_gc() -> None:
    """After the first response: what the cold start built is moved out of the collector's reach (`gc.freeze`:
    later collections never walk it again; the few hundred cyclic leftovers of start-up stay, objects freed
    by reference counting, a replaced catalog included, are freed as ever) and the usual thresholds return."""
    global _gc_thresholds
    if _gc_thresholds is not None:
        gc.freeze()
        gc.set_threshold(*_gc_thresholds)
        _gc_thresholds = None


@cache
def http_handler(routers: Sequence[str]) -> LambdaHandler:
    """Mangum around the shared app, with a correlation id per request, EMF metrics and X-Ray traces.

    The completions function serves its completion POSTs without FastAPI (`http.lean.create_lean_app`:
    FastAPI is imported only if another route is asked for), which keeps it off the cold start. The garbage
    collector is held back from here to the end of the first response (`hold_gc`)."""
    from routeway.settings import without_pydantic_plugins

    hold_gc()
    without_pydantic_plugins()  # before the first pydantic model is built
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit
    from mangum import Mangum

    from routeway.overhead import timed_request

    logger = configure_logging()
    metrics = _metrics()
    app: Any  # an ASGI app (Starlette's type, not Mangum's)
    if "completions" in routers:
        from routeway.http.lean import create_lean_app

        app = create_lean_app(_gateway, routers)
    else:
        from routeway.http.app import create_app

        app = create_app(_gateway, routers)
    mangum = Mangum(app, lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        try:
            response: dict[str, Any] = mangum(event, context)
        finally:
            release_gc()  # once: a no-op from the second invocation on
        return response

    measured = metrics.log_metrics(_traced(handle, _settings().tracing))
    logged = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(measured)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with timed_request():  # the overhead header counts Powertools' and Mangum's work too (routeway/overhead.py)
            return logged(event, context)  # type: ignore[no-any-return]

    return handler


def _traced(handle: LambdaHandler, tracing: bool) -> LambdaHandler:
    """X-Ray tracing when ROUTEWAY_TRACING=on: the X-Ray SDK costs about 300 ms of cold start, so it is opt-in."""
    if not tracing:
        return handle
    from aws_lambda_powertools import Tracer

    traced: LambdaHandler = Tracer(service="routeway").capture_lambda_handler(capture_response=False)(handle)
    return traced  # responses hold completions: never captured


def streaming_app() -> Any:
    """The same app under uvicorn behind the Lambda Web Adapter (functions/streaming/run.sh).

    There is no Mangum here, so chunks reach the client as the upstream produces them.
    """
    from routeway.http.app import create_app
    from routeway.wiring import build_gateway

    configure_logging()
    gateway = cache(lambda: build_gateway(_settings()))  # no EMF here: nothing would flush it
    return create_app(gateway, long_requests=True)


def refresh_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The scheduled (or manual) catalog refresh. Returns the report: outcome, version, diff, reason.

    Every run ends by flushing the catalog's age (`CatalogAgeSeconds`, EMF) with this function's name as a
    dimension, so that two stacks in one account never feed each other's alarms."""
    from routeway.services.refresh import refresh_catalog

    configure_logging()
    if not isinstance(event, dict) or event.get("source", "openrouter") != "openrouter":
        return {"outcome": "refused", "reason": "a deployed refresh reads only from OpenRouter (source: openrouter)"}
    remaining_ms = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
    deadline_s = max(10.0, remaining_ms / 1000 - REFRESH_SAFETY_MARGIN_S) if remaining_ms else 240.0
    gateway = _gateway()

    async def run() -> dict[str, Any]:
        try:
            report = await refresh_catalog(
                gateway, gateway.sources.openrouter(deadline_s), force=bool(event.get("force"))
            )
            return report.as_dict()
        finally:
            await gateway.upstreams.aclose()

    loop = asyncio.new_event_loop()  # not asyncio.run: that would unset the loop Mangum keeps for the process
    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()
        _flush_refresh_metrics(context)


def _flush_refresh_metrics(context: Any) -> None:
    metrics = _metrics()
    if metrics.metric_set:  # nothing when the run could not tell the catalog's age
        metrics.add_dimension(name="function_name", value=context.function_name)
        metrics.flush_metrics()
