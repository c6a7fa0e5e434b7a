"""The SQLite log is copied off the writer's path and still kept small."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from pathlib import Path

from proxy.store.claims import ClaimWindow, Taken
from proxy.store.sends import SendRecord
from proxy.store.sqlite.store import SqliteStore
from proxy.store.sqlite.wal_checkpoint import WalCheckpointer
from proxy.store.sqlite.writer import PAGE_SIZE, SqliteWriter

T0 = 1_700_000_000_000


def record(n: int) -> SendRecord:
    return SendRecord(
        f"send{n}", "acme", "v1", f"138{n:08d}", "accepted", "0", None, "d1", 1, T0 + n
    )


def log_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        count: int = conn.execute("SELECT count(*) FROM send_records").fetchone()[0]
    return count


async def test_the_log_starts_over_while_writes_never_pause(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    # Copies made by the test, one at a time, instead of by the timer: the
    # writer goes on writing while each runs, as a busy daemon's does.
    checkpointer = WalCheckpointer(db, interval_s=3600, wrap_frames=100)
    store = await SqliteStore.open(db, checkpointer)
    lengths: list[int] = []
    n = 0
    try:
        for _ in range(20):
            for _ in range(100):
                await store.sends.record_sends([record(n)])
                n += 1
            copy = asyncio.ensure_future(asyncio.to_thread(checkpointer.checkpoint))
            while not copy.done() or n % 50:
                await store.sends.record_sends([record(n)])
                n += 1
            length = await copy
            assert length is not None
            lengths.append(length)
    finally:
        await store.close()
    # A copy beside a writer never finds the log all copied, so SQLite alone
    # would never start it over: without the writer's wrap it only grows.
    restarts = sum(later < earlier for earlier, later in itertools.pairwise(lengths))
    assert restarts >= 5, lengths
    assert rows(db) == n


async def test_the_checkpointer_copies_the_log_into_the_database(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    checkpointer = WalCheckpointer(db, interval_s=0.01)
    store = await SqliteStore.open(db, checkpointer)
    try:
        before = db.stat().st_size
        await store.sends.record_sends([record(n) for n in range(2000)])
        # The writer no longer checkpoints: the records reach the database
        # file itself only through the checkpointer.
        for _ in range(300):
            if checkpointer.checkpoints >= 1 and db.stat().st_size > before + 64 * 1024:
                break
            await asyncio.sleep(0.01)
        assert checkpointer.checkpoints >= 1
        assert db.stat().st_size > before + 64 * 1024
    finally:
        await store.close()


async def test_close_stops_the_checkpointer_and_leaves_everything_in_the_database(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.sqlite3"
    checkpointer = WalCheckpointer(db, interval_s=0.01)
    store = await SqliteStore.open(db, checkpointer)
    await store.sends.record_sends([record(n) for n in range(50)])
    await store.close()
    assert not [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]
    assert log_size(db) == 0
    assert rows(db) == 50
    reopened = await SqliteStore.open(db)
    try:
        window = ClaimWindow(T0, 600_000, 60_000)
        found = await reopened.claims.claim_recipients("acme", "d1", "s", ["13800000007"], window)
        assert found == [Taken("13800000007", True)]
    finally:
        await reopened.close()


async def test_a_commit_never_copies_the_log_itself(tmp_path: Path) -> None:
    # SQLite's own checkpoint would run inside the commit crossing 1000 pages
    # and make the sends waiting behind it wait for two fsyncs.
    db = tmp_path / "state.sqlite3"
    store = await SqliteStore.open(db, WalCheckpointer(db, interval_s=3600))
    try:
        before = db.stat().st_size
        for n in range(0, 6000, 20):
            await store.sends.record_sends([record(n + i) for i in range(20)])
        assert log_size(db) > 1000 * PAGE_SIZE  # past SQLite's own checkpoint point
        assert db.stat().st_size == before
    finally:
        await store.close()
    assert rows(db) == 6000


def log_salt(db: Path) -> bytes:
    """The log header's salts: SQLite draws new ones each time it starts the log over."""
    with open(db.with_name(db.name + "-wal"), "rb") as log:
        return log.read(24)[16:24]


async def test_the_write_that_starts_the_log_over_is_not_made_on_the_event_loop(
    tmp_path: Path,
) -> None:
    # That write syncs the log's header (SQLite does, even at
    # synchronous=NORMAL): on the loop's thread, an fsync stopping every send.
    db = tmp_path / "state.sqlite3"
    checkpointer = WalCheckpointer(db, interval_s=3600)
    writer = SqliteWriter(db, checkpointer)
    await writer.open()
    loop_thread = threading.current_thread()
    writes: list[tuple[bool, bool]] = []  # (on the loop's thread, started the log over)

    def write(conn: sqlite3.Connection) -> None:
        before = log_salt(db)
        with conn:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO leases VALUES (?, 'me', 0)", (f"lease{len(writes)}",))
        writes.append((threading.current_thread() is loop_thread, log_salt(db) != before))

    try:
        for _ in range(3):
            for _ in range(5):
                await writer.run_small(write)
            # A copy with the writer idle leaves nothing to copy: the next write starts over.
            assert await asyncio.to_thread(checkpointer.checkpoint)
        await writer.run_small(write)
    finally:
        await writer.close()
    restarts = [on_loop for on_loop, restarted in writes if restarted]
    assert len(restarts) >= 3, writes
    assert not any(restarts), writes
    # The others stay on the loop's thread: a hand-off costs more than such a write.
    assert sum(on_loop for on_loop, restarted in writes if not restarted) >= 10, writes
