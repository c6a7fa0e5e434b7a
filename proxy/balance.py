"""Keep each vendor's balance known, within the vendor's own query limits.

A vendor is checked at its ``balance_interval_s`` (esms100 allows once a
minute); the answer feeds :meth:`VendorHealth.record_balance`, which is how
a drained vendor becomes routable again.
"""

from __future__ import annotations

import structlog

from adapters.client import VendorClient
from core.outcome import Outcome
from proxy.loops import Loop
from routing.router import VendorRuntime

log = structlog.get_logger("smsproxy.balance")


def balance_watch(vendor: VendorRuntime[VendorClient], every_s: float | None = None) -> Loop | None:
    """The loop that checks ``vendor``'s balance (every ``every_s``, for simulators;
    else at the vendor's own interval); None when it has no balance query."""
    client = vendor.client
    if client.adapter.build_balance(0) is None:
        return None

    async def check() -> None:
        result = await client.balance()
        if result is None:
            return
        if result.outcome is Outcome.ACCEPTED:
            vendor.health.record_balance(result.segments)
        else:
            log.warning(
                "balance_refused",
                vendor=vendor.name,
                outcome=result.outcome.value,
                code=result.raw_code,
            )

    return Loop(
        f"balance-{vendor.name}",
        check,
        every_s=every_s or client.adapter.limits.balance_interval_s,
        vendor=vendor.name,
    )
