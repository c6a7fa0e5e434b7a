"""The one connection to the state file, owned by one worker thread.

Statements never interleave and the event loop never waits for a disk
flush: every role of :class:`~proxy.store.sqlite.store.SqliteStore` hands
its work to :meth:`SqliteWriter.run`, which runs it on the thread with the
connection.  WAL mode with ``synchronous=NORMAL``: a commit is a ``write``
to the log, never an fsync; the log is copied into the database (the
fsyncs) by a thread of its own (:mod:`proxy.store.sqlite.wal_checkpoint`).

The send log's small group commits take :meth:`SqliteWriter.run_small`
instead: on the event loop's own thread when the connection is idle.  A
hand-off to the thread costs more than such a write (about 275 µs of
wall time against 80 µs for a one-send commit), and under load far more:
the thread takes the GIL back after every statement, each time waiting up
to the interpreter's switch interval while the loop runs Python, so one
commit of a few statements waited tens of milliseconds behind the sends it
was holding up (the p99 a send added at 1,000/s was hundreds of ms).
Except the write that starts the log over: it syncs the log's header (see
:mod:`proxy.store.sqlite.wal_checkpoint`), and an fsync on the loop's
thread would stop every send for its milliseconds, so that one write goes
to the thread.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import structlog

from proxy.store.sqlite.schema import migrate
from proxy.store.sqlite.wal_checkpoint import WalCheckpointer

log = structlog.get_logger("smsproxy.store")

T = TypeVar("T")
# The log is not cut back below this when it starts over: regrowing it costs
# more than the disk it holds (WRAP_FRAMES pages are about 40 MB).
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# A commit writes every page it changed to the log, whole: a send's commits
# change a few pages each (a record, its number's index entry, the quota),
# a campaign to numbers spread over the index a page for nearly every
# number.  Measured in-process, 4 KiB -> 2 KiB pages: a send's two commits
# (record, settlement) 121 -> 90 us of CPU, a send to 1000 random numbers
# 23.5 -> 18.8 ms, the same bytes per recipient (38.6 -> 37.7).  1 KiB cut
# no further and made a campaign's packed numbers (a 14 KB value) cost a
# sixth more, over the overflow pages they then take.
PAGE_SIZE = 2048
# Retention deletes in slices, each its own transaction, so a large purge
# never holds the one connection (and every send behind it) for long.
PURGE_SLICE = 5000


class SqliteWriter:
    def __init__(self, path: Path, checkpointer: WalCheckpointer | None = None) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None
        self.checkpointer = checkpointer or WalCheckpointer(path)
        self._wrap_queued = False
        # Held by whichever thread uses the connection.  Jobs handed to the
        # thread and jobs it started are counted apart, each by one thread
        # only, so the loop can tell that none is waiting without a race.
        self._using = threading.Lock()
        self._handed = 0
        self._started = 0

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self) -> None:
        """Connect, bring the schema up to date, start the checkpointer."""
        try:
            await self._call(self._connect)
        except BaseException:
            await self.close()
            raise
        # A file closed cleanly has its log all copied: the first write may start it over.
        self.checkpointer.log_copied.set()
        self.checkpointer.start()

    def _connect(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        _private(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db = db
        # Before anything is written, so a new file takes it (an existing one
        # keeps its own): see PAGE_SIZE.
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        migrate(db, self.path)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on the writer's thread, after the work queued before it."""
        return await self._call(lambda: fn(self._conn()))

    async def run_small(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` as :meth:`run`, but on the calling (event loop's)
        thread when no work is queued or running, which keeps the order.

        For a few statements that write a few rows (the send log's group
        commit): they cost less than a hand-off to the thread.  Anything
        that reads or writes many rows takes :meth:`run`.  A write that will
        start the log over (all of it copied) is made on the thread too.
        """
        if (
            not self.checkpointer.log_copied.is_set()
            and self._handed == self._started
            and self._using.acquire(blocking=False)
        ):
            try:
                result = fn(self._conn())
            finally:
                self._using.release()
            self._wrap_if_due()
            # Still a point where other tasks run: a caller writing in a loop
            # must not starve the event loop (nor the checkpoint it awaits).
            await asyncio.sleep(0)
            return result
        return await self.run(partial(self._small_on_thread, fn))

    def _small_on_thread(self, fn: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
        # Cleared before the write: a copy that finds everything copied after
        # it says so again, for the write after.
        self.checkpointer.log_copied.clear()
        return fn(db)

    async def _call(self, fn: Callable[[], T]) -> T:
        self._handed += 1
        result = await asyncio.get_running_loop().run_in_executor(self._executor, self._job, fn)
        self._wrap_if_due()
        return result

    def _job(self, fn: Callable[[], T]) -> T:
        with self._using:
            self._started += 1
            return fn()

    def _wrap_if_due(self) -> None:
        if self.checkpointer.wrap_due.is_set() and not self._wrap_queued:
            # Queued behind the writes already waiting, so only writes that
            # arrive while it runs wait for it (a millisecond or two).
            self._wrap_queued = True
            self._handed += 1
            self._executor.submit(self._job, self._wrap_log)

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
            self.checkpointer.log_copied.set()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("store is closed")
        return self._db

    async def purge(self, statements: Sequence[str], before_ms: int) -> int:
        """Run each DELETE (``?`` before, ``?`` slice size) slice by slice; rows removed."""
        removed = 0
        for sql in statements:

            def slice_(db: sqlite3.Connection, sql: str = sql) -> int:
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    # Old rows have the lowest ids, so this scan stops early.
                    return db.execute(sql, (before_ms, PURGE_SLICE)).rowcount

            while True:
                n = await self.run(slice_)
                removed += n
                if n < PURGE_SLICE:
                    break
        return removed

    async def ping(self) -> bool:
        def check(db: sqlite3.Connection) -> bool:
            return bool(db.execute("SELECT 1").fetchone() == (1,))

        try:
            return await self.run(check)
        except (sqlite3.Error, RuntimeError):
            return False

    async def close(self) -> None:
        def shut() -> None:
            self.checkpointer.stop()
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._call(shut)
        self._executor.shutdown(wait=True)


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
