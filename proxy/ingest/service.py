"""The ingest side of the daemon, held on the legacy application.

:class:`Ingest` owns the account book, the pollers, the matcher and the
retention task, and is the one door into the inbox: pollers and push
receivers hand it what a vendor gave, it writes it to the store and wakes
the matcher.  It polls and reads pushes through the engine's vendor clients
(:mod:`proxy.vendors`), the very ones routing sends through.
"""

from __future__ import annotations

import structlog

from adapters.base import Adapter, PollResult, Reply, Report
from adapters.client import wall_ms
from config.settings import Settings
from proxy.ingest.accounts import Account, AccountBook
from proxy.ingest.inbox import reply_rows, report_rows
from proxy.ingest.lease import new_holder, poll_lease
from proxy.ingest.matcher import Matcher
from proxy.ingest.observer import IngestObserver
from proxy.ingest.pollers import Poller, PollerSet, intervals
from proxy.ingest.retention import retention
from proxy.ingest.spool import PollSpool
from proxy.loops import cancel_all, start_all
from proxy.store.base import Store
from proxy.vendors import VendorClients

log = structlog.get_logger("smsproxy.ingest")


class Ingest:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clients: VendorClients,
        observer: IngestObserver | None = None,
        holder: str | None = None,
        spool: PollSpool | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        # Kept across reloads (see Engine.build): a new name would wait out its own lease.
        self.holder = holder or new_holder(settings.state.daemon_name)
        self.accounts = AccountBook(settings.vendors)
        self.matcher = Matcher(store, self.accounts, settings.reports, observer=observer)
        # Every configured vendor may push, enabled or not: reports of what it
        # sent before it was disabled still come.
        self.clients = clients
        self.pollers = PollerSet(self._pollers())
        self._loops = [self.matcher.loop, retention(store, settings.reports.retention_days)]

    def __repr__(self) -> str:
        return f"<Ingest {self.accounts!r} {self.matcher!r} {self.pollers!r}>"

    def _pollers(self) -> list[Poller]:
        by_name = {vs.name: vs for vs in self.settings.vendors}
        pollers: list[Poller] = []
        for account in self.accounts.accounts:
            if not account.enabled:
                continue  # a disabled account is not polled: its vendor keeps the reports
            vs = by_name[account.enabled[0]]
            client = self.clients[vs.name]
            override = self.settings.reports.poll_interval_override_s
            poll_s = vs.timeout_s  # the whole exchange, connecting included
            for what, every in intervals(client, override).items():
                lease = poll_lease(self.store, self.holder, account.name, what, every, poll_s)
                pollers.append(
                    Poller(account, client, what, every, self.take_poll, lease, self.spool)
                )
        return pollers

    def push_target(self, vendor: str) -> tuple[Account, Adapter] | None:
        account = self.accounts.of_vendor(vendor)
        client = self.clients.get(vendor)
        if account is None or client is None:
            return None
        return account, client.adapter

    async def take(
        self, account: Account, reports: tuple[Report, ...], replies: tuple[Reply, ...]
    ) -> int:
        """Write what a vendor handed over to the inbox; returns how many were new.

        When this returns, the records are on disk: only then may the vendor
        be answered.
        """
        now = wall_ms()
        new = 0
        if reports:
            new += await self.store.inbox.add_reports(report_rows(account.name, reports, now))
        if replies:
            new += await self.store.inbox.add_replies(reply_rows(account.name, replies, now))
        known = len(reports) + len(replies) - new
        # One push is one report: info-level lines here would be one per recipient.
        log.debug("received", vendor=account.name, reports=len(reports), replies=len(replies))
        if known:
            log.info("duplicates_dropped", vendor=account.name, count=known)
        if new:
            self.matcher.wake()
        return new

    async def take_poll(self, account: Account, result: PollResult) -> int:
        return await self.take(account, result.reports, result.replies)

    async def take_left_over(self) -> int:
        """Store the poll answers a daemon that died had kept but not stored; how many."""
        if self.spool is None:
            return 0
        left = self.spool.left_over()
        for kept in left:
            account = self.accounts.named(kept.account)
            client = None if account is None else self.clients.get(account.vendors[0])
            if account is None or client is None:
                log.warning("spooled_poll_dropped", vendor=kept.account, why="not in the config")
                continue
            try:
                result = client.adapter.parse_poll(kept.request, kept.response)
            except Exception:
                log.exception("spooled_poll_unreadable", vendor=kept.account)
                continue
            new = await self.take(account, result.reports, result.replies)
            log.info("spooled_poll_stored", vendor=kept.account, new=new)
        self.spool.clear()
        return len(left)

    def start(self) -> None:
        start_all(self._loops)
        self.pollers.start()

    async def stop(self) -> None:
        # A poll in flight gets its vendor time-out to finish and be stored.
        grace = max((vs.timeout_s for vs in self.settings.vendors), default=0)
        await self.pollers.stop(grace_s=min(grace, self.settings.shutdown.grace_s) + 1.0)
        await cancel_all(self._loops)
