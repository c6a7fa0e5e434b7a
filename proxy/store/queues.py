"""Client queues: reports and replies waiting for their legacy client to fetch them.

``/qreport/`` and ``/mo/`` (:mod:`proxy.legacy`) *hold* a batch while its
answer is made, *hand it over* just before the answer is written, then
settle it: delivered, the items are gone; not (the client hung up), they go
back in line, in order.  A hold that runs out (its daemon died before it
could say) puts them back by itself; a batch handed over never comes back,
as its client may have it (a daemon killed between the hand-over and the
write, the next step on its event loop, loses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol

QueueKind = Literal["reports", "replies"]

# take_reports/take_replies hold only for the moment between two calls.
TAKE_HOLD_MS = 60_000
# A batch handed over is held until this much after its hold would have run
# out (some 30,000 years): never, but each hold still tells its items apart.
HANDED_OVER_MS = 10**15


def hold_times(until_ms: int) -> tuple[int, int]:
    """A hold's expiry, and what a hand-over made it: a receipt of either
    settles the items in either state, so a hand-over whose answer was lost
    (it may have run) leaves nothing that no receipt matches."""
    hold = until_ms - HANDED_OVER_MS if until_ms >= HANDED_OVER_MS else until_ms
    return hold, hold + HANDED_OVER_MS


@dataclass(frozen=True, slots=True)
class QueuedReport:
    phone: str
    status: int  # esms100 value: 0 unknown, 1 delivered, 2 failed
    sent_at: datetime  # aware; shown to the client in legacy.timezone


@dataclass(frozen=True, slots=True)
class QueuedReply:
    phone: str
    text: str
    received_at: datetime  # aware; shown to the client in legacy.timezone


class HoldReceipt(NamedTuple):
    keys: tuple[int, ...]
    # When the hold runs out; a later hold of the same item runs out later,
    # so this also tells the holds of one item apart.
    until_ms: int


class ClientQueues(Protocol):
    """Engines subclass it for :meth:`take_reports` and :meth:`take_replies`."""

    async def enqueue_report(self, cpid: str, report: QueuedReport) -> None: ...

    async def enqueue_reply(self, cpid: str, reply: QueuedReply) -> None: ...

    async def hold_reports(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReport]]:
        """The client's oldest reports, held for ``hold_ms``: a receipt and the reports.

        Held items are not handed out again until :meth:`settle_held` says
        they were not delivered, or the hold runs out (the daemon died
        before it could say): then they are first in line again.
        """
        ...

    async def hold_replies(
        self, cpid: str, limit: int, hold_ms: int
    ) -> tuple[HoldReceipt, list[QueuedReply]]: ...

    async def settle_held(
        self, kind: QueueKind, cpid: str, receipt: HoldReceipt, delivered: bool
    ) -> None:
        """Delivered: forget the held items.  Not: back to the client's queue, in order.

        Only items this hold still has, handed over or not: one whose hold
        ran out and that was held again belongs to that hold.
        """
        ...

    async def hand_over(self, kind: QueueKind, cpid: str, receipt: HoldReceipt) -> HoldReceipt:
        """The held batch is about to be written to its client: its hold no
        longer runs out, and a daemon that dies before settling it counts it
        delivered.  The receipt to settle it with (only items ``receipt``
        still holds are in it).  Run again, it finds what the first run
        handed over."""
        ...

    async def release_dead_holds(self) -> int:
        """At a daemon's start: put back in line what holds no running daemon
        will settle; how many items.

        A daemon killed while it made an answer leaves its batch held.  Where
        the queues are this daemon's alone (SQLite: one daemon a file), every
        hold is such a one, and its items need not wait for it to run out;
        the batches it had handed over are forgotten (delivered, or lost with
        it).  Where daemons share them (Redis), a hold may be another's
        answer being made: none is released, each runs out by itself.
        """
        ...

    async def queue_stats(self) -> dict[str, tuple[int, float]]:
        """Per queue ("reports", "replies"): items waiting for their clients, and the
        age in seconds of the oldest, counted from its message's time."""
        ...

    async def purge(self, before_ms: int) -> int:
        """Forget items whose message is older than ``before_ms`` (their clients
        never fetched them); returns how many."""
        ...

    async def take_reports(self, cpid: str, limit: int) -> list[QueuedReport]:
        """Remove and return the client's oldest reports: each is handed out once."""
        receipt, reports = await self.hold_reports(cpid, limit, TAKE_HOLD_MS)
        await self.settle_held("reports", cpid, receipt, True)
        return reports

    async def take_replies(self, cpid: str, limit: int) -> list[QueuedReply]:
        receipt, replies = await self.hold_replies(cpid, limit, TAKE_HOLD_MS)
        await self.settle_held("replies", cpid, receipt, True)
        return replies
