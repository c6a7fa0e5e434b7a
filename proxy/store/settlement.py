"""Settlement: inbox rows matched to their clients, in one transaction each batch.

The matcher (:mod:`proxy.ingest.matcher`) decides; the store settles.  A
report is tied to its send record and queued for that record's client,
retried while the record may still be on its way to disk, or kept as
unmatched for inspection; a reply (its parts joined) is queued for the
client it belongs to.  Settling moves a row out of the pending state and
queues in one transaction, so a crash between the two can neither lose nor
double a report.  A report from the vendor also resolves its record to
accepted: the vendor had the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from proxy.store.queues import QueuedReply, QueuedReport


@dataclass(frozen=True, slots=True)
class ReportMatched:
    inbox_id: int
    record_key: int
    cpid: str
    report: QueuedReport


@dataclass(frozen=True, slots=True)
class ReportRetry:
    inbox_id: int
    next_try_ms: int


@dataclass(frozen=True, slots=True)
class ReportUnmatched:
    inbox_id: int


ReportSettlement = ReportMatched | ReportRetry | ReportUnmatched


@dataclass(frozen=True, slots=True)
class ReplyDelivered:
    inbox_ids: tuple[int, ...]  # every part of the reply
    cpid: str
    reply: QueuedReply


@dataclass(frozen=True, slots=True)
class ReplyUnmatched:
    inbox_ids: tuple[int, ...]


ReplySettlement = ReplyDelivered | ReplyUnmatched


@dataclass(frozen=True, slots=True)
class Settled:
    queued: int = 0  # reports or replies put on a client's queue
    duplicates: int = 0  # reports whose record already had this status
    retried: int = 0
    unmatched: int = 0
    skipped: int = 0  # rows no longer pending (another matcher settled them)


class Settlement(Protocol):
    async def settle_reports(self, settlements: Sequence[ReportSettlement]) -> Settled:
        """Settle inbox reports in one transaction.

        A match queues the report for the client unless the record already
        has a report of that status (then the row is a duplicate).  Rows no
        longer pending are skipped, so settling twice queues once.
        """
        ...

    async def settle_replies(self, settlements: Sequence[ReplySettlement]) -> Settled:
        """Settle inbox replies in one transaction; a reply whose parts are not
        all still pending is skipped whole."""
        ...
