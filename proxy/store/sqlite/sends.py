"""The send log in SQLite: ``send_chunks`` (a row an attempt) and ``send_to`` (by number).

A chunk holds what its recipients share once and their numbers packed, so
a 1000-number attempt is one row and one statement that indexes its numbers,
not a thousand rows of repeated columns.  Recipient ``i`` of the chunk of key
``k`` is the record of key ``k + i``; the chunk of a record key is the one
with the largest key not above it (a seek on the table's own B-tree).  A
chunk's recipients share one outcome: a settlement or a report that gives
some of them another splits it first (:mod:`proxy.store.sqlite.chunks`).
Numbers are stored as :mod:`proxy.store.sqlite.phones` says: every number
a statement takes or gives goes through it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from proxy.store.sends import (
    CandidateQuery,
    SendCandidate,
    SendChunk,
    SendRecord,
    SendSettlement,
    size,
)
from proxy.store.sqlite import phones
from proxy.store.sqlite.chunks import set_message_ids, split_at
from proxy.store.sqlite.quotas import SqliteQuotas
from proxy.store.sqlite.writer import SqliteWriter

MAX_CANDIDATES = 100
# A chunk row: (key, recipients, send_id, cpid, vendor, outcome, vendor_code,
# text_digest, segments, created_ms, phones (packed), message ids (JSON) or None).
INSERT_CHUNK = "INSERT INTO send_chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
# Every number of the chunks just written, in C: no Python row a recipient.
# ?1: the batch's first key; ?2: the JSON array of the batch's stored numbers,
# in key order (the batch's keys follow one another).
INDEX_NUMBERS = "INSERT INTO send_to (phone, key) SELECT value, ?1 + key FROM json_each(?2)"
# The matcher's statements take and give a whole batch as one JSON value, so
# a batch is a few statements and one row each, not a statement or a row per
# report: the connection's thread takes the GIL back after every step, and
# with the event loop busy sending each of those waits its turn.
#
# ?1: [[phone, [vendor, ...], message id or null], ...].  One row: per query,
# [its index, [[key, cpid, vendor, message id, created_ms, [reported status,
# ...]], ...]], at most ?2 records a query.  With an id, a record without one
# is a candidate too: an ambiguous attempt never learnt its id.  A record's
# chunk is the one of the largest key not above the record's.
CANDIDATES_MANY = """
SELECT json_group_array(json_array(q.key, json((
  SELECT json_group_array(json_array(s.key, s.cpid, s.vendor, s.mid, s.created_ms,
    json((SELECT json_group_array(i.status) FROM report_inbox AS i WHERE i.record_id = s.key))))
  FROM (
    SELECT t.key, c.cpid, c.vendor, c.created_ms,
      json_extract(c.message_ids, '$[' || (t.key - c.id) || ']') AS mid
    FROM send_to AS t
    JOIN send_chunks AS c ON c.id = (SELECT max(id) FROM send_chunks WHERE id <= t.key)
    WHERE t.phone = json_extract(q.value, '$[0]')
      AND c.vendor IN (SELECT value FROM json_each(q.value, '$[1]'))
      AND c.outcome != 'not_sent'
      AND (json_extract(q.value, '$[2]') IS NULL OR mid IS NULL
           OR mid = json_extract(q.value, '$[2]'))
    ORDER BY c.created_ms DESC, t.key DESC LIMIT ?2) AS s))))
FROM json_each(?1) AS q
"""
LAST_SENDER = """
SELECT c.cpid FROM send_to AS t
JOIN send_chunks AS c ON c.id = (SELECT max(id) FROM send_chunks WHERE id <= t.key)
WHERE t.phone = ?1 AND c.outcome != 'not_sent'
  AND (?2 IS NULL OR c.vendor IN (SELECT value FROM json_each(?2)))
ORDER BY c.created_ms DESC, t.key DESC LIMIT 1
"""
UNRESOLVED_COUNT = (
    "SELECT coalesce(sum(n), 0) FROM send_chunks"
    " WHERE outcome IN ('in_flight', 'ambiguous') AND created_ms >= ?"
)
UNRESOLVED_CHUNKS = (
    "SELECT send_id, cpid, vendor, phones, outcome, vendor_code, message_ids,"
    " text_digest, segments, created_ms FROM send_chunks"
    " WHERE outcome IN ('in_flight', 'ambiguous') AND created_ms >= ?"
    " ORDER BY created_ms DESC, id DESC"
)
# A group commit of at most this many recipients is written on the event loop.
INLINE_RECIPIENTS = 64
# Retention deletes a slice of chunks (about this many recipients) a transaction.
PURGE_RECIPIENTS = 5000


class SqliteSendLog:
    def __init__(self, writer: SqliteWriter, quotas: SqliteQuotas) -> None:
        self._writer = writer
        self._quotas = quotas
        # The key the next chunk takes; 0 until read from the file.  Only this
        # writer adds chunks, and a split or a purge never takes the newest key.
        self._next_key = 0

    def __repr__(self) -> str:
        return f"<SqliteSendLog {self._writer.path}>"

    async def record_sends(
        self,
        records: Sequence[SendRecord | SendChunk],
        settlements: Sequence[SendSettlement] = (),
    ) -> int:
        rows, numbers = _chunk_rows(records)
        sizes = [size(r) for r in records]
        # The quota figures reserved so far go in this transaction: a send's
        # reservation is written with its in-flight records, or before them.
        quotas = self._quotas.take_unwritten()

        def write(db: sqlite3.Connection) -> int:
            first = 0
            with db:
                db.execute("BEGIN")
                SqliteQuotas.write(db, quotas)
                # Settlements first: theirs are records of earlier writes.
                _settle_all(db, settlements)
                if rows:
                    # One writer, one transaction: keys go on from the newest chunk's,
                    # known after the first write (a statement a commit saved).
                    first = key = self._next_key or self._read_next_key(db)
                    for row, n in zip(rows, sizes, strict=True):
                        row[0] = key
                        key += n
                    db.executemany(INSERT_CHUNK, rows)
                    db.execute(INDEX_NUMBERS, (first, numbers))
            if rows:
                self._next_key = key  # committed
            return first

        # A few sends' records are a few rows: cheaper written on the event
        # loop than handed to the writer's thread.  A campaign's thousand
        # numbers go to the thread, the loop sending meanwhile.
        small = sum(sizes) <= INLINE_RECIPIENTS
        try:
            return await (self._writer.run_small if small else self._writer.run)(write)
        except BaseException:
            self._quotas.unwritten_again(quotas)
            self._next_key = 0  # read again: this write may have been rolled back
            raise

    @staticmethod
    def _read_next_key(db: sqlite3.Connection) -> int:
        last = db.execute("SELECT id + n FROM send_chunks ORDER BY id DESC LIMIT 1").fetchone()
        return 1 if last is None else int(last[0])

    async def unresolved(self, since_ms: int, limit: int) -> tuple[int, list[SendRecord]]:
        def read(db: sqlite3.Connection) -> tuple[int, list[SendRecord]]:
            (count,) = db.execute(UNRESOLVED_COUNT, (since_ms,)).fetchone()
            records: list[SendRecord] = []
            for row in db.execute(UNRESOLVED_CHUNKS, (since_ms,)):
                if len(records) >= limit:
                    break
                records += _chunk(row).records()[::-1]
            return int(count), records[:limit]

        return await self._writer.run(read)

    async def send_candidates_many(
        self, queries: Sequence[CandidateQuery]
    ) -> list[list[SendCandidate]]:
        unique = list(dict.fromkeys(queries))
        if not unique:
            return []
        asked = json.dumps(
            [[phones.stored(q.phone), list(dict.fromkeys(q.vendors)), q.message_id] for q in unique]
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
        number = phones.stored(phone)

        def read(db: sqlite3.Connection) -> str | None:
            row = db.execute(LAST_SENDER, (number, names)).fetchone()
            return None if row is None else str(row[0])

        return await self._writer.run(read)

    async def purge(self, before_ms: int) -> int:
        removed = 0
        while True:
            n = await self._writer.run(lambda db: _purge_slice(db, before_ms))
            removed += n
            if not n:
                return removed


def _chunk_rows(entries: Sequence[SendRecord | SendChunk]) -> tuple[list[list[object]], str]:
    """The ``send_chunks`` rows of entries (their keys to be filled in), and the
    JSON array of their numbers as ``send_to`` holds them, in key order."""
    rows: list[list[object]] = []
    stored: list[str] = []
    for entry in entries:
        row, numbers = _chunk_row(entry)
        rows.append(row)
        if len(numbers) > 2:  # not []
            stored.append(numbers[1:-1])
    return rows, f"[{','.join(stored)}]"


def _chunk_row(entry: SendRecord | SendChunk) -> tuple[list[object], str]:
    if isinstance(entry, SendChunk):
        packed = phones.pack(entry.phones)
        ids = entry.message_ids
        mids = None if ids is None or not any(ids) else json.dumps(ids)
        n = len(entry.phones)
    else:
        packed = phones.pack((entry.phone,))
        mids = None if entry.message_id is None else json.dumps((entry.message_id,))
        n = 1
    row: list[object] = [
        0,
        n,
        entry.send_id,
        entry.cpid,
        entry.vendor,
        entry.outcome,
        entry.vendor_code,
        entry.text_digest,
        entry.segments,
        entry.created_ms,
        packed.column,
        mids,
    ]
    return row, packed.stored


def _chunk(row: tuple[object, ...]) -> SendChunk:
    send_id, cpid, vendor, numbers, outcome, code, mids, digest, segments, created = row
    return SendChunk(
        str(send_id),
        str(cpid),
        str(vendor),
        tuple(phones.unpack(numbers if isinstance(numbers, bytes) else str(numbers))),
        str(outcome),
        str(code),
        None if mids is None else tuple(json.loads(str(mids))),
        str(digest),
        int(segments),  # type: ignore[call-overload]
        int(created),  # type: ignore[call-overload]
    )


def _settle_all(db: sqlite3.Connection, settlements: Sequence[SendSettlement]) -> None:
    """Apply settlements to records still in flight.  Each names one attempt, the
    chunk it was written as: those are one statement for the batch; a
    settlement naming part of a chunk (or several) splits them first."""
    if not settlements:
        return
    # The send path settles the whole chunk it wrote, still in flight: one
    # statement, and its count of changes says so.  Otherwise (a report split
    # or resolved a chunk meanwhile) the slower way below; settling twice
    # changes nothing, as only records still in flight change.
    before = db.total_changes
    db.executemany(
        "UPDATE send_chunks SET outcome = ?, vendor_code = ?"
        " WHERE id = ? AND n = ? AND outcome = 'in_flight'",
        [(s.outcome, s.vendor_code, s.first_key, s.size) for s in settlements],
    )
    whole_only = db.total_changes - before == len(settlements)
    if whole_only and all(s.message_ids is None for s in settlements):
        return
    if not whole_only:
        _settle_parts(db, settlements)
    _settle_ids(db, settlements)


def _settle_parts(db: sqlite3.Connection, settlements: Sequence[SendSettlement]) -> None:
    firsts = json.dumps([s.first_key for s in settlements])
    sizes = dict(
        db.execute(
            "SELECT id, n FROM send_chunks WHERE id IN (SELECT value FROM json_each(?))",
            (firsts,),
        ).fetchall()
    )
    whole: list[tuple[str, str, int, int]] = []
    for s in settlements:
        if sizes.get(s.first_key) != s.size:
            split_at(db, s.first_key)
            split_at(db, s.first_key + s.size)
        whole.append((s.outcome, s.vendor_code, s.first_key, s.first_key + s.size - 1))
    db.executemany(
        "UPDATE send_chunks SET outcome = ?, vendor_code = ?"
        " WHERE id BETWEEN ? AND ? AND outcome = 'in_flight'",
        whole,
    )


def _settle_ids(db: sqlite3.Connection, settlements: Sequence[SendSettlement]) -> None:
    ids = {
        s.first_key + i: mid
        for s in settlements
        if s.message_ids is not None
        for i, mid in enumerate(s.message_ids)
        if mid is not None
    }
    if ids:
        set_message_ids(db, ids)


def _purge_slice(db: sqlite3.Connection, before_ms: int) -> int:
    """Forget the oldest chunks created before ``before_ms``, about
    :data:`PURGE_RECIPIENTS` recipients; how many recipients."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        # Oldest first, stopping at the first chunk inside the retention: the
        # keys follow time, so this reads only what it deletes.
        rows = db.execute("SELECT id, n, created_ms, phones FROM send_chunks ORDER BY id")
        chosen: list[tuple[int, str]] = []
        recipients = 0
        for key, n, created_ms, numbers in rows:
            if created_ms >= before_ms or (chosen and recipients + n > PURGE_RECIPIENTS):
                break
            chosen.append((key, phones.stored_json(phones.unpack(numbers))))
            recipients += n
        if not chosen:
            return 0
        db.executemany(
            "DELETE FROM send_to WHERE (phone, key) IN (SELECT value, ?1 + key FROM json_each(?2))",
            chosen,
        )
        db.execute(
            "DELETE FROM send_chunks WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps([key for key, _ in chosen]),),
        )
        return recipients
