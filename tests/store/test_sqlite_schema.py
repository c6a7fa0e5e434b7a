"""The state file's schema version: a new file starts at the latest, an older one
is brought up to it with its rows, a newer one is refused."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from proxy.store.base import StoreUnavailable
from proxy.store.queues import QueuedReply
from proxy.store.sqlite import schema
from proxy.store.sqlite.store import SqliteStore
from tests.store.contract import T0, at, candidates, record, taken

# Made by the code before versions, with a row in every table: see its header.
UNVERSIONED = Path(__file__).parent / "fixtures" / "unversioned.sql"
LATEST = len(schema.MIGRATIONS)

Shape = dict[str, object]


def shape(path: Path, *, with_text: bool = True) -> Shape:
    """Every table's columns and every index, as SQLite describes them."""
    with closing(sqlite3.connect(path)) as db:
        master = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        found: Shape = {}
        for kind, name, table, sql in master.fetchall():
            if kind == "table":
                columns = db.execute(f"PRAGMA table_info({name})").fetchall()
                found[name] = (columns, sql if with_text else None)
            else:
                found[name] = (kind, table, sql)
        return found


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        return int(version)


def unversioned_file(path: Path, *changes: str) -> Path:
    """The fixture as a state file, with ``changes`` made to it."""
    with closing(sqlite3.connect(path)) as db:
        db.executescript(UNVERSIONED.read_text("utf-8"))
        for change in changes:
            db.execute(change)
        db.commit()
    assert user_version(path) == 0
    return path


async def new_file(path: Path) -> Path:
    store = await SqliteStore.open(path)
    await store.close()
    return path


async def test_a_new_file_starts_at_the_latest_version(tmp_path: Path) -> None:
    fresh = await new_file(tmp_path / "new.sqlite3")
    assert user_version(fresh) == LATEST == 3
    assert "send_chunks" in shape(fresh)


async def test_version_1_is_the_schema_of_before_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    first = await new_file(tmp_path / "v1.sqlite3")
    assert user_version(first) == 1
    # Version 1 is the schema as the code before versions made it, to the letter.
    before = unversioned_file(tmp_path / "before.sqlite3")
    assert shape(first) == shape(before)


async def test_a_file_from_before_versions_is_adopted_with_every_row(tmp_path: Path) -> None:
    path = unversioned_file(tmp_path / "state.sqlite3")
    store = await SqliteStore.open(path)
    try:
        assert (await store.sends.unresolved(0, 10))[0] == 1  # the ambiguous record
        (found,) = await candidates(store, ["v1"], "13800138000", "m0")
        assert (found.cpid, found.reported) == ("acme", frozenset({1}))
        phones = ["13800138000", "13800138001", "13800138002", "13800138003"]
        assert await taken(store, phones, now=T0 + 1) == {
            "13800138000": "accepted",
            "13800138001": "accepted",
            "13800138002": "unresolved",
        }
        inbox = store.inbox
        assert [r.key for r in await inbox.pending_reports(T0 + 100, 10)] == ["k-pending"]
        due = await inbox.pending_reports(T0 + 60_000, 10)
        assert [r.key for r in due] == ["k-pending", "k-retry"]
        assert [r.key for r in await inbox.unmatched_reports(10)] == ["k-none"]
        assert [r.key for r in await inbox.pending_replies(10)] == ["r4"]
        assert await inbox.inbox_counts() == {
            "reports.matched": 1,
            "reports.duplicate": 1,
            "reports.unmatched": 1,
            "reports.pending": 2,
            "replies.delivered": 2,
            "replies.unmatched": 1,
            "replies.pending": 1,
        }
        queues = store.queues
        # The first report was held as good as forever: still held.
        assert [r.phone for r in await queues.take_reports("acme", 10)] == ["13800138001"]
        assert await queues.take_replies("acme", 10) == [
            QueuedReply("13800138000", "hi there", at(T0 + 19))
        ]
        assert [r.phone for r in await queues.take_reports("globex", 10)] == ["13900139000"]
        assert [r.text for r in await queues.take_replies("globex", 10)] == ["回复"]
        assert (await store.passwords.password_digest("acme") or "").startswith("sha256$")
        assert await store.passwords.password_digest("globex") == "E10ADC3949BA59ABBE56E057F20F883E"
        assert await store.quotas.quota_used("acme") == 7
        assert not await store.leases.acquire_lease("poll:v1:reports", "new-daemon", 1000)
        assert await store.leases.acquire_lease("poll:v1:reports", "old-daemon", 1000)
        assert await store.sends.record_sends([record("13700137000")]) == 6  # keys go on
    finally:
        await store.close()
    assert user_version(path) == LATEST
    assert shape(path) == shape(await new_file(tmp_path / "new.sqlite3"))


async def test_an_older_shape_from_before_versions_is_brought_up_to_date(tmp_path: Path) -> None:
    """Before holds and leases, with indexes since retired (each once the schema)."""
    path = unversioned_file(
        tmp_path / "state.sqlite3",
        "DROP INDEX send_records_unresolved",
        "CREATE INDEX send_records_retry ON send_records (cpid, text_digest, created_ms)",
        "CREATE INDEX send_records_resend ON send_records (cpid, text_digest, phone, created_ms)",
        "CREATE INDEX send_records_message ON send_records (vendor, message_id)",
        "ALTER TABLE report_queue DROP COLUMN held_until",
        "ALTER TABLE reply_queue DROP COLUMN held_until",
        "DROP TABLE leases",
    )
    store = await SqliteStore.open(path)
    try:
        phones = [r.phone for r in await store.queues.take_reports("acme", 10)]
        assert phones == ["13800138000", "13800138001"]  # nothing held then
        assert (await store.sends.unresolved(0, 10))[0] == 1
        assert await store.leases.acquire_lease("poll:v1:reports", "new-daemon", 1000)
    finally:
        await store.close()
    assert user_version(path) == LATEST
    # ADD COLUMN writes the table's text its own way: the columns are what count.
    fresh = await new_file(tmp_path / "new.sqlite3")
    assert shape(path, with_text=False) == shape(fresh, with_text=False)


async def test_a_file_of_a_newer_smsproxy_is_refused_untouched(tmp_path: Path) -> None:
    path = await new_file(tmp_path / "state.sqlite3")
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    before = shape(path)
    with pytest.raises(StoreUnavailable) as info:
        await SqliteStore.open(path)
    assert str(path) in str(info.value)
    assert f"schema version {LATEST + 1}" in str(info.value)
    assert user_version(path) == LATEST + 1
    assert shape(path) == before


async def test_a_migration_that_fails_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    path = unversioned_file(tmp_path / "state.sqlite3")
    before = shape(path)
    with pytest.raises(sqlite3.OperationalError):
        await SqliteStore.open(path)
    # All of it or none: not even version 1, whose step came first.
    assert user_version(path) == 0
    assert shape(path) == before


async def test_a_version_1_file_gets_its_send_records_as_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state file of the smsproxy before chunks: every record keeps its key (the
    inbox's matched reports name them), and the send log goes on from it."""
    path = unversioned_file(tmp_path / "state.sqlite3")
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        await new_file(path)
    assert user_version(path) == 1
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT * FROM send_records ORDER BY id").fetchall()
    store = await SqliteStore.open(path)
    try:
        (found,) = await candidates(store, ["v1"], "13800138000", "m0")
        assert (found.key, found.reported) == (1, frozenset({1}))
        assert (await store.sends.unresolved(0, 10))[0] == 1
        assert await store.sends.record_sends([record("13700137000")]) == 6
    finally:
        await store.close()
    assert user_version(path) == LATEST
    with closing(sqlite3.connect(path)) as db:
        # The view an operator queries reads as the table did.
        assert db.execute("SELECT * FROM send_records WHERE id < 6 ORDER BY id").fetchall() == rows


async def test_a_version_2_file_gets_its_numbers_as_integers_and_packed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state file of the smsproxy before packed numbers: every record keeps its
    key and number, each found by its number as before, whatever its shape."""
    path = unversioned_file(tmp_path / "state.sqlite3")
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
        await new_file(path)
    assert user_version(path) == 2
    numbers = ["13600136000", "+8613600136001", "13600136002"]
    with closing(sqlite3.connect(path)) as db:
        # A chunk as version 2 wrote one: its numbers JSON, send_to's TEXT.
        db.execute(
            "INSERT INTO send_chunks VALUES (6, 3, 's3', 'acme', 'v1', 'ambiguous', 'timeout',"
            " 'd3', 1, ?, ?, NULL)",
            (T0 + 10, json.dumps(numbers)),
        )
        db.execute(
            "INSERT INTO send_to SELECT value, 6 + key FROM json_each(?)", (json.dumps(numbers),)
        )
        db.commit()
        rows = db.execute("SELECT * FROM send_records ORDER BY id").fetchall()
        stored = db.execute("SELECT DISTINCT typeof(phone) FROM send_to").fetchall()
        assert stored == [("text",)]
    store = await SqliteStore.open(path)
    try:
        (found,) = await candidates(store, ["v1"], "13800138000", "m0")
        assert (found.key, found.reported) == (1, frozenset({1}))
        for key, phone in enumerate(numbers, start=6):
            assert [c.key for c in await candidates(store, ["v1"], phone, None)] == [key]
            assert await store.sends.last_sender(phone, ["v1"]) == "acme"
        assert await taken(store, numbers, now=T0 + 11, digest="d3") == dict.fromkeys(
            numbers, "unresolved"
        )
        assert (await store.sends.unresolved(0, 10))[0] == 4
        assert await store.sends.record_sends([record("13700137000")]) == 9
    finally:
        await store.close()
    assert user_version(path) == LATEST
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT * FROM send_records WHERE id < 9 ORDER BY id").fetchall() == rows
        kinds = db.execute("SELECT key, typeof(phone) FROM send_to ORDER BY key").fetchall()
        assert kinds == [(k, "text" if k == 7 else "integer") for k in range(1, 10)]
        chunks = db.execute("SELECT id, typeof(phones) FROM send_chunks ORDER BY id").fetchall()
        assert chunks == [(k, "blob") for k in range(1, 6)] + [(6, "text"), (9, "blob")]
    assert shape(path) == shape(await new_file(tmp_path / "new.sqlite3"))
