"""Leases in SQLite: the ``leases`` table."""

from __future__ import annotations

import sqlite3

from proxy.store.epoch import now_ms
from proxy.store.sqlite.writer import SqliteWriter


class SqliteLeases:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"<SqliteLeases {self._writer.path}>"

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        now = now_ms()

        def write(db: sqlite3.Connection) -> bool:
            # One statement: taken when absent, expired or already ours.
            cur = db.execute(
                "INSERT INTO leases (name, holder, expires_ms) VALUES (?,?,?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " expires_ms = excluded.expires_ms"
                " WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?",
                (name, holder, now + ttl_ms, now),
            )
            return cur.rowcount == 1

        return await self._writer.run(write)
