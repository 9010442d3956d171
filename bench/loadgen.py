"""A load client cheap enough not to be what is measured: raw asyncio (uvloop when installed) over TCP, HTTP/1.1,
run in processes of its own (`load` starts them and merges what they saw).

Three kinds of load:
- `streams`: N streams at once, one connection each, all sent at the same instant; for each, the time to its first
  data event and to its end (`data: [DONE]` or the chunked body's end), its data events, and whether it ended well.
- `requests`: C keep-alive connections, each sending its share of T requests one after another (a closed loop at
  concurrency C); each request's latency, and the wall time of the whole run (requests per second).
- `rate`: an open loop, R requests a second for D seconds over at most C connections; latency from when each
  request was due (a server that falls behind shows it).

A worker process: `python -m bench.loadgen SPEC_JSON OUT_FILE`; it writes its results as JSON to OUT_FILE.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent


def _request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}", "content-type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class _Answer:
    """One response being read: status, body framing, first data event, end."""

    status: int = 0
    length: int = -1  # content-length, or -1 for a chunked body
    head_end: int = -1
    first_at: float = 0.0
    ended_at: float = 0.0
    overhead_ms: float | None = None
    buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes, now: float) -> bool:
        """Takes bytes; True when the response is complete."""
        self.buffer += data
        if self.head_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.head_end = end + 4
            head = bytes(self.buffer[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(b"content-length:")
            if at >= 0:
                self.length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            at = head.find(b"x-routeway-overhead-ms:")
            if at >= 0:
                self.overhead_ms = float(head[at + 23 :].split(b"\r\n", 1)[0])
        if (
            not self.first_at
            and self.buffer.find(b"data: {", max(self.head_end, len(self.buffer) - len(data) - 8)) >= 0
        ):
            self.first_at = now
        if self.length >= 0:
            done = len(self.buffer) - self.head_end >= self.length
        else:
            done = self.buffer.endswith(b"\r\n0\r\n\r\n")
        if done:
            self.ended_at = now
        return done


class _Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer = _Answer()
        self.done: asyncio.Future[_Answer] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes) -> asyncio.Future[_Answer]:
        self.answer = _Answer()
        self.done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return self.done

    def data_received(self, data: bytes) -> None:
        if self.answer.feed(data, time.perf_counter()) and self.done is not None and not self.done.done():
            self.done.set_result(self.answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError(f"closed: {exc}"))


async def _connect(host: str, port: int) -> _Client:
    _, client = await asyncio.get_running_loop().create_connection(_Client, host, port)
    return client


async def _streams(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, path = spec["host"], spec["port"], spec["path"]
    request = _request(host, port, path, spec["body"].encode(), spec["headers"])
    clients = await asyncio.gather(*(_connect(host, port) for _ in range(spec["count"])))
    await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))  # every process sends at the same instant

    async def one(client: _Client, delay_s: float) -> dict[str, Any]:
        await asyncio.sleep(delay_s)
        sent = time.perf_counter()
        try:
            answer = await asyncio.wait_for(client.send(request), spec["timeout_s"])
        except (TimeoutError, ConnectionError) as exc:
            return {"ok": False, "error": type(exc).__name__, "events": 0}
        finally:
            if client.transport is not None:
                client.transport.close()
        events = answer.buffer.count(b"data: {")
        ok = answer.status == 200 and b"data: [DONE]" in answer.buffer and b'"error"' not in answer.buffer
        return {
            "ok": ok and events >= spec["min_events"],
            "status": answer.status,
            "events": events,
            "first_s": (answer.first_at or answer.ended_at) - sent,
            "total_s": answer.ended_at - sent,
        }

    gap, offset = spec["gap_s"], spec["offset_s"]  # the streams start one after another (`load`'s spread_s)
    return {"streams": await asyncio.gather(*(one(c, offset + i * gap) for i, c in enumerate(clients)))}


async def _requests(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, path = spec["host"], spec["port"], spec["path"]
    request = _request(host, port, path, spec["body"].encode(), spec["headers"])
    clients = await asyncio.gather(*(_connect(host, port) for _ in range(spec["count"])))
    latencies: list[float] = []
    overheads: list[float] = []
    failed = 0
    await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))

    async def worker(client: _Client, share: int) -> None:
        nonlocal failed
        for _ in range(share):
            started = time.perf_counter()
            answer = await client.send(request)
            latencies.append(time.perf_counter() - started)
            failed += answer.status != 200
            if answer.overhead_ms is not None:
                overheads.append(answer.overhead_ms / 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker(client, spec["per_connection"]) for client in clients))
    wall = time.perf_counter() - began
    for client in clients:
        assert client.transport is not None
        client.transport.close()
    return {"latencies": latencies, "overheads": overheads, "failed": failed, "wall_s": wall}


async def _rate(spec: dict[str, Any]) -> dict[str, Any]:
    """Open loop: requests due every 1/rate s for `duration_s`, each on a free one of `count` connections (waiting
    for one when all are busy); a latency runs from when the request was due, so a backlog is counted."""
    host, port, path = spec["host"], spec["port"], spec["path"]
    request = _request(host, port, path, spec["body"].encode(), spec["headers"])
    idle: asyncio.Queue[_Client] = asyncio.Queue()
    for client in await asyncio.gather(*(_connect(host, port) for _ in range(spec["count"]))):
        idle.put_nowait(client)
    latencies: list[float] = []
    failed = 0
    await asyncio.sleep(max(0.0, spec["start_at"] - time.time()))
    began = time.perf_counter()
    gap = 1 / spec["rate"]

    async def one(due: float) -> None:
        nonlocal failed
        client = await idle.get()
        try:
            answer = await client.send(request)
            failed += answer.status != 200
        except ConnectionError:
            failed += 1
            return
        latencies.append(time.perf_counter() - due)
        idle.put_nowait(client)

    tasks = []
    for index in range(int(spec["rate"] * spec["duration_s"])):
        due = began + spec["offset_s"] + index * gap
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    return {"latencies": latencies, "overheads": [], "failed": failed, "wall_s": time.perf_counter() - began}


def load(
    kind: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    connections: int,
    processes: int = 2,
    per_connection: int = 1,
    timeout_s: float = 120.0,
    min_events: int = 1,
    spread_s: float = 0.0,
    rate: float = 0.0,
    duration_s: float = 0.0,
) -> dict[str, Any]:
    """`connections` spread over `processes` worker processes, started together; their results merged. Streams
    start at once (`spread_s` 0) or one after another, evenly over `spread_s` (the processes interleaved)."""
    parts = urlsplit(url)
    start_at = time.time() + 1.5 + connections / 400  # time for every worker to start and connect
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    workers = []
    for index, share in enumerate(s for s in shares if s):
        spec = {
            "gap_s": spread_s * processes / max(1, connections),
            "offset_s": spread_s * index / max(1, connections),
            "kind": kind,
            "host": parts.hostname,
            "port": parts.port,
            "path": parts.path,
            "body": json.dumps(body),
            "headers": headers,
            "count": share,
            "per_connection": per_connection,
            "start_at": start_at,
            "timeout_s": timeout_s,
            "min_events": min_events,
            "rate": rate / processes,  # `rate` kind: the processes' requests interleaved
            "duration_s": duration_s,
        }
        if kind == "rate":
            spec["offset_s"] = index / max(rate, 1e-9)
        out = Path(tempfile.mkstemp(prefix="routeway-load-", suffix=".json")[1])
        args = [sys.executable, "-m", "bench.loadgen", json.dumps(spec), str(out)]
        workers.append((subprocess.Popen(args, cwd=REPO, env=os.environ), out))
    merged: dict[str, Any] = {}
    for worker, out in workers:
        if worker.wait(timeout=timeout_s + 60) != 0:
            raise SystemExit(f"a load worker failed ({worker.returncode})")
        results = json.loads(out.read_text())
        out.unlink()
        for name, value in results.items():
            if isinstance(value, list):
                merged.setdefault(name, []).extend(value)
            elif name == "wall_s":
                merged[name] = max(merged.get(name, 0.0), value)
            else:
                merged[name] = merged.get(name, 0) + value
    return merged


def _main(spec: dict[str, Any], out: Path) -> None:
    run = {"streams": _streams, "requests": _requests, "rate": _rate}[spec["kind"]]
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]), Path(sys.argv[2]))
