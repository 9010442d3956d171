"""Python clients whose pins clash with the project's (instructor's `jiter<0.15`), each in a venv of its own.

Made once from the repo's `constraints-<name>.txt` into the gitignored `.cache/venv/<name>`, remade when
that file changes; later runs reuse it. Like tests/npm.py: when the install fails, the test fails with
pip's own message rather than being skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.data import REPO

CACHE_ROOT = REPO / ".cache" / "venv"
INSTALL_TIMEOUT_S = 600


def client_venv(name: str, requirement: str) -> Path:
    """The python of a venv holding `requirement`, pinned by `constraints-<name>.txt`."""
    constraints = REPO / f"constraints-{name}.txt"
    digest = hashlib.sha256(constraints.read_bytes()).hexdigest()
    folder = CACHE_ROOT / name
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with (CACHE_ROOT / f"{name}.lock").open("w") as lock:  # pytest-xdist's workers: one installs, others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text(encoding="utf-8") != digest:
            _install(folder, python, constraints, requirement)
            stamp.write_text(digest, encoding="utf-8")
    return python


def _install(folder: Path, python: Path, constraints: Path, requirement: str) -> None:
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(folder)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(constraints),
            requirement,
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        if done.returncode != 0:
            pytest.fail(f"could not install {requirement} ({' '.join(step[:4])}): {done.stderr.strip()[-500:]}")
