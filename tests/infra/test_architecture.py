"""The shape of the package (docs/ARCHITECTURE.md): one composition root, a core that loads no adapter,
no import cycle, settings read in one place."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import routeway

PACKAGE = Path(routeway.__file__).parent
FORBIDDEN_PACKAGES = ("boto3", "botocore", "httpx", "fastapi", "starlette", "mangum", "aiohttp")
FORBIDDEN_ROUTEWAY = ("routeway.adapters", "routeway.http", "routeway.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def core_modules() -> list[str]:
    return sorted(
        name
        for name in package_modules()
        if name.startswith(("routeway.services.", "routeway.domain."))
        or name in ("routeway.services", "routeway.domain")
    )


def test_importing_any_core_module_loads_no_adapter_web_framework_or_sdk() -> None:
    """Each core module in a fresh interpreter: what it loads, checked one by one."""
    script = (
        "import importlib, json, sys\n"
        "baseline = set(sys.modules)\n"
        "found = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    for loaded in [m for m in sys.modules if m not in baseline and m.startswith('routeway')]:\n"
        "        del sys.modules[loaded]\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    found[name] = sorted(set(sys.modules) - before)\n"
        "print(json.dumps(found))\n"
    )
    modules = core_modules()
    assert len(modules) > 30  # the walk found the package
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(modules)], capture_output=True, text=True, check=True, timeout=120
    )
    loaded_by = json.loads(result.stdout)
    offenders = {
        name: [m for m in loaded if m.split(".")[0] in FORBIDDEN_PACKAGES or m.startswith(FORBIDDEN_ROUTEWAY)]
        for name, loaded in loaded_by.items()
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def imports_of(name: str, path: Path) -> set[str]:
    """Every routeway module `name` imports, at module level or inside functions (TYPE_CHECKING included)."""
    known = package_modules()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = {name: imports_of(name, path) for name, path in package_modules().items()}
    assert sum(len(edges) for edges in graph.values()) > 100  # the graph is real
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_composition_root_and_entry_points_import_adapters() -> None:
    allowed = {"routeway.wiring", "routeway.runtime"}
    importers = {
        name
        for name, path in package_modules().items()
        if not name.startswith("routeway.adapters")
        and any(m.startswith("routeway.adapters") for m in imports_of(name, path))
    }
    assert importers <= allowed, importers - allowed


def test_routes_never_import_the_app_module() -> None:
    routes = {n: p for n, p in package_modules().items() if n.startswith("routeway.http.routes")}
    assert routes
    assert {n for n, p in routes.items() if "routeway.http.app" in imports_of(n, p)} == set()


def test_no_cli_module_at_the_package_root_and_environment_read_only_in_settings() -> None:
    assert sorted(p.name for p in PACKAGE.glob("cli_*.py")) == []
    readers = []
    for name, path in package_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb", "putenv"):
                readers.append(name)
    assert sorted(set(readers)) == ["routeway.settings"]
