"""Client queues in SQLite: the ``report_queue`` and ``reply_queue`` tables.

A held row has ``held_until`` set; a row whose hold ran out is free again.
"""

from __future__ import annotations

import json
import sqlite3

import structlog

from proxy.store.epoch import from_ms, now_ms, to_ms
from proxy.store.queues import (
    HANDED_OVER_MS,
    ClientQueues,
    HoldReceipt,
    QueuedReply,
    QueuedReport,
    QueueKind,
    hold_times,
)
from proxy.store.sqlite.writer import SqliteWriter

log = structlog.get_logger("smsproxy.store")

# (select the due, mark them held) per queue; a hold whose time is up is free.
HOLD: dict[QueueKind, tuple[str, str]] = {
    "reports": (
        "SELECT id, phone, status, sent_ms FROM report_queue WHERE cpid = ?"
        " AND (held_until IS NULL OR held_until <= ?) ORDER BY id LIMIT ?",
        "UPDATE report_queue SET held_until = ? WHERE id IN (SELECT value FROM json_each(?))",
    ),
    "replies": (
        "SELECT id, phone, text, received_ms FROM reply_queue WHERE cpid = ?"
        " AND (held_until IS NULL OR held_until <= ?) ORDER BY id LIMIT ?",
        "UPDATE reply_queue SET held_until = ? WHERE id IN (SELECT value FROM json_each(?))",
    ),
}
# Only the rows this hold still has (another hold of a row ends later).
SETTLE_HELD: dict[tuple[QueueKind, bool], str] = {
    ("reports", True): "DELETE FROM report_queue"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until IN (?, ?)",
    ("reports", False): "UPDATE report_queue SET held_until = NULL"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until IN (?, ?)",
    ("replies", True): "DELETE FROM reply_queue"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until IN (?, ?)",
    ("replies", False): "UPDATE reply_queue SET held_until = NULL"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until IN (?, ?)",
}
# ? handed over, ? ids, ? the hold, ? handed over (a run again finds its own)
HAND_OVER: dict[QueueKind, str] = {
    "reports": "UPDATE report_queue SET held_until = ?"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until IN (?, ?) RETURNING id",
    "replies": "UPDATE reply_queue SET held_until = ?"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until IN (?, ?) RETURNING id",
}
# At the daemon's start, every hold is a dead daemon's (one daemon a file):
# what it had handed over is forgotten, what it held goes back in line.
RELEASE_HOLDS = (  # ? HANDED_OVER_MS
    "DELETE FROM report_queue WHERE held_until >= ?",
    "DELETE FROM reply_queue WHERE held_until >= ?",
    "UPDATE report_queue SET held_until = NULL WHERE held_until < ?",
    "UPDATE reply_queue SET held_until = NULL WHERE held_until < ?",
)
PURGE = (
    "DELETE FROM report_queue WHERE id IN (SELECT id FROM report_queue"
    " WHERE sent_ms < ? ORDER BY id LIMIT ?)",
    "DELETE FROM reply_queue WHERE id IN (SELECT id FROM reply_queue"
    " WHERE received_ms < ? ORDER BY id LIMIT ?)",
)


class SqliteQueues(ClientQueues):
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"<SqliteQueues {self._writer.path}>"

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO report_queue (cpid, phone, status, sent_ms) VALUES (?,?,?,?)",
                (cpid, report.phone, report.status, to_ms(report.sent_at)),
            )

        await self._writer.run(write)

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO reply_queue (cpid, phone, text, received_ms) VALUES (?,?,?,?)",
                (cpid, reply.phone, reply.text, to_ms(reply.received_at)),
            )

        await self._writer.run(write)

    async def hold_reports(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReport]]:
        receipt, rows = await self._hold("reports", cpid, limit, hold_ms)
        return receipt, [QueuedReport(r[1], int(r[2]), from_ms(r[3])) for r in rows]

    async def hold_replies(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReply]]:
        receipt, rows = await self._hold("replies", cpid, limit, hold_ms)
        return receipt, [QueuedReply(r[1], str(r[2]), from_ms(r[3])) for r in rows]

    async def _hold(
        self, kind: QueueKind, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[tuple[int, str, str | int, int]]]:
        now = now_ms()
        select, mark = HOLD[kind]

        def hold(db: sqlite3.Connection) -> list[tuple[int, str, str | int, int]]:
            with db:
                db.execute("BEGIN IMMEDIATE")
                # A hold that ran out: its daemon died before it could settle it.
                rows = db.execute(select, (cpid, now, limit)).fetchall()
                if rows:
                    db.execute(mark, (now + hold_ms, json.dumps([r[0] for r in rows])))
            return rows

        rows = await self._writer.run(hold)
        return HoldReceipt(tuple(r[0] for r in rows), now + hold_ms), rows

    async def settle_held(
        self, kind: QueueKind, cpid: str, receipt: HoldReceipt, delivered: bool
    ) -> None:
        if not receipt.keys:
            return
        # Back in the queue they keep their ids, so their place in line.
        sql = SETTLE_HELD[kind, delivered]
        ids = json.dumps(list(receipt.keys))
        times = hold_times(receipt.until_ms)

        def write(db: sqlite3.Connection) -> None:
            db.execute(sql, (ids, *times))

        await self._writer.run(write)

    async def hand_over(self, kind: QueueKind, cpid: str, receipt: HoldReceipt) -> HoldReceipt:
        if not receipt.keys:
            return receipt
        hold, until = hold_times(receipt.until_ms)
        args = (until, json.dumps(list(receipt.keys)), hold, until)
        sql = HAND_OVER[kind]

        def write(db: sqlite3.Connection) -> list[int]:
            return [int(row[0]) for row in db.execute(sql, args).fetchall()]

        still = set(await self._writer.run(write))
        return HoldReceipt(tuple(k for k in receipt.keys if k in still), until)

    async def release_dead_holds(self) -> int:
        def write(db: sqlite3.Connection) -> list[int]:
            with db:
                db.execute("BEGIN IMMEDIATE")
                return [db.execute(sql, (HANDED_OVER_MS,)).rowcount for sql in RELEASE_HOLDS]

        forgotten_reports, forgotten_replies, reports, replies = await self._writer.run(write)
        if forgotten_reports or forgotten_replies:
            log.info(
                "handed_over_batches_forgotten",
                reports=forgotten_reports,
                replies=forgotten_replies,
            )
        return reports + replies

    async def queue_stats(self) -> dict[str, tuple[int, float]]:
        now = now_ms()

        def read(db: sqlite3.Connection) -> dict[str, tuple[int, float]]:
            stats: dict[str, tuple[int, float]] = {}
            # Age counts from the message's own time (the send, or the reply):
            # what a client waiting for it would measure.
            for queue, sql in (
                (
                    "reports",
                    "SELECT COUNT(*), MIN(sent_ms) FROM report_queue"
                    " WHERE held_until IS NULL OR held_until < ?",
                ),
                (
                    "replies",
                    "SELECT COUNT(*), MIN(received_ms) FROM reply_queue"
                    " WHERE held_until IS NULL OR held_until < ?",
                ),
            ):
                # Handed over (a client has them) they wait for nobody: a
                # settlement that failed leaves them until the next start.
                count, oldest = db.execute(sql, (HANDED_OVER_MS,)).fetchone()
                age = 0.0 if oldest is None else max(0.0, (now - int(oldest)) / 1000)
                stats[queue] = (int(count), age)
            return stats

        return await self._writer.run(read)

    async def purge(self, before_ms: int) -> int:
        return await self._writer.purge(PURGE, before_ms)
