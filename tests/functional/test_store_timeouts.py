"""The store never freezes the gateway: store calls run off the event loop, each under a timeout.

A locked SQLite file (another process holding BEGIN EXCLUSIVE) and a store call that hangs must
leave /healthz answering at once, and answer a chat with 200 or 503 store_unavailable, never a hang.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.servers import poll_until, serve_in_thread

CHAT = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}
STORE_TIMEOUT_S = 1.0
LOCK_HELD_S = 30.0  # the locking process holds the lock until the test is done, never longer than this
HEALTHZ_LIMIT_S = 1.0
NO_HANG_LIMIT_S = 10.0

LOCKER = """
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
select.select([sys.stdin], [], [], float(sys.argv[2]))  # until the test closes stdin, at most that long
conn.execute("COMMIT")
"""


@pytest.fixture
def local_gateway(tmp_path: Path, upstream: FakeUpstream) -> Gateway:
    env = {
        "ROUTEWAY_HOME": str(tmp_path / "home"),
        "ROUTEWAY_STORE": "local",
        "ROUTEWAY_STORE_TIMEOUT_S": str(STORE_TIMEOUT_S),
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
    }
    return build_gateway(Settings.from_env(env))


@pytest.fixture
def limited_key(local_gateway: Gateway) -> str:
    """A key with a rate limit: its window counter is a write before any upstream call."""
    return register_secret(create_key(local_gateway.state.sync, local_gateway.clock, "limited", rpm=100)[0])


@pytest.fixture
def locked_store(local_gateway: Gateway, limited_key: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holds BEGIN EXCLUSIVE on the state database (made, with the key, beforehand).

    The catalog is in memory first, as under `routeway serve` (it loads before listening): decoding a
    snapshot is CPU work that holds the GIL, whatever thread it runs in.
    """
    local_gateway.catalog.current_blocking()
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(local_gateway.settings.home / "state.db"), str(LOCK_HELD_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    try:
        yield locker
    finally:
        assert locker.stdin is not None
        locker.stdin.close()  # lets go of the lock
        locker.wait(timeout=10)
        locker.kill()
        locker.wait(timeout=10)


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_locked_sqlite_store_leaves_healthz_instant_and_chat_answered(
    local_gateway: Gateway, limited_key: str, locked_store: subprocess.Popen[str]
) -> None:
    def chat() -> tuple[httpx.Response, float]:
        return timed(
            lambda: httpx.post(
                f"{url}/v1/chat/completions", json=CHAT, headers=_auth(limited_key), timeout=NO_HANG_LIMIT_S * 3
            )
        )

    with serve_in_thread(create_app(lambda: local_gateway)) as url:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            chats = [pool.submit(chat) for _ in range(2)]
            for _ in range(5):
                response, took = timed(lambda: httpx.get(f"{url}/healthz", timeout=5))
                assert response.status_code == 200 and took < HEALTHZ_LIMIT_S
            for pending in chats:
                response, took = pending.result(timeout=NO_HANG_LIMIT_S * 3)
                assert took < NO_HANG_LIMIT_S
                assert response.status_code in (200, 503), response.text
                if response.status_code == 503:
                    assert response.json()["error"]["code"] == "store_unavailable"
                    assert "x-routeway-generation-id" in response.headers
    assert locked_store.poll() is None  # the lock was held the whole time


def test_a_hung_store_call_answers_503_for_that_request_only(local_gateway: Gateway, upstream: FakeUpstream) -> None:
    release = threading.Event()
    find_key = local_gateway.state.sync.find_key

    calls = [0]

    def hangs_for_one(key_hash: str) -> Any:
        if hung_hash[0] == key_hash:
            calls[0] += 1
            release.wait(NO_HANG_LIMIT_S)  # bounded: the test lets go at its end
        return find_key(key_hash)

    from routeway.services.keys import hash_key

    hung = register_secret(create_key(local_gateway.state.sync, local_gateway.clock, "hung")[0])
    fine = register_secret(create_key(local_gateway.state.sync, local_gateway.clock, "fine")[0])
    hung_hash = [hash_key(hung)]
    local_gateway.state.sync.find_key = hangs_for_one  # type: ignore[method-assign]
    try:
        with serve_in_thread(create_app(lambda: local_gateway)) as url:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                stuck = pool.submit(
                    timed, lambda: httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=_auth(hung), timeout=30)
                )
                poll_until(lambda: calls[0] > 0, what="the hung request reaching the store")
                response, took = timed(lambda: httpx.get(f"{url}/healthz", timeout=5))
                assert response.status_code == 200 and took < HEALTHZ_LIMIT_S
                ok, _ = timed(
                    lambda: httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=_auth(fine), timeout=30)
                )
                assert ok.status_code == 200, ok.text
                response, took = stuck.result(timeout=30)
                assert response.status_code == 503 and response.json()["error"]["code"] == "store_unavailable"
                assert STORE_TIMEOUT_S * 0.9 <= took < NO_HANG_LIMIT_S
    finally:
        release.set()
