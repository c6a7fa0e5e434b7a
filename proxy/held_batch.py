"""A batch of reports or replies a ``/qreport/`` or ``/mo/`` answer takes
out of its client's queue: held while the answer is made, handed over just
before it is written, settled after (:mod:`proxy.store.queues`)."""

from __future__ import annotations

import structlog

from proxy.store.queues import ClientQueues, HoldReceipt, QueueKind

log = structlog.get_logger("smsproxy.legacy")


class HeldBatch:
    """The :class:`~proxy.http.messages.HandOut` of a legacy answer."""

    __slots__ = ("_cpid", "_kind", "_queues", "_receipt")

    def __init__(self, queues: ClientQueues, kind: QueueKind, cpid: str, held: HoldReceipt):
        self._queues = queues
        self._kind = kind
        self._cpid = cpid
        self._receipt = held

    def __repr__(self) -> str:
        return f"<HeldBatch {self._kind} items={len(self._receipt.keys)}>"

    async def writing(self) -> None:
        try:
            self._receipt = await self._queues.hand_over(self._kind, self._cpid, self._receipt)
        except Exception as exc:
            # Written all the same: still held, the batch comes again once its
            # hold runs out, should this daemon die before it is settled.
            log.error(
                "batch_not_handed_over",
                kind=self._kind,
                items=len(self._receipt.keys),
                error=repr(exc),
            )

    async def settle(self, written: bool) -> None:
        receipt = self._receipt
        try:
            await self._queues.settle_held(self._kind, self._cpid, receipt, written)
        except Exception as exc:
            # Held, they go back in line once the hold runs out (handed over,
            # never: counted delivered, as they were written).
            log.error("held_not_settled", kind=self._kind, items=len(receipt.keys), error=repr(exc))
        if not written:
            log.info("batch_returned", kind=self._kind, items=len(receipt.keys))
