"""The answer goes out before its record and charge are written (issue 19), and neither is lost.

A real uvicorn server; the store's settle is held shut by the test: the client must get its answer while
the charge waits, and the spend and the record must appear once the store answers. Both stores.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from tests.conftest import FakeUpstream, register_secret
from tests.servers import poll_until, serve_in_thread

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

BODY = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


def test_rel_50_the_answer_does_not_wait_for_its_charge_and_the_charge_is_not_lost(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, record = create_key(gateway.state.sync, gateway.clock, "after", budget_usd=1.0)
    register_secret(key)
    store = gateway.state.sync
    settle = store.settle
    store_answers = threading.Event()
    settling = threading.Event()

    def held_settle(*args: Any) -> bool:
        settling.set()
        store_answers.wait(timeout=30)
        return bool(settle(*args))

    store.settle = held_settle  # type: ignore[method-assign]
    try:
        with (
            serve_in_thread(create_app(lambda: gateway)) as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client,
        ):
            answer = client.post("/v1/chat/completions", json=BODY)  # times out if it waits for the store
            assert answer.status_code == 200, answer.text
            assert not store_answers.is_set()
            poll_until(settling.is_set, what="the charge to start after the answer")
            held = store.budget_figures(record.key_hash)
            assert held.spend_usd == 0 and held.held_usd > 0  # until charged, the hold still guards the budget
            store_answers.set()
            cost = answer.json()["usage"]["cost"]
            figures = client.get("/v1/key").json()  # the spend of an answer this process sent
            assert cost > 0 and figures["spend_usd"] == pytest.approx(cost, abs=1e-8)  # shown to 8 places
            generation_id = answer.headers["x-routeway-generation-id"]
            explained = client.get(f"/v1/route/explain/{generation_id}").json()
            assert explained["id"] == generation_id and explained["cost_usd"] == pytest.approx(cost)
    finally:
        store_answers.set()
    after = store.budget_figures(record.key_hash)
    assert after.held_usd == 0 and after.spend_usd == pytest.approx(cost)
    found = store.get_generation(generation_id, int(time.time()))
    assert found is not None and found.cost_usd == pytest.approx(cost)


def test_a_record_that_cannot_be_made_never_costs_the_charge(
    gateway: Gateway, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from routeway.services.completion_core import CompletionCore

    key, record = create_key(gateway.state.sync, gateway.clock, "unrecorded", budget_usd=1.0)
    register_secret(key)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a record field the model refuses")

    monkeypatch.setattr(CompletionCore, "_generation_record", broken)
    with TestClient(create_app(lambda: gateway)) as client:
        answer = client.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    figures = gateway.state.sync.budget_figures(record.key_hash)
    assert figures.held_usd == 0 and figures.spend_usd == pytest.approx(answer.json()["usage"]["cost"])
    assert gateway.state.sync.get_generation(answer.headers["x-routeway-generation-id"], int(time.time())) is None
    assert "generation record not made" in caplog.text
