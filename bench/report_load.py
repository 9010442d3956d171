"""The report's section on streams and throughput (bench/load.py's figures), each against issue 33's target."""

from __future__ import annotations

from typing import Any

FIRST_CHUNK_ADDED_P50_MS = 5.0
WHOLE_STREAM_ADDED_P99_MS = 100.0
THROUGHPUT_P99_ADDED_MS = 10.0
NAMES = {"direct": "upstream directly", "gateway": "Routeway (`serve`)", "litellm": "LiteLLM"}


def _verdict(value: float, target: float) -> str:
    return "meets" if value <= target else f"misses ({value / target:.1f}x)"


def _stream_rows(start: dict[str, Any]) -> list[str]:
    rows = []
    for name, r in start.items():
        if "first" not in r:
            rows.append(f"| {NAMES[name]} | {r['failed']} of {r['streams']} ({', '.join(r['errors'])}) | | | | | |")
            continue
        cpu = f"{r['cpu_per_chunk_us']:.0f} µs" if "cpu_per_chunk_us" in r else ""
        rows.append(
            f"| {NAMES[name]} | {r['failed']} | {r['first']['median']:.1f} | {r['first']['p99']:.1f}"
            f" | {r['total']['median']:.0f} | {r['total']['p99']:.0f} | {cpu} |"
        )
    return rows


def _added(start: dict[str, Any], name: str) -> tuple[float, float] | None:
    side, direct = start.get(name), start["direct"]
    if not side or "first" not in side or "first" not in direct:
        return None
    return side["first"]["median"] - direct["first"]["median"], side["total"]["p99"] - direct["total"]["p99"]


def section(f: dict[str, Any]) -> list[str]:
    """Section 3's lines; the verdict lines start with "Target"."""
    s, t = f["streams"], f["throughput"]
    lines = [
        "## 3. Streams and throughput through one `serve` process",
        "",
        f"{s['count']} streams of {s['chunks']} chunks, {s['length_s'] * 1000 / s['chunks']:.0f} ms apart, from"
        " the streaming mode of `bench/upstream.py` (raw asyncio), read by `bench/loadgen.py` (raw asyncio, two"
        " processes of its own: the client is not what is measured). Spread: the streams start one after another"
        f" over one stream's length ({s['length_s']:.1f} s), so that all {s['count']} run together from then on;"
        " burst: all sent at the same instant. CPU per chunk: the server process's user + system CPU (/proc, every"
        " thread) over the round ÷ the data events its clients received (so each stream's own start and record"
        " are in it).",
        "",
    ]
    header = "| side | failed | first chunk p50 ms | p99 | whole stream p50 ms | p99 | CPU per chunk |"
    for start in ("spread", "burst"):
        lines += [f"{start.capitalize()}:", "", header, "|---|---|---|---|---|---|---|", *_stream_rows(s[start]), ""]
    verdicts = []
    for start in ("spread", "burst"):
        ours = _added(s[start], "gateway")
        failed = s[start]["gateway"]["failed"]
        if ours is None:
            verdicts.append(f"Target streams ({start}): none failed: {failed} failed, misses.")
            continue
        theirs = _added(s[start], "litellm")
        beside = (
            f" LiteLLM: {s[start]['litellm']['failed']} failed, first chunk +{theirs[0]:.1f} ms p50, whole stream"
            f" +{theirs[1]:.0f} ms p99."
            if theirs
            else ""
        )
        verdicts.append(
            f"Target streams ({start}, {s['count']}): none failed: {failed} failed"
            f" ({'meets' if failed == 0 else 'misses'}); first chunk ≤ +{FIRST_CHUNK_ADDED_P50_MS:.0f} ms p50:"
            f" +{ours[0]:.1f} ms ({_verdict(ours[0], FIRST_CHUNK_ADDED_P50_MS)}); whole stream"
            f" ≤ +{WHOLE_STREAM_ADDED_P99_MS:.0f} ms p99: +{ours[1]:.0f} ms"
            f" ({_verdict(ours[1], WHOLE_STREAM_ADDED_P99_MS)}); CPU per relayed chunk"
            f" {s[start]['gateway'].get('cpu_per_chunk_us', 0):.0f} µs.{beside}"
        )
    lines += verdicts + [""]
    lines += [
        "Throughput at concurrency 64. Closed loop: 64 connections, each sending its next request when the last"
        " answered (the most a process answers; latency is then mostly queueing). Ramp: an open loop at rising"
        " rates (3 s each, at most 64 in flight, latency counted from when a request was due), direct then"
        f" through the server, up to the first rate whose p99 is more than {THROUGHPUT_P99_ADDED_MS:.0f} ms over"
        " the direct p99 at that rate.",
        "",
        "| side | closed loop rps | its p50 ms | its p99 ms | CPU per request | ramp: best rate | its p99 added |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, side in t.items():
        closed = side["closed"]
        best = (side.get("ramp") or {}).get("best")
        cpu = f"{closed['cpu_per_request_ms']:.2f} ms" if "cpu_per_request_ms" in closed else ""
        ramp = (
            f"{best['rate']} rps | +{best['p99_added_ms']:.1f} ms"
            if best
            else ("none passed | " if "ramp" in side else " | ")
        )
        lines.append(
            f"| {NAMES[name]} | {closed['rps']:.0f} | {closed['latency']['median']:.1f}"
            f" | {closed['latency']['p99']:.1f} | {cpu} | {ramp} |"
        )
    ours = (t["gateway"].get("ramp") or {}).get("best")
    theirs = (t.get("litellm", {}).get("ramp") or {}).get("best")
    ramps = [
        f"{'Routeway' if name == 'gateway' else 'LiteLLM'}'s ramp (rate: p99 added, ms): "
        + ", ".join(f"{st['rate']}: {st['p99_added_ms']:+.1f}" for st in t[name]["ramp"]["steps"])
        + "."
        for name in ("gateway", "litellm")
        if "ramp" in t.get(name, {})
    ]
    lines += [
        "",
        *(line for ramp in ramps for line in (ramp, "")),
        f"Target throughput at c=64 with p99 added ≤ {THROUGHPUT_P99_ADDED_MS:.0f} ms (reported, beside LiteLLM's):"
        f" Routeway {str(ours['rate']) + ' rps' if ours else 'no rate of the ramp'}"
        f" (closed loop {t['gateway']['closed']['rps']:.0f} rps), LiteLLM"
        + (f" {theirs['rate']} rps" if theirs else (" no rate of the ramp" if "litellm" in t else " not measured"))
        + (f" (closed loop {t['litellm']['closed']['rps']:.0f} rps)." if "litellm" in t else "."),
        "",
    ]
    return lines
