"""`routeway configure`: the OpenRouter key, base URL and local backends in ROUTEWAY_HOME/config.json.

The file is created readable by the user only (0600) and written atomically. Environment variables
override it: the CLI reads the file first, then lets the environment win.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from routeway.cli.common import fail, print_json
from routeway.private_files import make_private_dir
from routeway.settings import CONFIG_FILE, CONFIG_FILE_FIELDS, SettingsError, home_of, process_env, read_config_file

FIELDS = CONFIG_FILE_FIELDS
SECRETS = {"OPENROUTER_API_KEY"}


def read_config(env: dict[str, str]) -> dict[str, str]:
    try:
        return read_config_file(env)
    except SettingsError as exc:
        fail("invalid_configuration", str(exc))


def mask(name: str, value: str) -> str:
    return f"{value[:8]}…({len(value)} chars)" if name in SECRETS else value


def _write(path: Path, values: dict[str, str]) -> None:
    try:
        make_private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(values, handle, indent=2)
            os.replace(tmp, path)  # all or nothing
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        fail("unwritable_home", f"cannot write {path}: {exc.strerror}")


def configure(
    openrouter_key: Annotated[str | None, typer.Option(help="Your OpenRouter API key (sk-or-...).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenRouter API root.")] = None,
    vllm_url: Annotated[str | None, typer.Option(help="A vLLM server, e.g. http://10.0.0.5:8000/v1.")] = None,
    ollama_url: Annotated[str | None, typer.Option(help="An Ollama server, e.g. http://localhost:11434/v1.")] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the effective configuration, secrets masked.")] = False,
) -> None:
    """Save the upstream key and URLs for `serve`, `run` and the other commands (environment wins).

    Example: routeway configure --openrouter-key sk-or-v1-... --ollama-url http://localhost:11434/v1
    """
    env = process_env(with_config_file=False)
    path = home_of(env) / CONFIG_FILE
    if show:
        saved = read_config(env)
        rows = {}
        for variable in FIELDS.values():
            value = env.get(variable) or saved.get(variable)
            origin = "environment" if env.get(variable) else ("config file" if saved.get(variable) else "unset")
            rows[variable] = {"value": mask(variable, value) if value else None, "from": origin}
        print_json({"config_file": str(path), "settings": rows})
        return
    values = read_config(env)
    given = {"openrouter_key": openrouter_key, "base_url": base_url, "vllm_url": vllm_url, "ollama_url": ollama_url}
    interactive = sys.stdin.isatty() and not any(given.values())
    if interactive:
        given["openrouter_key"] = typer.prompt("OpenRouter API key", hide_input=True, default="", show_default=False)
        given["base_url"] = typer.prompt("OpenRouter base URL", default="https://openrouter.ai/api/v1")
        given["vllm_url"] = typer.prompt("vLLM base URL (empty: none)", default="", show_default=False)
        given["ollama_url"] = typer.prompt("Ollama base URL (empty: none)", default="", show_default=False)
    for option, variable in FIELDS.items():
        if given[option]:
            values[variable] = given[option].strip()  # type: ignore[union-attr]
    if not values.get("OPENROUTER_API_KEY") and not env.get("OPENROUTER_API_KEY"):
        fail("missing_key", "an OpenRouter key is needed: --openrouter-key sk-or-... (or set OPENROUTER_API_KEY)")
    for variable in ("OPENROUTER_BASE_URL", "ROUTEWAY_VLLM_BASE_URL", "ROUTEWAY_OLLAMA_BASE_URL"):
        if values.get(variable) and not values[variable].startswith(("http://", "https://")):
            fail("invalid_configuration", f"{variable} must be an http(s) URL, got {values[variable]!r}")
    _write(path, values)
    typer.echo(f"saved {', '.join(sorted(values))} to {path} (mode 0600)")
