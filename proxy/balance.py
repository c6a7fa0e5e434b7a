"""Keep each vendor's balance known, within the vendor's own query limits.

A vendor is checked at its ``balance_interval_s`` (esms100 allows once a
minute); the answer feeds :meth:`VendorHealth.record_balance`, which is how
a drained vendor becomes routable again.

The vendor counts queries per account, not per daemon: where daemons share
a store, only the holder of the vendor's balance lease checks it (renewed
at every check, so a live holder keeps it and a dead one is replaced within
two intervals), and the figure it finds goes to the others with the rest of
what daemons share of a vendor (:mod:`proxy.vendor_knowledge`), for their
routing and their ``/qamount/``.  Alone on its store a daemon checks itself.
"""

from __future__ import annotations

import structlog

from adapters.client import VendorClient
from core.outcome import Outcome
from proxy.ingest.lease import Lease
from proxy.loops import Loop
from proxy.store.base import Store
from routing.router import VendorRuntime

log = structlog.get_logger("smsproxy.balance")


def balance_lease(
    store: Store, holder: str, vendor: VendorRuntime[VendorClient], interval_s: float
) -> Lease:
    """Two intervals plus the longest a check can take: a live holder never loses it."""
    check_s = vendor.answers_within_s or 0.0
    ttl_s = 2 * interval_s + check_s
    return Lease(store, f"balance:{vendor.name}", holder, max(1, int(ttl_s * 1000)))


def balance_watch(
    vendor: VendorRuntime[VendorClient],
    every_s: float | None = None,
    store: Store | None = None,
    holder: str | None = None,
) -> Loop | None:
    """The loop that checks ``vendor``'s balance (every ``every_s``, for simulators;
    else at the vendor's own interval); None when it has no balance query.  With a
    ``store`` daemons share (and this daemon's lease ``holder`` name), only the
    lease's holder checks."""
    client = vendor.client
    if client.adapter.build_balance(0) is None:
        return None
    interval_s = every_s or client.adapter.limits.balance_interval_s
    lease = None
    if store is not None and store.vendor_states is not None and holder is not None:
        lease = balance_lease(store, holder, vendor, interval_s)

    async def check() -> None:
        if lease is not None and not await lease.hold():
            return  # another daemon checks; its figure comes with the vendor's record
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

    return Loop(f"balance-{vendor.name}", check, every_s=interval_s, vendor=vendor.name)
