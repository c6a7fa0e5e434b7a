"""What one daemon learns of a vendor that the others sharing its store must know.

Routing knows nothing of Redis: :class:`~routing.health.VendorHealth` tells
a :class:`HealthListener` which :class:`Part` of its state changed, and the
daemon shares it; what another daemon saw comes back through
:meth:`~routing.health.VendorHealth.observe_learned`,
:meth:`~routing.health.VendorHealth.observe_hold` and
:meth:`~routing.health.VendorHealth.observe_balance`.  Times travel as seconds
left, not instants: daemons' monotonic clocks have nothing in common, and
the store measures "until" on one clock of its own.

When a vendor's time out ends, one daemon's probe decides for all: the
health asks its :class:`ProbeTurns` before it lets a probe through, and a
daemon that did not get the turn keeps the vendor out until the prober's
outcome comes (recovered, or out again), or the turn ends unanswered (the
prober died) and it may take the turn itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Part(enum.Enum):
    """The parts of a vendor's state, shared apart so none overwrites another."""

    LEARNED = "learned"  # from outcomes and balance checks: drained, backed off, ejected, routable
    HOLD = "hold"  # an operator's drain or enable
    # The figure of the last balance check, which one daemon makes for all: the
    # vendor counts its balance queries per account, not per daemon.
    BALANCE = "balance"


@dataclass(frozen=True, slots=True)
class Learned:
    state: str  # a VendorState value
    reason: str | None
    left_s: float  # until it is tried again; 0 when routable
    balance_segments: int | None
    ejections: int  # ejections so far: the next one lasts longer


@dataclass(frozen=True, slots=True)
class Seen:
    """Which daemon saw it, and when (Unix ms, on the store's clock)."""

    daemon: str
    at_ms: int


class HealthListener(Protocol):
    def changed(self, vendor: str, part: Part) -> None:
        """Called as the change happens: must not block (the daemon queues it)."""
        ...


class ProbeTurns(Protocol):
    """Where daemons share a store, one at a time probes a vendor whose time out is over."""

    async def take_probe_turn(self, vendor: str, ttl_s: float) -> bool:
        """True when this daemon may probe ``vendor`` now: then no other may for
        ``ttl_s`` (the probe's longest, and its outcome's way to the others)."""
        ...
