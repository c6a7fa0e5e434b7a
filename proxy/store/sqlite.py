"""The store in one SQLite file: the default, needing nothing installed.

WAL mode, one connection owned by one worker thread, so statements never
interleave and the event loop never blocks on disk.  All SQL of the project
lives in this module.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from proxy.store.base import QueuedReply, QueuedReport, SendRecord

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS send_records (
    id INTEGER PRIMARY KEY,
    send_id TEXT NOT NULL,
    cpid TEXT NOT NULL,
    vendor TEXT NOT NULL,
    phone TEXT NOT NULL,
    outcome TEXT NOT NULL,
    vendor_code TEXT NOT NULL,
    message_id TEXT,
    text_digest TEXT NOT NULL,
    segments INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS send_records_phone ON send_records (phone, created_ms);
CREATE INDEX IF NOT EXISTS send_records_retry ON send_records (cpid, text_digest, created_ms);
CREATE INDEX IF NOT EXISTS send_records_message ON send_records (vendor, message_id);
CREATE TABLE IF NOT EXISTS client_passwords (
    cpid TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_usage (
    cpid TEXT PRIMARY KEY,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS report_queue (
    id INTEGER PRIMARY KEY,
    cpid TEXT NOT NULL,
    phone TEXT NOT NULL,
    status INTEGER NOT NULL,
    sent_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS report_queue_client ON report_queue (cpid, id);
CREATE TABLE IF NOT EXISTS reply_queue (
    id INTEGER PRIMARY KEY,
    cpid TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reply_queue_client ON reply_queue (cpid, id);
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path} open={self._db is not None}>"

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        store = cls(path)
        await store._run(store._connect)
        return store

    def _connect(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        self._db = db

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is closed")
        return self._db

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._run(shut)
        self._executor.shutdown(wait=True)

    async def ping(self) -> bool:
        def check() -> bool:
            return bool(self._conn().execute("SELECT 1").fetchone() == (1,))

        try:
            return await self._run(check)
        except (sqlite3.Error, RuntimeError):
            return False

    async def record_sends(self, records: Sequence[SendRecord]) -> None:
        rows = [
            (
                r.send_id,
                r.cpid,
                r.vendor,
                r.phone,
                r.outcome,
                r.vendor_code,
                r.message_id,
                r.text_digest,
                r.segments,
                r.created_ms,
            )
            for r in records
        ]

        def write() -> None:
            db = self._conn()
            with db:
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO send_records (send_id, cpid, vendor, phone, outcome,"
                    " vendor_code, message_id, text_digest, segments, created_ms)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )

        await self._run(write)

    async def recent_recipients(
        self, cpid: str, text_digest: str, phones: Sequence[str], since_ms: int
    ) -> set[str]:
        wanted = set(phones)

        def read() -> set[str]:
            rows = self._conn().execute(
                "SELECT DISTINCT phone FROM send_records WHERE cpid = ? AND text_digest = ?"
                " AND created_ms >= ?",
                (cpid, text_digest, since_ms),
            )
            return {row[0] for row in rows if row[0] in wanted}

        return await self._run(read)

    async def password_digest(self, cpid: str) -> str | None:
        def read() -> str | None:
            row = (
                self._conn()
                .execute("SELECT digest FROM client_passwords WHERE cpid = ?", (cpid,))
                .fetchone()
            )
            return None if row is None else str(row[0])

        return await self._run(read)

    async def set_password_digest(self, cpid: str, digest: str) -> None:
        now = _now_ms()

        def write() -> None:
            self._conn().execute(
                "INSERT INTO client_passwords (cpid, digest, updated_ms) VALUES (?,?,?)"
                " ON CONFLICT (cpid) DO UPDATE SET digest = excluded.digest,"
                " updated_ms = excluded.updated_ms",
                (cpid, digest, now),
            )

        await self._run(write)

    async def reserve_quota(self, cpid: str, segments: int, limit: int) -> bool:
        def write() -> bool:
            db = self._conn()
            db.execute("INSERT OR IGNORE INTO quota_usage (cpid, used) VALUES (?, 0)", (cpid,))
            cur = db.execute(
                "UPDATE quota_usage SET used = used + ? WHERE cpid = ? AND used + ? <= ?",
                (segments, cpid, segments, limit),
            )
            return cur.rowcount == 1

        return await self._run(write)

    async def release_quota(self, cpid: str, segments: int) -> None:
        def write() -> None:
            self._conn().execute(
                "UPDATE quota_usage SET used = MAX(0, used - ?) WHERE cpid = ?", (segments, cpid)
            )

        await self._run(write)

    async def quota_used(self, cpid: str) -> int:
        def read() -> int:
            row = (
                self._conn()
                .execute("SELECT used FROM quota_usage WHERE cpid = ?", (cpid,))
                .fetchone()
            )
            return 0 if row is None else int(row[0])

        return await self._run(read)

    async def take_reports(self, cpid: str, limit: int) -> list[QueuedReport]:
        def take() -> list[QueuedReport]:
            db = self._conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute(
                    "SELECT id, phone, status, sent_ms FROM report_queue WHERE cpid = ?"
                    " ORDER BY id LIMIT ?",
                    (cpid, limit),
                ).fetchall()
                if rows:
                    db.execute(
                        "DELETE FROM report_queue WHERE cpid = ? AND id <= ?", (cpid, rows[-1][0])
                    )
            return [QueuedReport(r[1], int(r[2]), _at(r[3])) for r in rows]

        return await self._run(take)

    async def take_replies(self, cpid: str, limit: int) -> list[QueuedReply]:
        def take() -> list[QueuedReply]:
            db = self._conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute(
                    "SELECT id, phone, text, received_ms FROM reply_queue WHERE cpid = ?"
                    " ORDER BY id LIMIT ?",
                    (cpid, limit),
                ).fetchall()
                if rows:
                    db.execute(
                        "DELETE FROM reply_queue WHERE cpid = ? AND id <= ?", (cpid, rows[-1][0])
                    )
            return [QueuedReply(r[1], r[2], _at(r[3])) for r in rows]

        return await self._run(take)

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None:
        def write() -> None:
            self._conn().execute(
                "INSERT INTO report_queue (cpid, phone, status, sent_ms) VALUES (?,?,?,?)",
                (cpid, report.phone, report.status, int(report.sent_at.timestamp() * 1000)),
            )

        await self._run(write)

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None:
        def write() -> None:
            self._conn().execute(
                "INSERT INTO reply_queue (cpid, phone, text, received_ms) VALUES (?,?,?,?)",
                (cpid, reply.phone, reply.text, int(reply.received_at.timestamp() * 1000)),
            )

        await self._run(write)


def _now_ms() -> int:
    return int(datetime.now().timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000)
