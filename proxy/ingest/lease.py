"""Which daemon polls a vendor account, when several share one store.

A vendor hands each report out once and allows so many polls a minute per
account, not per daemon: two daemons polling one account would be safe (the
inbox drops what it already has) but would poll twice as often as the vendor
allows.  So a poller polls only while it holds the account's lease in the
store.  The holder renews it at every poll; a lease lasts two intervals plus
the longest a poll can take, so a live holder never loses it between polls,
and a dead one is replaced that long after its last poll.  Alone on its
store, a daemon always holds its leases.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from proxy.store.base import Store


def new_holder(name: str | None = None) -> str:
    """This process's name on its leases: readable in the store, and unique.

    ``name`` (``state.daemon_name``; default host:pid) then a colon and 8 hex
    digits of its own: two processes never share one, even with one name.
    """
    return f"{name or default_name()}:{uuid.uuid4().hex[:8]}"


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def name_of(holder: str) -> str:
    """The daemon's name in a holder :func:`new_holder` made."""
    return holder.rpartition(":")[0] or holder


@dataclass(frozen=True, slots=True)
class Lease:
    store: Store
    name: str
    holder: str
    ttl_ms: int

    async def hold(self) -> bool:
        """Take or renew the lease; False while another daemon holds it."""
        return await self.store.leases.acquire_lease(self.name, self.holder, self.ttl_ms)


def poll_lease(
    store: Store, holder: str, account: str, what: str, interval_s: float, poll_s: float
) -> Lease:
    ttl_s = 2 * interval_s + poll_s
    return Lease(store, f"poll:{account}:{what}", holder, max(1, int(ttl_s * 1000)))
