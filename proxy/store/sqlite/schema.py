"""The state file's schema, and the migrations that bring an older file up to it.

The file's version is SQLite's ``user_version``: how many of
:data:`MIGRATIONS` it has had.  Opening a file applies those it has not,
in order, in one transaction with the new version, so a file is never half
migrated.  A file of a newer smsproxy is refused, not guessed at.

A change to the schema is a new migration at the end of the list, never an
edit of one already released: files in the field have had them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from proxy.store.base import StoreUnavailable
from proxy.store.sqlite import phones

log = structlog.get_logger("smsproxy.store")

# Every table and index as of the first schema version.  IF NOT EXISTS
# because it also adopts a file from before versions (user_version 0, its
# tables there already): see _adopt_unversioned.
SCHEMA_1 = """
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
-- Reports and resends are both looked up by number (a number has few
-- records): every index more is one more B-tree insert per recipient.
CREATE INDEX IF NOT EXISTS send_records_phone ON send_records (phone, created_ms);
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

# Indexes files from before versions may still have: each was one more B-tree
# insert per recipient, and no query needs it now.
_RETIRED_INDEXES = ("send_records_retry", "send_records_resend", "send_records_message")
_QUEUES = ("report_queue", "reply_queue")


def _version_1(db: sqlite3.Connection) -> None:
    _adopt_unversioned(db)
    for statement in _statements(SCHEMA_1):
        db.execute(statement)


def _adopt_unversioned(db: sqlite3.Connection) -> None:
    """What a file from before versions lacks beside SCHEMA_1's tables.

    Until then the schema was applied whole at every start, its changes as
    DROP INDEX IF EXISTS and an added column, so such a file can be any of
    its shapes; tables it lacks, SCHEMA_1 adds.
    """
    for index in _RETIRED_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {index}")
    for table in _QUEUES:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if columns and "held_until" not in columns:  # a file from before holds
            db.execute(f"ALTER TABLE {table} ADD COLUMN held_until INTEGER")


# The send log as chunks (issue 16): a row per attempt, its numbers packed,
# instead of a row per recipient with everything the attempt's recipients
# share repeated (126 bytes of state a recipient, a B-tree insert each into
# the table and the phone index).  A recipient is its chunk's key plus its
# place in the chunk: the keys report_inbox.record_id holds stay valid.
SCHEMA_2 = """
CREATE TABLE send_chunks (
    id INTEGER PRIMARY KEY,  -- the first recipient's key; the others follow it
    n INTEGER NOT NULL,  -- recipients
    send_id TEXT NOT NULL,
    cpid TEXT NOT NULL,
    vendor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    vendor_code TEXT NOT NULL,
    text_digest TEXT NOT NULL,
    segments INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    phones TEXT NOT NULL,  -- a JSON array, in key order
    message_ids TEXT  -- a JSON array beside phones (null where none), or NULL for none
);
-- Reports, retries and last senders find records by number; nothing else
-- needs a per-recipient index.  WITHOUT ROWID: the key is the row.
CREATE TABLE send_to (
    phone NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (phone, key)
) WITHOUT ROWID;
CREATE INDEX send_chunks_unresolved ON send_chunks (created_ms)
    WHERE outcome IN ('in_flight', 'ambiguous');
INSERT INTO send_chunks
    SELECT id, 1, send_id, cpid, vendor, outcome, vendor_code, text_digest, segments,
        created_ms, json_array(phone),
        CASE WHEN message_id IS NULL THEN NULL ELSE json_array(message_id) END
    FROM send_records ORDER BY id;
INSERT INTO send_to SELECT phone, id FROM send_records ORDER BY phone, id;
DROP TABLE send_records;
-- What the send log was, row by row: for an operator's sqlite3, and the tests.
CREATE VIEW send_records AS
    SELECT c.id + j.key AS id, c.send_id, c.cpid, c.vendor, j.value AS phone, c.outcome,
        c.vendor_code, json_extract(c.message_ids, '$[' || j.key || ']') AS message_id,
        c.text_digest, c.segments, c.created_ms
    FROM send_chunks AS c, json_each(c.phones) AS j;
"""


def _version_2(db: sqlite3.Connection) -> None:
    for statement in _statements(SCHEMA_2):
        db.execute(statement)


# The send log's numbers as integers and packed digits (issue 16): see
# proxy.store.sqlite.phones, whose rules the two smsproxy_ functions are.
# send_to keeps its table (its definition names no type, so it keeps
# integers and TEXT as given) and gets its rows again in order, so its pages
# come out full.  A chunk's phones: its numbers' digits one after another,
# four bits each (hex() shows them; a last 0 pads an odd count), or a JSON
# array of strings where a number is not 11 digits.
SCHEMA_3 = """
DROP VIEW send_records;
CREATE TEMP TABLE send_to_v3 AS SELECT smsproxy_stored(phone) AS phone, key FROM send_to;
DELETE FROM send_to;
INSERT INTO send_to SELECT phone, key FROM temp.send_to_v3 ORDER BY phone, key;
DROP TABLE temp.send_to_v3;
UPDATE send_chunks SET phones = smsproxy_packed(phones) WHERE typeof(phones) = 'text';
-- What the send log was, row by row: for an operator's sqlite3, and the tests.
-- Record j of a packed chunk: the hex() of the 6 bytes holding its digits.
CREATE VIEW send_records AS
    SELECT c.id + j.key AS id, c.send_id, c.cpid, c.vendor,
        CASE WHEN typeof(c.phones) = 'blob'
            THEN substr(hex(substr(c.phones, 11 * j.key / 2 + 1, 6)), 11 * j.key % 2 + 1, 11)
            ELSE j.value END AS phone,
        c.outcome, c.vendor_code,
        json_extract(c.message_ids, '$[' || j.key || ']') AS message_id,
        c.text_digest, c.segments, c.created_ms
    FROM send_chunks AS c, json_each(CASE WHEN typeof(c.phones) = 'blob'
        -- [0,0,...] with n elements, for json_each to number them
        THEN '[' || substr(replace(hex(zeroblob(c.n)), '00', '0,'), 1, 2 * c.n - 1) || ']'
        ELSE c.phones END) AS j;
"""


def _version_3(db: sqlite3.Connection) -> None:
    # The rules of the Python that writes the file, not a copy of them in SQL.
    db.create_function("smsproxy_stored", 1, _stored, deterministic=True)
    db.create_function("smsproxy_packed", 1, _packed, deterministic=True)
    for statement in _statements(SCHEMA_3):
        db.execute(statement)


def _stored(phone: int | str) -> int | str:
    return phones.stored(phone) if isinstance(phone, str) else phone


def _packed(column: bytes | str) -> bytes | str:
    return phones.pack(json.loads(column)).column if isinstance(column, str) else column


# MIGRATIONS[n] takes a file from version n to n + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _version_1,
    _version_2,
    _version_3,
)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file up to the latest version; refuse one newer than that."""
    latest = len(MIGRATIONS)
    db.execute("BEGIN IMMEDIATE")  # a second process opening the file waits here
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > latest:
            raise StoreUnavailable(
                f"state file {path} has schema version {version}, newer than this"
                f" smsproxy's {latest}: run the smsproxy that wrote it"
            )
        existed = _has_tables(db)
        for step in MIGRATIONS[version:]:
            step(db)
        if version < latest:
            db.execute(f"PRAGMA user_version = {latest}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if existed and version < latest:
        log.info("state_schema_migrated", path=str(path), version=latest, was=version)


def _has_tables(db: sqlite3.Connection) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").fetchone()
        is not None
    )


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script`` one by one, split where SQLite's own tokenizer
    says a statement ends: ``execute`` takes one at a time, and ``executescript``
    would commit the migration's transaction first."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        raise ValueError(f"an unfinished statement: {pending.strip()[:60]!r}")
