"""The admin API (PRODUCT.md "A team's money"): admin keys only; keys and teams made and changed at runtime;
a spend report whose cost sums to what the clients were charged, as JSON and as CSV.

Every test runs on both stores (SQLite, and DynamoDB under moto), through the real app over HTTP.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from tests.conftest import FakeUpstream, register_secret

pytestmark = pytest.mark.both_stores

CHEAP = "openai/gpt-4o-mini"
OTHER = "mistralai/mistral-small-3.2-24b-instruct"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def admin(gateway: Gateway) -> Iterator[TestClient]:
    key, _ = create_key(gateway.state.sync, gateway.clock, "root", admin=True)
    with TestClient(create_app(lambda: gateway), headers={"authorization": f"Bearer {register_secret(key)}"}) as c:
        yield c


def chat(gateway: Gateway, key: str, model: str) -> httpx.Response:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        return client.post("/v1/chat/completions", json={"model": model, "messages": HI, "max_tokens": 50})


def test_only_admin_keys_may_call_it(gateway: Gateway, admin: TestClient) -> None:
    plain, _ = create_key(gateway.state.sync, gateway.clock, "plain")
    with TestClient(create_app(lambda: gateway)) as client:
        refused = client.get("/admin/v1/keys", headers={"x-api-key": register_secret(plain)})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert client.get("/admin/v1/spend").status_code == 401
        assert client.post("/admin/v1/teams", json={"name": "x"}, headers={"x-api-key": plain}).status_code == 403
    assert gateway.state.sync.list_teams() == []
    assert admin.get("/admin/v1/keys").status_code == 200


def test_a_key_made_by_the_admin_api_answers_at_once_and_the_spend_report_sums_to_the_charges(
    gateway: Gateway, upstream: FakeUpstream, admin: TestClient
) -> None:
    team = admin.post("/admin/v1/teams", json={"name": "research", "budget_usd": 5, "period": "month"})
    assert team.status_code == 201 and team.json()["budget"]["period"] == "month"
    made = admin.post("/admin/v1/keys", json={"name": "app", "team": "research", "budget_usd": 1, "period": "day"})
    assert made.status_code == 201
    body = made.json()
    secret = register_secret(body["key"])
    assert body["team"] == "research" and body["budget"]["spend_usd"] == 0 and "key_hash" not in body
    other = register_secret(admin.post("/admin/v1/keys", json={"name": "batch"}).json()["key"])
    charged = []
    for key, model in [(secret, CHEAP), (secret, OTHER), (other, CHEAP), (secret, CHEAP)]:
        answer = chat(gateway, key, model)
        assert answer.status_code == 200
        charged.append(answer.json()["usage"]["cost"])
    report = admin.get("/admin/v1/spend", params={"group_by": "key,model,day"}).json()
    assert report["object"] == "list" and report["group_by"] == ["key", "model", "day"]
    rows = {(r["key"], r["model"]): r for r in report["data"]}
    assert set(rows) == {("app", CHEAP), ("app", OTHER), ("batch", CHEAP)}
    assert rows[("app", CHEAP)]["requests"] == 2
    assert sum(r["cost_usd"] for r in report["data"]) == pytest.approx(sum(charged), abs=1e-9)
    by_team = admin.get("/admin/v1/spend", params={"group_by": "team"}).json()["data"]
    assert {r["team"]: r["requests"] for r in by_team} == {"research": 3, "": 1}
    as_csv = admin.get("/admin/v1/spend", params={"group_by": "key,model,day", "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(lines[0]) == ["key", "model", "day", "requests", "prompt_tokens", "completion_tokens", "cost_usd"]
    assert sum(float(line["cost_usd"]) for line in lines) == pytest.approx(sum(charged), abs=1e-9)
    burn = admin.get("/admin/v1/teams/research").json()["budget"]
    assert burn["spend_usd"] == pytest.approx(sum(charged[:2]) + charged[3], abs=1e-9)


def test_updates_and_revocations_take_effect_on_the_next_request(
    gateway: Gateway, upstream: FakeUpstream, admin: TestClient
) -> None:
    secret = register_secret(admin.post("/admin/v1/keys", json={"name": "app", "models": ["openai/*"]}).json()["key"])
    assert chat(gateway, secret, OTHER).status_code == 403
    changed = admin.patch("/admin/v1/keys/app", json={"models": None, "rpm": 100})
    assert changed.status_code == 200 and changed.json()["models"] == [] and changed.json()["rpm"] == 100
    assert chat(gateway, secret, OTHER).status_code == 200
    assert admin.delete("/admin/v1/keys/app").json() == {"name": "app", "revoked": True}
    assert chat(gateway, secret, CHEAP).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("post", "/admin/v1/keys", {"name": "k", "period": "fortnight"}, 400, "period"),
        ("post", "/admin/v1/keys", {"name": "k", "budget_usd": 0}, 400, "budget_usd"),
        ("post", "/admin/v1/keys", {"name": "k", "team": "ghosts"}, 404, "team"),
        ("post", "/admin/v1/keys", {"name": "k", "colour": "red"}, 400, "colour"),
        ("post", "/admin/v1/keys", {"budget_usd": 1}, 400, "name"),
        ("post", "/admin/v1/teams", {"name": "t", "budget_usd": -5}, 400, "budget_usd"),
        ("patch", "/admin/v1/keys/nobody", {"rpm": 5}, 404, "name"),
        ("patch", "/admin/v1/teams/nobody", {"rpm": 5}, 404, "name"),
        ("get", "/admin/v1/spend?group_by=key,colour", None, 400, "group_by"),
        ("get", "/admin/v1/spend?since=2026-12-06&until=2026-12-01", None, 400, "since"),
        ("get", "/admin/v1/spend?since=yesterday", None, 400, "since"),
        ("get", "/admin/v1/spend?format=xml", None, 400, "format"),
    ],
)
def test_bad_input_is_refused_with_its_param_and_changes_nothing(
    gateway: Gateway, admin: TestClient, method: str, path: str, body: dict[str, object] | None, status: int, param: str
) -> None:
    answer = admin.request(method.upper(), path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param
    assert [k.name for k in gateway.state.sync.list_keys()] == ["root"]
    assert gateway.state.sync.list_teams() == []


def test_a_name_taken_is_409(gateway: Gateway, admin: TestClient) -> None:
    assert admin.post("/admin/v1/teams", json={"name": "t"}).status_code == 201
    taken = admin.post("/admin/v1/teams", json={"name": "t"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_exists"
    assert admin.post("/admin/v1/keys", json={"name": "root"}).status_code == 409
