"""The send log in SQLite: the ``send_records`` table."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from proxy.store.sends import CandidateQuery, SendCandidate, SendRecord, SendSettlement
from proxy.store.sqlite.quotas import SqliteQuotas
from proxy.store.sqlite.writer import SqliteWriter

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
PURGE = (
    "DELETE FROM send_records WHERE id IN (SELECT id FROM send_records"
    " WHERE created_ms < ? ORDER BY id LIMIT ?)",
)


class SqliteSendLog:
    def __init__(self, writer: SqliteWriter, quotas: SqliteQuotas) -> None:
        self._writer = writer
        self._quotas = quotas

    def __repr__(self) -> str:
        return f"<SqliteSendLog {self._writer.path}>"

    async def record_sends(
        self, records: Sequence[SendRecord], settlements: Sequence[SendSettlement] = ()
    ) -> int:
        # The quota figures reserved so far go in this transaction: a send's
        # reservation is written with its in-flight records, or before them.
        quotas = self._quotas.take_unwritten()

        def write(db: sqlite3.Connection) -> int:
            first = 0
            with db:
                db.execute("BEGIN")
                SqliteQuotas.write(db, quotas)
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

        try:
            return await self._writer.run(write)
        except BaseException:
            self._quotas.unwritten_again(quotas)
            raise

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        def read(db: sqlite3.Connection) -> tuple[int, list[SendRecord]]:
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

        return await self._writer.run(read)

    async def send_candidates_many(
        self, queries: Sequence[CandidateQuery]
    ) -> list[list[SendCandidate]]:
        unique = list(dict.fromkeys(queries))
        if not unique:
            return []
        asked = json.dumps(
            [[q.phone, list(dict.fromkeys(q.vendors)), q.message_id] for q in unique]
        )

        def read(db: sqlite3.Connection) -> str:
            (answer,) = db.execute(CANDIDATES_MANY, (asked, MAX_CANDIDATES)).fetchone()
            return str(answer)

        found: list[list[SendCandidate]] = [[] for _ in unique]
        for index, records in json.loads(await self._writer.run(read)):
            candidates = [
                SendCandidate(key, cpid, vendor, mid, created, frozenset(reported))
                for key, cpid, vendor, mid, created, reported in records
            ]
            # Newest first: an aggregate does not promise its subquery's order.
            candidates.sort(key=lambda c: (c.created_ms, c.key), reverse=True)
            found[index] = candidates
        answers = dict(zip(unique, found, strict=True))
        return [list(answers[q]) for q in queries]

    async def last_sender(self, phone: str, vendors: Sequence[str] | None) -> str | None:
        names = None if vendors is None else json.dumps(list(dict.fromkeys(vendors)))

        def read(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT cpid FROM send_records WHERE phone = ? AND outcome != 'not_sent'"
                " AND (? IS NULL OR vendor IN (SELECT value FROM json_each(?)))"
                " ORDER BY created_ms DESC, id DESC LIMIT 1",
                (phone, names, names),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._writer.run(read)

    async def purge(self, before_ms: int) -> int:
        return await self._writer.purge(PURGE, before_ms)
