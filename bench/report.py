"""docs/BENCHMARKS.md from the figures of one run, each against its target (issue 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS = {
    "routing_real_p99_us": 300.0,
    "routing_10x_p99_us": 2000.0,
    "added_p50_ms": 1.0,
    "added_p99_ms": 3.0,
    "cold_ms": 250.0,
    "catalog_load_ms": 50.0,
    "rss_catalog_mb": 120.0,
}


def _verdict(value: float, target: float) -> str:
    return "meets" if value <= target else f"misses ({value / target:.1f}x)"


def _row(name: str, s: dict[str, float], unit: str) -> str:
    return f"| {name} | {s['min']:.1f} | {s['median']:.1f} | {s['p99']:.1f} | {unit} | {s['n']} |"


def write_report(f: dict[str, Any], out: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"One run of `make bench{' QUICK=1' if f['quick'] else ''}` on {f['date']}: {f['machine']}.",
        "The machine is shared and noisy: compare medians and ratios within this run, not across runs.",
        "" if not f["quick"] else "**Quick run (few repetitions): the figures are not meaningful.**",
        "",
        "## 1. Routing decision (parse + plan, no I/O)",
        "",
        "| request | min | median | p99 | unit | n |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(name, s, "µs") for name, s in f["routing_real"].items()]
    worst_real = max(s["p99"] for s in f["routing_real"].values())
    worst_10x = max(s["p99"] for s in f["routing_10x"].values())
    lines += [
        "",
        "Synthetic catalog, 10x (3,590 models, 8,320 endpoints):",
        "",
        "| request | min | median | p99 | unit | n |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(name, s, "µs") for name, s in f["routing_10x"].items()]
    lines += [
        "",
        f"Target p99 ≤ 300 µs (real): worst case {worst_real:.0f} µs, "
        f"{_verdict(worst_real, TARGETS['routing_real_p99_us'])}. "
        f"Target p99 ≤ 2 ms (10x): worst case {worst_10x / 1000:.1f} ms, "
        f"{_verdict(worst_10x, TARGETS['routing_10x_p99_us'])}.",
        "",
        "## 2. Added latency",
        "",
        "Fixed-reply upstream on loopback (`bench/upstream.py`), called directly and through `routeway serve`"
        " (auth, routing, shaping, a generation record and spend written to SQLite on every request).",
        "",
        "| concurrency | path | min | median | p99 | unit | n |",
        "|---|---|---|---|---|---|---|",
    ]
    added = {}
    for level, pair in f["http"].items():
        for path in ("direct", "gateway"):
            s = pair[path]
            lines.append(
                f"| {level[1:]} | {path} | {s['min']:.2f} | {s['median']:.2f} | {s['p99']:.2f} | ms | {s['n']} |"
            )
        added[level] = (
            pair["gateway"]["median"] - pair["direct"]["median"],
            pair["gateway"]["p99"] - pair["direct"]["p99"],
        )
    lam = f["lambda"]
    lam_added = (lam["gateway"]["median"] - lam["direct"]["median"], lam["gateway"]["p99"] - lam["direct"]["p99"])
    p50, p99 = added["c1"]
    lines += [
        "",
        f"Added at concurrency 1: p50 +{p50:.2f} ms ({_verdict(p50, TARGETS['added_p50_ms'])} the 1 ms target),"
        f" p99 +{p99:.2f} ms ({_verdict(p99, TARGETS['added_p99_ms'])} the 3 ms target)."
        f" At concurrency 16: p50 +{added['c16'][0]:.2f} ms, p99 +{added['c16'][1]:.2f} ms.",
        "",
        "In process, through `functions/completions/app.handler` (Mangum) with an API Gateway event, versus the"
        " upstream called directly from the same process:",
        "",
        "| path | min | median | p99 | unit | n |",
        "|---|---|---|---|---|---|",
        _row("direct", lam["direct"], "ms"),
        _row("handler", lam["gateway"], "ms"),
        "",
        f"Added in process: p50 +{lam_added[0]:.2f} ms, p99 +{lam_added[1]:.2f} ms.",
        "",
        "## 3. Cold start (fresh interpreter: import the handler, answer one request, catalog from the store)",
        "",
        "| function | measure | min | median | p99 | unit | n |",
        "|---|---|---|---|---|---|---|",
    ]
    worst_cold = 0.0
    for function, measures in f["cold"].items():
        for measure, s in measures.items():
            lines.append(
                f"| {function} | {measure} | {s['min']:.0f} | {s['median']:.0f} | {s['p99']:.0f} | ms | {s['n']} |"
            )
        worst_cold = max(worst_cold, measures["import + first response"]["median"])
    lines += [
        "",
        f"Target ≤ 250 ms median for import + first response: worst function {worst_cold:.0f} ms,"
        f" {_verdict(worst_cold, TARGETS['cold_ms'])}. Interpreter start-up itself (~20 ms) is not included.",
        "",
        "## 4. Catalog",
        "",
        "| step | min | median | p99 | unit | n |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_row(name, s, "ms") for name, s in f["catalog"].items()]
    load = f["catalog"]["load + index"]["median"]
    memory = f["memory"]
    lines += [
        "",
        f"Target snapshot load + index ≤ 50 ms: {load:.0f} ms, {_verdict(load, TARGETS['catalog_load_ms'])}.",
        "",
        "## 5. Memory (RSS of the completions handler's process)",
        "",
        "| moment | RSS |",
        "|---|---|",
        f"| after import | {memory['rss_after_import_mb']:.0f} MB |",
        f"| after catalog load and the first request | {memory['rss_after_catalog_mb']:.0f} MB |",
        f"| after {memory['requests_for_rss']} requests | {memory['rss_after_requests_mb']:.0f} MB |",
        "",
        f"Target RSS after catalog load ≤ 120 MB: {memory['rss_after_catalog_mb']:.0f} MB,"
        f" {_verdict(memory['rss_after_catalog_mb'], TARGETS['rss_catalog_mb'])}.",
        "",
    ]
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8")]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
