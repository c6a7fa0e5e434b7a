"""Group commit for send records: many sends, one write.

Every recipient is on disk as *in flight* at a vendor before its chunk
leaves, and its outcome is written within milliseconds of the vendor's
answer (the client may hear ``0`` meanwhile: see :mod:`proxy.ledger`); a write per send
would cap throughput at the disk's commit rate.  Attempts hand their
records (or their settlements) to the recorder and await a future; one
flusher writes all that arrived while the previous write ran, then
resolves their futures.  Under light load an attempt waits for one write
of its own; under heavy load hundreds share one.

A settlement nobody waits for before answering rides with the next write
of records, or is written :data:`SETTLE_AFTER_S` after it came when none
comes: at a thousand sends a second every send then costs one commit
instead of two.  Only the send's locks wait for it (a retry of the same
numbers waits those milliseconds more).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from proxy.store.base import Store
from proxy.store.sends import SendChunk, SendRecord, SendSettlement, size

log = structlog.get_logger("smsproxy.recorder")

# The longest a settlement waits for records to share a write with.  At
# 1,000 sends/s the next send's records come within a millisecond or so;
# a daemon killed meanwhile leaves the attempt in flight, which it is until
# its report comes.
SETTLE_AFTER_S = 0.002


class SendRecorder:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[SendRecord | SendChunk] = []
        self._keys = 0  # keys the pending entries take
        self._settlements: list[SendSettlement] = []
        # Each waiter with the offset of its first record in the batch.
        self._waiters: list[tuple[asyncio.Future[int], int]] = []
        self._wake = asyncio.Event()
        self._later: asyncio.TimerHandle | None = None  # a wake for settlements alone
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.flushes = 0
        self.records = 0

    def __repr__(self) -> str:
        return (
            f"<SendRecorder pending={len(self._pending)} flushes={self.flushes} "
            f"records={self.records}>"
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="send-recorder")

    async def stop(self) -> None:
        """Write what is pending, then stop."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None

    async def record(self, entry: SendRecord | SendChunk) -> int:
        """Write ``entry``; the key of its first record (the others follow it)."""
        # Not shielded: a send cancelled here cancels only its waiter, which the
        # flusher then skips; its records are written all the same.
        return await self._submit((entry,), ())

    def settle(self, settlement: SendSettlement, *, at_once: bool = False) -> asyncio.Future[int]:
        """Queue ``settlement`` for the next write; the future resolves once it is written.

        Writes are in order: anything recorded after it is written with it or later.
        Unless ``at_once`` (the caller awaits it), that write may wait up to
        :data:`SETTLE_AFTER_S` for records to share it.
        """
        return self._submit((), (settlement,), at_once)

    def _submit(
        self,
        records: Sequence[SendRecord | SendChunk],
        settlements: Sequence[SendSettlement],
        at_once: bool = True,
    ) -> asyncio.Future[int]:
        if self._task is None:
            raise RuntimeError("recorder is not running")
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((waiter, self._keys))
        self._pending += records
        for entry in records:
            self._keys += size(entry)
        self._settlements += settlements
        if at_once:
            self._wake.set()
        elif self._later is None:
            self._later = waiter.get_loop().call_later(SETTLE_AFTER_S, self._wake.set)
        return waiter

    async def _run(self) -> None:
        while not (self._closing and not self._waiters):
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if not self._waiters:
            return
        batch, settlements, waiters = self._pending, self._settlements, self._waiters
        keys = self._keys
        self._pending, self._settlements, self._waiters, self._keys = [], [], [], 0
        try:
            first = await self._store.sends.record_sends(batch, settlements)
        except Exception as exc:
            log.error("send_records_write_failed", records=len(batch), error=repr(exc))
            for w, _ in waiters:
                if not w.done():
                    w.set_exception(exc)
            return
        self.flushes += 1
        self.records += keys
        for w, offset in waiters:
            if not w.done():
                w.set_result(first + offset)
