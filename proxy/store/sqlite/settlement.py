"""Settlement in SQLite: inbox rows to client queues, one transaction a batch."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from proxy.store.epoch import to_ms
from proxy.store.settlement import (
    ReplyDelivered,
    ReplySettlement,
    ReportMatched,
    ReportRetry,
    ReportSettlement,
    Settled,
)
from proxy.store.sqlite.chunks import resolve_accepted
from proxy.store.sqlite.writer import SqliteWriter

# A batch goes in as one JSON value, as the send log's candidates do: a few
# statements a batch, not one a report.
#
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
# ?: [[inbox id, next_try_ms], ...]
RETRY_REPORTS = (
    "UPDATE report_inbox SET tries = tries + 1, next_try_ms = json_extract(b.value, '$[1]')"
    " FROM json_each(?) AS b"
    " WHERE report_inbox.id = json_extract(b.value, '$[0]') AND report_inbox.state = 'pending'"
)


class SqliteSettlement:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"<SqliteSettlement {self._writer.path}>"

    async def settle_reports(self, settlements: Sequence[ReportSettlement]) -> Settled:
        if not settlements:
            return Settled()
        ids = json.dumps([s.inbox_id for s in settlements])

        def write(db: sqlite3.Connection) -> Settled:
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
                resolve_accepted(db, [s.record_key for s in mine if isinstance(s, ReportMatched)])
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

        return await self._writer.run(write)

    async def settle_replies(self, settlements: Sequence[ReplySettlement]) -> Settled:
        def write(db: sqlite3.Connection) -> Settled:
            queued = unmatched = skipped = 0
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
                            (s.cpid, s.reply.phone, s.reply.text, to_ms(s.reply.received_at)),
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

        return await self._writer.run(write) if settlements else Settled()


def _row(s: ReportMatched) -> list[object]:
    """A match as MATCH_REPORTS and its companions read it."""
    report = s.report
    return [s.inbox_id, s.record_key, s.cpid, report.phone, report.status, to_ms(report.sent_at)]
