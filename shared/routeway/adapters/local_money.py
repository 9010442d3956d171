"""The local store's money: holds, charges and notes in SQLite, each call inside one IMMEDIATE transaction
that the store opens (adapters/local_store.py), so no other writer, in any process, runs between a sum and
its write.

A hold carries its owner (the process that took it) and the attempts the upstream accepted (`notes`): an
expired hold without notes was never billed and is released by the next refused reservation; one with notes
stays held until reconciliation charges it (services/reconcile.py).
"""

from __future__ import annotations

import sqlite3

import orjson

from routeway.domain.records import BudgetFigures, Hold, HoldNote, OpenHold, Rollup
from routeway.domain.scopes import is_account

HOLD_COLUMNS = {"owner": "TEXT NOT NULL DEFAULT ''", "notes": "TEXT NOT NULL DEFAULT '[]'"}
NO_NOTES = "[]"


def add_money_tables(conn: sqlite3.Connection) -> None:
    """Stores made before holds had owners and notes get the columns (empty); periodic and team budgets get
    their counters (`accounts`: one row per budget and period, domain/scopes.py)."""
    conn.execute("CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, spend REAL NOT NULL DEFAULT 0)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS rollups (day TEXT NOT NULL, key_name TEXT NOT NULL, model TEXT NOT NULL, "
        "team TEXT NOT NULL, requests INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, "
        "completion_tokens INTEGER NOT NULL, cost REAL NOT NULL, PRIMARY KEY (day, key_name, model, team))"
    )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(holds)")}
    for name, kind in HOLD_COLUMNS.items():
        if name not in columns:
            conn.execute(f"ALTER TABLE holds ADD COLUMN {name} {kind}")


def reserve(
    conn: sqlite3.Connection, key_hash: str, hold: Hold, budget_usd: float, now_epoch: int
) -> BudgetFigures | None:
    conn.execute(
        "DELETE FROM holds WHERE key_hash = ? AND expires_at <= ? AND notes = ?", (key_hash, now_epoch, NO_NOTES)
    )
    existing = conn.execute("SELECT usd FROM holds WHERE id = ?", (hold.id,)).fetchone()
    current = float(existing[0]) if existing else 0.0
    if existing and current >= hold.usd:
        return None
    spend = spent(conn, key_hash)
    held = float(conn.execute("SELECT COALESCE(SUM(usd), 0) FROM holds WHERE key_hash = ?", (key_hash,)).fetchone()[0])
    if spend + held - current + hold.usd > budget_usd:
        return BudgetFigures(spend_usd=spend, held_usd=held)
    conn.execute(
        "INSERT INTO holds (id, key_hash, usd, expires_at, owner) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET usd = excluded.usd, expires_at = excluded.expires_at",
        (hold.id, key_hash, hold.usd, hold.expires_at, hold.owner),
    )
    return None


def settle(conn: sqlite3.Connection, key_hash: str, generation_id: str, cost_usd: float, expires_at: int) -> bool:
    """Charge once (the marker), release the hold, add the cost: False when it was already charged."""
    charged = conn.execute(
        "INSERT INTO charges (id, key_hash, usd, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
        (generation_id, key_hash, cost_usd, expires_at),
    ).rowcount
    if not charged:
        return False
    conn.execute("DELETE FROM holds WHERE id = ?", (generation_id,))
    if cost_usd and is_account(key_hash):
        conn.execute(
            "INSERT INTO accounts (id, spend) VALUES (?, ?) "
            "ON CONFLICT(id) DO UPDATE SET spend = spend + excluded.spend",
            (key_hash, cost_usd),
        )
    elif cost_usd:
        conn.execute("UPDATE api_keys SET spend = spend + ? WHERE key_hash = ?", (cost_usd, key_hash))
    conn.execute(  # expired markers (long past any retry of their write) go a few at a time
        "DELETE FROM charges WHERE id IN "
        "(SELECT id FROM charges WHERE expires_at < CAST(strftime('%s', 'now') AS INTEGER) LIMIT 8)"
    )
    return True


def spend_query(account: str) -> tuple[str, tuple[str]]:
    """Where an account's spend is: a key's lifetime budget on its key row, a periodic or team budget on its own."""
    if is_account(account):
        return "SELECT spend FROM accounts WHERE id = ?", (account,)
    return "SELECT spend FROM api_keys WHERE key_hash = ?", (account,)


def spent(conn: sqlite3.Connection, account: str) -> float:
    row = conn.execute(*spend_query(account)).fetchone()
    return float(row[0]) if row else 0.0


def note_attempt(conn: sqlite3.Connection, key_hash: str, generation_id: str, note: HoldNote) -> bool:
    row = conn.execute("SELECT notes FROM holds WHERE id = ? AND key_hash = ?", (generation_id, key_hash)).fetchone()
    if row is None:
        return False
    notes = [*orjson.loads(row[0]), [note.backend, note.upstream_id, note.estimate_usd]]
    conn.execute("UPDATE holds SET notes = ? WHERE id = ?", (orjson.dumps(notes).decode(), generation_id))
    return True


def open_holds(rows: list[tuple[object, ...]]) -> list[OpenHold]:
    """Rows of (key_hash, id, usd, expires_at, owner, notes) as OpenHolds."""
    return [
        OpenHold(
            key_hash=str(r[0]),
            generation_id=str(r[1]),
            usd=float(r[2]),  # type: ignore[arg-type]
            expires_at=int(r[3]),  # type: ignore[call-overload]
            owner=str(r[4]),
            notes=tuple(HoldNote(str(n[0]), n[1], float(n[2])) for n in orjson.loads(str(r[5]))),
        )
        for r in rows
    ]


OPEN_HOLDS = "SELECT key_hash, id, usd, expires_at, owner, notes FROM holds"


def add_rollup(conn: sqlite3.Connection, rollup: Rollup) -> None:
    conn.execute(
        "INSERT INTO rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(day, key_name, model, team) DO UPDATE SET "
        "requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
        "completion_tokens = completion_tokens + excluded.completion_tokens, cost = cost + excluded.cost",
        (
            rollup.day,
            rollup.key_name,
            rollup.model,
            rollup.team,
            rollup.requests,
            rollup.prompt_tokens,
            rollup.completion_tokens,
            rollup.cost_usd,
        ),
    )


ROLLUPS = "SELECT * FROM rollups WHERE day >= ? AND day <= ? ORDER BY day, key_name, model, team"


def rollups(rows: list[tuple[object, ...]]) -> list[Rollup]:
    return [
        Rollup(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), int(r[5]), int(r[6]), float(r[7]))  # type: ignore[call-overload,arg-type]
        for r in rows
    ]
