"""The inbox in SQLite: the ``report_inbox`` and ``reply_inbox`` tables.

A row's ``UNIQUE (account, dedupe_key)`` is what drops a report or reply
handed over twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from proxy.store.inbox import InboxReply, InboxReport
from proxy.store.sqlite.writer import SqliteWriter

# Lists of values go in as one JSON array read by json_each(): no SQL is ever
# built from strings.
SELECT_REPORTS = (
    "SELECT account, dedupe_key, phone, status, raw_status, message_id, reported_ms,"
    " received_ms, id FROM report_inbox"
)
SELECT_REPLIES = (
    "SELECT account, dedupe_key, phone, text, sent_ms, dest, part_ref, part_total, part_index,"
    " received_ms, id FROM reply_inbox"
)
PURGE = (
    "DELETE FROM report_inbox WHERE id IN (SELECT id FROM report_inbox"
    " WHERE received_ms < ? AND state != 'pending' ORDER BY id LIMIT ?)",
    "DELETE FROM reply_inbox WHERE id IN (SELECT id FROM reply_inbox"
    " WHERE received_ms < ? AND state != 'pending' ORDER BY id LIMIT ?)",
)


class SqliteInbox:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"<SqliteInbox {self._writer.path}>"

    async def add_reports(self, reports: Sequence[InboxReport]) -> int:
        rows = [
            (
                r.account,
                r.key,
                r.phone,
                r.status,
                r.raw_status,
                r.message_id,
                r.reported_ms,
                r.received_ms,
                r.received_ms,
            )
            for r in reports
        ]

        return await self._insert_new(
            "INSERT OR IGNORE INTO report_inbox (account, dedupe_key, phone, status,"
            " raw_status, message_id, reported_ms, received_ms, next_try_ms)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )

    async def add_replies(self, replies: Sequence[InboxReply]) -> int:
        rows = [
            (
                r.account,
                r.key,
                r.phone,
                r.text,
                r.sent_ms,
                r.dest,
                r.part_ref,
                r.part_total,
                r.part_index,
                r.received_ms,
            )
            for r in replies
        ]

        return await self._insert_new(
            "INSERT OR IGNORE INTO reply_inbox (account, dedupe_key, phone, text,"
            " sent_ms, dest, part_ref, part_total, part_index, received_ms)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    async def _insert_new(self, sql: str, rows: Sequence[tuple[object, ...]]) -> int:
        """Insert, skipping rows whose key is known; how many were new."""

        def write(db: sqlite3.Connection) -> int:
            with db:
                db.execute("BEGIN IMMEDIATE")
                before = db.total_changes
                db.executemany(sql, rows)
                return db.total_changes - before

        return await self._writer.run(write) if rows else 0

    async def pending_reports(self, now_ms: int, limit: int) -> list[InboxReport]:
        def read(db: sqlite3.Connection) -> str:
            # Due first, then oldest, as in Redis: the pending index's own order,
            # so a backlog is read in slices, never scanned or sorted.  One row
            # of JSON, as the send log's candidates, not a row (and a GIL
            # hand-off) each.
            (rows,) = db.execute(
                "SELECT json_group_array(json_array(next_try_ms, account, dedupe_key,"
                " phone, status, raw_status, message_id, reported_ms, received_ms, id))"
                " FROM (SELECT * FROM report_inbox"
                " WHERE state = 'pending' AND next_try_ms <= ?"
                " ORDER BY next_try_ms, id LIMIT ?)",
                (now_ms, limit),
            ).fetchone()
            return str(rows)

        rows = json.loads(await self._writer.run(read))
        rows.sort(key=lambda r: (r[0], r[-1]))  # an aggregate keeps no promised order
        return [InboxReport(*row[1:]) for row in rows]

    async def pending_replies(self, limit: int) -> list[InboxReply]:
        def read(db: sqlite3.Connection) -> list[InboxReply]:
            rows = db.execute(
                SELECT_REPLIES + " WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)
            )
            return [InboxReply(*row) for row in rows]

        return await self._writer.run(read)

    async def unmatched_reports(self, limit: int) -> list[InboxReport]:
        def read(db: sqlite3.Connection) -> list[InboxReport]:
            rows = db.execute(
                SELECT_REPORTS + " WHERE state = 'unmatched' ORDER BY id DESC LIMIT ?", (limit,)
            )
            return [InboxReport(*row) for row in rows]

        return await self._writer.run(read)

    async def inbox_counts(self) -> dict[str, int]:
        def read(db: sqlite3.Connection) -> dict[str, int]:
            counts: dict[str, int] = {}
            for kind, sql in (
                ("reports", "SELECT state, COUNT(*) FROM report_inbox GROUP BY state"),
                ("replies", "SELECT state, COUNT(*) FROM reply_inbox GROUP BY state"),
            ):
                for state, n in db.execute(sql):
                    counts[f"{kind}.{state}"] = int(n)
            return counts

        return await self._writer.run(read)

    async def purge(self, before_ms: int) -> int:
        return await self._writer.purge(PURGE, before_ms)
