"""The `routeway` command, one module per command group (assembled in `routeway.cli.app`).

Commands build the core's request objects directly and read the route from its results; they
never go through HTTP to reach their own process.
"""

from __future__ import annotations


def main() -> None:
    from routeway.cli.app import app

    app()
