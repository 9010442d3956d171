#!/bin/bash
# Entry point of the streaming function: the AWS Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap)
# runs this script and forwards each invocation to the port it listens on, streaming the response.
# Locally: PORT=8090 ROUTEWAY_HOME=... bash functions/streaming/run.sh
set -euo pipefail
PORT="${AWS_LWA_PORT:-${PORT:-8080}}"
PYTHON="${PYTHON:-python3}"
exec "$PYTHON" -m uvicorn --factory routeway.runtime:streaming_app \
  --host 127.0.0.1 --port "$PORT" --no-access-log --timeout-keep-alive 75
