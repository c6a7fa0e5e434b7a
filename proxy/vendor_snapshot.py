"""What one vendor's state is at one instant, for the people watching it.

The admin API (``GET /admin/vendors``) shows it and the metrics collector
exports it; both read the snapshot made here, so they cannot disagree about
a vendor.  It is made in the daemon's layer because it joins what routing
learnt (health, price) with what only the vendor's client knows (its kind);
routing itself decides from the lighter :class:`~routing.plan.VendorView`.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.client import VendorClient
from routing.health import VendorState
from routing.knowledge import Seen
from routing.router import Router, VendorRuntime


@dataclass(frozen=True, slots=True)
class VendorSnapshot:
    name: str
    kind: str
    state: VendorState
    reason: str | None  # why it is not routable
    seconds_left: float  # until it is tried again; inf while an operator holds it
    held: bool  # drained by an operator
    balance_segments: int | None  # None: not known
    price_per_segment: float
    consecutive_failures: int
    latency_s: float | None  # moving average; None before the first answer
    ejections_by_reason: tuple[tuple[str, int], ...]  # since the health was made
    # Where daemons share a store: which daemon saw the state it shares now, and
    # which daemon's operator last drained or enabled it; None: this daemon, alone.
    seen: Seen | None = None
    hold_seen: Seen | None = None
    balance_seen: Seen | None = None  # which daemon's check found the balance


def vendor_snapshot(vendor: VendorRuntime[VendorClient]) -> VendorSnapshot:
    h = vendor.health
    state = h.state  # first: reading it may end a back-off, which seconds_left sees
    return VendorSnapshot(
        vendor.name,
        vendor.client.adapter.kind,
        state,
        h.reason,
        h.seconds_left(),
        h.held,
        h.balance_segments,
        vendor.price_per_segment,
        h.consecutive_failures,
        h.latency_ewma_s,
        tuple(h.ejections_by_reason.items()),
        h.learned_seen,
        h.hold_seen,
        h.balance_seen,
    )


def snapshot(router: Router[VendorClient]) -> tuple[VendorSnapshot, ...]:
    """Every vendor's state now, as the admin API shows it and the metrics export it."""
    return tuple(vendor_snapshot(v) for v in router.vendors.values())
