"""The local store stays coherent when another process writes it while this one has it open: a key made
with `routeway keys create` beside a running gateway is known at once (it once answered 401 until a restart:
the store's own chmod of the database file dropped SQLite's POSIX locks, so the CLI removed the WAL the
server was reading)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from routeway.adapters.local_store import LocalStateStore
from routeway.private_files import PRIVATE_FILE
from routeway.services.keys import hash_key
from tests.conftest import register_secret

pytestmark = pytest.mark.heavy  # a step of its own in `make test` (Makefile)


def _create_in_another_process(home: Path, name: str) -> str:
    env = {**os.environ, "ROUTEWAY_HOME": str(home), "ROUTEWAY_STORE": "local"}
    out = subprocess.run(
        [sys.executable, "-m", "routeway", "keys", "create", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return register_secret(out.stdout.strip().splitlines()[-1])


def test_rel_51_keys_made_by_another_process_are_found_by_an_open_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = LocalStateStore(home)
    assert store.find_key(hash_key("rw-unknown")) is None  # both connections open, as in a running server
    for name in ("first", "second", "third"):
        key = _create_in_another_process(home, name)
        found = store.find_key(hash_key(key))
        assert found is not None and found.name == name
    assert [k.name for k in store.list_keys()] == ["first", "second", "third"]
    assert (home / "state.db").stat().st_mode & 0o777 == PRIVATE_FILE  # still the user's alone
