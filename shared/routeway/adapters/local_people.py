"""The local store's teams and in-place key updates, each inside the store's one IMMEDIATE transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from routeway.domain.records import ApiKeyRecord, TeamRecord
from routeway.errors import ConflictError

TEAMS_TABLE = "CREATE TABLE IF NOT EXISTS teams (name TEXT PRIMARY KEY, record TEXT NOT NULL)"


def update_key(
    conn: sqlite3.Connection, name: str, change: Callable[[ApiKeyRecord], ApiKeyRecord]
) -> ApiKeyRecord | None:
    row = conn.execute("SELECT key_hash, record, spend FROM api_keys WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    record = change(ApiKeyRecord.model_validate_json(row[1]))
    conn.execute("UPDATE api_keys SET record = ? WHERE key_hash = ?", (record.model_dump_json(), row[0]))
    return record.model_copy(update={"spend_usd": float(row[2])})


def create_team(conn: sqlite3.Connection, record: TeamRecord) -> None:
    try:
        conn.execute("INSERT INTO teams (name, record) VALUES (?, ?)", (record.name, record.model_dump_json()))
    except sqlite3.IntegrityError:
        raise ConflictError(f"a team named {record.name!r} exists") from None


def find_team(rows: list[tuple[object, ...]]) -> TeamRecord | None:
    return TeamRecord.model_validate_json(str(rows[0][0])) if rows else None


def update_team(conn: sqlite3.Connection, name: str, change: Callable[[TeamRecord], TeamRecord]) -> TeamRecord | None:
    row = conn.execute("SELECT record FROM teams WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    record = change(TeamRecord.model_validate_json(row[0]))
    conn.execute("UPDATE teams SET record = ? WHERE name = ?", (record.model_dump_json(), name))
    return record
