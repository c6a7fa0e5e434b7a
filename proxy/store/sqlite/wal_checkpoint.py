"""Checkpoints of SQLite's write-ahead log, off the writer's path.

Left to itself, SQLite checkpoints inside the commit that takes the log past
1000 pages, and that commit's two fsyncs stall every send waiting behind it:
on the benchmark's disk 0.5% of commits took over 1 ms and up to 7 ms, which
was most of the daemon's p99.  Instead, a thread with a connection of its own
copies the log into the database every ``interval_s`` while the writer goes
on.  SQLite starts the log over only when a write begins with all of it
copied, which a copy running beside a busy writer never achieves; so when
the log passes ``wrap_frames`` the writer is asked to copy the small rest
itself, between two of its writes (:meth:`proxy.store.sqlite.writer.SqliteWriter._wrap_log`).

A write that starts the log over writes the log's header and syncs it
(SQLite does, even at ``synchronous=NORMAL``): an fsync, in whichever
thread makes that write.  So a copy that finds the whole log copied, the
wrap's or one of this thread's in a quiet moment, says so in
:attr:`WalCheckpointer.log_copied`, and the writer makes its next write on
its own thread rather than the event loop's.  (A write racing the end of
this thread's copy may still make it on the loop's; the wrap's cannot.)
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

log = structlog.get_logger("smsproxy.store")

INTERVAL_S = 0.5
# 10,000 pages of 2 KiB (a new file's, see writer.PAGE_SIZE): a log of about
# 20 MB before the writer wraps it, every few seconds at a thousand sends a second.
WRAP_FRAMES = 10_000


class WalCheckpointer:
    def __init__(
        self, path: Path, *, interval_s: float = INTERVAL_S, wrap_frames: int = WRAP_FRAMES
    ) -> None:
        self.path = path
        self.interval_s = interval_s
        self.wrap_frames = wrap_frames
        # Set here, cleared by the writer once it has copied the rest.
        self.wrap_due = threading.Event()
        # Set by a copy that left nothing to copy, here or the writer's wrap:
        # the next write starts the log over.  Cleared by the writer's thread
        # before it makes that write.
        self.log_copied = threading.Event()
        self.checkpoints = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return (
            f"<WalCheckpointer {self.path} checkpoints={self.checkpoints}"
            f" wrap_due={self.wrap_due.is_set()}>"
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Blocks until a copy under way has finished: call it off the event loop."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._db is not None:
            self._db.close()
            self._db = None

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.checkpoint()

    def checkpoint(self) -> int | None:
        """One copy, as the thread makes every ``interval_s``: the log's length
        in pages, or None if it failed.  Never two at a time."""
        try:
            if self._db is None:
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # PASSIVE takes no lock a writer needs: it copies what it can and returns.
            busy, log_frames, copied = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("wal_checkpoint_failed", path=str(self.path), error=repr(exc))
            return None
        self.checkpoints += 1
        if not busy and copied == log_frames:
            self.log_copied.set()
        if log_frames >= self.wrap_frames:
            self.wrap_due.set()
        return int(log_frames)
