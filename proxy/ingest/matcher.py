"""Settle the inbox: reports to their send records, replies to their clients.

One task per daemon.  It wakes when something was added to the inbox (and
at least every :attr:`Matcher.tick_s`, for retries and waiting reply
parts), reads pending rows in batches, decides with the pure functions of
:mod:`.correlate` and :mod:`.parts`, and writes each batch's decisions in one
store transaction.  A crash at any point leaves rows pending, to be settled
after the restart; settling a row twice is impossible (the store skips rows
no longer pending), so nothing is lost and nothing is queued twice.

A reply goes to the client that last sent to its number through the
account it came from, else through any vendor, else to
``reports.default_client``; with none of those it is kept as unmatched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from adapters.client import wall_ms
from config.settings import ReportsSettings
from proxy.ingest import correlate, parts
from proxy.ingest.accounts import AccountBook
from proxy.ingest.observer import IngestObserver, NoIngestObserver
from proxy.loops import Loop
from proxy.store.base import Store
from proxy.store.inbox import InboxReport
from proxy.store.queues import QueuedReply
from proxy.store.sends import CandidateQuery
from proxy.store.settlement import (
    ReplyDelivered,
    ReplySettlement,
    ReplyUnmatched,
    ReportMatched,
    ReportSettlement,
    ReportUnmatched,
)

log = structlog.get_logger("smsproxy.ingest")

BATCH = 500


class Matcher:
    def __init__(
        self,
        store: Store,
        accounts: AccountBook,
        settings: ReportsSettings,
        clock_ms: Callable[[], int] = wall_ms,
        tick_s: float = 0.5,
        observer: IngestObserver | None = None,
    ) -> None:
        self.store = store
        self.observer: IngestObserver = observer or NoIngestObserver()
        self.accounts = accounts
        self.default_client = settings.default_client
        self.retry_for_ms = int(settings.unmatched_retry_s * 1000)
        self.part_wait_ms = int(settings.reply_part_wait_s * 1000)
        self.tick_s = tick_s
        self._clock_ms = clock_ms
        self.loop = Loop("matcher", self.settle_due, every_s=tick_s)
        # Counters since start, for repr and tests; the store has the totals.
        self.reports_queued = 0
        self.duplicates = 0
        self.unmatched = 0
        self.replies_queued = 0
        self.replies_unmatched = 0

    def __repr__(self) -> str:
        return (
            f"<Matcher reports={self.reports_queued} duplicates={self.duplicates} "
            f"unmatched={self.unmatched} replies={self.replies_queued} "
            f"replies_unmatched={self.replies_unmatched}>"
        )

    def wake(self) -> None:
        self.loop.wake()

    async def settle_due(self) -> None:
        """Settle batch after batch, until one is not full."""
        while await self.settle_once():
            pass

    async def settle_once(self) -> bool:
        """Settle what is due; True when a full batch was read and more may wait."""
        reports = await self._settle_reports()
        replies = await self._settle_replies()
        return reports >= BATCH or replies >= BATCH

    async def _settle_reports(self) -> int:
        now = self._clock_ms()
        rows = await self.store.inbox.pending_reports(now, BATCH)
        if not rows:
            return 0
        # One store call for the batch: a call per report was most of the cost.
        found = await self.store.sends.send_candidates_many(
            [CandidateQuery(self._vendors(r.account), r.phone, r.message_id) for r in rows]
        )
        taken: set[tuple[int, int]] = set()
        settlements: list[ReportSettlement] = []
        # Counted once a batch: a metric's labels looked up a report were a
        # tenth of the matcher's CPU.
        matched: Counter[tuple[str, int]] = Counter()
        for row, candidates in zip(rows, found, strict=True):
            decision = correlate.settle(row, candidates, taken, now, self.retry_for_ms)
            if isinstance(decision, ReportMatched):
                taken.add((decision.record_key, row.status))
                matched[row.account, row.status] += 1
            elif isinstance(decision, ReportUnmatched):
                self._log_unmatched(row)
                self.observer.report_unmatched(row.account)
            settlements.append(decision)
        for (account, status), count in matched.items():
            self.observer.report_matched(account, status, count)
        settled = await self.store.settlement.settle_reports(settlements)
        self.reports_queued += settled.queued
        self.duplicates += settled.duplicates
        self.unmatched += settled.unmatched
        if settled.queued or settled.duplicates or settled.unmatched:
            log.info(
                "reports_settled",
                queued=settled.queued,
                duplicates=settled.duplicates,
                unmatched=settled.unmatched,
                retried=settled.retried,
            )
        return len(rows)

    def _vendors(self, account_name: str) -> tuple[str, ...]:
        account = self.accounts.named(account_name)
        return account.vendors if account is not None else (account_name,)

    def _log_unmatched(self, row: InboxReport) -> None:
        log.warning(
            "report_unmatched",
            vendor=row.account,
            message_id=row.message_id,
            raw_status=row.raw_status,
        )

    async def _settle_replies(self) -> int:
        now = self._clock_ms()
        rows = await self.store.inbox.pending_replies(BATCH)
        if not rows:
            return 0
        settlements: list[ReplySettlement] = []
        for joined in parts.assemble(rows, now, self.part_wait_ms):
            first = joined.first
            ids = tuple(r.id for r in joined.rows)
            cpid = await self._client_of(first.account, first.phone)
            if cpid is None:
                log.warning("reply_unmatched", vendor=first.account)
                settlements.append(ReplyUnmatched(ids))
                continue
            if not joined.complete:
                log.warning("reply_parts_missing", vendor=first.account, parts=len(ids))
            times = [r.sent_ms for r in joined.rows if r.sent_ms is not None]
            at = min(times) if times else first.received_ms
            reply = QueuedReply(first.phone, joined.text, datetime.fromtimestamp(at / 1000, UTC))
            settlements.append(ReplyDelivered(ids, cpid, reply))
            self.observer.reply_delivered(first.account)
        settled = await self.store.settlement.settle_replies(settlements)
        self.replies_queued += settled.queued
        self.replies_unmatched += settled.unmatched
        if settled.queued or settled.unmatched:
            log.info("replies_settled", queued=settled.queued, unmatched=settled.unmatched)
        # Parts still waiting are not progress: reading them again at once would spin.
        return len(rows) if settlements else 0

    async def _client_of(self, account_name: str, phone: str) -> str | None:
        account = self.accounts.named(account_name)
        if account is not None:
            cpid = await self.store.sends.last_sender(phone, account.vendors)
            if cpid is not None:
                return cpid
        return await self.store.sends.last_sender(phone, None) or self.default_client
