"""Quotas in SQLite: held in memory, written with the send log's group commit.

One daemon uses a SQLite file, so its memory is the truth about usage; the
``quota_usage`` table is where it survives a restart.  A reservation marks
the client's figure dirty, and the send log's next write
(:meth:`~proxy.store.sqlite.sends.SqliteSendLog.record_sends`) carries every
dirty figure in its transaction.  A send reserves before it hands its
in-flight records to the recorder, so its reservation is written with them
or earlier: a send answered ``0`` is counted after a kill -9.  A release
(segments no vendor took) rides the next write too; one lost to a crash
leaves the usage counting a send that failed, never less than was sent.
"""

from __future__ import annotations

import sqlite3

from proxy.store.sqlite.writer import SqliteWriter

UPSERT = (
    "INSERT INTO quota_usage (cpid, used) VALUES (?, ?)"
    " ON CONFLICT (cpid) DO UPDATE SET used = excluded.used"
)


class SqliteQuotas:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer
        self._used: dict[str, int] = {}  # every client asked about since the open
        self._dirty: set[str] = set()  # changed since the last write

    def __repr__(self) -> str:
        return f"<SqliteQuotas {self._writer.path} unwritten={len(self._dirty)}>"

    async def _load(self, cpid: str) -> int:
        used = self._used.get(cpid)
        if used is not None:
            return used

        def read(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT used FROM quota_usage WHERE cpid = ?", (cpid,)).fetchone()
            return 0 if row is None else int(row[0])

        stored = await self._writer.run(read)
        # Another send may have loaded (and reserved) meanwhile: memory wins.
        return self._used.setdefault(cpid, stored)

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        if cpid not in self._used:
            await self._load(cpid)
        used = self._used[cpid]
        if used + segments > limit:
            return False
        self._used[cpid] = used + segments
        self._dirty.add(cpid)
        return True

    async def release_quota(self, cpid: str, segments: int) -> None:
        used = await self._load(cpid)
        self._used[cpid] = max(0, used - segments)
        self._dirty.add(cpid)

    async def quota_used(self, cpid: str) -> int:
        return await self._load(cpid)

    def take_unwritten(self) -> list[tuple[str, int]]:
        """The figures changed since the last write, for the write about to start
        (on the event loop, so no reservation slips between the two)."""
        if not self._dirty:
            return []
        rows = [(cpid, self._used[cpid]) for cpid in self._dirty]
        self._dirty = set()
        return rows

    def unwritten_again(self, rows: list[tuple[str, int]]) -> None:
        """A write that carried ``rows`` failed: they go with the next one."""
        self._dirty.update(cpid for cpid, _ in rows)

    @staticmethod
    def write(db: sqlite3.Connection, rows: list[tuple[str, int]]) -> None:
        """Inside the caller's transaction."""
        if rows:
            db.executemany(UPSERT, rows)

    async def flush(self) -> None:
        """Write what no send-log write has carried yet (at close)."""
        rows = self.take_unwritten()
        if not rows:
            return

        def write(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN")
                self.write(db, rows)

        try:
            await self._writer.run(write)
        except BaseException:
            self.unwritten_again(rows)
            raise
