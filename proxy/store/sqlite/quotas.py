"""Quotas in SQLite: the ``quota_usage`` table."""

from __future__ import annotations

import sqlite3

from proxy.store.sqlite.writer import SqliteWriter


class SqliteQuotas:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"<SqliteQuotas {self._writer.path}>"

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            db.execute("INSERT OR IGNORE INTO quota_usage (cpid, used) VALUES (?, 0)", (cpid,))
            cur = db.execute(
                "UPDATE quota_usage SET used = used + ? WHERE cpid = ? AND used + ? <= ?",
                (segments, cpid, segments, limit),
            )
            return cur.rowcount == 1

        return await self._writer.run(write)

    async def release_quota(self, cpid: str, segments: int) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE quota_usage SET used = MAX(0, used - ?) WHERE cpid = ?", (segments, cpid)
            )

        await self._writer.run(write)

    async def quota_used(self, cpid: str) -> int:
        def read(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT used FROM quota_usage WHERE cpid = ?", (cpid,)).fetchone()
            return 0 if row is None else int(row[0])

        return await self._writer.run(read)
