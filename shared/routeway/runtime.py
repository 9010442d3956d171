"""Lambda entry points: the shared app behind Mangum, and the scheduled refresh.

Everything is built on the first invocation and cached for the life of the process; importing
this module costs nothing (cold start is import time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@cache
def _gateway() -> Any:
    from routeway.bootstrap import build_gateway
    from routeway.settings import Settings

    return build_gateway(Settings.from_env(os.environ), os.environ)


def configure_logging() -> None:
    """Powertools structured JSON logs for every `routeway.*` logger (they propagate to it), in Lambda."""
    from aws_lambda_powertools import Logger

    Logger(service="routeway")  # owns the "routeway" logger; child loggers propagate to its handler


@cache
def http_handler(routers: Sequence[str]) -> LambdaHandler:
    from mangum import Mangum

    from routeway.http.app import create_app

    configure_logging()
    app = create_app(_gateway, routers)
    handler: LambdaHandler = Mangum(app, lifespan="off")
    return handler
