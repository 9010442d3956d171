"""The completion route table (`http/completion_routes.ROUTES`) is the one place a completion path is named, and
every row is served by the front, timed, answered in its dialect's error shape and described in the OpenAPI
document: adding a row is all a new dialect's HTTP side needs."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import Response

import routeway
from routeway.errors import GatewayError, InvalidApiKey, MethodNotAllowed, NotFound
from routeway.gateway import Gateway
from routeway.http import completion_routes
from routeway.http.app import create_app
from routeway.http.completion_routes import ROUTES, CompletionRoute, anthropic_error, openai_error
from routeway.http.edge import Edge
from routeway.http.lean import create_lean_app
from routeway.http.responses import ATTEMPTS_HEADER, JSONBody
from routeway.overhead import HEADER
from routeway.settings import Settings
from routeway.wiring import build_gateway

PACKAGE = Path(routeway.__file__).parent
TABLE_MODULE = Path(completion_routes.__file__)
# what generated clients call these operations: kept from when they were FastAPI routes
OPERATION_IDS = {
    "/v1/chat/completions": "chat_completions_v1_chat_completions_post",
    "/v1/completions": "completions_v1_completions_post",
    "/v1/messages": "messages_v1_messages_post",
    "/v1/responses": "create_response_v1_responses_post",
    "/v1/responses/compact": "compact_response_v1_responses_compact_post",
    "/v1/embeddings": "embeddings_v1_embeddings_post",
    "/v1/images/generations": "images_generations_v1_images_generations_post",
}
NOT_ALLOWED = MethodNotAllowed("This route does not accept that method.")


def string_constants(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def test_each_completion_path_is_named_once_in_the_package_in_the_table() -> None:
    named: dict[str, list[str]] = {}
    for module in sorted(PACKAGE.rglob("*.py")):
        for text in string_constants(module):
            if text.rstrip("/") in ROUTES:
                named.setdefault(text, []).append(str(module.relative_to(PACKAGE)))
    table = str(TABLE_MODULE.relative_to(PACKAGE))
    assert named == {path: [table] for path in ROUTES}
    assert sorted(ROUTES) == sorted(OPERATION_IDS)  # the table is the paths clients call, no more, no fewer


def test_the_walk_finds_paths_named_outside_the_table() -> None:
    """The check above can fail: a route module's literal path is found where it is written."""
    found = list(string_constants(PACKAGE / "http" / "routes" / "messages.py"))
    assert "/v1/messages/count_tokens" in found


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    """A local gateway with authentication on; no request here gets past the key check."""
    return build_gateway(Settings.from_env({"ROUTEWAY_HOME": str(tmp_path / "home"), "ROUTEWAY_STORE": "local"}))


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway, expose_openapi=True), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_timed_refusal(response: Any, route: CompletionRoute, error: GatewayError) -> None:
    assert response.status_code == error.status, response.text
    assert response.json() == route.error_body(error)
    assert response.headers[ATTEMPTS_HEADER] == "0"
    assert float(response.headers[HEADER]) >= 0


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_every_route_is_served_timed_rendered_and_documented(client: TestClient, path: str) -> None:
    route = ROUTES[path]
    fastapi_paths = {getattr(r, "path", None) for r in client.app.routes}  # type: ignore[attr-defined]
    assert path not in fastapi_paths  # served by the front, not by a FastAPI route
    refused = client.post(path, json={})
    assert_timed_refusal(refused, route, InvalidApiKey(refused.json()["error"]["message"]))
    for method in ("GET", "PUT", "DELETE"):
        assert_timed_refusal(client.request(method, path), route, NOT_ALLOWED)
    operation = client.get("/openapi.json").json()["paths"][path]["post"]
    assert operation["operationId"] == OPERATION_IDS[path]
    assert operation["requestBody"]["description"] == route.request


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_the_lean_app_serves_every_route_without_building_fastapi(gateway: Gateway, path: str) -> None:
    app = create_lean_app(lambda: gateway, ("completions",))
    client = TestClient(app)  # no lifespan: Lambda runs none (`Mangum(app, lifespan="off")`)
    assert_timed_refusal(client.get(path), ROUTES[path], NOT_ALLOWED)
    assert client.post(path, json={}).status_code == 401
    assert app.rest._app is None  # type: ignore[attr-defined]  # the full app was never needed


def test_errors_take_the_dialect_of_the_route_they_are_under(client: TestClient) -> None:
    """Anthropic's shape on the Messages routes (count_tokens, an unknown path under it), OpenAI's elsewhere."""
    messages = next(path for path, route in ROUTES.items() if route.error_body is anthropic_error)
    under = client.get(f"{messages}/no-such-thing")
    assert under.status_code == 404 and under.json() == anthropic_error(NotFound("No such route."))
    assert ATTEMPTS_HEADER not in under.headers and HEADER not in under.headers  # not a completion route
    elsewhere = client.get("/v1/no-such-thing")
    assert elsewhere.json() == openai_error(NotFound("No such route."))
    assert anthropic_error(NOT_ALLOWED) != openai_error(NOT_ALLOWED)  # the two shapes are told apart


def test_a_trailing_slash_is_redirected_to_the_route_and_a_root_path_is_matched(gateway: Gateway) -> None:
    path = next(iter(ROUTES))
    app = create_app(lambda: gateway)
    with TestClient(app, follow_redirects=False) as client:
        slashed = client.post(f"{path}/", json={})
        assert slashed.status_code == 307 and slashed.headers["location"].endswith(path)
        assert HEADER not in slashed.headers
    with TestClient(app, root_path="/prod") as behind_a_proxy:
        assert_timed_refusal(behind_a_proxy.get(path), ROUTES[path], NOT_ALLOWED)


def test_a_new_row_is_all_a_dialect_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialect added to the table alone is served, timed, rendered in its own error shape and documented."""

    async def teapot(_edge: Edge, request: Request) -> Response:
        return JSONBody({"brewed": (await request.json())["leaves"]})

    def teapot_error(exc: GatewayError) -> dict[str, Any]:
        return {"teapot_error": exc.message}

    path = "/v1/teapot"
    route = CompletionRoute(path, teapot, teapot_error, "A pot of tea.")
    monkeypatch.setitem(ROUTES, path, route)

    def no_gateway() -> Gateway:
        raise AssertionError("the teapot needs no gateway")

    with TestClient(create_app(no_gateway, expose_openapi=True)) as client:
        served = client.post(path, json={"leaves": "oolong"})
        assert served.json() == {"brewed": "oolong"} and float(served.headers[HEADER]) >= 0
        assert_timed_refusal(client.get(path), route, NOT_ALLOWED)
        assert client.get(f"{path}/cups").json() == teapot_error(NotFound("No such route."))
        operation = client.get("/openapi.json").json()["paths"][path]["post"]
        assert operation["operationId"] == "teapot_v1_teapot_post"
        assert operation["requestBody"]["description"] == "A pot of tea."
