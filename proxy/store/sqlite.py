"""The store in one SQLite file: the default, needing nothing installed.

WAL mode, one connection owned by one worker thread, so statements never
interleave and the event loop never blocks on disk; the log is copied into
the database by a thread of its own (:mod:`proxy.store.wal_checkpoint`).
All SQL of the project lives in this module.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import structlog

from proxy.store.base import (
    CandidateQuery,
    ClaimWindow,
    HoldReceipt,
    InboxReply,
    InboxReport,
    QueuedReply,
    QueuedReport,
    QueueKind,
    RecordState,
    ReplyDelivered,
    ReplySettlement,
    ReportMatched,
    ReportRetry,
    ReportSettlement,
    SendCandidate,
    SendRecord,
    SendSettlement,
    Settled,
    Taken,
)
from proxy.store.wal_checkpoint import WalCheckpointer

log = structlog.get_logger("smsproxy.store")

T = TypeVar("T")
# The log is not cut back below this when it starts over: regrowing it costs
# more than the disk it holds (WRAP_FRAMES pages are about 40 MB).
WAL_SIZE_LIMIT = 64 * 1024 * 1024

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
-- A resend is looked up through send_records_phone too (a number has few
-- records): every index more is one more B-tree insert per recipient.
DROP INDEX IF EXISTS send_records_retry;
-- Reports are matched by number first (send_candidates_many), so no index on the
-- vendor's message id is needed.
DROP INDEX IF EXISTS send_records_message;
-- Unresolved records are few (a crash's in-flight ones, ambiguous answers):
-- a partial index lists them without reading the others.
CREATE INDEX IF NOT EXISTS send_records_unresolved ON send_records (created_ms)
    WHERE outcome IN ('in_flight', 'ambiguous');
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
    sent_ms INTEGER NOT NULL,
    held_until INTEGER  -- handed to a client whose answer is being written
);
CREATE INDEX IF NOT EXISTS report_queue_client ON report_queue (cpid, id);
CREATE TABLE IF NOT EXISTS reply_queue (
    id INTEGER PRIMARY KEY,
    cpid TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    held_until INTEGER
);
CREATE INDEX IF NOT EXISTS reply_queue_client ON reply_queue (cpid, id);
CREATE TABLE IF NOT EXISTS report_inbox (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    phone TEXT NOT NULL,
    status INTEGER NOT NULL,
    raw_status TEXT NOT NULL,
    message_id TEXT,
    reported_ms INTEGER,
    received_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending, matched, duplicate, unmatched
    tries INTEGER NOT NULL DEFAULT 0,
    next_try_ms INTEGER NOT NULL,
    record_id INTEGER,
    cpid TEXT,
    UNIQUE (account, dedupe_key)
);
CREATE INDEX IF NOT EXISTS report_inbox_pending ON report_inbox (next_try_ms)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS report_inbox_unmatched ON report_inbox (id)
    WHERE state = 'unmatched';
-- One report of each status per send record: what makes a report polled twice,
-- or re-pushed under another key, a duplicate.
CREATE UNIQUE INDEX IF NOT EXISTS report_inbox_record ON report_inbox (record_id, status)
    WHERE record_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS reply_inbox (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_ms INTEGER,
    dest TEXT NOT NULL,
    part_ref TEXT,
    part_total INTEGER,
    part_index INTEGER,
    received_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending, delivered, unmatched
    cpid TEXT,
    UNIQUE (account, dedupe_key)
);
CREATE INDEX IF NOT EXISTS reply_inbox_pending ON reply_inbox (id) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
"""

# take_reports/take_replies hold only for the moment between two statements.
TAKE_HOLD_MS = 60_000

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
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until = ?",
    ("reports", False): "UPDATE report_queue SET held_until = NULL"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until = ?",
    ("replies", True): "DELETE FROM reply_queue"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until = ?",
    ("replies", False): "UPDATE reply_queue SET held_until = NULL"
    " WHERE id IN (SELECT value FROM json_each(?)) AND held_until = ?",
}

# Retention deletes in slices, each its own transaction, so a large purge
# never holds the one connection (and every send behind it) for long.
PURGE_SLICE = 5000

MAX_CANDIDATES = 100
# The matcher's statements take and give a whole batch as one JSON value, so
# a batch is a few statements and one row each, not a statement or a row per
# report: the connection's thread takes the GIL back after every step, and
# with the event loop busy sending each of those waits its turn.
#
# ?1: [[phone, [vendor, ...], message id or null], ...].  One row: per query,
# [its index, [[id, cpid, vendor, message id, created_ms, [reported status,
# ...]], ...]], at most ?2 records a query.  With an id, a record without one
# is a candidate too: an ambiguous attempt never learnt its id.
CANDIDATES_MANY = """
SELECT json_group_array(json_array(q.key, json((
  SELECT json_group_array(json_array(s.id, s.cpid, s.vendor, s.message_id, s.created_ms,
    json((SELECT json_group_array(i.status) FROM report_inbox AS i WHERE i.record_id = s.id))))
  FROM (
    SELECT id, cpid, vendor, message_id, created_ms FROM send_records
    WHERE phone = json_extract(q.value, '$[0]')
      AND vendor IN (SELECT value FROM json_each(q.value, '$[1]'))
      AND outcome != 'not_sent'
      AND (json_extract(q.value, '$[2]') IS NULL OR message_id IS NULL
           OR message_id = json_extract(q.value, '$[2]'))
    ORDER BY created_ms DESC, id DESC LIMIT ?2) AS s))))
FROM json_each(?1) AS q
"""
# ?: [[inbox id, record key, cpid, phone, status, sent_ms], ...], every row
# pending (checked in the same transaction).  OR IGNORE: a row whose record
# already has a report of its status stays pending, to be marked duplicate.
MATCH_REPORTS = (
    "UPDATE OR IGNORE report_inbox SET state = 'matched',"
    " record_id = json_extract(b.value, '$[1]'), cpid = json_extract(b.value, '$[2]')"
    " FROM json_each(?) AS b WHERE report_inbox.id = json_extract(b.value, '$[0]')"
)
DUPLICATE_REPORTS = (
    "UPDATE report_inbox SET state = 'duplicate', cpid = json_extract(b.value, '$[2]')"
    " FROM json_each(?) AS b"
    " WHERE report_inbox.id = json_extract(b.value, '$[0]') AND report_inbox.state = 'pending'"
)
QUEUE_MATCHED = (
    "INSERT INTO report_queue (cpid, phone, status, sent_ms)"
    " SELECT json_extract(b.value, '$[2]'), json_extract(b.value, '$[3]'),"
    " json_extract(b.value, '$[4]'), json_extract(b.value, '$[5]')"
    " FROM json_each(?) AS b JOIN report_inbox AS r ON r.id = json_extract(b.value, '$[0]')"
    " WHERE r.state = 'matched' ORDER BY b.key"
)
RESOLVE_MATCHED = (
    "UPDATE send_records SET outcome = 'accepted'"
    " WHERE id IN (SELECT json_extract(value, '$[1]') FROM json_each(?))"
    " AND outcome IN ('in_flight', 'ambiguous')"
)
# ?: [[inbox id, next_try_ms], ...]
RETRY_REPORTS = (
    "UPDATE report_inbox SET tries = tries + 1, next_try_ms = json_extract(b.value, '$[1]')"
    " FROM json_each(?) AS b"
    " WHERE report_inbox.id = json_extract(b.value, '$[0]') AND report_inbox.state = 'pending'"
)
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
PURGE = {
    "send_records": "DELETE FROM send_records WHERE id IN (SELECT id FROM send_records"
    " WHERE created_ms < ? ORDER BY id LIMIT ?)",
    "report_inbox": "DELETE FROM report_inbox WHERE id IN (SELECT id FROM report_inbox"
    " WHERE received_ms < ? AND state != 'pending' ORDER BY id LIMIT ?)",
    "reply_inbox": "DELETE FROM reply_inbox WHERE id IN (SELECT id FROM reply_inbox"
    " WHERE received_ms < ? AND state != 'pending' ORDER BY id LIMIT ?)",
    "report_queue": "DELETE FROM report_queue WHERE id IN (SELECT id FROM report_queue"
    " WHERE sent_ms < ? ORDER BY id LIMIT ?)",
    "reply_queue": "DELETE FROM reply_queue WHERE id IN (SELECT id FROM reply_queue"
    " WHERE received_ms < ? ORDER BY id LIMIT ?)",
}


class SqliteStore:
    def __init__(self, path: Path, checkpointer: WalCheckpointer | None = None) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None
        self.checkpointer = checkpointer or WalCheckpointer(path)
        self._wrap_queued = False

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path} open={self._db is not None}>"

    @classmethod
    async def open(cls, path: Path, checkpointer: WalCheckpointer | None = None) -> SqliteStore:
        store = cls(path, checkpointer)
        await store._run(store._connect)
        store.checkpointer.start()
        return store

    def _connect(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        _private(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        db.executescript(SCHEMA)
        for table in ("report_queue", "reply_queue"):
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if "held_until" not in columns:  # a state file from before holds
                db.execute(f"ALTER TABLE {table} ADD COLUMN held_until INTEGER")
        self._db = db

    async def _run(self, fn: Callable[[], T]) -> T:
        result = await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        if self.checkpointer.wrap_due.is_set() and not self._wrap_queued:
            # Queued behind the writes already waiting, so only writes that
            # arrive while it runs wait for it (a millisecond or two).
            self._wrap_queued = True
            self._executor.submit(self._wrap_log)
        return result

    def _wrap_log(self) -> None:
        self._wrap_queued = False
        if self._db is None:
            return
        try:
            busy, log_frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("wal_wrap_failed", path=str(self.path), error=repr(exc))
            return
        # Not all copied (the checkpointer was copying at that moment, or a
        # reader holds old pages): the next write asks again.
        if not busy and log_frames == copied:
            self.checkpointer.wrap_due.clear()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is closed")
        return self._db

    async def close(self) -> None:
        def shut() -> None:
            self.checkpointer.stop()
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

    async def record_sends(
        self, records: Sequence[SendRecord], settlements: Sequence[SendSettlement] = ()
    ) -> int:
        def write() -> int:
            db = self._conn()
            first = 0
            with db:
                db.execute("BEGIN")
                if records:
                    # SendRecord is a tuple in the table's column order.
                    db.executemany(
                        "INSERT INTO send_records (send_id, cpid, vendor, phone, outcome,"
                        " vendor_code, message_id, text_digest, segments, created_ms)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?)",
                        records,
                    )
                    # One writer, one transaction: the rows took consecutive
                    # rowids, one past the largest (SQLite's rowid rule).
                    (last,) = db.execute("SELECT last_insert_rowid()").fetchone()
                    first = int(last) - len(records) + 1
                for s in settlements:
                    last_key = s.first_key + s.size - 1
                    db.execute(
                        "UPDATE send_records SET outcome = ?, vendor_code = ?"
                        " WHERE id BETWEEN ? AND ? AND outcome = 'in_flight'",
                        (s.outcome, s.vendor_code, s.first_key, last_key),
                    )
                    if s.message_ids is not None:
                        db.executemany(
                            "UPDATE send_records SET message_id = ? WHERE id = ?",
                            [
                                (mid, s.first_key + i)
                                for i, mid in enumerate(s.message_ids)
                                if mid is not None
                            ],
                        )
            return first

        return await self._run(write)

    async def claim_recipients(
        self,
        cpid: str,
        text_digest: str,
        send_id: str,
        phones: Sequence[str],
        claim: ClaimWindow,
    ) -> list[Taken]:
        wanted = json.dumps(list(phones))
        since = claim.now_ms - claim.window_ms
        unresolved_since = claim.now_ms - claim.unresolved_ms

        def read() -> list[Taken]:
            # One index probe per number of this send, however many others
            # the client sent the same text to.
            # (A join on json_each would make SQLite scan instead of probe.)
            rows = self._conn().execute(
                "SELECT phone, outcome, created_ms FROM send_records"
                " WHERE phone IN (SELECT value FROM json_each(?)) AND created_ms >= ?"
                " AND cpid = ? AND text_digest = ? AND outcome != 'not_sent'",
                (wanted, since, cpid, text_digest),
            )
            return _taken(rows, unresolved_since, claim.resend_unresolved)

        return await self._run(read)

    async def release_claims(
        self, cpid: str, text_digest: str, send_id: str, phones: Sequence[str]
    ) -> None:
        return None  # one daemon: its send locks are the claims

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        def read() -> tuple[int, list[SendRecord]]:
            db = self._conn()
            (count,) = db.execute(
                "SELECT COUNT(*) FROM send_records"
                " WHERE outcome IN ('in_flight', 'ambiguous') AND created_ms >= ?",
                (since_ms,),
            ).fetchone()
            rows = db.execute(
                "SELECT send_id, cpid, vendor, phone, outcome, vendor_code, message_id,"
                " text_digest, segments, created_ms FROM send_records"
                " WHERE outcome IN ('in_flight', 'ambiguous') AND created_ms >= ?"
                " ORDER BY created_ms DESC LIMIT ?",
                (since_ms, limit),
            )
            return int(count), [SendRecord._make(r) for r in rows]

        return await self._run(read)

    async def recent_texts(self, since_ms: int) -> list[tuple[str, str]] | None:
        def read() -> list[tuple[str, str]]:
            # Newest first by rowid, stopping at the window's start: only the
            # window's records are read, with no index on the time.
            found: set[tuple[str, str]] = set()
            rows = self._conn().execute(
                "SELECT cpid, text_digest, created_ms FROM send_records ORDER BY id DESC"
            )
            for cpid, digest, created_ms in rows:
                if created_ms < since_ms:
                    break
                found.add((cpid, digest))
            return sorted(found)

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

    async def replace_password_digest(self, cpid: str, old: str, new: str) -> bool:
        now = _now_ms()

        def write() -> bool:
            cur = self._conn().execute(
                "UPDATE client_passwords SET digest = ?, updated_ms = ?"
                " WHERE cpid = ? AND digest = ?",
                (new, now, cpid, old),
            )
            return cur.rowcount == 1

        return await self._run(write)

    async def drop_password_digest(self, cpid: str) -> bool:
        def write() -> bool:
            cur = self._conn().execute("DELETE FROM client_passwords WHERE cpid = ?", (cpid,))
            return cur.rowcount == 1

        return await self._run(write)

    def login_counter(self) -> None:
        return None  # one daemon: it counts failed logins in memory

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
        receipt, reports = await self.hold_reports(cpid, limit, TAKE_HOLD_MS)
        await self.settle_held("reports", cpid, receipt, True)
        return reports

    async def take_replies(self, cpid: str, limit: int) -> list[QueuedReply]:
        receipt, replies = await self.hold_replies(cpid, limit, TAKE_HOLD_MS)
        await self.settle_held("replies", cpid, receipt, True)
        return replies

    async def hold_reports(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReport]]:
        receipt, rows = await self._hold("reports", cpid, limit, hold_ms)
        return receipt, [QueuedReport(r[1], int(r[2]), _at(r[3])) for r in rows]

    async def hold_replies(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReply]]:
        receipt, rows = await self._hold("replies", cpid, limit, hold_ms)
        return receipt, [QueuedReply(r[1], str(r[2]), _at(r[3])) for r in rows]

    async def _hold(
        self, kind: QueueKind, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[tuple[int, str, str | int, int]]]:
        now = _now_ms()
        select, mark = HOLD[kind]

        def hold() -> list[tuple[int, str, str | int, int]]:
            db = self._conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                # A hold that ran out: its daemon died before it could settle it.
                rows = db.execute(select, (cpid, now, limit)).fetchall()
                if rows:
                    db.execute(mark, (now + hold_ms, json.dumps([r[0] for r in rows])))
            return rows

        rows = await self._run(hold)
        return HoldReceipt(tuple(r[0] for r in rows), now + hold_ms), rows

    async def settle_held(
        self, kind: QueueKind, cpid: str, receipt: HoldReceipt, delivered: bool
    ) -> None:
        if not receipt.keys:
            return
        # Back in the queue they keep their ids, so their place in line.
        sql = SETTLE_HELD[kind, delivered]
        ids = json.dumps(list(receipt.keys))

        def write() -> None:
            self._conn().execute(sql, (ids, receipt.until_ms))

        await self._run(write)

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None:
        def write() -> None:
            self._conn().execute(
                "INSERT INTO report_queue (cpid, phone, status, sent_ms) VALUES (?,?,?,?)",
                (cpid, report.phone, report.status, _ms(report.sent_at)),
            )

        await self._run(write)

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None:
        def write() -> None:
            self._conn().execute(
                "INSERT INTO reply_queue (cpid, phone, text, received_ms) VALUES (?,?,?,?)",
                (cpid, reply.phone, reply.text, _ms(reply.received_at)),
            )

        await self._run(write)

    # --- reports and replies: inbox, settlement, retention ------------------------

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

    async def _insert_new(self, sql: str, rows: Sequence[tuple[object, ...]]) -> int:
        """Insert, skipping rows whose key is known; how many were new."""

        def write() -> int:
            db = self._conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                before = db.total_changes
                db.executemany(sql, rows)
                return db.total_changes - before

        return await self._run(write) if rows else 0

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

    async def pending_reports(self, now_ms: int, limit: int) -> list[InboxReport]:
        def read() -> str:
            # Due first, then oldest, as in Redis: the pending index's own order,
            # so a backlog is read in slices, never scanned or sorted.  One row
            # of JSON, as CANDIDATES_MANY, not a row (and a GIL hand-off) each.
            (rows,) = (
                self._conn()
                .execute(
                    "SELECT json_group_array(json_array(next_try_ms, account, dedupe_key,"
                    " phone, status, raw_status, message_id, reported_ms, received_ms, id))"
                    " FROM (SELECT * FROM report_inbox"
                    " WHERE state = 'pending' AND next_try_ms <= ?"
                    " ORDER BY next_try_ms, id LIMIT ?)",
                    (now_ms, limit),
                )
                .fetchone()
            )
            return str(rows)

        rows = json.loads(await self._run(read))
        rows.sort(key=lambda r: (r[0], r[-1]))  # an aggregate keeps no promised order
        return [InboxReport(*row[1:]) for row in rows]

    async def send_candidates_many(
        self, queries: Sequence[CandidateQuery]
    ) -> list[list[SendCandidate]]:
        unique = list(dict.fromkeys(queries))
        if not unique:
            return []
        asked = json.dumps(
            [[q.phone, list(dict.fromkeys(q.vendors)), q.message_id] for q in unique]
        )

        def read() -> str:
            (answer,) = self._conn().execute(CANDIDATES_MANY, (asked, MAX_CANDIDATES)).fetchone()
            return str(answer)

        found: list[list[SendCandidate]] = [[] for _ in unique]
        for index, records in json.loads(await self._run(read)):
            candidates = [
                SendCandidate(key, cpid, vendor, mid, created, frozenset(reported))
                for key, cpid, vendor, mid, created, reported in records
            ]
            # Newest first: an aggregate does not promise its subquery's order.
            candidates.sort(key=lambda c: (c.created_ms, c.key), reverse=True)
            found[index] = candidates
        answers = dict(zip(unique, found, strict=True))
        return [list(answers[q]) for q in queries]

    async def settle_reports(self, settlements: Sequence[ReportSettlement]) -> Settled:
        if not settlements:
            return Settled()
        ids = json.dumps([s.inbox_id for s in settlements])

        def write() -> Settled:
            db = self._conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                (still,) = db.execute(
                    "SELECT json_group_array(id) FROM report_inbox"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                    (ids,),
                ).fetchone()
                # Rows settled already (by another matcher, or earlier in this
                # batch) are skipped: settling twice must queue once.
                pending = set(json.loads(still))
                mine: list[ReportSettlement] = []
                for s in settlements:
                    if s.inbox_id in pending:
                        pending.discard(s.inbox_id)
                        mine.append(s)
                matched = json.dumps([_row(s) for s in mine if isinstance(s, ReportMatched)])
                retries = [[s.inbox_id, s.next_try_ms] for s in mine if isinstance(s, ReportRetry)]
                gave_up = [
                    s.inbox_id for s in mine if not isinstance(s, ReportMatched | ReportRetry)
                ]
                # The vendor reports on them: it had the messages.
                db.execute(RESOLVE_MATCHED, (matched,))
                db.execute(MATCH_REPORTS, (matched,))
                duplicates = db.execute(DUPLICATE_REPORTS, (matched,)).rowcount
                queued = db.execute(QUEUE_MATCHED, (matched,)).rowcount
                retried = db.execute(RETRY_REPORTS, (json.dumps(retries),)).rowcount
                unmatched = db.execute(
                    "UPDATE report_inbox SET state = 'unmatched', tries = tries + 1"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                    (json.dumps(gave_up),),
                ).rowcount
            skipped = len(settlements) - len(mine)
            return Settled(queued, duplicates, retried, unmatched, skipped)

        return await self._run(write)

    async def pending_replies(self, limit: int) -> list[InboxReply]:
        def read() -> list[InboxReply]:
            rows = self._conn().execute(
                SELECT_REPLIES + " WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)
            )
            return [InboxReply(*row) for row in rows]

        return await self._run(read)

    async def last_sender(self, phone: str, vendors: Sequence[str] | None) -> str | None:
        names = None if vendors is None else json.dumps(list(dict.fromkeys(vendors)))

        def read() -> str | None:
            row = (
                self._conn()
                .execute(
                    "SELECT cpid FROM send_records WHERE phone = ? AND outcome != 'not_sent'"
                    " AND (? IS NULL OR vendor IN (SELECT value FROM json_each(?)))"
                    " ORDER BY created_ms DESC, id DESC LIMIT 1",
                    (phone, names, names),
                )
                .fetchone()
            )
            return None if row is None else str(row[0])

        return await self._run(read)

    async def settle_replies(self, settlements: Sequence[ReplySettlement]) -> Settled:
        def write() -> Settled:
            queued = unmatched = skipped = 0
            db = self._conn()
            with db:
                db.execute("BEGIN IMMEDIATE")
                for s in settlements:
                    unique = list(dict.fromkeys(s.inbox_ids))
                    ids = json.dumps(unique)
                    (pending,) = db.execute(
                        "SELECT COUNT(*) FROM reply_inbox"
                        " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
                        (ids,),
                    ).fetchone()
                    if not unique or pending != len(unique):
                        skipped += 1
                        continue
                    if isinstance(s, ReplyDelivered):
                        db.execute(
                            "UPDATE reply_inbox SET state = 'delivered', cpid = ?"
                            " WHERE id IN (SELECT value FROM json_each(?))",
                            (s.cpid, ids),
                        )
                        db.execute(
                            "INSERT INTO reply_queue (cpid, phone, text, received_ms)"
                            " VALUES (?,?,?,?)",
                            (s.cpid, s.reply.phone, s.reply.text, _ms(s.reply.received_at)),
                        )
                        queued += 1
                    else:
                        db.execute(
                            "UPDATE reply_inbox SET state = 'unmatched'"
                            " WHERE id IN (SELECT value FROM json_each(?))",
                            (ids,),
                        )
                        unmatched += 1
            return Settled(queued=queued, unmatched=unmatched, skipped=skipped)

        return await self._run(write) if settlements else Settled()

    async def unmatched_reports(self, limit: int) -> list[InboxReport]:
        def read() -> list[InboxReport]:
            rows = self._conn().execute(
                SELECT_REPORTS + " WHERE state = 'unmatched' ORDER BY id DESC LIMIT ?", (limit,)
            )
            return [InboxReport(*row) for row in rows]

        return await self._run(read)

    async def queue_stats(self) -> dict[str, tuple[int, float]]:
        now = _now_ms()

        def read() -> dict[str, tuple[int, float]]:
            db = self._conn()
            stats: dict[str, tuple[int, float]] = {}
            # Age counts from the message's own time (the send, or the reply):
            # what a client waiting for it would measure.
            for queue, sql in (
                ("reports", "SELECT COUNT(*), MIN(sent_ms) FROM report_queue"),
                ("replies", "SELECT COUNT(*), MIN(received_ms) FROM reply_queue"),
            ):
                count, oldest = db.execute(sql).fetchone()
                age = 0.0 if oldest is None else max(0.0, (now - int(oldest)) / 1000)
                stats[queue] = (int(count), age)
            return stats

        return await self._run(read)

    async def inbox_counts(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            db = self._conn()
            counts: dict[str, int] = {}
            for kind, sql in (
                ("reports", "SELECT state, COUNT(*) FROM report_inbox GROUP BY state"),
                ("replies", "SELECT state, COUNT(*) FROM reply_inbox GROUP BY state"),
            ):
                for state, n in db.execute(sql):
                    counts[f"{kind}.{state}"] = int(n)
            return counts

        return await self._run(read)

    async def purge(self, before_ms: int) -> int:
        removed = 0
        for sql in PURGE.values():

            def slice_(sql: str = sql) -> int:
                db = self._conn()
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    # Old rows have the lowest ids, so this scan stops early.
                    return db.execute(sql, (before_ms, PURGE_SLICE)).rowcount

            while True:
                n = await self._run(slice_)
                removed += n
                if n < PURGE_SLICE:
                    break
        return removed

    async def acquire_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        now = _now_ms()

        def write() -> bool:
            # One statement: taken when absent, expired or already ours.
            cur = self._conn().execute(
                "INSERT INTO leases (name, holder, expires_ms) VALUES (?,?,?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " expires_ms = excluded.expires_ms"
                " WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?",
                (name, holder, now + ttl_ms, now),
            )
            return cur.rowcount == 1

        return await self._run(write)


def _row(s: ReportMatched) -> list[object]:
    """A match as MATCH_REPORTS and its companions read it."""
    report = s.report
    return [s.inbox_id, s.record_key, s.cpid, report.phone, report.status, _ms(report.sent_at)]


def _taken(
    rows: Iterable[tuple[str, str, int]], unresolved_since_ms: int, resend: frozenset[str]
) -> list[Taken]:
    accepted: dict[str, None] = {}
    unresolved: dict[str, None] = {}
    for phone, outcome, created_ms in rows:
        if outcome == RecordState.ACCEPTED:
            accepted[phone] = None
        elif created_ms >= unresolved_since_ms and phone not in resend:
            unresolved[phone] = None
    return [Taken(p, True) for p in accepted] + [
        Taken(p, False) for p in unresolved if p not in accepted
    ]


# Epoch milliseconds in the store, aware UTC datetimes out of it: the host's
# zone never enters (subtracting a naive time from _EPOCH raises).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _ms(t: datetime) -> int:
    return (t - _EPOCH) // _MS


def _private(path: Path) -> None:
    """Make the state file readable by its owner only, before SQLite opens it.

    It holds client passwords (salted) and every number sent to.  SQLite
    creates its ``-wal`` and ``-shm`` files with the database file's
    permissions, so a file created 0600 here keeps them 0600 too; files
    left by an older version are tightened.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = name.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(name, mode & 0o700)
            log.warning("state_file_made_private", path=str(name), was=oct(mode))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _at(ms: int) -> datetime:
    return _EPOCH + int(ms) * _MS
