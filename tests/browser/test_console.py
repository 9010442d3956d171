"""The operator console's Done-when (issue 21), in headless Chromium against the served gateway.

Each view is compared with what the API itself answers for the same question, and screenshotted
into <pytest base temp>/console-screenshots/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from routeway.gateway import Gateway
from routeway.services.keys import create_key
from tests.browser.conftest import Tab
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.openrouter import Scripted

COST_CAP = 0.001


@pytest.fixture
def key(console_gateway: Gateway) -> str:
    made, _ = create_key(
        console_gateway.state.sync,
        console_gateway.clock,
        "console-tester",
        budget_usd=5.0,
        rpm=60,
        models=("openai/*",),
    )
    return register_secret(made)


def api(tab: Tab, key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, f"{tab.base_url}{path}", headers=headers, timeout=30.0, **kwargs)


def signed_in(tab: Tab, key: str, hash_part: str = "") -> None:
    tab.open(hash_part)
    tab.sign_in(key)
    tab.wait_rendered()


def test_signing_in_keeps_the_key_in_session_storage_and_sends_it_as_a_bearer_header(tab: Tab, key: str) -> None:
    signed_in(tab, key, "#/key")
    assert tab.page.evaluate("() => Object.values(sessionStorage)") == [key]
    assert tab.page.evaluate("() => localStorage.length") == 0
    assert all(key not in r.url for r in tab.requests)  # never in a URL
    calls = [r for r in tab.requests if "/v1/" in r.url]
    assert calls and all(r.headers.get("authorization") == f"Bearer {key}" for r in calls)
    assert tab.page.is_hidden("#sign-in") and tab.page.is_visible("#nav")


def test_models_view_lists_exactly_the_models_that_output_image_and_text(tab: Tab, key: str, screenshots: Path) -> None:
    signed_in(tab, key, "#/models?output=image,text&match=all")
    answer = api(tab, key, "GET", "/v1/models", params={"output_modalities": "image,text", "match": "all"}).json()
    expected = {m["id"] for m in answer["data"]}
    shown = tab.page.eval_on_selector_all("#models-table tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.id)")
    assert sorted(shown) == sorted(expected) and len(expected) >= 3  # the key sees only openai/* (its --models)
    for output in tab.page.eval_on_selector_all(
        "#models-table tbody td.output", "cells => cells.map(c => c.textContent)"
    ):
        assert {"image", "text"} <= set(output.split(", "))
    first = answer["data"][-1]
    row = tab.text(f'#models-table tr[data-id="{first["id"]}"]')
    assert ", ".join(first["providers"]) in row and f"{first['context_length']:,}" in row
    assert tab.text("#models-count").startswith(f"{len(expected)} of {len(expected)} models")
    tab.page.screenshot(path=screenshots / "models.png", full_page=True)
    # search by id narrows the rows in the page and keeps the address shareable
    tab.page.fill("#f-search", "mini")
    visible = tab.page.eval_on_selector_all(
        "#models-table tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.id)"
    )
    assert visible and all("mini" in model_id for model_id in visible) and len(visible) < len(expected)
    assert "q=mini" in tab.page.evaluate("() => location.hash")


def test_preview_view_for_auto_cheapest_with_a_cost_cap_shows_prices_and_the_funnel(
    tab: Tab, key: str, screenshots: Path
) -> None:
    signed_in(tab, key, f"#/preview?model=auto&objective=cheapest&max_cost_per_1k_tokens={COST_CAP}")
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "Hello"}],
        "top_n": 10,
        "objective": "cheapest",
        "max_cost_per_1k_tokens": COST_CAP,
    }
    answer = api(tab, key, "POST", "/v1/route/preview", json=body).json()
    rows = tab.page.eval_on_selector_all(
        "#candidates tbody tr",
        "rows => rows.map(r => [r.dataset.model, r.dataset.provider, r.querySelector('.price').textContent])",
    )
    assert [(m, p) for m, p, _ in rows] == [(c["model"], c["provider"]) for c in answer["candidates"]]
    assert rows and all(price.startswith("$") for _, _, price in rows)
    over = answer["excluded"]["over_max_cost"]
    assert over > 0
    assert tab.text('#funnel [data-reason="over_max_cost"] .count') == str(over)
    assert (
        tab.page.eval_on_selector('#funnel [data-reason="over_max_cost"] rect', "r => Number(r.getAttribute('width'))")
        > 0
    )
    tab.page.screenshot(path=screenshots / "preview.png", full_page=True)


def test_explain_view_of_a_request_that_fell_back_shows_both_attempts_with_the_503(
    tab: Tab, key: str, upstream: FakeUpstream, screenshots: Path
) -> None:
    upstream.fake.enqueue(Scripted(status=503, body={"error": {"code": 503, "message": "overloaded"}}))
    chat = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "Say hello."}]}
    response = api(tab, key, "POST", "/v1/chat/completions", json=chat)
    assert response.status_code == 200, response.text
    generation = response.headers["x-routeway-generation-id"]
    signed_in(tab, key, f"#/explain/{generation}")
    statuses = tab.page.eval_on_selector_all("#attempts tbody td.status", "cells => cells.map(c => c.textContent)")
    assert statuses == ["503", "200"]
    bars = tab.page.eval_on_selector_all("#timeline g.attempt", "g => g.map(x => [x.dataset.status, x.classList[1]])")
    assert bars == [["503", "failed"], ["200", "ok"]]
    record = api(tab, key, "GET", f"/v1/route/explain/{generation}").json()
    attempts = record["route"]["attempts"]
    cells = tab.page.eval_on_selector_all(
        "#attempts tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert [(c[1], c[2], c[4]) for c in cells] == [(a["model"], a["provider"], str(a["status"])) for a in attempts]
    assert [float(c[6].removesuffix(" ms")) for c in cells] == [a["latency_ms"] for a in attempts]
    assert record["route"]["provider"] in tab.text("#winner") and record["route"]["reason"][0] in tab.text("#winner")
    assert f"{record['usage']['total_tokens']:,}" in tab.text("#usage")
    tab.page.screenshot(path=screenshots / "explain.png", full_page=True)


def test_key_view_shows_spend_against_budget_rpm_and_models(tab: Tab, key: str, screenshots: Path) -> None:
    chat = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "Say hello."}]}
    assert api(tab, key, "POST", "/v1/chat/completions", json=chat).status_code == 200
    summary = api(tab, key, "GET", "/v1/key").json()
    assert summary["spend_usd"] > 0
    signed_in(tab, key, "#/key")
    assert tab.text("#key-spend") == f"${summary['spend_usd']:.6f}"
    assert tab.text("#key-budget") == "$5.00"
    assert tab.text("#key-rpm") == "60 requests per minute"
    assert tab.text("#key-models") == "openai/*"
    assert tab.page.eval_on_selector("#key-meter", "m => m.value") == pytest.approx(summary["spend_usd"])
    tab.page.screenshot(path=screenshots / "key.png", full_page=True)


def test_a_wrong_key_shows_the_sign_in_error_and_nothing_else(tab: Tab, key: str, screenshots: Path) -> None:
    tab.expected_statuses.add(401)  # Chromium logs the refused /v1/key call itself
    tab.open("#/models")
    tab.sign_in("rw-not-a-real-key-000000000000000000000")
    tab.page.wait_for_selector("#sign-in-error:not([hidden])")
    error = tab.text("#sign-in-error")
    assert "refused" in error and "Invalid gateway key." in error
    assert tab.page.is_hidden("#nav") and tab.page.is_hidden("#view")
    assert tab.page.eval_on_selector("#view", "v => v.childElementCount") == 0
    assert tab.page.evaluate("() => sessionStorage.length") == 0
    assert [r.url for r in tab.requests if "/v1/" in r.url] == [f"{tab.base_url}/v1/key"]
    tab.page.screenshot(path=screenshots / "sign-in-error.png", full_page=True)


def test_an_unknown_generation_id_shows_not_found_with_the_id(tab: Tab, key: str, screenshots: Path) -> None:
    tab.expected_statuses.add(404)
    signed_in(tab, key, "#/explain/gen-rw-does-not-exist")
    message = tab.text("#explain-not-found")
    assert 'Generation "gen-rw-does-not-exist" was not found.' in message
    tab.page.screenshot(path=screenshots / "explain-not-found.png", full_page=True)


def test_api_errors_show_their_message_and_the_no_route_funnel(tab: Tab, key: str) -> None:
    tab.expected_statuses.add(404)
    signed_in(tab, key, "#/preview?model=moonshot/kimi-k2.6")
    assert "does not exist in the catalog" in tab.text("#view .error")
    tab.go("#/preview?model=auto&max_cost_per_1k_tokens=0.0000001")
    assert "No model and provider satisfy" in tab.text("#view .error")
    assert int(tab.text('#funnel [data-reason="over_max_cost"] .count')) > 0
    tab.go("#/nowhere")
    assert 'no view named "nowhere"' in tab.text("#view .error")


def test_views_follow_the_address_and_the_forms_write_it(tab: Tab, key: str) -> None:
    signed_in(tab, key)
    assert tab.page.evaluate("() => location.hash") in ("", "#/models")
    tab.go("#/models?output=image&match=any&free=1")
    assert tab.page.is_checked("#f-free") and tab.page.input_value("#f-output") == "image"
    tab.go("#/preview")
    tab.page.fill("#p-model", "auto")
    tab.page.select_option("#p-objective", "cheapest")
    tab.page.fill("#p-allowed", "openai/*,anthropic/*")
    tab.page.click("#preview-form button[type=submit]")
    tab.wait_rendered()
    assert (
        tab.page.evaluate("() => location.hash")
        == "#/preview?model=auto&objective=cheapest&allowed_models=openai/*,anthropic/*"
    )
    models = tab.page.eval_on_selector_all("#candidates tbody tr", "rows => rows.map(r => r.dataset.model)")
    assert models and all(m.startswith(("openai/", "anthropic/")) for m in models)
    tab.page.click("#sign-out")
    assert tab.page.is_visible("#sign-in") and tab.page.evaluate("() => sessionStorage.length") == 0
