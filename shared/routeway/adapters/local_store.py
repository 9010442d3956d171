"""The embedded store: snapshot files plus a SQLite database under ROUTEWAY_HOME.

It keeps the same promises as the AWS store: snapshots are written once under their content
version and never overwritten, and the catalog pointer moves only with a compare-and-set.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from routeway.adapters import local_limits, local_money, local_people
from routeway.domain.records import (
    ApiKeyRecord,
    BudgetFigures,
    CatalogVersion,
    GenerationRecord,
    Hold,
    HoldNote,
    MinuteCount,
    OpenHold,
    Rollup,
    StoredResponse,
    TeamRecord,
)
from routeway.errors import ConflictError, InvalidRequest, StoreUnavailable
from routeway.private_files import PRIVATE_FILE, make_private_dir, make_private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog_pointer (
    id INTEGER PRIMARY KEY CHECK (id = 1), version TEXT NOT NULL, created_at TEXT NOT NULL,
    model_count INTEGER NOT NULL, published_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalog_history (
    version TEXT PRIMARY KEY, created_at TEXT NOT NULL, model_count INTEGER NOT NULL,
    published_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rate_windows (
    key_hash TEXT NOT NULL, window INTEGER NOT NULL, count INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_hash, window));
CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS holds (
    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, usd REAL NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS holds_by_key ON holds (key_hash, expires_at);
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY, key_hash TEXT NOT NULL, usd REAL NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS charges_by_expiry ON charges (expires_at);
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL, record BLOB NOT NULL);
"""


TMP_PREFIX = ".tmp-"
STALE_TMP_S = 600.0  # a publish writes its temporary file in well under a second: older ones were left by a kill


def _with_spend(record: str, spend: float) -> ApiKeyRecord:
    return ApiKeyRecord.model_validate_json(record).model_copy(update={"spend_usd": spend})


class LocalSnapshotStore:
    def __init__(self, home: Path) -> None:
        self.directory = home / "snapshots"

    def _path(self, version: str) -> Path:
        if not version.isalnum():
            raise ValueError(f"not a snapshot version: {version!r}")
        return self.directory / f"{version}.json.gz"

    def put_snapshot(self, version: str, data: bytes) -> bool:
        target = self._path(version)
        try:
            make_private_dir(self.directory)
            self._remove_stale_tmp()
            if target.exists():
                return False
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=TMP_PREFIX)
            os.fchmod(fd, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            try:
                os.link(tmp, target)  # fails if another writer got there first: never overwrite
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
            return True
        except OSError as exc:
            raise StoreUnavailable(f"local snapshot store: {exc.strerror}") from None

    def _remove_stale_tmp(self) -> None:
        """Temporary files a killed publish left behind (a running publish's own file is younger)."""
        cutoff = time.time() - STALE_TMP_S
        for leftover in self.directory.glob(TMP_PREFIX + "*"):
            with contextlib.suppress(FileNotFoundError):  # another publish cleaned it first
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def get_snapshot(self, version: str) -> bytes | None:
        try:
            return self._path(version).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailable(f"local snapshot store: {exc.strerror}") from None


class LocalStateStore:
    """One connection for writes (serialised), one for reads: a WAL reader never waits for a writer.

    `busy_timeout_s` bounds how long a write waits for another process's lock before it fails. The database
    file is never opened and closed beside SQLite once it exists: POSIX drops all of a process's locks on a
    file when any of its descriptors for it closes, and a `routeway keys create` run while `routeway serve`
    was open then took itself for the last connection, checkpointed and removed the WAL the server still
    read, which from then on read a stale index (new keys answered 401 until a restart).
    """

    def __init__(self, home: Path, busy_timeout_s: float = 10.0) -> None:
        self.path = home / "state.db"
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        make_private_dir(self.path.parent)
        if self.path.exists():  # chmod by path: closing a descriptor of our own would drop every POSIX lock
            os.chmod(self.path, PRIVATE_FILE)  # this process's SQLite connections hold on the file (see below)
        else:
            make_private_file(self.path)  # SQLite gives its -wal and -shm files the database file's mode
        return sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = self._open()
            conn.execute("PRAGMA journal_mode=WAL")
            for companion in ("-wal", "-shm"):  # made by an earlier version with the umask's mode: tightened
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(f"{self.path}{companion}", PRIVATE_FILE)
            conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across crashes, one fsync per checkpoint
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(api_keys)")}
            if "spend" not in columns:  # stores made before spend was tracked
                conn.execute("ALTER TABLE api_keys ADD COLUMN spend REAL NOT NULL DEFAULT 0")
            local_money.add_money_tables(conn)
            conn.execute(local_people.TEAMS_TABLE)
            local_limits.add_limit_tables(conn)
            self._conn = conn
        return self._conn

    def _reader(self) -> sqlite3.Connection:
        if self._read_conn is None:
            with self._lock:
                self._connection()  # the schema exists before the first read
            self._read_conn = self._open()
        return self._read_conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One serialised transaction; sqlite errors become StoreUnavailable."""
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"local state store: {exc.__class__.__name__}") from None
            except OSError as exc:
                raise StoreUnavailable(f"local state store: {exc.strerror}") from None

    def _read(self, query: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """One SELECT in autocommit mode on the read connection: it needs no write lock (WAL readers never block)."""
        with self._read_lock:
            try:
                return self._reader().execute(query, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"local state store: {exc.__class__.__name__}") from None
            except OSError as exc:
                raise StoreUnavailable(f"local state store: {exc.strerror}") from None

    # catalog pointer and history
    def get_pointer(self) -> CatalogVersion | None:
        rows = self._read("SELECT version, created_at, model_count, published_at FROM catalog_pointer WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        return CatalogVersion(version=row[0], created_at=row[1], model_count=row[2], published_at=row[3])

    def publish(self, entry: CatalogVersion, expected_version: str | None) -> None:
        with self._tx() as conn:
            row = conn.execute("SELECT version FROM catalog_pointer WHERE id = 1").fetchone()
            current = None if row is None else row[0]
            if current != expected_version:
                raise ConflictError(f"catalog pointer is at {current}, expected {expected_version}")
            values = (entry.version, entry.created_at, entry.model_count, entry.published_at)
            conn.execute(
                "INSERT OR IGNORE INTO catalog_history (version, created_at, model_count, published_at) "
                "VALUES (?, ?, ?, ?)",
                values,
            )
            conn.execute(
                "INSERT INTO catalog_pointer (id, version, created_at, model_count, published_at) "
                "VALUES (1, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET version=excluded.version, "
                "created_at=excluded.created_at, model_count=excluded.model_count, "
                "published_at=excluded.published_at",
                values,
            )

    def list_history(self) -> list[CatalogVersion]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT version, created_at, model_count, published_at FROM catalog_history "
                "ORDER BY published_at DESC, version"
            ).fetchall()
        return [CatalogVersion(version=r[0], created_at=r[1], model_count=r[2], published_at=r[3]) for r in rows]

    # gateway keys
    def create_key(self, record: ApiKeyRecord) -> None:
        with self._tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO api_keys (key_hash, name, record) VALUES (?, ?, ?)",
                    (record.key_hash, record.name, record.model_dump_json()),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"a key named {record.name!r} exists") from None

    def find_key(self, key_hash: str) -> ApiKeyRecord | None:
        rows = self._read("SELECT record, spend FROM api_keys WHERE key_hash = ?", (key_hash,))
        return _with_spend(rows[0][0], rows[0][1]) if rows else None

    def list_keys(self) -> list[ApiKeyRecord]:
        with self._tx() as conn:
            rows = conn.execute("SELECT record, spend FROM api_keys ORDER BY name").fetchall()
        return [_with_spend(r[0], r[1]) for r in rows]

    def reserve(
        self, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int, rpm: MinuteCount | None = None
    ) -> BudgetFigures | None:
        with self._tx() as conn:
            local_limits.count_in(conn, key_hash, rpm)  # with the hold, in one transaction
            refused = local_money.reserve(conn, key_hash, hold, budget_usd, now_epoch)
            if refused is not None:
                local_limits.uncount(conn, key_hash, rpm)
            return refused

    def settle(
        self,
        key_hash: str,
        generation_id: str,
        cost_usd: float,
        held_usd: float,
        expires_at: int,
        record: GenerationRecord | None = None,
        rollup: Rollup | None = None,
    ) -> bool:
        del held_usd  # the hold row itself says what it held
        with self._tx() as conn:
            if record is not None:
                self._insert_generation(conn, record)
            charged = local_money.settle(conn, key_hash, generation_id, cost_usd, expires_at)
            if charged and rollup is not None:
                local_money.add_rollup(conn, rollup)
            return charged

    def spend_rollups(self, since_day: str, until_day: str) -> list[Rollup]:
        return local_money.rollups(self._read(local_money.ROLLUPS, (since_day, until_day)))

    def note_attempt(self, key_hash: str, generation_id: str, note: HoldNote) -> bool:
        with self._tx() as conn:
            return local_money.note_attempt(conn, key_hash, generation_id, note)

    def open_holds(self, now_epoch: int, *, key_hash: str | None = None, limit: int = 100) -> list[OpenHold]:
        order = " ORDER BY expires_at > ?, expires_at LIMIT ?"  # expired first
        if key_hash is None:
            rows = self._read(local_money.OPEN_HOLDS + order, (now_epoch, limit))
        else:
            rows = self._read(local_money.OPEN_HOLDS + " WHERE key_hash = ?" + order, (key_hash, now_epoch, limit))
        return local_money.open_holds(rows)

    def count_minute(self, key_hash: str, rpm: MinuteCount) -> None:
        with self._tx() as conn:
            local_limits.count_in(conn, key_hash, rpm)

    def count_request(self, key_hash: str, window: int, expires_at: int) -> int:
        with self._tx() as conn:
            return local_limits.count_request(conn, key_hash, window, expires_at)

    def take_tokens(self, counter: str, window: int, tokens: int, limit: int | None, expires_at: int) -> int | None:
        del expires_at  # the next minute's first call removes older rows
        with self._tx() as conn:
            return local_limits.take_tokens(conn, counter, window, tokens, limit)

    def enter(self, counter: str, slot: str, limit: int, until: int, now_epoch: int) -> int | None:
        with self._tx() as conn:
            return local_limits.enter(conn, counter, slot, limit, until, now_epoch)

    def leave(self, counter: str, slot: str, until: int) -> None:
        del until  # the row is the slot's own
        with self._tx() as conn:
            local_limits.leave(conn, counter, slot)

    def claim_alert(self, alert_id: str, expires_at: int) -> bool:
        with self._tx() as conn:
            return local_limits.claim_alert(conn, alert_id, expires_at, int(time.time()))

    def budget_figures(self, key_hash: str) -> BudgetFigures:
        spend = self._read(*local_money.spend_query(key_hash))
        held = self._read("SELECT COALESCE(SUM(usd), 0) FROM holds WHERE key_hash = ?", (key_hash,))
        return BudgetFigures(spend_usd=float(spend[0][0]) if spend else 0.0, held_usd=float(held[0][0]))

    def set_shards(self, name: str, shards: int, now_epoch: int) -> int:
        """Shards spread a hot key's writes over DynamoDB partitions; SQLite serialises every write in one file,
        so there is nothing to spread: refused, with the reason."""
        del name, shards, now_epoch
        raise InvalidRequest(
            "Sharding applies to the AWS store (ROUTEWAY_STORE=aws), where one key's counters are one DynamoDB "
            "partition; the local SQLite store writes one file, so a key has nothing to shard.",
            param="shards",
        )

    def migrate_layout(self) -> dict[str, int]:
        return {}  # one SQLite file: its schema is made on open, no layout to move

    def update_key(self, name: str, change: Callable[[ApiKeyRecord], ApiKeyRecord]) -> ApiKeyRecord | None:
        with self._tx() as conn:
            return local_people.update_key(conn, name, change)

    # teams
    def create_team(self, record: TeamRecord) -> None:
        with self._tx() as conn:
            local_people.create_team(conn, record)

    def find_team(self, name: str) -> TeamRecord | None:
        return local_people.find_team(self._read("SELECT record FROM teams WHERE name = ?", (name,)))

    def list_teams(self) -> list[TeamRecord]:
        return [TeamRecord.model_validate_json(r[0]) for r in self._read("SELECT record FROM teams ORDER BY name")]

    def update_team(self, name: str, change: Callable[[TeamRecord], TeamRecord]) -> TeamRecord | None:
        with self._tx() as conn:
            return local_people.update_team(conn, name, change)

    def revoke_key(self, name: str) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT key_hash, record FROM api_keys WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            record = ApiKeyRecord.model_validate_json(row[1]).model_copy(update={"revoked": True})
            conn.execute("UPDATE api_keys SET record = ? WHERE key_hash = ?", (record.model_dump_json(), row[0]))
        return True

    # generation records
    def put_generation(self, record: GenerationRecord) -> None:
        with self._tx() as conn:
            self._insert_generation(conn, record)

    @staticmethod
    def _insert_generation(conn: sqlite3.Connection, record: GenerationRecord) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO generations (id, expires_at, record) VALUES (?, ?, ?)",
            (record.id, record.expires_at, orjson.dumps(record.model_dump(mode="json"))),
        )

    def get_generation(self, generation_id: str, now_epoch: int) -> GenerationRecord | None:
        rows = self._read("SELECT record FROM generations WHERE id = ? AND expires_at > ?", (generation_id, now_epoch))
        return GenerationRecord.model_validate_json(rows[0][0]) if rows else None

    # stored Responses API answers
    def put_response(self, record: StoredResponse) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO responses (id, owner, expires_at, record) VALUES (?, ?, ?, ?)",
                (record.id, record.owner, record.expires_at, orjson.dumps(record.model_dump(mode="json"))),
            )

    def get_response(self, response_id: str, now_epoch: int) -> StoredResponse | None:
        rows = self._read("SELECT record FROM responses WHERE id = ? AND expires_at > ?", (response_id, now_epoch))
        return StoredResponse.model_validate_json(rows[0][0]) if rows else None

    def delete_response(self, response_id: str, owner: str) -> bool:
        with self._tx() as conn:
            cursor = conn.execute("DELETE FROM responses WHERE id = ? AND owner = ?", (response_id, owner))
        return cursor.rowcount > 0
