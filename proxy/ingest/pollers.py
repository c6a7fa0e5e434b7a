"""Poll the vendors that are polled: one task per account and kind of record.

Each poller asks at the interval its adapter declares (``limits``:
esms100's document allows reports every 5 s and replies once a minute;
sms.cn and c123 give none, and we take 10 s), measured from the start of
one poll to the start of the next, so a slow answer never makes the next
poll come early; a refused or failed poll waits its interval like any
other.  Vendors that push (chuanglan, sms10000) have no poll and get no
poller.

What a poll returns the vendor will not give again, so the poller keeps
the raw answer in the :class:`~proxy.ingest.spool.PollSpool` before it even
parses it, hands it to the inbox before it polls anew, retrying the store if
it must; and on shutdown a poll in flight is let finish and be stored rather
than cancelled half-way.

With a :class:`~proxy.ingest.lease.Lease`, a poller polls only while it
holds it: of several daemons sharing one store, one polls each account.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog

from adapters.base import PollResult
from adapters.client import VendorClient
from core.outcome import Outcome
from core.send import HttpResponse
from proxy.ingest.accounts import Account
from proxy.ingest.lease import Lease
from proxy.ingest.spool import PollSpool
from proxy.tasks import cancel_all

log = structlog.get_logger("smsproxy.ingest")

What = Literal["reports", "replies"]
Sink = Callable[[Account, PollResult], Awaitable[int]]

STORE_RETRY_S = (0.2, 1.0, 5.0)


class Poller:
    def __init__(
        self,
        account: Account,
        client: VendorClient,
        what: What,
        interval_s: float,
        sink: Sink,
        lease: Lease | None = None,
        spool: PollSpool | None = None,
    ) -> None:
        self.account = account
        self.client = client
        self.what = what
        self.interval_s = interval_s
        self._sink = sink
        self.lease = lease
        self.spool = spool
        self._stop = asyncio.Event()
        self.polls = 0
        self.standby = 0  # intervals another daemon held the lease
        self.received = 0
        self.last_outcome: str | None = None

    def __repr__(self) -> str:
        return (
            f"<Poller {self.account.name} {self.what} every {self.interval_s}s "
            f"polls={self.polls} received={self.received} last={self.last_outcome} "
            f"standby={self.standby}>"
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # a bug must not end the poller
                log.exception("poll_failed", vendor=self.account.name, what=self.what)
            wait = started + self.interval_s - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, wait))

    async def poll_once(self) -> None:
        if self.lease is not None and not await self.lease.hold():
            self.standby += 1
            return
        fetched = await self.client.fetch_poll(self.what)
        if fetched is None:
            return
        request, answer = fetched
        answered = time.monotonic()
        kept = False
        if self.spool is not None and isinstance(answer, HttpResponse) and answer.body:
            kept = self.spool.keep(self.account.name, request, answer)
        kept_ms = round((time.monotonic() - answered) * 1000, 3)
        # Not in a finally: a poll cancelled before its rows are stored (shutdown)
        # leaves its answer kept, for the next start.
        stored = await self._take(self.client.read_poll(request, answer))
        if kept and self.spool is not None:
            self.spool.stored()
        if stored:
            # kept_ms: from the answer to the spool, what a daemon killed in it
            # loses; stored_ms: to the store's commit, when the spool is emptied.
            log.info(
                "poll_stored",
                vendor=self.account.name,
                what=self.what,
                items=stored,
                kept_ms=kept_ms,
                stored_ms=round((time.monotonic() - answered) * 1000, 2),
                spooled=bool(kept),
            )

    async def _take(self, result: PollResult) -> int:
        """Store what the poll gave; how many items it had."""
        self.polls += 1
        self.last_outcome = result.outcome.value
        if result.outcome is not Outcome.ACCEPTED:
            log.warning(
                "poll_refused",
                vendor=self.account.name,
                what=self.what,
                outcome=result.outcome.value,
                code=result.raw_code,
            )
            return 0
        if result.malformed:
            log.warning("poll_malformed", vendor=self.account.name, what=self.what)
        items = len(result.reports) + len(result.replies)
        if items:
            await self._hand_over(result)
        return items

    async def _hand_over(self, result: PollResult) -> None:
        attempt = 0
        while True:
            try:
                new = await self._sink(self.account, result)
                self.received += new
                return
            except Exception:
                # The vendor will not hand these out again: keep trying.
                delay = STORE_RETRY_S[min(attempt, len(STORE_RETRY_S) - 1)]
                attempt += 1
                log.exception("poll_store_failed", vendor=self.account.name, retry_in_s=delay)
                await asyncio.sleep(delay)


def intervals(client: VendorClient, override_s: float | None) -> dict[What, float]:
    """The kinds of record the vendor is polled for, and how often."""
    limits = client.adapter.limits
    found: dict[What, float] = {}
    if client.adapter.build_report_poll(0) is not None and limits.report_poll_interval_s:
        found["reports"] = limits.report_poll_interval_s
    if client.adapter.build_reply_poll(0) is not None and limits.reply_poll_interval_s:
        found["replies"] = limits.reply_poll_interval_s
    if override_s is not None:
        found = dict.fromkeys(found, override_s)
    return found


class PollerSet:
    """Every poller of the daemon, started and stopped together."""

    def __init__(self, pollers: list[Poller]) -> None:
        self.pollers = pollers
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"<PollerSet {self.pollers!r}>"

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(p.run(), name=f"poll-{p.account.name}-{p.what}")
            for p in self.pollers
        ]

    async def stop(self, grace_s: float) -> None:
        for p in self.pollers:
            p.stop()
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=grace_s)
        await cancel_all(late)
        self._tasks = []
