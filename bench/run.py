"""Routeway's benchmarks, one command: `make bench` (full, a few minutes) or `make bench QUICK=1`.

Writes docs/BENCHMARKS.md (or --out). Sections: routing decision time, added latency (HTTP at
concurrency 1 and 16, and in-process through the Lambda handler), cold start per function, catalog
load and refresh processing, memory. Direct and gateway rounds are interleaved so machine drift
cancels; figures are min / median / p99 from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import litellm, load, routing
from bench.report import write_report
from bench.stats import machine, summary

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_KEY = "rw-example-events-key-0000000000000000000000"
COLD_CASES = {
    "info": "info_models.json",
    "route_preview": "route_preview_preview.json",
    "completions": "completions_chat.json",
}
BODY = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "hi"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def process(args: list[str], env: dict[str, str], probe: str) -> Iterator[subprocess.Popen[str]]:
    """A server for the length of the block. Its output goes to a file under ROUTEWAY_HOME (a pipe nobody reads
    would fill after a few hundred request lines, and the server would block on it)."""
    name = Path(args[2] if len(args) > 2 else args[0]).name.replace(".", "-")
    log = (Path(env["ROUTEWAY_HOME"]) / f"{name}.log").open("a")
    proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_up(probe)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def prepared_home(upstream: str) -> tuple[Path, dict[str, str]]:
    """A ROUTEWAY_HOME with a published catalog and the key the events carry."""
    home = Path(tempfile.mkdtemp(prefix="routeway-bench-"))
    env = {
        **os.environ,
        "ROUTEWAY_HOME": str(home),
        "ROUTEWAY_STORE": "local",
        "OPENROUTER_BASE_URL": upstream,
        "OPENROUTER_API_KEY": "sk-bench",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), str(REPO)]),  # this checkout's code, whatever is installed
    }
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    script = (
        "import asyncio, os\n"
        "from pathlib import Path\n"
        "from routeway.wiring import build_gateway\n"
        "from routeway.settings import Settings\n"
        "from routeway.adapters.catalog_source import DirectorySource\n"
        "from routeway.services.refresh import refresh_catalog\n"
        "from routeway.domain.records import ApiKeyRecord\n"
        "from routeway.services.keys import hash_key, iso_now\n"
        "g = build_gateway(Settings.from_env(os.environ))\n"
        f"r = asyncio.run(refresh_catalog(g, DirectorySource(Path({str(REPO.parent / 'shared/data/openrouter')!r}))))\n"
        "assert r.outcome == 'published', r\n"
        f"g.state.sync.create_key(ApiKeyRecord(name='bench', key_hash=hash_key({EXAMPLE_KEY!r}), prefix='rw-exampl',"
        " created_at=iso_now(g.clock)))\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=REPO)
    return home, env


async def _concurrent(
    url: str, headers: dict[str, str], total: int, concurrency: int, overheads: list[float] | None = None
) -> list[float]:
    """Client-side latency of `total` requests; the gateway's own `x-routeway-overhead-ms` into `overheads`."""
    samples: list[float] = []
    queue = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                response = await client.post(url, json=BODY, headers=headers)
                samples.append(time.perf_counter() - started)
                if overheads is not None and "x-routeway-overhead-ms" in response.headers:
                    overheads.append(float(response.headers["x-routeway-overhead-ms"]) / 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples


def http_latency(
    upstream: str, gateway: str, key: str, requests: int, rounds: int, other: litellm.Proxy | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for concurrency in (1, 16):
        direct: list[float] = []
        via: list[float] = []
        theirs: list[float] = []
        overheads: list[float] = []
        auth = {"Authorization": f"Bearer {key}"}
        for _ in range(rounds):  # interleaved: drift hits all sides alike
            direct += asyncio.run(_concurrent(f"{upstream}/chat/completions", {}, requests, concurrency))
            via += asyncio.run(_concurrent(f"{gateway}/v1/chat/completions", auth, requests, concurrency, overheads))
            if other is not None:
                theirs += asyncio.run(
                    _concurrent(
                        f"{other.url}/v1/chat/completions",
                        other.headers,
                        min(requests, litellm.REQUESTS_PER_ROUND),
                        concurrency,
                    )
                )
        results[f"c{concurrency}"] = {
            "direct": summary(direct, 1e3),
            "gateway": summary(via, 1e3),
            "header": summary(overheads or [0.0], 1e3),
            **({"litellm": summary(theirs, 1e3)} if theirs else {}),
        }
    return results


def import_costs(env: dict[str, str], top: int = 12) -> list[dict[str, Any]]:
    """`python -X importtime` of the completions handler answering one chat event, from one fresh
    interpreter: each package's own import time (its modules' self times summed), costliest first."""
    args = [sys.executable, "-X", "importtime", "-m", "bench.inprocess", "cold", "completions", "completions_chat.json"]
    out = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    costs: dict[str, float] = {}
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        costs[package] = costs.get(package, 0.0) + int(parts[0].split(":")[1]) / 1000
    ranked = sorted(costs.items(), key=lambda item: -item[1])[:top]
    return [{"module": name, "self_ms": ms} for name, ms in ranked]


def run_json(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def layer_bytecode(env: dict[str, str]) -> dict[str, str]:
    """`env` for cold starts that read bytecode as the Lambda layer ships it (`shared/Makefile`: compileall of
    every module, the dependencies' too). Without it, where PYTHONDONTWRITEBYTECODE=1 is set (this machine) and
    no `__pycache__` exists yet, every run compiled routeway's ~75 modules on the path from source first:
    ~150 ms a deployed function never pays. The bytecode goes under ROUTEWAY_HOME (PYTHONPYCACHEPREFIX), never
    into the source tree. The prefix also moves where Python looks for the installed packages' bytecode, so
    theirs is written there too, by one run of each cold case with bytecode writing on (without it every run
    compiled numpy, pydantic, httpx and the rest from source: ~0.5 s of a 0.9 s "cold start")."""
    compiled = {**env, "PYTHONPYCACHEPREFIX": str(Path(env["ROUTEWAY_HOME"]) / "pycache")}
    trees = [REPO / "shared" / "routeway", REPO / "functions", REPO / "bench", REPO / "tests" / "__init__.py"]
    trees += [REPO / "tests" / "fakes"]  # the harness's own modules (bench.inprocess and its fake context)
    args = [sys.executable, "-m", "compileall", "-q", *map(str, trees)]
    subprocess.run(args, env=compiled, check=True, stdout=subprocess.DEVNULL)
    writing = {k: v for k, v in compiled.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for function, event in COLD_CASES.items():
        run_json([sys.executable, "-m", "bench.inprocess", "cold", function, event], writing)
    return compiled


def cold_starts(env: dict[str, str], repeats: int) -> dict[str, Any]:
    results = {}
    for function, event in COLD_CASES.items():
        runs = [
            run_json([sys.executable, "-m", "bench.inprocess", "cold", function, event], env) for _ in range(repeats)
        ]
        results[function] = {
            "import": summary([r["import_s"] for r in runs], 1e3),
            "import + first response": summary([r["first_response_s"] for r in runs], 1e3),
        }
    return results


def catalog_figures(home: Path, repeats: int) -> dict[str, Any]:
    from tests.fakes.data import load

    from routeway.adapters.local_store import LocalSnapshotStore, LocalStateStore
    from routeway.config import load_routing_config
    from routeway.domain.candidates import known_provider_names, openrouter_rows
    from routeway.domain.catalog import Catalog
    from routeway.domain.normalize import build_snapshot
    from routeway.domain.snapshot_codec import decode_snapshot, encode_snapshot
    from routeway.domain.validate import diff_snapshots, validate_snapshot

    pointer = LocalStateStore(home).get_pointer()
    assert pointer is not None
    store = LocalSnapshotStore(home)
    loads, refreshes = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        catalog = Catalog(decode_snapshot(store.get_snapshot(pointer.version) or b""), "store")
        openrouter_rows(catalog)
        known_provider_names(catalog)
        loads.append(time.perf_counter() - started)
    config = load_routing_config(None)
    raw = [load("models.json"), load("models_output_image.json"), load("embedding_models.json")]
    for _ in range(repeats):
        started = time.perf_counter()
        snapshot = build_snapshot(
            model_lists=raw,
            endpoints_by_id=load("endpoints.json"),
            providers_response=load("providers.json"),
            aliases=config.aliases,
            backends=config.backends,
            created_at="2026-11-21T00:00:00Z",
            source="bench",
        )
        validate_snapshot(snapshot, catalog.snapshot)
        diff_snapshots(catalog.snapshot, snapshot)
        encode_snapshot(snapshot)
        refreshes.append(time.perf_counter() - started)
    return {"load + index": summary(loads, 1e3), "refresh processing": summary(refreshes, 1e3)}


def lambda_shape_cold_start(quick: bool) -> str | None:
    """Runs tests/lambda_shape's cold-start test (the whole Lambda-shaped run: what `make build-host` built, under
    awslambdaric, read-only, AWS at moto), which writes .aws-sam/lambda-shape.json; None when it ran, else why
    not (the report then reads an older file, if any, and says so)."""
    if quick:
        return "not run by a quick bench"
    if not (REPO / ".aws-sam" / "build-host").exists():
        return "no host build (`make build-host`, which `make test` runs)"
    test = "tests/lambda_shape/test_lambda_shape.py::test_cold_starts_are_measured_for_each_function"
    args = [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), str(REPO)])}
    out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return None if out.returncode == 0 else f"the Lambda-shaped run failed: {out.stdout.strip()[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Routeway benchmarks")
    parser.add_argument("--quick", action="store_true", help="few repetitions: checks that everything runs")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--litellm", action="store_true", help="LiteLLM's proxy beside Routeway (make bench does)")
    args = parser.parse_args()
    quick = args.quick
    figures: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
        "load_before": os.getloadavg()[0],
    }
    print("routing ...", flush=True)
    real = routing.real_catalog()
    repeats = 30 if quick else 400
    figures["routing_real"] = {k: summary(v, 1e6) for k, v in routing.measure(real, repeats).items()}
    figures["routing_10x"] = {
        k: summary(v, 1e6) for k, v in routing.measure(routing.tenfold(real), max(10, repeats // 4)).items()
    }
    up_port, gw_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    home, env = prepared_home(upstream)
    with process([sys.executable, "-m", "bench.upstream", str(up_port)], env, f"{upstream}/health") as fake:
        print("added latency over HTTP ...", flush=True)
        serve = [sys.executable, "-m", "routeway", "serve", "--port", str(gw_port)]
        with process(serve, env, f"http://127.0.0.1:{gw_port}/healthz") as served:
            requests, rounds = (50, 1) if quick else (1500, 3)
            print("starting LiteLLM's proxy beside it ..." if args.litellm else "(LiteLLM not requested)", flush=True)
            unrequested = "not requested (`make bench` runs it: `python -m bench.run --litellm`)"
            beside = litellm.litellm_proxy(upstream, free_port(), BODY) if args.litellm else nullcontext(unrequested)
            with beside as other:
                running = other if isinstance(other, litellm.Proxy) else None
                figures["litellm"] = {"version": running.version} if running else other
                gateway = f"http://127.0.0.1:{gw_port}"
                figures["http"] = http_latency(upstream, gateway, EXAMPLE_KEY, requests, rounds, running)
                print("streams and throughput ...", flush=True)
                auth = {"Authorization": f"Bearer {EXAMPLE_KEY}"}
                chat = f"{gateway}/v1/chat/completions"
                figures["load"] = load.figures(upstream, fake.pid, chat, served.pid, auth, BODY, running, quick)
        print("in-process (Lambda handler) and memory ...", flush=True)
        lam = run_json(
            [
                sys.executable,
                "-m",
                "bench.inprocess",
                "lambda",
                upstream,
                str(50 if quick else 500),
                "1" if quick else "2",
            ],
            env,
        )
        figures["lambda"] = {
            "direct": summary(lam["direct"], 1e3),
            "gateway": summary(lam["gateway"], 1e3),
            "header": summary(lam["header"], 1e3),
        }
        figures["memory"] = {k: lam[k] for k in lam if k.startswith("rss") or k == "requests_for_rss"}
        print("cold starts ...", flush=True)
        compiled = layer_bytecode(env)
        figures["cold"] = cold_starts(compiled, 2 if quick else 7)
        figures["imports"] = import_costs(compiled)
    print("cold start in the Lambda-shaped run (the built artifact) ...", flush=True)
    figures["lambda_shape"] = lambda_shape_cold_start(quick)
    print("catalog ...", flush=True)
    figures["catalog"] = catalog_figures(home, 3 if quick else 15)
    figures["load_after"] = os.getloadavg()[0]
    verdicts = write_report(figures, args.out)
    print("\nEach figure against its target (one run; the tables are in the report):")
    for line in verdicts:
        print(f"  {line.removeprefix('- ')}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
