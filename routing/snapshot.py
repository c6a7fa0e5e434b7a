"""What one vendor's state is at one instant, for the people watching it.

The admin API (``GET /admin/vendors``) shows it and the metrics collector
exports it; both read the same snapshot, made in one place
(:meth:`routing.router.VendorRuntime.snapshot`), so they cannot disagree
about a vendor.  Routing itself decides from the lighter
:class:`~routing.plan.VendorView`.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.health import VendorState


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
