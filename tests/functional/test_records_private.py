"""RELIABILITY 43: a generation record answers only the key that made it; anyone else gets a missing id's 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both

CHAT = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}


def _chat(client: TestClient, key: str | None) -> str:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    answer = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-routeway-generation-id"]


def _explain(client: TestClient, generation_id: str, key: str | None) -> tuple[int, dict[str, object]]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    answer = client.get(f"/v1/route/explain/{generation_id}", headers=headers)
    return answer.status_code, answer.json()


def test_rel_43_another_keys_explain_is_a_404_like_a_missing_id(gateway: Gateway, upstream: FakeUpstream) -> None:
    owner = register_secret(create_key(gateway.state.sync, gateway.clock, "owner")[0])
    other = register_secret(create_key(gateway.state.sync, gateway.clock, "other")[0])
    with TestClient(create_app(lambda: gateway)) as client:
        generation_id = _chat(client, owner)
        mine = _explain(client, generation_id, owner)
        theirs = _explain(client, generation_id, other)
        missing = _explain(client, "gen-rw-000000000000000000000000", other)
    assert mine[0] == 200 and mine[1]["id"] == generation_id and mine[1]["key_name"] == "owner"
    assert theirs[0] == 404 and theirs[1]["error"]["code"] == "generation_not_found"  # type: ignore[index]
    assert theirs == missing  # the same answer: an id cannot be probed
    assert "owner" not in str(theirs[1]) and generation_id not in str(theirs[1])


def test_rel_43_with_auth_off_only_records_made_without_a_key_are_shown(
    env: dict[str, str], gateway: Gateway, upstream: FakeUpstream
) -> None:
    """Auth off (a laptop's `routeway serve`) has no caller: it reads what was made keyless, not a key's records."""
    owner = register_secret(create_key(gateway.state.sync, gateway.clock, "owner")[0])
    open_gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_AUTH": "off"}))
    with TestClient(create_app(lambda: gateway)) as keyed, TestClient(create_app(lambda: open_gateway)) as open_:
        keyed_id = _chat(keyed, owner)
        keyless_id = _chat(open_, None)
        keyless_seen = _explain(open_, keyless_id, None)
        keyed_from_open = _explain(open_, keyed_id, None)
        keyless_from_key = _explain(keyed, keyless_id, owner)
    assert keyless_seen[0] == 200 and keyless_seen[1]["key_name"] is None
    assert keyed_from_open[0] == 404 and keyless_from_key[0] == 404
