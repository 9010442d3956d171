"""`make serve` installs what serving needs and nothing of the test toolchain; `make test` adds it."""

from __future__ import annotations

import re
import tomllib

from tests.fakes.data import REPO

TEST_TOOLS = ("mypy", "moto", "schemathesis", "cfn-lint", "hypothesis", "pytest", "ruff", "respx")


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
