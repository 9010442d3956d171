"""Run in a fresh interpreter: cold start of one function, or memory + in-process latency through Mangum.

    python -m bench.inprocess cold FUNCTION EVENT_FILE
    python -m bench.inprocess lambda UPSTREAM_URL REQUESTS ROUNDS
    python -m bench.inprocess profile REQUESTS OUT_FILE

Prints one JSON line last. The environment (ROUTEWAY_HOME with a published catalog, the key the
events carry) is prepared by bench/run.py.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

from tests.fakes.lambda_context import LambdaContext as Context  # noqa: E402


def load(function: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fn_{function}", REPO / "functions" / function / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def cold(function: str, event_file: str) -> dict[str, Any]:
    handler = load(function)
    imported = time.perf_counter()
    event = json.loads((REPO / "events" / event_file).read_text())
    result = handler(event, Context())
    answered = time.perf_counter()
    return {
        "import_s": imported - STARTED,
        "first_response_s": answered - STARTED,
        "status": result.get("statusCode", result.get("outcome")),
    }


def lambda_latency(upstream: str, requests: int, rounds: int) -> dict[str, Any]:
    import httpx

    from bench.stats import rss_mb

    after_import = rss_mb()
    handler = load("completions")
    event = json.loads((REPO / "events" / "completions_chat.json").read_text())
    handler(event, Context())  # cold: builds the app, loads the catalog
    after_catalog = rss_mb()
    direct, gateway, header = [], [], []
    body = event["body"]
    with httpx.Client() as client:
        for _ in range(rounds):
            for _ in range(requests):
                t = time.perf_counter()
                client.post(f"{upstream}/chat/completions", content=body, headers={"content-type": "application/json"})
                direct.append(time.perf_counter() - t)
            for _ in range(requests):
                t = time.perf_counter()
                result = handler(event, Context())
                gateway.append(time.perf_counter() - t)
                header.append(float(result["headers"].get("x-routeway-overhead-ms", "nan")) / 1000)
                if result["statusCode"] != 200:
                    raise SystemExit(f"handler answered {result['statusCode']}: {result['body'][:200]}")
    return {
        "direct": direct,
        "gateway": gateway,
        "header": header,
        "rss_after_import_mb": after_import,
        "rss_after_catalog_mb": after_catalog,
        "rss_after_requests_mb": rss_mb(),
        "requests_for_rss": rounds * requests + 1,
    }


def lambda_profile(requests: int, out: str) -> dict[str, Any]:
    """cProfile on a CPU clock (wall time moves with the machine's load) of `requests` warm invocations of the
    completions handler, written to `out` for `pstats`: how bench/NOTES.md's Lambda profiles are taken."""
    import cProfile

    handler = load("completions")
    event = json.loads((REPO / "events" / "completions_chat.json").read_text())
    for _ in range(200):  # the cold start, then warm invocations
        handler(event, Context())
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        handler(event, Context())
    profiler.disable()
    profiler.dump_stats(out)
    return {"profile": out, "requests": requests}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "cold":
        output = cold(sys.argv[2], sys.argv[3])
    elif mode == "profile":
        output = lambda_profile(int(sys.argv[2]), sys.argv[3])
    else:
        output = lambda_latency(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    sys.stdout.write("\n" + json.dumps(output) + "\n")
