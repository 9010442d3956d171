"""create_app(): the routers a function serves, errors in each dialect's shape, and no stack trace ever.

Every error handler renders through `http.completion_routes.render_error(exc, scope)`: the shape of the dialect
whose route the path is or lies under (Anthropic's for the Messages routes), OpenAI's elsewhere. The completion
routes themselves are served by `http/front.py` from the route table, which the OpenAPI document also reads.

The gateway (stores, catalog, clients) is built on the first request, not when the app is made,
so importing and creating the app stays cheap on a Lambda cold start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from routeway.errors import GatewayError, InvalidRequest, MethodNotAllowed, NotFound
from routeway.gateway import Gateway
from routeway.http.completion_routes import render_error
from routeway.http.edge import Edge
from routeway.http.front import CompletionsFront
from routeway.http.middleware import CatchAll, OverheadHeader
from routeway.http.openapi import completion_paths
from routeway.http.responses import JSONBody

ROUTERS = ("completions", "info", "route", "console", "admin")


def _validation_param(exc: RequestValidationError) -> str | None:
    errors = exc.errors()
    if not errors:
        return None
    location = [str(p) for p in errors[0].get("loc", ()) if p not in ("body", "query", "path", "header")]
    return ".".join(location) or None


def _document_completion_routes(app: FastAPI) -> None:
    """The OpenAPI document describes the completion routes from the route table (`http/openapi.py`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:  # FastAPI's own, made once and kept (`app.openapi_schema`), then completed here
            schema = generate()
            schema["paths"] = {**completion_paths(), **schema.get("paths", {})}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    gateway_factory: Callable[[], Gateway] | None = None,
    routers: Sequence[str] = ROUTERS,
    *,
    edge: Edge | None = None,
    expose_openapi: bool = False,
    long_requests: bool = False,
) -> FastAPI:
    """`long_requests`: every request gets the long deadline (`routeway serve`, the streaming function),
    not only those that came through the Function URL. `edge` (instead of a factory): share one gateway
    with another face (`http.lean.create_lean_app`)."""
    if edge is None:
        assert gateway_factory is not None, "create_app needs a gateway factory or an edge"
        edge = Edge(gateway_factory, long_requests=long_requests)
    from fastapi import APIRouter

    from routeway.http.routes import admin, console, info, messages, responses, route

    # the routers each name stands for; the completion routes themselves are the front's (`http/front.py`)
    available: dict[str, tuple[APIRouter, ...]] = {
        "completions": (messages.router, responses.router),
        "info": (info.router,),
        "route": (route.router,),
        "console": (console.router,),
        "admin": (admin.router,),
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
    if "completions" in routers:
        _document_completion_routes(app)

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONBody:
        return render_error(exc, request.scope)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONBody:
        errors = exc.errors()
        message = errors[0].get("msg", "Invalid request.") if errors else "Invalid request."
        return render_error(InvalidRequest(str(message), param=_validation_param(exc)), request.scope)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        error: GatewayError
        if exc.status_code == 404:
            error = NotFound("No such route.")
        elif exc.status_code == 405:
            error = MethodNotAllowed("This route does not accept that method.")
        else:
            error = InvalidRequest(str(exc.detail))
        return render_error(error, request.scope)

    if "completions" in routers:  # innermost: its 500s and its timing come from the two below
        app.add_middleware(CompletionsFront, edge=edge)
    app.add_middleware(CatchAll)
    app.add_middleware(OverheadHeader)  # outside CatchAll: its 500s are timed too
    return app
