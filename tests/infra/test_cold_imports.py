"""A cold start imports only what the first response needs: checked in a fresh interpreter, by module name.

Timing lives in bench/ (cold start as import + first response); this guards the causes, so a heavy import
cannot slip back onto the Lambda path unnoticed: PyYAML (the packaged defaults are read as JSON), httpx's
command line and what it pulls in (click, rich, pygments), numpy (it loads with the first routing-mode
plan: a named model's index holds plain lists), the refresh's modules, difflib (only an unknown model name
is answered with suggestions), strptime's parser, the dialects a chat completion does not speak, the
task-detection patterns (auto's), and pydantic's plugin look-up (it reads every installed distribution's
metadata).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, seed_key
from tests.fakes.data import REPO

# Never on the Lambda path, whatever the request (the CLI's and the refresh's dependencies)
NEVER = ("yaml", "rich", "pygments", "click", "typer", "uvicorn")
# Not for a named-model chat completion either: the routing modes' planner and numpy (a named model plans over an
# index of its own targets, in plain lists: domain/plain_arrays.py), the refresh's modules, and FastAPI (the
# completion POSTs are served by http/front.py; FastAPI and its telemetry load only for another route)
NOT_FOR_A_NAMED_MODEL = (
    *NEVER,
    "numpy",
    "fastapi",
    "opentelemetry",
    "difflib",
    "_strptime",
    "routeway.domain.pool_plan",
    "routeway.domain.special",
    "routeway.domain.normalize",
    "routeway.services.refresh",
)
# Importing the handler module loads none of the app: it is built on the first invocation
NOT_AT_IMPORT = (
    *NOT_FOR_A_NAMED_MODEL,
    *("pydantic", "fastapi", "starlette", "opentelemetry", "httpx", "boto3"),
    *("routeway.domain.route_index", "routeway.domain.named_plan"),
)

SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("fn_completions", "functions/completions/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
def loaded():
    names = [name for name, module in sys.modules.items() if module is not None]
    return sorted({name.split(".")[0] for name in names} | {name for name in names if name.startswith("routeway.")})
at_import = loaded()
from tests.fakes.lambda_context import LambdaContext
event = json.loads(open("events/completions_chat.json").read())
answer = module.handler(event, LambdaContext())
from routeway.domain.tasks import code_signals
compiled = ["task signals"] if code_signals.cache_info().currsize else []
from pydantic.plugin import _loader
compiled += ["pydantic plugins looked up"] if _loader._plugins is not None else []
import gc
from routeway.runtime import COLD_START_GC_THRESHOLD
held_after = gc.get_threshold()[0] >= COLD_START_GC_THRESHOLD or gc.get_freeze_count() == 0
compiled += ["the collector still held"] if held_after else []
report = {"at_import": at_import, "after_answer": loaded(), "status": answer["statusCode"], "compiled": compiled}
print(json.dumps(report))
"""


def test_the_completions_handler_imports_nothing_it_does_not_need(upstream: FakeUpstream, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROUTEWAY_", "AWS_LAMBDA_", "OPENROUTER_"))},
        "ROUTEWAY_HOME": str(tmp_path),
        "ROUTEWAY_STORE": "local",
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join((str(REPO), str(REPO / "shared"))),  # this tree's package, not an installed one
    }
    event = json.loads((REPO / "events" / "completions_chat.json").read_text(encoding="utf-8"))
    seed_key(build_gateway(Settings.from_env(env)), event["headers"]["authorization"].removeprefix("Bearer "))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 200  # the first response was really answered, through the upstream
    assert [m for m in NOT_AT_IMPORT if m in report["at_import"]] == []
    assert [m for m in NOT_FOR_A_NAMED_MODEL if m in report["after_answer"]] == []
    used = {"httpx", "pydantic", "routeway.dialects.chat", "routeway.domain.named_plan", "routeway.domain.route_index"}
    assert used <= set(report["after_answer"])  # it sees what was used
    # no task detection for a named model, no plugin look-up; the collector held back for the cold start
    # (runtime.hold_gc) is given back after it
    assert report["compiled"] == []
