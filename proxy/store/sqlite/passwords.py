"""Passwords in SQLite: the ``client_passwords`` table."""

from __future__ import annotations

import sqlite3

from proxy.store.epoch import now_ms
from proxy.store.sqlite.writer import SqliteWriter


class SqlitePasswords:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"<SqlitePasswords {self._writer.path}>"

    async def password_digest(self, cpid: str) -> str | None:
        def read(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT digest FROM client_passwords WHERE cpid = ?", (cpid,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._writer.run(read)

    async def set_password_digest(self, cpid: str, digest: str) -> None:
        now = now_ms()

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO client_passwords (cpid, digest, updated_ms) VALUES (?,?,?)"
                " ON CONFLICT (cpid) DO UPDATE SET digest = excluded.digest,"
                " updated_ms = excluded.updated_ms",
                (cpid, digest, now),
            )

        await self._writer.run(write)

    async def replace_password_digest(self, cpid: str, old: str, new: str) -> bool:
        now = now_ms()

        def write(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE client_passwords SET digest = ?, updated_ms = ?"
                " WHERE cpid = ? AND digest = ?",
                (new, now, cpid, old),
            )
            return cur.rowcount == 1

        return await self._writer.run(write)

    async def drop_password_digest(self, cpid: str) -> bool:
        def write(db: sqlite3.Connection) -> bool:
            cur = db.execute("DELETE FROM client_passwords WHERE cpid = ?", (cpid,))
            return cur.rowcount == 1

        return await self._writer.run(write)
