"""A gateway killed between the upstream's answer and its charge: the charge is made after restart (issue 29).

`routeway serve` is SIGKILLed (no shutdown, no cleanup) after the upstream accepted a request and before the
request's charge reached the store. The hold it left names the attempt (the ledger writes the upstream's
generation id on the hold as soon as the upstream answers), so the next `routeway serve` on that store finds
its dead predecessor's hold at start, asks the upstream what the generation billed, and charges it: once,
within the hold, with a record. A second gateway that starts while the first still runs leaves the first's
hold alone.

- SQLite: killed mid-stream, after the first content reached the client.
- DynamoDB (a moto server process): killed right after a whole answer, while its settle is held back by the
  store (the moto server holds settle transactions while a flag file exists, then fails them unapplied).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routeway.adapters.local_store import LocalStateStore
from routeway.clock import SystemClock
from routeway.ports import StateStore
from routeway.services.keys import create_key, hash_key
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.fakes.data import REPO
from tests.fakes.openrouter import Scripted
from tests.servers import free_port, poll_until, start_logged, stop_all, wait_until_answering

pytestmark = pytest.mark.heavy  # a step of its own in `make test` (Makefile)

MODEL = "openai/gpt-4o-mini"
START_TIMEOUT_S = 90.0
BILLED = 0.00042  # within the hold of 1,000 completion tokens at $0.60/M


@pytest.fixture
def release() -> Iterator[threading.Event]:
    gate = threading.Event()
    yield gate
    gate.set()


def _serve(env: dict[str, str], folder: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = folder / f"{name}.log"
    process = start_logged([sys.executable, "-m", "routeway", "serve", "--port", str(port)], env, log, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(process, f"{url}/healthz", log, f"routeway serve ({name})", START_TIMEOUT_S)
    return process, url


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)  # reaped: its pid is gone, as a crashed process's is


def _spend(store: StateStore, key_hash: str) -> float:
    found = store.find_key(key_hash)
    assert found is not None
    return found.spend_usd


def _noted_holds(store: StateStore, key_hash: str) -> list[Any]:
    return [h for h in store.open_holds(2_000_000_000, key_hash=key_hash) if h.notes]


def _local_env(tmp_path: Path, upstream: FakeUpstream) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTEWAY_", "OPENROUTER_", "AWS_"))}
    return {
        **inherited,
        "HOME": str(tmp_path),
        "ROUTEWAY_HOME": str(tmp_path / "home"),
        "ROUTEWAY_STORE": "local",
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
        "PYTHONUNBUFFERED": "1",
    }


def _held_stream(generation: str, release: threading.Event) -> Scripted:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        document = {"id": generation, "object": "chat.completion.chunk", "created": 1, "choices": [choice]}
        return f"data: {json.dumps(document)}\n\n"

    pieces = [chunk({"role": "assistant", "content": "Hel"}), chunk({"content": "lo"}), chunk({}, "stop")]
    return Scripted(stream=[*pieces, "data: [DONE]\n\n"], gate=release, gate_after=1)


def test_sqlite_a_serve_killed_mid_stream_is_charged_by_the_next_one(
    tmp_path: Path, upstream: FakeUpstream, release: threading.Event
) -> None:
    env = _local_env(tmp_path, upstream)
    store = LocalStateStore(tmp_path / "home")
    made, record = create_key(store, SystemClock(), "crash", budget_usd=1.0)
    key, key_hash = register_secret(made), record.key_hash
    upstream.fake.generations["gen-crash"] = {"total_cost": BILLED}
    upstream.fake.enqueue(_held_stream("gen-crash", release))
    first, url = _serve(env, tmp_path, "first")
    processes = [first]
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000, "stream": True}
        with (
            httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as answer,
        ):
            assert answer.status_code == 200
            received = answer.iter_bytes()  # kept: a dropped iterator would close the connection
            assert b"Hel" in next(received)  # the upstream accepted it and the client has content
            poll_until(lambda: bool(_noted_holds(store, key_hash)), timeout_s=15.0, what="the note on the hold")
            second, _ = _serve(env, tmp_path, "second")  # the first still runs: its hold is not the second's to settle
            processes.append(second)
            assert _noted_holds(store, key_hash) and _spend(store, key_hash) == 0
            _kill(first)
        assert _spend(store, key_hash) == 0  # the charge was never written: the hold remains, with its note
        (hold,) = _noted_holds(store, key_hash)
        assert [n.upstream_id for n in hold.notes] == ["gen-crash"]
        third, _ = _serve(env, tmp_path, "restarted")
        processes.append(third)
        # started only once its predecessor's hold was looked up and charged
        assert _spend(store, key_hash) == pytest.approx(BILLED, abs=1e-12)
        assert store.budget_figures(key_hash).held_usd == 0
        charged = store.get_generation(hold.generation_id, 0)
        assert charged is not None and charged.error_code == "reconciled" and charged.cost_usd == pytest.approx(BILLED)
        stop_all(processes[1:])
        restarted, _ = _serve(env, tmp_path, "again")  # nothing left to settle: charged once
        processes.append(restarted)
        assert _spend(store, key_hash) == pytest.approx(BILLED, abs=1e-12)
    finally:
        stop_all(processes)


def test_sqlite_a_serve_killed_after_a_whole_answer_whose_charge_waits_for_a_locked_store(
    tmp_path: Path, upstream: FakeUpstream, release: threading.Event
) -> None:
    """The stream ends ([DONE] reaches the client) while another process holds the database's write lock: the
    charge is retried in the background, and the process is killed before the lock goes (RELIABILITY 70)."""
    import sqlite3

    env = _local_env(tmp_path, upstream)
    store = LocalStateStore(tmp_path / "home")
    made, record = create_key(store, SystemClock(), "locked", budget_usd=1.0)
    key, key_hash = register_secret(made), record.key_hash
    upstream.fake.generations["gen-locked"] = {"total_cost": BILLED}
    upstream.fake.enqueue(_held_stream("gen-locked", release))
    server, url = _serve({**env, "ROUTEWAY_STORE_TIMEOUT_S": "1"}, tmp_path, "first")
    processes = [server]
    locker = sqlite3.connect(store.path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000, "stream": True}
        with (
            httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=60) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as answer,
        ):
            received = answer.iter_lines()
            assert "Hel" in next(line for line in received if line.startswith("data: "))
            poll_until(lambda: bool(_noted_holds(store, key_hash)), timeout_s=15.0, what="the note on the hold")
            locker.execute("BEGIN EXCLUSIVE")  # from here on, no write of the gateway lands
            release.set()
            rest = list(received)
        assert rest[-1] == "data: [DONE]" or rest[-2] == "data: [DONE]"  # the whole answer is the client's
        _kill(server)
        locker.rollback()
        assert _spend(store, key_hash) == 0
        (hold,) = _noted_holds(store, key_hash)
        restarted, _ = _serve(env, tmp_path, "restarted")
        processes.append(restarted)
        assert _spend(store, key_hash) == pytest.approx(BILLED, abs=1e-12)
        assert store.budget_figures(key_hash).held_usd == 0
        assert store.get_generation(hold.generation_id, 0) is not None
    finally:
        locker.close()
        stop_all(processes)


@pytest.mark.aws
def test_dynamodb_a_serve_killed_right_after_a_whole_answer_is_charged_by_the_next_one(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routeway.adapters.aws_store import DynamoStateStore
    from tests.functional.test_scale_multiprocess import TABLE, _child_env, create_resources_from_template

    flag = tmp_path / "pause-settles"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = _child_env(endpoint, tmp_path, upstream)
    moto_log = tmp_path / "moto.log"
    serve_moto = "import sys; from tests.servers import run_pausable_moto_server as r; r(int(sys.argv[1]), sys.argv[2])"
    moto = start_logged(
        [sys.executable, "-c", serve_moto, str(port), str(flag)], {**env, "PYTHONPATH": str(REPO)}, moto_log, cwd=REPO
    )
    processes = [moto]
    try:
        wait_until_answering(moto, f"{endpoint}/moto-api/", moto_log, "the moto server", START_TIMEOUT_S)
        create_resources_from_template(endpoint)
        for name, value in env.items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        source = str(REPO.parent / "shared" / "data" / "openrouter")
        published = subprocess.run(
            [sys.executable, "-m", "routeway", "catalog", "refresh", "--source", source, "--json"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        store = DynamoStateStore(TABLE)
        made, record = create_key(store, SystemClock(), "crash", budget_usd=1.0)
        key, key_hash = register_secret(made), record.key_hash
        assert hash_key(key) == key_hash
        first, url = _serve(env, tmp_path, "first")
        processes.append(first)
        flag.touch()  # from now on the store holds settles back
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
        answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"x-api-key": key}, timeout=60)
        assert answer.status_code == 200, answer.text
        cost = answer.json()["usage"]["cost"]
        assert cost > 0
        _kill(first)  # the whole answer is the client's; its charge never reached the table
        flag.unlink()
        assert _spend(store, key_hash) == 0
        (hold,) = _noted_holds(store, key_hash)
        assert hold.generation_id == answer.headers["x-routeway-generation-id"]
        restarted, _ = _serve(env, tmp_path, "restarted")
        processes.append(restarted)
        assert _spend(store, key_hash) == pytest.approx(cost, abs=1e-9)  # what the upstream billed, once
        assert store.budget_figures(key_hash).held_usd == 0
        assert store.get_generation(hold.generation_id, 0) is not None
    finally:
        stop_all(processes[::-1])
