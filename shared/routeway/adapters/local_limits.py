"""The local store's rpm, tpm and parallel counters, each call inside the store's one IMMEDIATE transaction.

Tokens per minute: one row per counter and minute, added to only while the minute stays within its limit (a
settle adds what a request really used beyond its estimate, without a limit). Parallel requests: one row per
open request (a slot), until it leaves or, if its process died, until its deadline passes.
"""

from __future__ import annotations

import sqlite3

from routeway.domain.records import MinuteCount
from routeway.errors import MinuteFull

TABLES = (
    "CREATE TABLE IF NOT EXISTS token_windows (counter TEXT NOT NULL, window INTEGER NOT NULL, "
    "tokens INTEGER NOT NULL, PRIMARY KEY (counter, window))",
    "CREATE TABLE IF NOT EXISTS slots (counter TEXT NOT NULL, slot TEXT NOT NULL, until INTEGER NOT NULL, "
    "PRIMARY KEY (counter, slot))",
    "CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
)


def add_limit_tables(conn: sqlite3.Connection) -> None:
    for table in TABLES:
        conn.execute(table)


def take_tokens(conn: sqlite3.Connection, counter: str, window: int, tokens: int, limit: int | None) -> int | None:
    conn.execute("DELETE FROM token_windows WHERE window < ?", (window - 1,))
    row = conn.execute(
        "SELECT tokens FROM token_windows WHERE counter = ? AND window = ?", (counter, window)
    ).fetchone()
    used = int(row[0]) if row else 0
    if limit is not None and used + tokens > limit:
        return used
    conn.execute(
        "INSERT INTO token_windows (counter, window, tokens) VALUES (?, ?, ?) "
        "ON CONFLICT(counter, window) DO UPDATE SET tokens = tokens + excluded.tokens",
        (counter, window, tokens),
    )
    return None


def enter(conn: sqlite3.Connection, counter: str, slot: str, limit: int, until: int, now_epoch: int) -> int | None:
    conn.execute("DELETE FROM slots WHERE counter = ? AND until <= ?", (counter, now_epoch))
    open_now = int(conn.execute("SELECT COUNT(*) FROM slots WHERE counter = ?", (counter,)).fetchone()[0])
    if open_now >= limit:
        return open_now
    conn.execute("INSERT OR REPLACE INTO slots (counter, slot, until) VALUES (?, ?, ?)", (counter, slot, until))
    return None


def claim_alert(conn: sqlite3.Connection, alert_id: str, expires_at: int, now_epoch: int) -> bool:
    conn.execute("DELETE FROM alerts WHERE expires_at < ?", (now_epoch,))
    return conn.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?)", (alert_id, expires_at)).rowcount > 0


def leave(conn: sqlite3.Connection, counter: str, slot: str) -> None:
    conn.execute("DELETE FROM slots WHERE counter = ? AND slot = ?", (counter, slot))


def count_request(conn: sqlite3.Connection, key_hash: str, window: int, expires_at: int) -> int:
    """One request counted in the key's minute (older minutes' rows go); the minute's count so far."""
    conn.execute("DELETE FROM rate_windows WHERE window < ?", (window,))
    row = conn.execute(
        "INSERT INTO rate_windows (key_hash, window, count, expires_at) VALUES (?, ?, 1, ?) "
        "ON CONFLICT(key_hash, window) DO UPDATE SET count = count + 1 RETURNING count",
        (key_hash, window, expires_at),
    ).fetchone()
    return int(row[0])


def count_in(conn: sqlite3.Connection, key_hash: str, rpm: MinuteCount | None) -> None:
    """Count the request (None: nothing to count); MinuteFull (the caller's transaction rolls back) when over."""
    if rpm is None:
        return
    count = count_request(conn, key_hash, rpm.window, rpm.expires_at)
    if count > rpm.limit:
        raise MinuteFull(count - 1)


def uncount(conn: sqlite3.Connection, key_hash: str, rpm: MinuteCount | None) -> None:
    """A hold refused: its count (if it took one) goes too."""
    if rpm is not None:
        conn.execute(
            "UPDATE rate_windows SET count = count - 1 WHERE key_hash = ? AND window = ?", (key_hash, rpm.window)
        )
