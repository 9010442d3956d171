"""Real uvicorn servers on loopback for tests: started in a thread on a free port, stopped after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

START_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.02


def poll_until(condition: Callable[[], bool], timeout_s: float = START_TIMEOUT_S, what: str = "condition") -> None:
    """Check `condition` until it holds; fail after `timeout_s`. Tests poll state, never sleep a fixed time."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout_s} s")
        pause.wait(POLL_INTERVAL_S)


def answers(url: str) -> bool:
    """True once something accepts HTTP requests at `url`."""
    import httpx

    try:
        httpx.get(url, timeout=1.0)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def serve_in_thread(app: Any, **options: Any) -> Iterator[str]:
    """Yield the base URL of `app` served by uvicorn on 127.0.0.1 and a free port (`options`: uvicorn.Config's)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    poll_until(lambda: server.started or not thread.is_alive(), what="the test server's start")
    if not server.started:
        raise RuntimeError("test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        sock.close()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bare_env(**extra: str) -> dict[str, str]:
    """The process environment without any Routeway or OpenRouter variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTEWAY_", "OPENROUTER_"))}
    return {**env, **extra}


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    lines: list[str]


@contextmanager
def routeway_serve(
    env: dict[str, str], cwd: Path, port: int, *, keep_stderr: bool = True, max_open_files: int | None = None
) -> Iterator[Served]:
    """`routeway serve` in its own process, read until it says it listens; stopped afterwards. `keep_stderr=False`
    for many requests: its one line per request would otherwise fill the unread pipe and block the server.
    `max_open_files`: the process's file descriptor limit (RLIMIT_NOFILE), to run it short of them."""

    def limit_files() -> None:
        import resource

        if max_open_files is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, hard))

    process = subprocess.Popen(
        [sys.executable, "-m", "routeway", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if keep_stderr else subprocess.DEVNULL,
        text=True,
        preexec_fn=limit_files if max_open_files is not None else None,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        for line in process.stdout:
            lines.append(line)
            if "listening on" in line or time.monotonic() > deadline:
                break
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers(f"{url}/healthz"), what="routeway serve accepting connections")
        yield Served(url, process, lines)
    finally:
        process.terminate()
        process.wait(timeout=10)


def botocore_data_loaded_once() -> Callable[[], None]:
    """Every boto3 session reads botocore's service models (S3's alone is megabytes of JSON) again, and each
    gateway on the aws store makes its own session, as each Lambda container does once: ~0.3 s per test. In
    this test process the models are read once and shared by every session, as the clients of one session
    share them. What the models say is unchanged. Returns the undo."""
    import functools

    from botocore import loaders

    shared: dict[tuple[Any, ...], Any] = {}
    made = {name: getattr(loaders.Loader, name) for name in ("load_service_model", "load_data_with_path")}

    def once(name: str) -> Callable[..., Any]:
        @functools.wraps(made[name])
        def load(self: Any, *args: Any, **kwargs: Any) -> Any:
            key = (name, tuple(self.search_paths), args, tuple(sorted(kwargs.items())))
            if key not in shared:
                shared[key] = made[name](self, *args, **kwargs)
            return shared[key]

        return load

    for name in made:
        setattr(loaders.Loader, name, once(name))

    def undo() -> None:
        for name, method in made.items():
            setattr(loaders.Loader, name, method)

    return undo


class _OneRequestAtATime:
    """WSGI wrapper: moto's handlers read, check and write items with no lock of their own, so its atomicity
    under threads rests on the GIL's scheduling. DynamoDB applies each item write atomically; serialising
    every request gives the fake that guarantee by construction (and no more ordering than a real table gives
    concurrent callers), so a lost update in a test is the gateway's, never the fake's."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def plain_moto_numbers() -> Callable[[], None]:
    """DynamoDB normalises every number it stores; moto keeps the str() of its Decimal sums, so 0.0009105 -
    0.0009105 is stored as "0E-7", which its own next ADD fails to parse. Stored numbers are written in plain
    notation here, as DynamoDB would return them. Returns the undo."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType

    made = DynamoType.__init__

    def plain(self: Any, type_as_dict: Any) -> None:
        made(self, type_as_dict)
        if self.type == "N" and isinstance(self.value, str) and "E" in self.value.upper():
            self.value = format(Decimal(self.value), "f")

    DynamoType.__init__ = plain  # type: ignore[method-assign]

    def undo() -> None:
        DynamoType.__init__ = made  # type: ignore[method-assign]

    return undo


def one_backup_per_transaction() -> None:
    """moto backs up a whole table before a TransactWriteItems, once per item the transaction names, so its cost
    grows with the table times the items (DynamoDB's does not). One backup per table per call rolls back the
    same; only for the moto server process, whose requests run one at a time."""
    import copy

    from moto.dynamodb.models import DynamoDBBackend, Table

    write = DynamoDBBackend.transact_write_items
    deepcopy = copy.deepcopy

    def once(self: Any, transact_items: Any) -> Any:
        backups: dict[int, Any] = {}

        def backup(value: Any, *args: Any) -> Any:
            if isinstance(value, Table):
                if id(value) not in backups:
                    backups[id(value)] = deepcopy(value, *args)
                return backups[id(value)]
            return deepcopy(value, *args)

        copy.deepcopy = backup
        try:
            return write(self, transact_items)
        finally:
            copy.deepcopy = deepcopy

    DynamoDBBackend.transact_write_items = once  # type: ignore[method-assign]


def run_moto_server(port: int) -> None:
    """The body of the moto server process (`python -c`): every AWS service moto has, on 127.0.0.1:port."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    plain_moto_numbers()
    one_backup_per_transaction()

    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


class _PausedSettles:
    """WSGI wrapper for a crash test: while `flag` exists, a DynamoDB write that charges a generation (a settle:
    a transaction with a `charge#` marker or a `spend#` line, or the UpdateItem that removes a hold from a key
    item's map) waits; once the flag is gone it fails with a 500 and is never applied, as if the gateway died
    before its write reached DynamoDB. Outside the one-at-a-time lock: the rest goes on."""

    def __init__(self, app: Any, flag: str) -> None:
        self.app = app
        self.flag = Path(flag)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        import io

        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        environ["wsgi.input"] = io.BytesIO(body)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        settle = target.endswith("TransactWriteItems") and (b"charge#" in body or b"spend#" in body)
        settle |= target.endswith("UpdateItem") and b"REMOVE #h.#g" in body
        if settle and self.flag.exists():
            poll_until(lambda: not self.flag.exists(), timeout_s=120.0, what="the settle's release")
            start_response("500 Internal Server Error", [("Content-Type", "application/x-amz-json-1.0")])
            return [b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"paused"}']
        return self.app(environ, start_response)


def run_pausable_moto_server(port: int, flag: str) -> None:
    """`run_moto_server`, whose settles wait while `flag` exists and then fail (_PausedSettles)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    plain_moto_numbers()
    one_backup_per_transaction()
    app = _PausedSettles(_OneRequestAtATime(DomainDispatcherApplication(create_backend_app)), flag)
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


def start_logged(args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A child process writing to a file (a pipe nobody reads could fill up and block it)."""
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path, what: str, timeout_s: float) -> None:
    """Poll `url` until it answers; a process that exits first fails the wait with its log."""

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        return answers(url)

    poll_until(up, timeout_s=timeout_s, what=what)


def stop_all(processes: list[subprocess.Popen[bytes]], timeout_s: float = 15.0) -> None:
    """Terminate every process that still runs (all first, then wait), killing any that will not stop."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
