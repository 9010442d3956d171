"""`routeway serve` closes idle connections, slow headers and slow bodies (PRODUCT.md "Robust under load";
docs/RELIABILITY.md), each within its timeout (lowered here to 1 s), and answers real requests meanwhile.

Raw sockets to loopback play the slow clients. A test fails when a connection is still open well past its
timeout (before the fix, none was ever closed)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.servers import Served, bare_env, free_port, poll_until, routeway_serve

TIMEOUT_S = 1.0  # each of the three, lowered for the test
CLOSED_BY_S = TIMEOUT_S + 4.0  # generous: a connection still open by then was not timed out
DRIP_EVERY_S = 0.2  # a slow client's pace: well under each timeout, so only a whole-phase deadline stops it
LOWERED = {f"ROUTEWAY_SERVE_{phase}_TIMEOUT_S": str(TIMEOUT_S) for phase in ("IDLE", "HEADER", "BODY")}
CHAT = b'{"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}'


@contextmanager
def serving(tmp_path: Path, upstream: FakeUpstream, **settings: str | int | None) -> Iterator[tuple[Served, str]]:
    """`routeway serve` in its own process on a fresh local store, with a key made for it. `settings`: more
    environment variables; `max_open_files` limits its file descriptors."""
    max_open_files = settings.pop("max_open_files", None)
    env = bare_env(
        HOME=str(tmp_path),
        ROUTEWAY_HOME=str(tmp_path / "home"),
        OPENROUTER_BASE_URL=upstream.base_url,
        OPENROUTER_API_KEY=UPSTREAM_KEY,
        **{name: str(value) for name, value in settings.items()},
    )
    gateway = build_gateway(Settings.from_env(env))
    key, _ = create_key(gateway.state.sync, gateway.clock, "client")
    limit = int(max_open_files) if max_open_files is not None else None
    with routeway_serve(env, tmp_path, free_port(), keep_stderr=False, max_open_files=limit) as server:
        yield server, register_secret(key)


@pytest.fixture
def served(tmp_path: Path, upstream: FakeUpstream) -> Iterator[tuple[Served, str]]:
    with serving(tmp_path, upstream, **LOWERED) as server:
        yield server


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=CLOSED_BY_S)


def until_closed(sock: socket.socket) -> bytes:
    """What the server sent before it closed the connection; fails if it is still open after CLOSED_BY_S."""
    sock.settimeout(CLOSED_BY_S)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"still open after {CLOSED_BY_S} s; received {received[:200]!r}") from None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def drip(sock: socket.socket, stop: threading.Event, byte: bytes = b"a") -> None:
    """Send one byte every DRIP_EVERY_S until the server closes the connection (or `stop`)."""
    while not stop.wait(DRIP_EVERY_S):
        try:
            sock.sendall(byte)
        except OSError:
            return


@contextmanager
def dripping(socks: list[socket.socket], byte: bytes = b" ") -> Iterator[None]:
    """Each of `socks` sends a byte every DRIP_EVERY_S while inside; stopped and joined on the way out."""
    stop = threading.Event()
    threads = [threading.Thread(target=drip, args=(sock, stop, byte), daemon=True) for sock in socks]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


@contextmanager
def fifty_slow_clients(url: str, key: str) -> Iterator[list[socket.socket]]:
    """20 idle connections, 15 slow headers and 15 slow bodies (in that order), dripping while inside."""
    held = [connect(url) for _ in range(20)]
    held += [slow_header(url) for _ in range(15)]
    held += [slow_body(url, key) for _ in range(15)]
    try:
        with dripping(held[20:]):
            yield held
    finally:
        for sock in held:
            sock.close()


def real_request(url: str, key: str, timeout_s: float) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    return httpx.post(f"{url}/v1/chat/completions", content=CHAT, headers=headers, timeout=timeout_s)


def slow_header(url: str) -> socket.socket:
    sock = connect(url)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: routeway\r\nX-Slow: ")
    return sock


def slow_body(url: str, key: str, path: str = "/v1/chat/completions") -> socket.socket:
    sock = connect(url)
    head = f"POST {path} HTTP/1.1\r\nHost: routeway\r\nAuthorization: Bearer {key}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(CHAT)}\r\n\r\n"
    sock.sendall(head.encode() + CHAT[:10])
    return sock


def response_of(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_an_idle_connection_is_closed_new_or_between_requests(served: tuple[Served, str]) -> None:
    server, _ = served
    with connect(server.url) as fresh:
        assert until_closed(fresh) == b""  # never sent a byte
    with connect(server.url) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: routeway\r\n\r\n")
        status, _, _ = response_of(until_closed(kept))  # answered, then closed when idle
        assert status == 200


def test_slow_headers_are_closed(served: tuple[Served, str]) -> None:
    server, _ = served
    with slow_header(server.url) as sock, dripping([sock], b"a"):
        assert until_closed(sock) == b""


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_slow_body_is_408_in_the_routes_dialect_and_closed(served: tuple[Served, str], path: str) -> None:
    server, key = served
    with slow_body(server.url, key, path) as sock, dripping([sock]):
        status, headers, body = response_of(until_closed(sock))
    assert status == 408 and headers["connection"] == "close"
    document = json.loads(body)
    assert document["error"]["code"] == "request_timeout"
    assert (document.get("type") == "error") is (path == "/v1/messages")  # Anthropic's shape on its route


def test_a_real_request_succeeds_while_fifty_slow_clients_are_held_and_all_fifty_are_closed(
    served: tuple[Served, str],
) -> None:
    server, key = served
    with fifty_slow_clients(server.url, key) as held:
        answer = real_request(server.url, key, timeout_s=30)
        assert answer.status_code == 200, answer.text
        with ThreadPoolExecutor(len(held)) as pool:
            answers = list(pool.map(until_closed, held))
    assert answers[:35] == [b""] * 35  # idle and slow-header connections: closed without an answer
    assert {response_of(raw)[0] for raw in answers[35:]} == {408}


FEW_FILES = 48  # `serve` holds about 20 descriptors of its own at rest: fifty slow clients would take the rest


def test_short_of_file_descriptors_real_requests_get_through_once_slow_clients_are_timed_out(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    """Fifty slow clients held against a `serve` with few file descriptors: without timeouts, they kept every
    descriptor and real requests failed for as long as they were held; with them, real requests get through."""
    with (
        serving(tmp_path, upstream, **LOWERED, max_open_files=FEW_FILES) as (server, key),
        fifty_slow_clients(server.url, key),
    ):

        def answered() -> bool:
            try:
                return real_request(server.url, key, timeout_s=2).status_code == 200
            except httpx.TransportError:
                return False

        poll_until(answered, timeout_s=20, what="a real request answered while slow clients were held")
