#!/bin/bash
# Entry point of the streaming function: the AWS Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap)
# runs this script and forwards each invocation to the port it listens on, streaming the response.
#
# The wrapper replaces the Python runtime's bootstrap, which is what puts the layers on the search path: this
# script starts with PYTHONPATH=$LAMBDA_RUNTIME_DIR only. So it adds them itself, in the order Lambda's
# python3.12 bootstrap uses: the function's code (uvicorn), then the layer (/opt/python: the routeway package).
# tests/lambda_shape starts it exactly that way.
# Locally: PORT=8090 ROUTEWAY_HOME=... bash functions/streaming/run.sh
set -euo pipefail
PORT="${AWS_LWA_PORT:-${PORT:-8080}}"
PYTHON="${PYTHON:-python3}"
TASK_ROOT="${LAMBDA_TASK_ROOT:-$(cd "$(dirname "$0")" && pwd)}"
export PYTHONPATH="${TASK_ROOT}:/opt/python/lib/python3.12/site-packages:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m uvicorn --factory routeway.runtime:streaming_app \
  --host 127.0.0.1 --port "$PORT" --no-access-log --timeout-keep-alive 75
