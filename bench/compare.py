"""Two checkouts side by side: `routeway serve` from each, the same fixed-reply upstream, interleaved rounds.

    PYTHONPATH=shared:. python -m bench.compare /path/to/checkout-a /path/to/checkout-b [REQUESTS] [ROUNDS]

A checkout named `floor` is the raw floor instead (`bench/floor.py`: a bare ASGI app forwarding with aiohttp).

Each checkout runs with its own `shared/` first on PYTHONPATH (this venv's dependencies), against one
ROUTEWAY_HOME, at concurrency 1. Prints the added latency (gateway minus direct) of each, its own
`x-routeway-overhead-ms`, and the server's CPU per request (every thread, from /proc: steadier than wall clock
on a shared machine), from one run: on a shared machine only such same-run ratios mean much.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bench.run import EXAMPLE_KEY, _concurrent, free_port, prepared_home, process, wait_until_up
from bench.stats import summary

FLOOR = "floor"


def main(checkouts: list[Path], requests: int, rounds: int) -> None:
    up_port = free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    _, env = prepared_home(upstream)
    auth = {"Authorization": f"Bearer {EXAMPLE_KEY}"}
    samples: dict[str, list[float]] = {"direct": []}
    headers: dict[str, list[float]] = {}
    cpu_s: dict[str, float] = {}
    with process([sys.executable, "-m", "bench.upstream", str(up_port)], env, f"{upstream}/health"):
        servers, urls = [], {}
        try:
            for checkout in checkouts:
                port = free_port()
                name = str(checkout)
                child = {**env, "PYTHONPATH": f"{checkout / 'shared'}:{checkout}"}
                args = [sys.executable, "-m", "routeway", "serve", "--port", str(port)]
                if checkout.name == FLOOR:  # the bare ASGI + aiohttp proxy (bench/floor.py), for what is ours
                    args = [sys.executable, "-m", "bench.floor", str(port), upstream]
                servers.append(subprocess.Popen(args, env=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                urls[name] = f"http://127.0.0.1:{port}"
                samples[name], headers[name], cpu_s[name] = [], [], 0.0
            for url in urls.values():
                wait_until_up(f"{url}/healthz")
            for _ in range(rounds):
                samples["direct"] += asyncio.run(_concurrent(f"{upstream}/chat/completions", {}, requests, 1))
                for server, (name, url) in zip(servers, urls.items(), strict=True):
                    before = cpu_seconds(server.pid)
                    got = asyncio.run(_concurrent(f"{url}/v1/chat/completions", auth, requests, 1, headers[name]))
                    cpu_s[name] += cpu_seconds(server.pid) - before
                    samples[name] += got
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    direct = summary(samples["direct"], 1e3)
    print(f"direct: median {direct['median']:.2f} ms, p99 {direct['p99']:.2f} ms")
    for name in urls:
        via, own = summary(samples[name], 1e3), summary(headers[name] or [0.0], 1e3)
        print(
            f"{name}: added p50 +{via['median'] - direct['median']:.2f} ms, p99 +{via['p99'] - direct['p99']:.2f} ms;"
            f" x-routeway-overhead-ms median {own['median']:.2f}; CPU {cpu_s[name] / len(samples[name]) * 1e3:.3f} ms"
            " a request"
        )


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user and system, every thread (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    paths = [Path(p) if p == FLOOR else Path(p).resolve() for p in sys.argv[1:3]]
    main(paths, int(sys.argv[3]) if len(sys.argv) > 3 else 300, int(sys.argv[4]) if len(sys.argv) > 4 else 3)
