"""`routeway serve`'s ASGI app: the completion routes straight from their front, every other route through FastAPI.

A completion request under `serve` went through eleven ASGI layers, five of them FastAPI's and Starlette's
(the application, its error middleware, telemetry, body limit) that it never needs: the front answers it with
its own errors (`http/front.py`, `http/lean.py`'s split). Here the front sits ahead of the FastAPI app, as in
the completions Lambda function, with `serve`'s own wrappers around both: the request log (outermost: one line
per request, and the overhead header's timer), the body deadline, and CORS when ROUTEWAY_CORS_ORIGINS lists
origins (every answer, errors and preflights included, carries its headers).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.http.front import CompletionsFront
from routeway.http.lean import front_first
from routeway.http.middleware import RequestLog
from routeway.http.serve_timeouts import BodyDeadline
from routeway.settings import Settings


def serve_app(gateway: Gateway, settings: Settings, write_line: Callable[[str], None]) -> ASGIApp:
    """Every route of `gateway` as `serve` answers them; `write_line` takes the request log's lines."""
    app = create_app(lambda: gateway, long_requests=True)
    served = front_first(CompletionsFront(app, app.state.edge))
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        from routeway.http.cors import cors_options

        served = CORSMiddleware(served, **cors_options(settings.cors_origins))
    timed = BodyDeadline(served, settings.serve_body_timeout_s)  # slow bodies: 408 in the route's dialect
    return RequestLog(timed, write_line)  # the one line per request; uvicorn's access log is off
