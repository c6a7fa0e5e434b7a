"""Keep each vendor's balance known, within the vendor's own query limits.

A vendor is checked at its ``balance_interval_s`` (esms100 allows once a
minute); the answer feeds :meth:`VendorHealth.record_balance`, which is how
a drained vendor becomes routable again.
"""

from __future__ import annotations

import asyncio

import structlog

from adapters.client import VendorClient
from core.outcome import Outcome
from routing.router import VendorRuntime

log = structlog.get_logger("smsproxy.balance")


async def watch_balance(vendor: VendorRuntime[VendorClient]) -> None:
    interval = vendor.client.adapter.limits.balance_interval_s
    while True:
        try:
            result = await vendor.client.balance()
        except Exception:  # a bug must not end the watch
            log.exception("balance_check_failed", vendor=vendor.name)
            result = None
        if result is None and vendor.client.adapter.build_balance(0) is None:
            return  # the vendor has no balance query
        if result is not None:
            if result.outcome is Outcome.ACCEPTED:
                vendor.health.record_balance(result.segments)
            else:
                log.warning(
                    "balance_refused",
                    vendor=vendor.name,
                    outcome=result.outcome.value,
                    code=result.raw_code,
                )
        await asyncio.sleep(interval)
