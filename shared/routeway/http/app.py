"""create_app(): the routers a function serves, errors in each dialect's shape, and no stack trace ever.

Every error handler renders through `http.responses.error_response(exc, path)`: OpenAI's shape, or
Anthropic's for the `/v1/messages` routes.

The gateway (stores, catalog, clients) is built on the first request, not when the app is made,
so importing and creating the app stays cheap on a Lambda cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from routeway.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound
from routeway.gateway import Gateway
from routeway.http.edge import Edge
from routeway.http.front import CompletionsFront
from routeway.http.middleware import CatchAll, OverheadHeader
from routeway.http.responses import JSONBody, error_response

ROUTERS = ("completions", "info", "route", "console")


def _validation_param(exc: RequestValidationError) -> str | None:
    errors = exc.errors()
    if not errors:
        return None
    location = [str(p) for p in errors[0].get("loc", ()) if p not in ("body", "query", "path", "header")]
    return ".".join(location) or None


def create_app(
    gateway_factory: Callable[[], Gateway] | None = None,
    routers: Sequence[str] = ROUTERS,
    *,
    edge: Edge | None = None,
    expose_openapi: bool = False,
    long_requests: bool = False,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """`long_requests`: every request gets the long deadline (`routeway serve`, the streaming function),
    not only those that came through the Function URL. `edge` (instead of a factory): share one gateway
    with another face (`http.lean.create_lean_app`)."""
    if edge is None:
        assert gateway_factory is not None, "create_app needs a gateway factory or an edge"
        edge = Edge(gateway_factory, long_requests=long_requests)
    from fastapi import APIRouter

    from routeway.http.routes import completions, console, info, media, messages, responses, route

    # the routers each name stands for: a new dialect adds its router to the function that serves it
    available: dict[str, tuple[APIRouter, ...]] = {
        "completions": (completions.router, media.router, messages.router, responses.router),
        "info": (info.router,),
        "route": (route.router,),
        "console": (console.router,),
    }
    app = FastAPI(
        title="Routeway",
        version="0.1.0",
        openapi_url="/openapi.json" if expose_openapi else None,
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONBody,
    )
    app.state.edge = edge
    for name in routers:
        for router in available[name]:
            app.include_router(router)

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONBody:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONBody:
        errors = exc.errors()
        message = errors[0].get("msg", "Invalid request.") if errors else "Invalid request."
        return error_response(InvalidRequest(str(message), param=_validation_param(exc)), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        error: GatewayError
        if exc.status_code == 404:
            error = NotFound("No such route.")
        elif exc.status_code == 405:
            error = MethodNotAllowed("This route does not accept that method.")
        else:
            error = InvalidRequest(str(exc.detail))
        return error_response(error, request.url.path)

    if "completions" in routers:  # innermost: its 500s and its timing come from the two below
        app.add_middleware(CompletionsFront, edge=edge)
    app.add_middleware(CatchAll)
    app.add_middleware(OverheadHeader)  # outside CatchAll: its 500s are timed too
    if cors_origins:  # outermost, so every answer (errors included) carries the CORS headers
        from starlette.middleware.cors import CORSMiddleware

        from routeway.http.cors import cors_options

        app.add_middleware(CORSMiddleware, **cors_options(cors_origins))
    return app
