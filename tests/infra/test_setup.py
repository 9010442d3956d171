"""`make serve` installs what serving needs and nothing of the test toolchain; `make test` adds it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.fakes.data import REPO

TEST_TOOLS = ("mypy", "moto", "schemathesis", "cfn-lint", "hypothesis", "pytest", "pytest-xdist", "ruff", "respx")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[=<>~! ]", r, maxsplit=1)[0].lower() for r in requirements}


def _recipe(makefile: str, target: str) -> str:
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, f"no rule for {target}"
    return match.group(1)


def test_serving_installs_no_test_tool() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    serving = _names(project["dependencies"]) | _names(project["optional-dependencies"]["cli"])
    assert not serving & set(TEST_TOOLS), serving & set(TEST_TOOLS)
    assert {"uvicorn", "typer"} <= serving
    assert set(TEST_TOOLS) <= _names(project["optional-dependencies"]["dev"])


def test_make_serve_installs_the_cli_extra_and_make_test_the_dev_extra() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^serve: \$\(SERVE_STAMP\)$", makefile, re.MULTILINE)
    serve_install = _recipe(makefile, "$(SERVE_STAMP)")
    assert "-e '.[cli]'" in serve_install and "dev" not in serve_install
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.MULTILINE)
    assert "-e '.[dev]'" in _recipe(makefile, "$(STAMP)")


def test_readme_serves_a_newcomer() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    troubleshooting = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in troubleshooting.splitlines() if line.startswith("| `")]
    assert len(rows) == 6, rows
    assert "](#errors)" in readme and "PRODUCT.md's table](#errors)" not in readme
    curls = [line for line in readme.splitlines() if line.lstrip().startswith("curl ")]
    assert curls and all(":8080" not in line for line in curls)
    assert "| `ROUTEWAY_HOME` |" in readme and "`~/.routeway` |" in readme
    assert "ROUTEWAY_CORS_ORIGINS" in readme


def test_readme_first_hour_says_what_a_newcomer_sees(tmp_path: Path) -> None:
    """Issue 32: the first start's sample output is the bundled catalog's; commands run as `make serve` left them
    (`.venv/bin/routeway`, not on PATH); clients whose base URL carries the version get `/v1`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    gateway = build_gateway(Settings.from_env({"ROUTEWAY_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}))
    bundled = gateway.catalog.bundled_snapshot()
    sample = re.search(r"catalog ([0-9a-f]{16}) \(bundled, (\d+) models\); listening on", readme)
    assert sample and int(sample[2]) == len(bundled.models)
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, re.DOTALL)
    bare = [line for block in blocks for line in block.splitlines() if re.match(r"routeway [a-z]+ ", line)]
    assert not bare, bare
    assert "source .venv/bin/activate" in readme
    assert 'createAnthropic({ baseURL: "http://127.0.0.1:8080/v1"' in readme
    assert "OpenAIChatCompletionsModel(" in readme and "set_default_openai_client(" in readme
