"""A team's money (PRODUCT.md "A team's money"): team and periodic budgets held as exactly as key budgets,
tpm and parallel limits, expiry, admin keys, and updates that take effect on the next request.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.domain.scopes import budget_scopes
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.services.people import create_team, update_key
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.openrouter import Scripted
from tests.servers import poll_until, serve_in_thread

pytestmark = pytest.mark.both_stores

BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 256}


PIECES = [  # a stream that stops after its first piece until the test lets it go on
    'data: {"id":"gen-slow","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n',
    'data: {"id":"gen-slow","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"cost":0.00002}}\n\n',
    "data: [DONE]\n\n",
]


class MovableClock:
    """The system clock moved forward by `ahead` seconds: periods and rate windows pass without waiting."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def now(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()


def key_for(gateway: Gateway, name: str, **limits: Any) -> str:
    key, _ = create_key(gateway.state.sync, gateway.clock, name, **limits)
    return register_secret(key)


def team_spend(gateway: Gateway, name: str) -> float:
    team = gateway.state.sync.find_team(name)
    (scope,) = budget_scopes(None, team, gateway.clock.now())
    return gateway.state.sync.budget_figures(scope.account).spend_usd


def post(gateway: Gateway, key: str, body: dict[str, Any] = BODY) -> httpx.Response:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        return client.post("/v1/chat/completions", json=body)


def test_forty_requests_from_two_keys_never_pass_their_team_budget(gateway: Gateway, upstream: FakeUpstream) -> None:
    budget = 0.001
    create_team(gateway.state.sync, gateway.clock, "research", {"budget_usd": budget, "period": "day"})
    keys = [key_for(gateway, "alice", team="research"), key_for(gateway, "bob", team="research", budget_usd=5.0)]

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(lambda: gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            calls = [
                client.post("/v1/chat/completions", json=BODY, headers={"x-api-key": keys[i % 2]}, timeout=60)
                for i in range(40)
            ]
            return list(await asyncio.gather(*calls))

    answers = asyncio.run(burst())
    assert {a.status_code for a in answers} == {200, 402}
    refusals = [a.json()["error"] for a in answers if a.status_code == 402]
    assert all(r["scope"] == "team" and r["team"] == "research" and r["period"] == "day" for r in refusals)
    assert all(r["resets_at"].endswith("T00:00:00Z") for r in refusals)
    paid = [a.json()["usage"]["cost"] for a in answers if a.status_code == 200]
    spend = team_spend(gateway, "research")
    assert 0 < spend <= budget
    assert spend == pytest.approx(sum(paid), abs=1e-9)
    assert len(upstream.fake.chat_requests()) == len(paid)


def test_a_one_minute_period_refuses_when_spent_and_answers_after_the_boundary(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    gateway.clock = clock = MovableClock()
    clock.ahead = 60 - time.time() % 60 + 1  # one second into a minute: the test has 58 s before the next
    key = key_for(gateway, "minutely", budget_usd=0.0002, period="1m")
    body = {**BODY, "max_tokens": 100}
    answers = [post(gateway, key, body)]
    while answers[-1].status_code == 200 and len(answers) < 60:
        answers.append(post(gateway, key, body))
    assert answers[0].status_code == 200 and answers[-1].status_code == 402
    error = answers[-1].json()["error"]
    assert error["scope"] == "key" and error["period"] == "1m"
    minute_end = int(clock.now() // 60 + 1) * 60
    assert error["resets_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute_end))
    clock.ahead += 60  # the next minute: no job ran, its counter starts at zero
    assert post(gateway, key, body).status_code == 200


def test_tpm_refuses_with_retry_after_and_admits_the_next_minute(gateway: Gateway, upstream: FakeUpstream) -> None:
    gateway.clock = clock = MovableClock()
    clock.ahead = 60 - time.time() % 60 + 1
    key = key_for(gateway, "tokens", tpm=200)
    first = post(gateway, key, {**BODY, "max_tokens": 150})  # counted at its estimate, then at what it used
    assert first.status_code == 200
    used = first.json()["usage"]["total_tokens"]
    body = {**BODY, "max_tokens": 200 - used}  # its estimate (a few prompt tokens + max_tokens) no longer fits
    refused = post(gateway, key, body)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and error["limit"] == "tpm" and error["scope"] == "key"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    clock.ahead += 60
    assert post(gateway, key, body).status_code == 200


def test_team_rpm_counts_every_key_of_the_team(gateway: Gateway, upstream: FakeUpstream) -> None:
    gateway.clock = clock = MovableClock()
    clock.ahead = 60 - time.time() % 60 + 1
    create_team(gateway.state.sync, gateway.clock, "bots", {"rpm": 3})
    keys = [key_for(gateway, f"bot{i}", team="bots") for i in range(2)]
    statuses = [post(gateway, keys[i % 2]).status_code for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    error = post(gateway, keys[0]).json()["error"]
    assert error["scope"] == "team" and error["limit"] == "rpm" and error["team"] == "bots"


def test_updates_take_effect_on_the_next_request_and_a_new_period_starts_empty(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key = key_for(gateway, "changing", budget_usd=0.0001)
    assert post(gateway, key).status_code == 402  # 256 tokens may cost more than that
    update_key(gateway.state.sync, gateway.clock, "changing", {"budget_usd": 0.0003})
    assert post(gateway, key).status_code == 200
    answers = [post(gateway, key)]
    while answers[-1].status_code == 200 and len(answers) < 100:  # spend the lifetime budget
        answers.append(post(gateway, key))
    refusal = answers[-1].json()["error"]
    assert refusal["period"] == "total" and "resets_at" not in refusal
    update_key(gateway.state.sync, gateway.clock, "changing", {"period": "day"})
    assert post(gateway, key).status_code == 200  # the day's budget: the lifetime spend is not carried in
    update_key(gateway.state.sync, gateway.clock, "changing", {"period": "total"})
    assert post(gateway, key).status_code == 200  # a new lifetime starts at the change too


def test_max_parallel_refuses_a_second_request_while_the_first_is_in_flight(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key = key_for(gateway, "one-at-a-time", max_parallel=1)
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=PIECES, gate=release, gate_after=1))
    with serve_in_thread(create_app(lambda: gateway)) as url, httpx.Client(base_url=url, timeout=30) as client:
        headers = {"x-api-key": key}
        with client.stream("POST", "/v1/chat/completions", json={**BODY, "stream": True}, headers=headers) as first:
            assert first.status_code == 200
            second = client.post("/v1/chat/completions", json=BODY, headers=headers)
            assert second.status_code == 429 and second.json()["error"]["limit"] == "parallel"
            release.set()
            first.read()
        poll_until(
            lambda: client.post("/v1/chat/completions", json=BODY, headers=headers).status_code == 200,
            what="the slot given back",
        )


def test_an_expired_key_is_401_and_an_admin_key_calls_no_model(gateway: Gateway, upstream: FakeUpstream) -> None:
    expired = key_for(gateway, "old", expires_at="2020-01-01")
    answer = post(gateway, expired)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "key_expired"
    admin = key_for(gateway, "root", admin=True)
    answer = post(gateway, admin)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert upstream.fake.chat_requests() == []


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"period": "fortnight"}, "period"),
        ({"period": "0m"}, "period"),
        ({"budget_usd": 0}, "budget_usd"),
        ({"budget_usd": -1.0}, "budget_usd"),
        ({"team": "nobody"}, "team"),
        ({"alert_at": "1.5"}, "alert_at"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"rpm": 0}, "rpm"),
    ],
)
def test_bad_limits_are_refused_with_their_param_and_change_nothing(
    gateway: Gateway, fields: dict[str, Any], param: str
) -> None:
    from routeway.errors import GatewayError

    key_for(gateway, "steady", budget_usd=1.0)
    with pytest.raises(GatewayError) as caught:
        update_key(gateway.state.sync, gateway.clock, "steady", fields)
    assert caught.value.param == param and caught.value.status in (400, 404)
    with pytest.raises(GatewayError) as caught:
        create_key(gateway.state.sync, gateway.clock, "fresh", **fields)
    assert caught.value.param == param
    (record,) = gateway.state.sync.list_keys()
    assert record.name == "steady" and record.budget_usd == 1.0 and record.period == "total"
    with pytest.raises(GatewayError) as caught:
        update_key(gateway.state.sync, gateway.clock, "nobody", {"rpm": 5})
    assert caught.value.status == 404 and caught.value.param == "name"


def test_an_alert_at_half_the_budget_reaches_the_webhook_once(
    env: dict[str, str], upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from routeway.settings import Settings
    from routeway.wiring import build_gateway

    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    hook_app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve_in_thread(hook_app) as hook_url:
        gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_ALERT_WEBHOOK": f"{hook_url}/hook"}))
        bus = EventBridgeWatcher() if gateway.settings.store == "aws" else None
        team = {"budget_usd": 0.0004, "period": "week", "alert_at": "0.5,0.9"}
        create_team(gateway.state.sync, gateway.clock, "lab", team)
        key = key_for(gateway, "lab-bot", team="lab")
        body = {**BODY, "max_tokens": 40}
        with serve_in_thread(create_app(lambda: gateway)) as url, httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(100):  # until half the week's budget is spent
                spend = team_spend(gateway, "lab")
                if spend >= 0.0002:
                    break
                answer = client.post("/v1/chat/completions", json=body, headers={"x-api-key": key})
                assert answer.status_code == 200
                poll_until(lambda s=spend: team_spend(gateway, "lab") > s, what="the charge")
            poll_until(lambda: any(a["threshold"] == 0.5 for a in received), what="the webhook's alert")
            for _ in range(2):  # more spend past the same threshold sends nothing more for it
                answer = client.post("/v1/chat/completions", json=body, headers={"x-api-key": key})
                assert answer.status_code == 200
        halves = [a for a in received if a["threshold"] == 0.5]
    assert len(halves) == 1
    alert = halves[0]
    assert alert["scope"] == "team" and alert["name"] == "lab" and alert["team"] == "lab"
    assert alert["period"] == "week" and alert["period_start"].endswith("T00:00:00Z")
    assert alert["budget_usd"] == 0.0004 and 0.0002 <= alert["spend_usd"] <= 0.0004
    assert any("budget threshold crossed" in r.getMessage() for r in caplog.records)
    if bus is not None:  # the same detail as an EventBridge event, once, that a rule can route
        events = bus.received()
        assert [e["detail-type"] for e in events if e["detail"]["threshold"] == 0.5] == ["Budget threshold crossed"]
        assert events[0]["source"] == "routeway" and events[0]["detail"]["name"] == "lab"


class EventBridgeWatcher:
    """A rule on the default bus (source `routeway`) sending to an SQS queue, as an operator would set one up."""

    def __init__(self) -> None:
        import boto3

        self.sqs = boto3.client("sqs")
        self.queue = self.sqs.create_queue(QueueName="budget-alerts")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = boto3.client("events")
        events.put_rule(Name="budget-alerts", EventPattern=json.dumps({"source": ["routeway"]}))
        events.put_targets(Rule="budget-alerts", Targets=[{"Id": "queue", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


def test_a_key_moved_between_teams_mid_flight_leaves_no_hold_behind(gateway: Gateway, upstream: FakeUpstream) -> None:
    for team in ("red", "blue"):
        create_team(gateway.state.sync, gateway.clock, team, {"budget_usd": 1.0, "period": "month"})
    key = key_for(gateway, "mover", team="red")
    release = threading.Event()
    upstream.fake.enqueue(Scripted(stream=PIECES, gate=release, gate_after=1))
    red = budget_scopes(None, gateway.state.sync.find_team("red"), gateway.clock.now())[0].account
    blue = budget_scopes(None, gateway.state.sync.find_team("blue"), gateway.clock.now())[0].account
    with serve_in_thread(create_app(lambda: gateway)) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = {**BODY, "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body, headers={"x-api-key": key}) as answer:
            assert answer.status_code == 200
            poll_until(lambda: gateway.state.sync.budget_figures(red).held_usd > 0, what="the hold on red")
            update_key(gateway.state.sync, gateway.clock, "mover", {"team": "blue"})
            release.set()
            answer.read()
        poll_until(lambda: gateway.state.sync.budget_figures(red).held_usd == 0, what="red's hold settled")
    assert gateway.state.sync.budget_figures(red).spend_usd == pytest.approx(0.00002)
    untouched = gateway.state.sync.budget_figures(blue)
    assert (untouched.spend_usd, untouched.held_usd) == (0.0, 0.0)
    assert gateway.state.sync.open_holds(int(time.time()) + 10**6) == []


def test_get_key_reports_the_current_periods_spend_and_when_it_resets(gateway: Gateway, upstream: FakeUpstream) -> None:
    key = key_for(gateway, "daily", budget_usd=1.0, period="day")
    answer = post(gateway, key)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        summary = client.get("/v1/key").json()
    assert summary["period"] == "day" and summary["resets_at"].endswith("T00:00:00Z")
    assert summary["period_spend_usd"] == pytest.approx(answer.json()["usage"]["cost"])
    assert summary["spend_usd"] == pytest.approx(answer.json()["usage"]["cost"])  # its lifetime spend too
