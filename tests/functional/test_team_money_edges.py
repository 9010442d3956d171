"""A team's money at its edges (RELIABILITY 57-62): period boundaries and changes while requests are in
flight, tpm and parallel limits under concurrency, admin keys revoked, spreadsheet-safe CSV, alerts whose
webhook hangs.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.domain.records import Rollup
from routeway.domain.scopes import budget_scopes
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.people import create_team, update_key
from routeway.services.spend import as_csv, spend_rows
from tests.conftest import FakeUpstream
from tests.fakes.openrouter import Scripted
from tests.functional.test_team_money import BODY, PIECES, MovableClock, key_for
from tests.servers import poll_until, serve_in_thread

pytestmark = pytest.mark.both_stores


@pytest.fixture
def served(gateway: Gateway) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(lambda: gateway)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def key_account(gateway: Gateway, name: str, at: float) -> str:
    (record,) = [k for k in gateway.state.sync.list_keys() if k.name == name]
    return budget_scopes(record, None, at)[0].account


def test_rel_57_a_hold_taken_before_a_period_boundary_is_charged_to_its_own_period(
    gateway: Gateway, upstream: FakeUpstream, served: httpx.Client
) -> None:
    gateway.clock = clock = MovableClock()
    key = key_for(gateway, "edge", budget_usd=1.0, period="1m")
    taken_at = clock.now()
    first = key_account(gateway, "edge", taken_at)
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=PIECES, gate=release, gate_after=1))
    with served.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}, headers={"x-api-key": key}) as a:
        assert a.status_code == 200
        poll_until(lambda: gateway.state.sync.budget_figures(first).held_usd > 0, what="the hold")
        clock.ahead += 60  # the next minute begins while the request is in flight
        release.set()
        a.read()
    poll_until(lambda: gateway.state.sync.budget_figures(first).held_usd == 0, what="the settle")
    assert gateway.state.sync.budget_figures(first).spend_usd == pytest.approx(0.00002)
    second = key_account(gateway, "edge", clock.now())
    assert second != first
    assert gateway.state.sync.budget_figures(second).spend_usd == 0.0  # the new period starts at zero


def test_rel_58_a_period_changed_while_a_request_is_in_flight_loses_no_hold_and_locks_nothing(
    gateway: Gateway, upstream: FakeUpstream, served: httpx.Client
) -> None:
    key = key_for(gateway, "changer", budget_usd=0.0004, period="day")
    day = key_account(gateway, "changer", gateway.clock.now())
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=PIECES, gate=release, gate_after=1))
    with served.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}, headers={"x-api-key": key}) as a:
        poll_until(lambda: gateway.state.sync.budget_figures(day).held_usd > 0, what="the hold")
        update_key(gateway.state.sync, gateway.clock, "changer", {"period": "week", "budget_usd": 0.0003})
        release.set()
        a.read()
    poll_until(lambda: gateway.state.sync.budget_figures(day).held_usd == 0, what="the settle")
    assert gateway.state.sync.budget_figures(day).spend_usd == pytest.approx(0.00002)  # once, where it was held
    week = key_account(gateway, "changer", gateway.clock.now())
    assert week != day and gateway.state.sync.budget_figures(week).spend_usd == 0.0
    assert served.post("/v1/chat/completions", json=BODY, headers={"x-api-key": key}).status_code == 200
    poll_until(lambda: gateway.state.sync.open_holds(2**40) == [], what="every hold settled")


def test_rel_59_tpm_is_never_exceeded_under_concurrency(gateway: Gateway, upstream: FakeUpstream) -> None:
    gateway.clock = clock = MovableClock()
    clock.ahead = 60 - clock.now() % 60 + 1  # one second into a minute
    key = key_for(gateway, "tokens", tpm=1000)
    body = {**BODY, "max_tokens": 200}

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(lambda: gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers={"x-api-key": key}) as c:
            return list(await asyncio.gather(*(c.post("/v1/chat/completions", json=body) for _ in range(20))))

    answers = asyncio.run(burst())
    admitted = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert admitted and refused and len(admitted) + len(refused) == 20
    assert all(a.json()["error"]["limit"] == "tpm" and int(a.headers["retry-after"]) >= 1 for a in refused)
    assert sum(a.json()["usage"]["total_tokens"] for a in admitted) <= 1000


def test_rel_59_parallel_is_never_exceeded_under_concurrency(
    gateway: Gateway, upstream: FakeUpstream, served: httpx.Client
) -> None:
    create_team(gateway.state.sync, gateway.clock, "pair", {"max_parallel": 2})
    keys = [key_for(gateway, f"member{i}", team="pair") for i in range(3)]
    release = threading.Event()
    for _ in range(3):
        upstream.fake.enqueue(Scripted(stream=PIECES, gate=release, gate_after=1))
    streams = [
        served.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}, headers={"x-api-key": k})
        for k in keys
    ]
    opened = [s.__enter__() for s in streams]
    try:
        statuses = sorted(o.status_code for o in opened)
        assert statuses == [200, 200, 429]
        refused = next(o for o in opened if o.status_code == 429)
        refused.read()
        assert refused.json()["error"]["scope"] == "team" and refused.headers["retry-after"] == "1"
    finally:
        release.set()
        for stream in streams:
            stream.__exit__(None, None, None)


def test_rel_60_a_revoked_admin_key_is_refused_at_once(gateway: Gateway) -> None:
    admin = key_for(gateway, "boss", admin=True)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": admin}) as client:
        assert client.get("/admin/v1/keys").status_code == 200
        gateway.state.sync.revoke_key("boss")
        assert client.get("/admin/v1/keys").status_code == 401


def test_rel_61_csv_cells_never_run_as_spreadsheet_formulas() -> None:
    lines = [Rollup("2026-12-06", "ops", '=HYPERLINK("x")', "@team", 1, 1, 1, 0.5)]
    text = as_csv(spend_rows(lines, ["key", "model", "team"]), ["key", "model", "team"])
    (row,) = list(csv.reader(io.StringIO(text)))[1:]
    assert row[:3] == ["ops", '\'=HYPERLINK("x")', "'@team"]


def test_rel_62_a_hanging_webhook_never_delays_an_answer(env: dict[str, str], upstream: FakeUpstream) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    called, release = threading.Event(), threading.Event()

    async def hang(_request: Request) -> Response:
        called.set()
        await asyncio.to_thread(release.wait, 20)
        return Response(status_code=500)

    with serve_in_thread(Starlette(routes=[Route("/hook", hang, methods=["POST"])])) as hook:
        gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_ALERT_WEBHOOK": f"{hook}/hook"}))
        key = key_for(gateway, "alerted", budget_usd=0.0001, alert_at="0.01")
        with serve_in_thread(create_app(lambda: gateway)) as url, httpx.Client(base_url=url, timeout=30) as c:
            try:
                first = c.post("/v1/chat/completions", json={**BODY, "max_tokens": 20}, headers={"x-api-key": key})
                assert first.status_code == 200
                poll_until(called.is_set, what="the webhook called")
                second = c.post("/v1/chat/completions", json={**BODY, "max_tokens": 20}, headers={"x-api-key": key})
                assert second.status_code == 200 and not release.is_set()  # answered while the webhook hangs
            finally:
                release.set()


def test_rel_59_a_request_refused_after_its_tokens_were_counted_gives_them_back(
    gateway: Gateway, upstream: FakeUpstream, served: httpx.Client
) -> None:
    gateway.clock = clock = MovableClock()
    clock.ahead = 60 - clock.now() % 60 + 1
    key = key_for(gateway, "both", tpm=400, max_parallel=1)
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=PIECES, gate=release, gate_after=1))
    body = {**BODY, "max_tokens": 150}
    with served.stream("POST", "/v1/chat/completions", json={**body, "stream": True}, headers={"x-api-key": key}) as a:
        assert a.status_code == 200
        for _ in range(3):  # each counted ~155 tokens, then refused for parallel: the count must come back
            refused = served.post("/v1/chat/completions", json=body, headers={"x-api-key": key})
            assert refused.status_code == 429 and refused.json()["error"]["limit"] == "parallel"
        release.set()
        a.read()
    poll_until(
        lambda: served.post("/v1/chat/completions", json=body, headers={"x-api-key": key}).status_code == 200,
        what="tpm room back",
    )
