"""Everything Routeway writes under ROUTEWAY_HOME is the user's alone (files 0600, folders 0700) whatever the
umask, and a killed publish's temporary files are cleaned by the next publish."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeway.adapters.local_store import STALE_TMP_S, LocalSnapshotStore, LocalStateStore
from routeway.cli.app import app
from tests.conftest import UPSTREAM_KEY, register_secret
from tests.fakes.data import OPENROUTER_DATA

runner = CliRunner()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: any mode the code does not set explicitly shows up as group/world bits."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(home: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in sorted(home.rglob("*")):
        found[str(path.relative_to(home))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_every_file_in_routeway_home_is_0600_and_every_folder_0700(
    open_umask: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "nested" / "home"
    monkeypatch.setenv("ROUTEWAY_HOME", str(home))
    monkeypatch.setenv("ROUTEWAY_STORE", "local")
    monkeypatch.delenv("ROUTEWAY_CONFIG", raising=False)
    configured = runner.invoke(app, ["configure", "--openrouter-key", UPSTREAM_KEY])
    assert configured.exit_code == 0, configured.output
    created = runner.invoke(app, ["keys", "create", "ci-bot"])
    assert created.exit_code == 0, created.output
    register_secret(created.stdout.strip().splitlines()[-1])
    refreshed = runner.invoke(app, ["catalog", "refresh", "--source", str(OPENROUTER_DATA)])
    assert refreshed.exit_code == 0, refreshed.output
    modes = _modes(home)
    assert {"config.json", "state.db", "snapshots"} <= set(modes), modes
    assert any(name.startswith("snapshots/") for name in modes)
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o700 if (home / name).is_dir() else 0o600)}
    assert wrong == {}
    assert stat.S_IMODE((tmp_path / "nested").stat().st_mode) == 0o700  # a parent Routeway made, too


def test_state_db_and_its_wal_and_shm_are_0600_and_an_old_readable_one_is_tightened(
    open_umask: None, tmp_path: Path
) -> None:
    tmp_path.joinpath("state.db").touch(mode=0o644)
    store = LocalStateStore(tmp_path)
    assert store.get_pointer() is None  # opens both connections: the WAL files exist now
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.glob("state.db*")}
    assert set(modes) == {"state.db", "state.db-wal", "state.db-shm"} and set(modes.values()) == {0o600}


def test_stale_tmp_files_of_a_killed_publish_are_removed_by_the_next_publish(tmp_path: Path) -> None:
    store = LocalSnapshotStore(tmp_path)
    store.directory.mkdir(parents=True)
    stale = store.directory / ".tmp-killed"
    stale.write_bytes(b"half a snapshot")
    long_ago = time.time() - STALE_TMP_S - 60
    os.utime(stale, (long_ago, long_ago))
    running = store.directory / ".tmp-another-publish-now"  # a publish in progress right now: kept
    running.write_bytes(b"being written")
    assert store.put_snapshot("abc123", b"snapshot") is True
    assert not stale.exists() and running.exists()
    assert sorted(p.name for p in store.directory.iterdir()) == [".tmp-another-publish-now", "abc123.json.gz"]
