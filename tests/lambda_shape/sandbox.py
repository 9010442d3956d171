"""Run a built function the way Lambda runs it, on this machine.

Each function gets a private mount namespace (`unshare --mount`, as root) in which the built code is
`/var/task`, the built layer is `/opt` (so the package is under `/opt/python`), the runtime interface client
is `/var/runtime` and a bare CPython 3.12 is `/var/lang`, all read-only, as is everything else but a fresh
`/tmp`. The environment is Lambda's own variables plus the template's Environment, and nothing of this
machine's (no HOME). The runtime starts as Lambda's python3.12 bootstrap does: its search path
(/var/task, the layer's paths, /var/runtime), then awslambdaric's loop against the Runtime API stand-in.
The streaming function starts as the Web Adapter's wrapper starts it: `exec $LAMBDA_TASK_ROOT/$_HANDLER`
with PYTHONPATH=$LAMBDA_RUNTIME_DIR only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.data import REPO
from tests.lambda_shape.aws import REGION

HOST_BUILD = REPO / ".aws-sam" / "build-host"
LAMBDA_RUNTIME = REPO / ".venv-lambda"
LAMBDA_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LAMBDA_LIBRARY_PATH = "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
# What Lambda's python3.12 bootstrap puts on sys.path before it loads the handler (AWS docs: "Dependency
# search path and runtime-included libraries").
BOOTSTRAP_PATH = ["/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python", "/var/runtime"]
BOOTSTRAP = (
    "import sys; sys.path[:0] = {path!r}; from awslambdaric.__main__ import main; main(['awslambdaric', {handler!r}])"
)
MOUNTS = r"""
set -eu
mount --make-rprivate /
for dir in /var/task /opt /var/runtime /var/lang; do mkdir -p "$dir"; done
mount --bind "$RW_CODE" /var/task
mount --bind "$RW_LAYERS" /opt
mount --bind "$RW_RUNTIME" /var/runtime
mount --bind "$RW_LANG" /var/lang
mount -o remount,bind,ro /
for dir in /var/task /opt /var/runtime /var/lang; do mount -o remount,bind,ro "$dir"; done
mount -t tmpfs -o size=512m tmpfs /tmp
unset RW_CODE RW_LAYERS RW_RUNTIME RW_LANG
cd /var/task
exec "$@"
"""


def missing_prerequisites() -> str | None:
    """Why the Lambda-shaped run cannot start here, or None."""
    if not (HOST_BUILD / "template.yaml").exists():
        return f"{HOST_BUILD} is missing: run `make build-host` (make test does)"
    if not (LAMBDA_RUNTIME / ".installed").exists():
        return f"{LAMBDA_RUNTIME} is missing: run `make lambda-runtime` (make test does)"
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return "the Lambda-shaped run needs root and unshare(1) for its read-only mounts (CI and this machine are root)"
    return None


@dataclass
class LambdaProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> str:
        """Stop the process; its output (what CloudWatch Logs would hold)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def lambda_environment(
    function: str, handler: str, template_env: dict[str, str], *, memory_mb: int, timeout_s: int, access_key: str
) -> dict[str, str]:
    """Lambda's variables for a python3.12 function (as the service sets them), then the template's own."""
    name = f"routeway-{function}-LAMBDASHAPE"
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/06/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": access_key,  # the function's role: its calls are recorded under this key
        "AWS_SECRET_ACCESS_KEY": "lambda-shape-secret",
        "AWS_SESSION_TOKEN": "lambda-shape-session",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": LAMBDA_PATH,
        "LD_LIBRARY_PATH": LAMBDA_LIBRARY_PATH,
        "PYTHONPATH": "/var/runtime",
        **template_env,
    }


def start(
    code_dir: Path, layers_dir: Path, environment: dict[str, str], command: list[str], log_path: Path
) -> LambdaProcess:
    """`command` in a fresh mount namespace laid out as Lambda's, with exactly `environment`."""
    mounts = {
        "RW_CODE": str(code_dir),
        "RW_LAYERS": str(layers_dir),
        "RW_RUNTIME": str(LAMBDA_RUNTIME / "runtime"),
        "RW_LANG": str(LAMBDA_RUNTIME / "lang"),
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", MOUNTS, "lambda-sandbox", *command],
        env={**environment, **mounts},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return LambdaProcess(process, log_path)


def runtime_command(handler: str) -> list[str]:
    """What Lambda's python3.12 bootstrap runs: the interpreter, the documented search path, awslambdaric."""
    return ["/var/lang/bin/python3.12", "-c", BOOTSTRAP.format(path=BOOTSTRAP_PATH, handler=handler)]


def adapter_wrapper_command() -> list[str]:
    """What the Web Adapter's wrapper (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) does: exec the handler file.
    Lambda's bootstrap gives the wrapper PYTHONPATH=$LAMBDA_RUNTIME_DIR and nothing more."""
    return ["/bin/bash", "-c", 'exec -- "${LAMBDA_TASK_ROOT}/${_HANDLER}"']
