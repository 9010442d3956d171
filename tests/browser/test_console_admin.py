"""The console's admin views (issue 31, PRODUCT.md "A team's money" → Console), in headless Chromium against the
served gateway and the fake OpenRouter: teams and keys made, edited and revoked in the page, the spend chart
against GET /admin/v1/spend, each budget's burn, and what a gateway key sees there.

Each check compares the page with what the API itself answers; screenshots go to console-screenshots/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from routeway.clock import SystemClock
from routeway.gateway import Gateway
from routeway.services.keys import create_key
from tests.browser.conftest import Tab
from tests.browser.test_console import api, signed_in
from tests.conftest import register_secret
from tests.servers import poll_until

CHEAP = "openai/gpt-4o-mini"
OTHER = "mistralai/mistral-small-3.2-24b-instruct"


class ShiftedClock(SystemClock):
    """The wall clock moved by whole days, so a test spends on earlier days without waiting for them."""

    def __init__(self) -> None:
        self.days = 0

    def now(self) -> float:
        return super().now() + self.days * 86_400


@pytest.fixture
def console_clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def admin_key(console_gateway: Gateway) -> str:
    made, _ = create_key(console_gateway.state.sync, console_gateway.clock, "root", admin=True)
    return register_secret(made)


@pytest.fixture
def gateway_key(console_gateway: Gateway) -> str:
    made, _ = create_key(console_gateway.state.sync, console_gateway.clock, "plain")
    return register_secret(made)


def chat(tab: Tab, key: str, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 50}
    return api(tab, key, "POST", "/v1/chat/completions", json=body)


def cells(tab: Tab, selector: str, script: str) -> Any:
    return tab.page.eval_on_selector_all(selector, script)


def test_an_admin_makes_a_team_and_a_key_that_answers_at_once_then_edits_and_revokes_it(
    tab: Tab, admin_key: str, screenshots: Path
) -> None:
    signed_in(tab, admin_key, "#/teams")
    tab.page.fill("#t-name", "research")
    tab.page.fill("#t-budget-usd", "5")
    tab.page.fill("#t-period", "month")
    tab.page.click("#team-form button[type=submit]")
    tab.page.wait_for_selector('#teams-table tr[data-name="research"]')
    team = api(tab, admin_key, "GET", "/admin/v1/teams/research").json()
    assert team["budget_usd"] == 5 and team["period"] == "month"
    assert tab.text('#teams-table tr[data-name="research"] td.budget-col') == "$5.00 / month"

    tab.page.fill("#k-name", "app")
    tab.page.select_option("#k-team", "research")
    tab.page.fill("#k-budget-usd", "1")
    tab.page.fill("#k-period", "day")
    tab.page.click("#key-form button[type=submit]")
    secret = register_secret(tab.text("#new-key-secret"))
    assert secret.startswith("rw-") and "shown this once" in tab.text("#new-key")
    made = api(tab, admin_key, "GET", "/admin/v1/keys/app").json()
    assert made["team"] == "research" and made["budget_usd"] == 1 and made["period"] == "day"
    assert secret[: len(made["prefix"])] == made["prefix"] and "key" not in made
    tab.page.wait_for_selector('#keys-table tr[data-name="app"]')
    assert tab.text('#keys-table tr[data-name="app"] td.team') == "research"
    tab.page.click("#copy-key")
    tab.page.wait_for_function("() => document.getElementById('copy-status').textContent !== ''")
    tab.page.screenshot(path=screenshots / "admin-new-key.png", full_page=True)

    answer = chat(tab, secret, CHEAP)  # at once: no restart, no cache to wait out
    assert answer.status_code == 200, answer.text

    # shown once: dismissed, or the page reloaded, the secret is nowhere in the page or the tab's storage
    tab.page.click("#new-key-done")
    assert tab.page.query_selector("#new-key") is None
    tab.page.reload()
    tab.wait_rendered()
    assert secret not in tab.page.content()
    assert secret not in str(tab.page.evaluate("() => Object.values(sessionStorage)"))
    assert all(secret not in r.url for r in tab.requests)

    # edit the budget in the page; the API sees it, and nothing else changed
    tab.page.click('#keys-table tr[data-name="app"] button.edit')
    assert tab.page.input_value("#e-budget-usd") == "1" and tab.page.input_value("#e-team") == "research"
    tab.page.fill("#e-budget-usd", "2.5")
    tab.page.screenshot(path=screenshots / "admin-edit.png", full_page=True)
    tab.page.click("#edit-form button[type=submit]")
    tab.page.wait_for_function(
        "() => document.querySelector('#keys-table tr[data-name=\"app\"] td.budget-col').textContent === '$2.50 / day'"
    )
    edited = api(tab, admin_key, "GET", "/admin/v1/keys/app").json()
    assert edited["budget_usd"] == 2.5 and edited["period"] == "day" and edited["team"] == "research"
    assert edited["budget"]["spend_usd"] == pytest.approx(answer.json()["usage"]["cost"])
    assert tab.page.query_selector("#edit-panel") is None

    # a refusal shows the API's own message and the field it names; nothing changes
    tab.expected_statuses.add(400)
    refused = api(tab, admin_key, "PATCH", "/admin/v1/keys/app", json={"rpm": 1.5}).json()["error"]
    tab.page.click('#keys-table tr[data-name="app"] button.edit')
    tab.page.fill("#e-rpm", "1.5")
    tab.page.click("#edit-form button[type=submit]")
    tab.page.wait_for_selector("#edit-error:not([hidden])")
    assert tab.text("#edit-error") == f"{refused['message']} (param: rpm)"
    assert api(tab, admin_key, "GET", "/admin/v1/keys/app").json()["rpm"] is None
    tab.page.click("#edit-cancel")

    # a team's limits are edited the same way; a second key of the same name is refused with the API's words
    tab.page.click('#teams-table tr[data-name="research"] button.edit')
    tab.page.fill("#e-budget-usd", "8")
    tab.page.fill("#e-alert-at", "0.5,0.9")
    tab.page.click("#edit-form button[type=submit]")
    tab.page.wait_for_selector("#edit-panel", state="detached")
    team = api(tab, admin_key, "GET", "/admin/v1/teams/research").json()
    assert team["budget_usd"] == 8 and team["alert_at"] == [0.5, 0.9] and team["period"] == "month"
    assert tab.text('#teams-table tr[data-name="research"] td.alerts') == "0.5, 0.9"
    tab.expected_statuses.add(409)
    tab.page.fill("#k-name", "app")
    tab.page.click("#key-form button[type=submit]")
    tab.page.wait_for_selector("#key-form-error:not([hidden])")
    assert tab.text("#key-form-error") == "A key named 'app' exists. (param: name)"
    assert tab.page.query_selector('#keys-table tr[data-name="root"] button.revoke') is None  # never yourself

    # revoke takes two clicks; then the key gets 401
    revoke = '#keys-table tr[data-name="app"] button.revoke'
    tab.page.click(revoke)
    assert tab.text(revoke) == "Confirm revoke" and chat(tab, secret, CHEAP).status_code == 200
    tab.page.click(revoke)
    tab.page.wait_for_selector('#keys-table tr.revoked[data-name="app"]')
    assert api(tab, admin_key, "GET", "/admin/v1/keys/app").json()["revoked"] is True
    gone = chat(tab, secret, CHEAP)
    assert gone.status_code == 401, gone.text
    tab.page.screenshot(path=screenshots / "admin-teams.png", full_page=True)


def days(ago: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=ago)).isoformat()


def spent_requests(tab: Tab, admin_key: str) -> int:
    params = {"group_by": "day", "since": days(13), "until": days(0)}
    return sum(row["requests"] for row in api(tab, admin_key, "GET", "/admin/v1/spend", params=params).json()["data"])


def segments(tab: Tab) -> dict[str, dict[str, float]]:
    """{day: {series: cost}} as drawn: each bar group's segments."""
    groups = cells(
        tab,
        "#spend-chart g.day",
        "gs => gs.map(g => [g.dataset.day, [...g.querySelectorAll('rect.segment')]"
        ".map(r => [r.dataset.series, Number(r.dataset.cost)])])",
    )
    return {day: dict(parts) for day, parts in groups}


def by_day(rows: list[dict[str, Any]], field: str) -> dict[str, dict[str, float]]:
    expected: dict[str, dict[str, float]] = {}
    for row in rows:
        expected.setdefault(row["day"], {})[row[field]] = row["cost_usd"]
    return expected


def check_chart(tab: Tab, admin_key: str, field: str, since: str) -> list[dict[str, Any]]:
    """The chart and its table against GET /admin/v1/spend grouped the same way; the report's rows."""
    report = api(tab, admin_key, "GET", "/admin/v1/spend", params={"group_by": f"day,{field}", "since": since}).json()
    drawn = segments(tab)
    assert list(drawn) == [
        (datetime.fromisoformat(since) + timedelta(days=n)).date().isoformat() for n in range(len(drawn))
    ]
    assert list(drawn)[-1] == report["until"]  # one bar group per day of the range, today last
    spent = {day: parts for day, parts in drawn.items() if parts}
    expected = by_day(report["data"], field)
    assert spent.keys() == expected.keys()
    for day, parts in expected.items():
        assert spent[day] == pytest.approx(parts, abs=1e-12)
        total = float(tab.page.eval_on_selector(f'#spend-chart g.day[data-day="{day}"]', "g => g.dataset.total"))
        assert total == pytest.approx(sum(parts.values()), abs=1e-12)
    legend = cells(tab, "#spend-legend li", "items => items.map(i => i.dataset.series)")
    assert sorted(legend) == sorted({row[field] for row in report["data"]})
    script = "rows => rows.map(r => [r.dataset.day, r.dataset.series, r.dataset.cost])"
    table = cells(tab, "#spend-table tbody tr", script)
    assert [(d, s, pytest.approx(float(c))) for d, s, c in table] == [
        (row["day"], row[field], row["cost_usd"]) for row in report["data"]
    ]
    return list(report["data"])


def test_the_spend_chart_stacks_each_days_spend_as_the_report_does_and_burn_bars_show_each_budget(
    tab: Tab, admin_key: str, console_clock: ShiftedClock, screenshots: Path
) -> None:
    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        made = api(tab, admin_key, "POST", f"/admin/v1/{path}", json=body)
        assert made.status_code == 201, made.text
        return dict(made.json())

    post("teams", {"name": "research", "budget_usd": 10, "period": "month"})
    alpha_body = {"name": "alpha", "team": "research", "budget_usd": 5, "period": "day"}
    alpha = register_secret(post("keys", alpha_body)["key"])
    beta = register_secret(post("keys", {"name": "beta"})["key"])
    charged: dict[tuple[int, str], float] = {}  # (days ago, key) -> what the client was charged
    plan = [(3, alpha, CHEAP), (3, beta, OTHER), (1, alpha, OTHER), (0, alpha, CHEAP), (0, beta, CHEAP)]
    plan += [(0, alpha, OTHER), (0, beta, OTHER)]
    for made, (days_ago, key, model) in enumerate(plan, 1):
        console_clock.days = -days_ago
        answer = chat(tab, key, model)
        assert answer.status_code == 200, answer.text
        cost = answer.json()["usage"]["cost"]
        charged[(days_ago, key)] = charged.get((days_ago, key), 0.0) + cost
        # an unbudgeted key's charge is written after its answer: let it land on this day before moving the clock
        poll_until(lambda n=made: spent_requests(tab, admin_key) == n, 10, "the charge's spend rollup")
    console_clock.days = 0
    since = days(13)

    signed_in(tab, admin_key, "#/spend")
    rows = check_chart(tab, admin_key, "model", since)
    assert {(row["day"], row["model"]) for row in rows} == {(days(ago), model) for ago, _, model in plan}
    assert sum(row["cost_usd"] for row in rows) == pytest.approx(sum(charged.values()), abs=1e-9)
    tab.page.screenshot(path=screenshots / "admin-spend-by-model.png", full_page=True)

    tab.page.select_option("#s-by", "key")
    assert tab.page.evaluate("() => location.hash") == "#/spend?by=key&days=14"
    tab.wait_rendered()
    assert {row["key"] for row in check_chart(tab, admin_key, "key", since)} == {"alpha", "beta"}
    tab.page.select_option("#s-by", "team")
    tab.wait_rendered()
    assert {row["team"] for row in check_chart(tab, admin_key, "team", since)} == {"research", ""}

    # burn: the budgeted key and team, each against what the API says of its current period
    for scope, name, path in [("key", "alpha", "keys/alpha"), ("team", "research", "teams/research")]:
        burn = api(tab, admin_key, "GET", f"/admin/v1/{path}").json()["budget"]
        bar = f'#burn .burn[data-scope="{scope}"][data-name="{name}"]'
        drawn = tab.page.eval_on_selector(bar, "b => [b.dataset.spend, b.dataset.budget, b.dataset.resets]")
        assert [float(drawn[0]), float(drawn[1]), drawn[2]] == [
            pytest.approx(burn["spend_usd"]),
            burn["budget_usd"],
            burn["resets_at"],
        ]
        assert burn["spend_usd"] > 0
        width = tab.page.eval_on_selector(f"{bar} rect.spent", "r => Number(r.getAttribute('width'))")
        assert width == pytest.approx(max(1.0, burn["spend_usd"] / burn["budget_usd"] * 240), abs=0.01)
    # alpha's budget is per day: its burn is today's spend alone, though the chart shows its earlier days
    assert float(tab.page.eval_on_selector('#burn .burn[data-name="alpha"]', "b => b.dataset.spend")) == (
        pytest.approx(charged[(0, alpha)])
    )
    assert tab.page.query_selector('#burn .burn[data-name="beta"]') is None  # no budget, no bar
    tab.page.screenshot(path=screenshots / "admin-spend-by-team.png", full_page=True)


def test_a_gateway_key_is_told_the_admin_views_need_an_admin_key_and_the_others_still_work(
    tab: Tab, gateway_key: str
) -> None:
    tab.expected_statuses.add(403)
    refused = api(tab, gateway_key, "GET", "/admin/v1/keys")
    assert refused.status_code == 403
    message = refused.json()["error"]["message"]
    signed_in(tab, gateway_key, "#/teams")
    notice = tab.text("#admin-needed")
    assert "An admin key is needed" in notice and message in notice
    assert tab.page.query_selector("#keys-table") is None
    tab.go("#/spend")
    assert message in tab.text("#admin-needed") and tab.page.query_selector("#spend-chart") is None
    tab.go("#/key")
    assert tab.text("#key-budget") == "no budget"
    tab.go("#/models")
    assert cells(tab, "#models-table tbody tr", "rows => rows.length") > 0
