"""Send chunks cut where their recipients part ways.

A chunk's recipients share one outcome.  The send path settles a whole
attempt, which is a whole chunk; but a delivery report resolves one
recipient of an ambiguous attempt, and a settlement may in principle name
part of a chunk.  Those split the chunk at the keys where it must part:
the recipients keep their keys (``send_to`` and ``report_inbox.record_id``
stay right), and the rest of the chunk keeps its outcome.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from proxy.store.sqlite import phones

# The second part of a split chunk: what it shares with the first, copied.
SPLIT_OFF = (
    "INSERT INTO send_chunks (id, n, send_id, cpid, vendor, outcome, vendor_code,"
    " text_digest, segments, created_ms, phones, message_ids)"
    " SELECT ?, ?, send_id, cpid, vendor, outcome, vendor_code, text_digest, segments,"
    " created_ms, ?, ? FROM send_chunks WHERE id = ?"
)


def chunk_of(db: sqlite3.Connection, key: int) -> tuple[int, int] | None:
    """The (first key, size) of the chunk holding record ``key``, if any."""
    row = db.execute(
        "SELECT id, n FROM send_chunks WHERE id <= ? ORDER BY id DESC LIMIT 1", (key,)
    ).fetchone()
    if row is None or key >= row[0] + row[1]:
        return None
    return int(row[0]), int(row[1])


def split_at(db: sqlite3.Connection, key: int) -> None:
    """Make ``key`` the first key of a chunk, when a chunk holds it past its first."""
    found = chunk_of(db, key)
    if found is None or found[0] == key:
        return
    first, n = found
    cut = key - first
    numbers, mids = db.execute(
        "SELECT phones, message_ids FROM send_chunks WHERE id = ?", (first,)
    ).fetchone()
    ids = None if mids is None else json.loads(mids)
    db.execute(
        SPLIT_OFF,
        (key, n - cut, phones.cut(numbers, cut, None), _ids(ids, cut, None), first),
    )
    db.execute(
        "UPDATE send_chunks SET n = ?, phones = ?, message_ids = ? WHERE id = ?",
        (cut, phones.cut(numbers, 0, cut), _ids(ids, 0, cut), first),
    )


def set_message_ids(db: sqlite3.Connection, ids: Mapping[int, str]) -> None:
    """Give records (by key) their vendor's message ids."""
    by_chunk: dict[int, dict[int, str]] = {}
    for key, mid in ids.items():
        found = chunk_of(db, key)
        if found is not None:
            by_chunk.setdefault(found[0], {})[key - found[0]] = mid
    for first, places in by_chunk.items():
        n, mids = db.execute(
            "SELECT n, message_ids FROM send_chunks WHERE id = ?", (first,)
        ).fetchone()
        current = [None] * n if mids is None else json.loads(mids)
        for place, mid in places.items():
            current[place] = mid
        db.execute(
            "UPDATE send_chunks SET message_ids = ? WHERE id = ?", (json.dumps(current), first)
        )


def resolve_accepted(db: sqlite3.Connection, keys: list[int]) -> None:
    """Records a vendor reported on, still unresolved: accepted (the vendor had them)."""
    unresolved = db.execute(
        "SELECT k.value FROM json_each(?) AS k JOIN send_chunks AS c"
        " ON c.id = (SELECT max(id) FROM send_chunks WHERE id <= k.value)"
        " WHERE k.value < c.id + c.n AND c.outcome IN ('in_flight', 'ambiguous')",
        (json.dumps(keys),),
    ).fetchall()
    for (key,) in unresolved:
        split_at(db, key)
        split_at(db, key + 1)
        db.execute(
            "UPDATE send_chunks SET outcome = 'accepted' WHERE id = ?"
            " AND outcome IN ('in_flight', 'ambiguous')",
            (key,),
        )


def _ids(ids: list[str | None] | None, start: int, stop: int | None) -> str | None:
    part = None if ids is None else ids[start:stop]
    return None if part is None or not any(part) else json.dumps(part)
