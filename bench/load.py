"""Streams and throughput through one server process, against the upstream directly (issue 33), with the load
client in processes of its own (`bench/loadgen.py`) and the server's CPU read from /proc.

- `streams`: N concurrent streams (the upstream's 50 chunks 20 ms apart), direct then through the server: time to
  first chunk and whole-stream time, the failures, and the server's CPU per relayed chunk.
- `throughput`: a closed loop at concurrency C, direct then through the server: requests per second and latency.
"""

from __future__ import annotations

import os
from typing import Any

from bench.loadgen import load
from bench.stats import summary

STREAM_BODY = {
    "model": "openai/gpt-5.4-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, system: bool = True) -> float:
    """User (+ system) CPU of a process, all its threads (and its waited-for children), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in ((11, 12, 13, 14) if system else (11, 13))) * TICK_S


def stream_round(
    url: str, headers: dict[str, str], count: int, chunks: int, pid: int | None, spread_s: float = 0.0
) -> dict[str, Any]:
    """`count` streams, all sent at once or evenly over `spread_s`: their figures (ms), failures, and the CPU of
    `pid` per data event relayed."""
    before, user_before = (cpu_s(pid), cpu_s(pid, system=False)) if pid else (0.0, 0.0)
    out = load("streams", url, STREAM_BODY, headers, connections=count, min_events=chunks, spread_s=spread_s)
    spent = cpu_s(pid) - before if pid else 0.0
    good = [s for s in out["streams"] if s["ok"]]
    events = sum(s["events"] for s in out["streams"])
    result: dict[str, Any] = {
        "streams": count,
        "failed": count - len(good),
        "errors": sorted({str(s.get("error") or s.get("status")) for s in out["streams"] if not s["ok"]}),
        "events": events,
    }
    if good:
        result["first"] = summary([s["first_s"] for s in good], 1e3)
        result["total"] = summary([s["total_s"] for s in good], 1e3)
    if pid:
        result["cpu_s"] = spent
        result["user_cpu_s"] = cpu_s(pid, system=False) - user_before
        result["cpu_per_chunk_us"] = spent / max(1, events) * 1e6
    return result


def throughput_round(
    url: str, headers: dict[str, str], body: dict[str, Any], concurrency: int, requests: int, pid: int | None
) -> dict[str, Any]:
    """A closed loop of `requests` at `concurrency`: requests per second, latency (ms), CPU per request."""
    per_connection = max(1, requests // concurrency)
    before = cpu_s(pid) if pid else 0.0
    out = load("requests", url, body, headers, connections=concurrency, per_connection=per_connection)
    spent = cpu_s(pid) - before if pid else 0.0
    done = len(out["latencies"])
    result: dict[str, Any] = {
        "rps": done / out["wall_s"],
        "latency": summary(out["latencies"], 1e3),
        "failed": out["failed"],
        "requests": done,
    }
    if out["overheads"]:
        result["header"] = summary(out["overheads"], 1e3)
    if pid:
        result["cpu_per_request_ms"] = spent / max(1, done) * 1e3
    return result


RATES = (25, 50, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000)


def rate_round(
    url: str, headers: dict[str, str], body: dict[str, Any], rate: float, seconds: float, concurrency: int
) -> dict[str, Any]:
    out = load("rate", url, body, headers, connections=concurrency, rate=rate, duration_s=seconds)
    return {"rate": rate, "latency": summary(out["latencies"] or [0.0], 1e3), "failed": out["failed"]}


def capacity(
    url: str,
    direct_url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    *,
    concurrency: int = 64,
    seconds: float = 3.0,
    start: float = 100,
    budget_ms: float = 10.0,
) -> dict[str, Any]:
    """Rates from `start` up (`RATES`), each for `seconds`, direct then through the server, at most `concurrency`
    in flight: the highest rate whose p99 is within `budget_ms` of the direct p99 at that rate, none failed. The
    ramp goes on past one rate that misses (a moment of noise on a shared machine) and stops at the second."""
    rate_round(url, headers, body, start, 0.5, concurrency)  # the server's connections and caches, warmed
    steps, best, misses = [], None, 0
    for rate in (r for r in RATES if r >= start):
        direct = rate_round(direct_url, {}, body, rate, seconds, concurrency)
        via = rate_round(url, headers, body, rate, seconds, concurrency)
        added = via["latency"]["p99"] - direct["latency"]["p99"]
        steps.append({"rate": rate, "p99_added_ms": added, "p50_ms": via["latency"]["median"], "failed": via["failed"]})
        if added > budget_ms or via["failed"]:
            misses += 1
            if misses == 2:
                break
            continue
        best = steps[-1]
    return {"best": best, "steps": steps, "concurrency": concurrency, "budget_ms": budget_ms}


def figures(
    upstream: str,
    upstream_pid: int,
    gateway: str,
    gateway_pid: int,
    auth: dict[str, str],
    body: dict[str, Any],
    other: Any | None,
    quick: bool,
) -> dict[str, Any]:
    """Section 3 of the report: streams (spread over one stream's length, and all at once) and throughput, for
    the upstream directly, Routeway and LiteLLM (`other`, a `bench.litellm.Proxy`, when it runs)."""
    count = 32 if quick else 512
    chunks = int(os.environ.get("BENCH_STREAM_CHUNKS", "50"))
    length_s = chunks * float(os.environ.get("BENCH_STREAM_GAP_MS", "20")) / 1000
    sides = [("direct", f"{upstream}/chat/completions", {}, upstream_pid), ("gateway", gateway, auth, gateway_pid)]
    if other is not None:
        sides.append(("litellm", f"{other.url}/v1/chat/completions", other.headers, other.pid))
    streams: dict[str, Any] = {"count": count, "chunks": chunks, "length_s": length_s}
    for start, spread in (("spread", length_s), ("burst", 0.0)):
        streams[start] = {name: stream_round(url, h, count, chunks, pid, spread) for name, url, h, pid in sides}
    seconds = 1.0 if quick else 3.0
    throughput: dict[str, Any] = {}
    for name, url, h, pid in sides[1:]:
        throughput[name] = {
            "closed": throughput_round(url, h, body, 64, 640 if quick else 6400, pid),
            "ramp": capacity(url, sides[0][1], h, body, seconds=seconds, start=100 if name == "gateway" else 25),
        }
    throughput["direct"] = {"closed": throughput_round(sides[0][1], {}, body, 64, 640 if quick else 6400, None)}
    return {"streams": streams, "throughput": throughput}
