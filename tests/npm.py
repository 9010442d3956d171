"""npm packages the suite drives as real clients (Claude Code, Codex, the openai Node SDK).

Each is installed once, at a pinned version, into the repo's gitignored `.cache/npm/<package>`; later
runs reuse it. npm is part of the machine (README): without it, or when the install fails, the test
fails with npm's own message rather than being skipped.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes.data import REPO

CACHE_ROOT = REPO / ".cache" / "npm"
INSTALL_TIMEOUT_S = 600


def _installed_version(manifest: Path) -> str | None:
    try:
        version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def npm_package(package: str, version: str) -> Path:
    """The folder holding `node_modules/<package>` at `version`, installed from npm on first use."""
    return npm_packages(package.lstrip("@").replace("/", "-"), {package: version})


def npm_packages(name: str, pins: dict[str, str]) -> Path:
    """The folder `.cache/npm/<name>` whose `node_modules/` holds every package of `pins` (package → version)
    together, as clients made of several packages need (the AI SDK and its providers)."""
    folder = CACHE_ROOT / name
    manifests = {package: folder / "node_modules" / package / "package.json" for package in pins}
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    # pytest-xdist's workers may want the same packages at once: one installs, the others wait for it
    with (CACHE_ROOT / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if any(_installed_version(manifests[package]) != version for package, version in pins.items()):
            _install([f"{package}@{version}" for package, version in pins.items()], folder)
    for package, version in pins.items():
        assert _installed_version(manifests[package]) == version, package
    return folder


def _install(specs: list[str], folder: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"{', '.join(specs)} come from npm, and npm is not installed (the README lists node and npm)")
    folder.mkdir(parents=True, exist_ok=True)
    install = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", *specs],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if install.returncode != 0:
        pytest.fail(f"npm could not install {', '.join(specs)}: {install.stderr.strip()[-500:]}")
