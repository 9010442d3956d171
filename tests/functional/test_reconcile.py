"""Expired holds of dead requests are charged from their notes, not just released (RELIABILITY 70).

A hold carries the attempts the upstream accepted (`HoldNote`). When it has expired (its process died), the
next refused reservation of its key, `routeway keys reconcile`, or a starting `routeway serve` settles it: each
noted attempt at what OpenRouter's `GET /generation` says it billed (else the note's estimate), within the
hold, once; an expired hold with no notes was never billed and is released. A live hold is never touched.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from routeway.cli.app import app
from routeway.domain.records import Hold, HoldNote
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.reconcile import reconcile_holds
from tests.conftest import FakeUpstream, budget_key, spend_of

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

MODEL = "openai/gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 400}  # holds ~$0.00024


def _dead_hold(gateway: Gateway, key_hash: str, generation_id: str, usd: float, *notes: HoldNote) -> None:
    """A hold as a process that died left it: taken, noted, never settled, now expired."""
    now = int(time.time())
    store = gateway.state.sync
    assert store.reserve(key_hash, Hold(generation_id, usd, now - 1, owner="elsewhere:1:dead"), 1.0, now - 600) is None
    for note in notes:
        assert store.note_attempt(key_hash, generation_id, note)


def test_a_refused_reservation_charges_its_keys_dead_holds_from_their_notes_and_goes_on(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "refused", 0.001)
    upstream.fake.generations["gen-up-dead"] = {"total_cost": 0.0003}
    _dead_hold(gateway, key_hash, "gen-rw-dead", 0.0009, HoldNote("openrouter", "gen-up-dead", 0.0001))
    assert gateway.state.sync.budget_figures(key_hash).held_usd == pytest.approx(0.0009)  # the hold still counts
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=BODY)
    assert answer.status_code == 200, answer.text  # refused at first, then admitted once the dead hold was charged
    cost = answer.json()["usage"]["cost"]
    assert spend_of(gateway, key_hash) == pytest.approx(0.0003 + cost, abs=1e-12)
    assert gateway.state.sync.budget_figures(key_hash).held_usd == 0
    record = gateway.state.sync.get_generation("gen-rw-dead", 0)
    assert record is not None and record.error_code == "reconciled" and record.cost_usd == pytest.approx(0.0003)


def test_keys_reconcile_charges_noted_holds_releases_the_others_and_leaves_live_ones(
    gateway: Gateway, upstream: FakeUpstream, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _, noted = budget_key(gateway, "noted", 1.0)
    _, bare = budget_key(gateway, "bare", 1.0)
    upstream.fake.generations["gen-up-a"] = {"total_cost": 0.002}
    notes = (HoldNote("openrouter", "gen-up-a", 0.001), HoldNote("openrouter", None, 0.0005))  # asked; estimated
    _dead_hold(gateway, noted, "gen-rw-a", 0.01, *notes)
    _dead_hold(gateway, bare, "gen-rw-b", 0.02)  # never noted: never billed
    now = int(time.time())
    live = Hold("gen-rw-live", 0.03, now + 900, owner="elsewhere:2:alive")
    assert gateway.state.sync.reserve(noted, live, 1.0, now) is None
    assert gateway.state.sync.note_attempt(noted, "gen-rw-live", HoldNote("openrouter", "gen-up-live", 0.01))
    result = CliRunner().invoke(app, ["keys", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "reconciled 2 hold(s)" in result.stdout
    assert spend_of(gateway, noted) == pytest.approx(0.0025, abs=1e-12)  # the upstream's figure, plus the estimate
    assert spend_of(gateway, bare) == 0
    assert gateway.state.sync.budget_figures(bare).held_usd == 0
    assert gateway.state.sync.budget_figures(noted).held_usd == pytest.approx(0.03)  # the live hold stays
    again = CliRunner().invoke(app, ["keys", "reconcile"])
    assert "reconciled 0 hold(s)" in again.stdout and spend_of(gateway, noted) == pytest.approx(0.0025, abs=1e-12)


def test_a_dead_holds_charge_never_passes_the_hold(gateway: Gateway, upstream: FakeUpstream) -> None:
    key, key_hash = budget_key(gateway, "capped", 0.001)
    upstream.fake.generations["gen-up-big"] = {"total_cost": 5.0}  # a nonsense bill
    _dead_hold(gateway, key_hash, "gen-rw-big", 0.0004, HoldNote("openrouter", "gen-up-big", 0.0001))
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        assert client.post("/v1/chat/completions", json={**BODY, "max_tokens": 2000}).status_code in (200, 402)
    assert spend_of(gateway, key_hash) <= 0.001
    record = gateway.state.sync.get_generation("gen-rw-big", 0)
    assert record is not None and record.cost_usd == pytest.approx(0.0004)  # the hold, no more


def test_a_note_written_twice_is_billed_once(gateway: Gateway, upstream: FakeUpstream) -> None:
    """A note the store wrote twice (boto3 retried it after it landed; an abandoned attempt noted again) is one
    upstream generation: the dead hold is charged its bill once, not twice."""
    _, key_hash = budget_key(gateway, "twice", 1.0)
    upstream.fake.generations["gen-up-twice"] = {"total_cost": 0.002}
    twice = HoldNote("openrouter", "gen-up-twice", 0.001)
    _dead_hold(gateway, key_hash, "gen-rw-twice", 0.01, twice, twice, HoldNote("openrouter", None, 0.0005))
    assert asyncio.run(reconcile_holds(gateway, key_hash=key_hash)) == 1
    assert spend_of(gateway, key_hash) == pytest.approx(0.0025, abs=1e-12)  # 0.002 once, plus the estimate
