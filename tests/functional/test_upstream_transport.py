"""The httpx transport Lambda's upstream calls use (adapters/http_client.py), on asyncio's loop and uvloop:
kept-alive connections, a server's close between invocations, TLS, httpx's errors."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvloop

from routeway.adapters.http_client import HttpClientPool, _transport
from tests.servers import poll_until

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server's TLS context for 127.0.0.1 and a client's that trusts only it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cafile=str(directory / "cert.pem"))
    return server, client


class KeepAliveServer:
    """Answers each request on a connection kept alive; `close_idle()` closes the open ones, as a server
    does with idle connections past its keep-alive timeout."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.tls = tls
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}/v1/chat/completions"
        self.connections: list[socket.socket] = []
        self.closed = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    continue
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            while b"\r\n\r\n" in data:  # each request: a head and a Content-Length body
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                if len(rest) < length:
                    break
                data = rest[length:]
                conn.sendall(ANSWER)

    def close_idle(self) -> None:
        for conn in self.connections:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            self.closed += 1

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture(params=["asyncio", "uvloop"])
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """Lambda's loop (asyncio's, under Mangum) and uvloop's (`routeway serve` with httpx as its client)."""
    made = asyncio.new_event_loop() if request.param == "asyncio" else uvloop.new_event_loop()
    yield made
    made.close()


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    served = KeepAliveServer()
    yield served
    served.stop()


async def post(pool: HttpClientPool, url: str) -> tuple[int, bytes]:
    response = await pool.get().send(
        "POST", httpx.URL(url), content=b"{}", headers={"Content-Type": "application/json"}, timeout=httpx.Timeout(5.0)
    )
    try:
        return response.status_code, await response.aread()
    finally:
        await response.aclose()


def test_a_connection_is_kept_alive_between_calls(server: KeepAliveServer, loop: asyncio.AbstractEventLoop) -> None:
    pool = HttpClientPool()
    try:
        for _ in range(3):
            assert loop.run_until_complete(post(pool, server.url)) == (200, b'{"ok": true}')
        assert len(server.connections) == 1
    finally:
        loop.run_until_complete(pool.aclose())


def test_a_connection_the_server_closed_while_the_loop_was_idle_is_not_reused(
    server: KeepAliveServer, loop: asyncio.AbstractEventLoop
) -> None:
    """A warm Lambda process: the loop runs only during invocations, so the server's close of an idle kept-alive
    connection arrives while nothing reads it. The next call must open a new connection, not fail on the old."""
    pool = HttpClientPool()
    try:
        assert loop.run_until_complete(post(pool, server.url))[0] == 200
        server.close_idle()
        poll_until(lambda: server.closed == 1, what="the server closed the idle connection")
        assert loop.run_until_complete(post(pool, server.url)) == (200, b'{"ok": true}')
        assert len(server.connections) == 2
    finally:
        loop.run_until_complete(pool.aclose())


def test_https_through_asyncio_tls(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    """What Lambda calls OpenRouter with: TLS (asyncio's start_tls), a kept-alive connection reused."""
    server_tls, client_tls = self_signed(tmp_path)
    server = KeepAliveServer(server_tls)
    pool = HttpClientPool(_transport(verify=client_tls))
    try:
        for _ in range(2):
            assert loop.run_until_complete(post(pool, server.url)) == (200, b'{"ok": true}')
        assert len(server.connections) == 1
        with pytest.raises(httpx.ConnectError):  # a certificate it does not trust: refused
            loop.run_until_complete(post(HttpClientPool(_transport()), server.url))
    finally:
        loop.run_until_complete(pool.aclose())
        server.stop()


def test_errors_are_httpx_errors(loop: asyncio.AbstractEventLoop) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    pool = HttpClientPool()
    try:
        with pytest.raises(httpx.ConnectError):
            loop.run_until_complete(post(pool, f"http://127.0.0.1:{port}/"))
    finally:
        loop.run_until_complete(pool.aclose())


def test_a_silent_server_is_a_read_timeout(loop: asyncio.AbstractEventLoop) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the backlog), never answers
        pool = HttpClientPool()
        url = httpx.URL(f"http://127.0.0.1:{silent.getsockname()[1]}/")

        async def call() -> None:
            await pool.get().send("POST", url, content=b"{}", headers={}, timeout=httpx.Timeout(0.2))

        try:
            with pytest.raises(httpx.ReadTimeout):
                loop.run_until_complete(call())
        finally:
            loop.run_until_complete(pool.aclose())
