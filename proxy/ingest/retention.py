"""Forget what is older than ``reports.retention_days``.

Send records (a report later than that finds no send and is kept as
unmatched), settled inbox rows (a re-push later than that would be taken
again, and then find no send), and reports and replies their clients never
fetched.  Once at start-up, then every :data:`INTERVAL_S`.
"""

from __future__ import annotations

import time

import structlog

from proxy.loops import Loop
from proxy.store.base import Store

log = structlog.get_logger("smsproxy.ingest")

INTERVAL_S = 3600.0
DAY_MS = 86_400_000


def retention(store: Store, retention_days: float, interval_s: float = INTERVAL_S) -> Loop:
    """The loop that purges; a failed purge is tried again at its next time."""

    async def purge() -> None:
        before = time.time_ns() // 1_000_000 - int(retention_days * DAY_MS)
        removed = (
            await store.sends.purge(before)
            + await store.inbox.purge(before)
            + await store.queues.purge(before)
        )
        if removed:
            log.info("retention_purged", rows=removed, retention_days=retention_days)

    return Loop("retention", purge, every_s=interval_s)
