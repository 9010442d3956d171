"""Fan-outs (PRODUCT.md "Money that cannot leak", RELIABILITY 69): chat `n` and images `n` hold every part
before the first call; when some parts fail, the parts made are the answer (`partial=k/n`) and only what was
billed is charged; when all fail, the error, and nothing charged.

Every test runs on both stores (SQLite, and DynamoDB under moto).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.domain.reservation import plan_bound
from routeway.domain.wire import parse_chat_request
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.routing import plan_for
from tests.conftest import FakeUpstream, budget_key, spend_of
from tests.fakes.openrouter import Scripted

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

MODEL = "openai/gpt-5.4-mini"
FLUX = "black-forest-labs/flux.2-pro"
HI = [{"role": "user", "content": "hi"}]
FAILURES = {
    500: Scripted(status=500, body={"error": {"code": 500, "message": "Internal Server Error"}}),
    402: Scripted(status=402, body={"error": {"code": 402, "message": "Insufficient credits"}}),
    429: Scripted(
        status=429, body={"error": {"code": 429, "message": "Rate limit exceeded"}}, headers={"Retry-After": "1"}
    ),
}


def _applied(answer: httpx.Response) -> list[str]:
    return answer.headers.get("x-routeway-applied", "").split(",")


def _billed(upstream: FakeUpstream) -> float:
    """What the fake upstream billed over every call it answered."""
    return sum(float(g["total_cost"]) for g in upstream.fake.generations.values())


def _record(gateway: Gateway, answer: httpx.Response) -> Any:
    record = gateway.state.sync.get_generation(answer.headers["x-routeway-generation-id"], int(gateway.clock.now()))
    assert record is not None
    return record


@pytest.mark.parametrize("status", [500, 402, 429])
def test_rel_69_images_with_a_failed_part_return_the_images_made_and_charge_them(
    gateway: Gateway, upstream: FakeUpstream, status: int
) -> None:
    key, key_hash = budget_key(gateway, f"images-{status}", 5.0)
    upstream.fake.enqueue(Scripted(through=True), FAILURES[status])  # the second call fails
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/images/generations", json={"model": FLUX, "prompt": "four foxes", "n": 4})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]) == 3
    assert "partial=3/4" in _applied(answer)
    assert len(upstream.fake.chat_requests()) == 4
    billed = _billed(upstream)
    assert len(upstream.fake.generations) == 3 and billed > 0
    assert spend_of(gateway, key_hash) == pytest.approx(billed)  # three images, no more, no less
    assert answer.json()["usage"]["cost"] == pytest.approx(billed)
    record = _record(gateway, answer)
    assert record.status == "success" and record.cost_usd == pytest.approx(billed)
    assert "partial=3/4" in record.route["applied"]
    assert sorted(a["status"] for a in record.route["attempts"]) == sorted([200, 200, 200, status])


def test_rel_69_chat_n_with_a_failed_call_returns_the_choices_made_and_charges_them(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "chat-n", 5.0)
    upstream.fake.enqueue(Scripted(through=True), FAILURES[500])
    body = {"model": MODEL, "messages": HI, "n": 3, "max_tokens": 32}
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    assert [c["index"] for c in answer.json()["choices"]] == [0, 1]
    assert "partial=2/3" in _applied(answer)
    billed = _billed(upstream)
    assert len(upstream.fake.generations) == 2 and billed > 0
    assert spend_of(gateway, key_hash) == pytest.approx(billed)
    assert answer.json()["usage"]["cost"] == pytest.approx(billed)
    record = _record(gateway, answer)
    assert "partial=2/3" in record.route["applied"] and len(record.route["attempts"]) == 3


def test_rel_69_a_fan_out_whose_parts_all_fail_is_the_error_and_charges_nothing(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "all-fail", 5.0)
    upstream.fake.enqueue(*(FAILURES[500] for _ in range(20)))
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        images = client.post("/v1/images/generations", json={"model": FLUX, "prompt": "foxes", "n": 4})
        chat = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, "n": 3, "max_tokens": 32})
    assert images.status_code >= 500 and chat.status_code >= 500
    assert spend_of(gateway, key_hash) == 0
    assert _record(gateway, images).status == "error"


def test_rel_69_images_hold_every_part_before_the_first_call(gateway: Gateway, upstream: FakeUpstream) -> None:
    chat = {"model": FLUX, "messages": [{"role": "user", "content": "four foxes"}], "modalities": ["image"]}
    catalog = gateway.catalog.current_blocking()
    plan, _, _ = plan_for(gateway, catalog, parse_chat_request(chat), None)
    each = plan_bound(plan.attempts, chat, fan_out=False)
    assert each is not None and each > 0
    key, key_hash = budget_key(gateway, "two-of-four", each * 2.5)  # two images fit, four do not
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        refused = client.post("/v1/images/generations", json={"model": FLUX, "prompt": "four foxes", "n": 4})
        assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
        assert upstream.fake.chat_requests() == []  # refused before any call
        two = client.post("/v1/images/generations", json={"model": FLUX, "prompt": "two foxes", "n": 2})
        assert two.status_code == 200 and len(two.json()["data"]) == 2
    assert spend_of(gateway, key_hash) == pytest.approx(_billed(upstream))


def test_rel_69_bodybuilder_with_a_failed_model_returns_the_others_and_charges_them(
    gateway: Gateway, upstream: FakeUpstream
) -> None:
    key, key_hash = budget_key(gateway, "bodybuilder", 5.0)
    upstream.fake.enqueue(Scripted(through=True), FAILURES[500])  # one of the three models fails
    body = {"model": "bodybuilder", "top_n": 3, "messages": HI, "max_tokens": 32}
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    choices = answer.json()["choices"]
    assert len(choices) == 2 and [c["index"] for c in choices] == [0, 1]
    assert "partial=2/3" in _applied(answer)
    billed = _billed(upstream)
    assert len(upstream.fake.generations) == 2 and billed > 0
    assert spend_of(gateway, key_hash) == pytest.approx(billed)  # the two answers, nothing for the failed one
    assert answer.json()["usage"]["cost"] == pytest.approx(billed)
    assert gateway.state.sync.budget_figures(key_hash).held_usd == 0
    assert len(_record(gateway, answer).route["attempts"]) == 3


def test_every_part_a_fan_out_was_answered_is_noted_on_its_hold(
    gateway: Gateway, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after a fan-out's answer is charged for every part made (reconciliation reads the notes)."""
    key, _ = budget_key(gateway, "noted-parts", 5.0)
    store = gateway.state.sync
    real = store.note_attempt
    noted: list[str | None] = []

    def note_attempt(key_hash: str, generation_id: str, note: Any) -> bool:
        noted.append(note.upstream_id)
        return real(key_hash, generation_id, note)

    monkeypatch.setattr(store, "note_attempt", note_attempt)
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": key}) as client:
        models = client.post("/v1/chat/completions", json={"model": "bodybuilder", "top_n": 3, "messages": HI})
        choices = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, "n": 3, "max_tokens": 32})
    assert models.status_code == choices.status_code == 200
    assert len(noted) == 6 and set(noted) <= set(upstream.fake.generations)  # three parts each, by their ids
