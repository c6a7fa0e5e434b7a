"""Forget what is older than ``reports.retention_days``.

Send records (a report later than that finds no send and is kept as
unmatched), settled inbox rows (a re-push later than that would be taken
again, and then find no send), and reports and replies their clients never
fetched.  Once at start-up, then every :data:`INTERVAL_S`.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from proxy.store.base import Store

log = structlog.get_logger("smsproxy.ingest")

INTERVAL_S = 3600.0
DAY_MS = 86_400_000


async def purge_forever(
    store: Store, retention_days: float, interval_s: float = INTERVAL_S
) -> None:
    while True:
        try:
            before = time.time_ns() // 1_000_000 - int(retention_days * DAY_MS)
            removed = (
                await store.sends.purge(before)
                + await store.inbox.purge(before)
                + await store.queues.purge(before)
            )
            if removed:
                log.info("retention_purged", rows=removed, retention_days=retention_days)
        except Exception:  # a failed purge is retried at the next interval
            log.exception("retention_failed")
        await asyncio.sleep(interval_s)
