"""Vendor knowledge shared by the daemons of one Redis: none rediscovers a dead vendor.

Each vendor's health tells this daemon's :class:`SharedVendorKnowledge` when
its state changes (:mod:`routing.knowledge`); it writes the change to the
store at once (only changes, and a burst of them for one vendor is one
write), and the store announces it to every daemon, which takes it as if it
had learnt it itself: a vendor out of balance, backed off, ejected or found
healthy again by a probe, drained or enabled by an operator.  A daemon that
starts, or missed announcements while its connection was down, reads every
record and takes what is newer than what it has (each part has a version);
it does that every :data:`CATCH_UP_EVERY_S` as well, in case an announcement
was lost without the connection dropping.

A daemon alone on SQLite has no such part: what it learns stays in memory,
as it always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

import structlog
from prometheus_client import CollectorRegistry, Counter

from adapters.client import VendorClient
from proxy.loops import BackOff, Loop
from proxy.store.vendor_states import VendorRecord, VendorStates
from routing.health import VendorHealth
from routing.knowledge import Part
from routing.router import Router

log = structlog.get_logger("smsproxy.vendor_knowledge")

CATCH_UP_EVERY_S = 2.0
RETRY_EVERY_S = 1.0  # a write that failed is tried again this often


class KnowledgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.shared = Counter(
            "smsproxy_vendor_states_shared",
            "Changes of a vendor's state this daemon wrote for the others, by part.",
            ["vendor", "part"],
            registry=registry,
        )
        self.taken = Counter(
            "smsproxy_vendor_states_taken",
            "Changes of a vendor's state another daemon saw, taken by this one, by part.",
            ["vendor", "part"],
            registry=registry,
        )
        self.share_failures = Counter(
            "smsproxy_vendor_state_share_failures",
            "Writes of a vendor's state to the store that failed (each is tried again).",
            registry=registry,
        )

    def add_vendors(self, vendors: list[str]) -> None:
        for vendor in vendors:
            for part in Part:
                self.shared.labels(vendor, part.value)
                self.taken.labels(vendor, part.value)


class SharedVendorKnowledge:
    """The :class:`~routing.knowledge.HealthListener` of every vendor's health."""

    def __init__(self, states: VendorStates, daemon: str, metrics: KnowledgeMetrics) -> None:
        self.daemon = daemon  # this process's name in the records
        self._states = states
        self._metrics = metrics
        self._router: Router[VendorClient] | None = None
        self._pending: dict[str, set[Part]] = {}  # changed here, not yet written
        self._versions: dict[str, tuple[int, int]] = {}  # taken: (learned, hold)
        self._holds: dict[str, VendorRecord] = {}  # the newest, for a health a reload makes
        self._attached: weakref.WeakSet[VendorHealth] = weakref.WeakSet()
        self._writing = asyncio.Lock()  # one write at a time: in the order of changes
        # Short back-offs: once Redis is back, what changed meanwhile is known soon.
        back_off = BackOff(0.5, CATCH_UP_EVERY_S)
        self._sharer = Loop(
            "vendor-states-share", self.share_pending, every_s=RETRY_EVERY_S, back_off=back_off
        )
        self.loops = [
            self._sharer,
            Loop("vendor-states-follow", self._follow, every_s=0.5, back_off=back_off),
            Loop(
                "vendor-states-catch-up", self.catch_up, every_s=CATCH_UP_EVERY_S, back_off=back_off
            ),
        ]

    def __repr__(self) -> str:
        return f"<SharedVendorKnowledge {self.daemon} pending={sorted(self._pending)}>"

    def attach(self, router: Router[VendorClient]) -> None:
        """Listen to ``router``'s vendors from now on; called for each engine built.

        A health a reload made anew (its vendor's settings changed) forgets what
        was learnt, as it does alone, but not an operator's drain.
        """
        self._router = router
        self._metrics.add_vendors(list(router.vendors))
        for vendor in router.vendors.values():
            health = vendor.health
            if health in self._attached:
                continue
            self._attached.add(health)
            health.listener = self
            # An old health's change not yet written is not this new one's to tell.
            self._pending.pop(vendor.name, None)
            record = self._holds.get(vendor.name)
            if record is not None and record.hold is not None:
                health.observe_hold(record.hold.held, record.hold.seen)

    # --- this daemon's changes -----------------------------------------------------

    def changed(self, vendor: str, part: Part) -> None:
        self._pending.setdefault(vendor, set()).add(part)
        self._sharer.wake()

    async def share_pending(self) -> None:
        while self._pending:
            async with self._writing:
                if self._pending:
                    vendor, parts = self._pending.popitem()
                    await self._share(vendor, parts)

    async def flush(self, vendor: str) -> None:
        """Write ``vendor``'s changes now (an operator's drain or enable): raises when
        the store did not take them (they stay pending and are tried again)."""
        async with self._writing:  # after a write under way, which may be this one
            parts = self._pending.pop(vendor, None)
            if parts:
                await self._share(vendor, parts)

    async def _share(self, vendor: str, parts: set[Part]) -> None:
        router = self._router
        runtime = router.vendors.get(vendor) if router is not None else None
        if runtime is None:
            return  # gone in a reload
        health = runtime.health
        # While an operator holds it nothing is learnt; the enable shares anew.
        learned = health.learned() if Part.LEARNED in parts and not health.held else None
        held = health.held if Part.HOLD in parts else None
        if learned is None and held is None:
            return
        try:
            record = await self._states.share(vendor, self.daemon, learned, held)
        except BaseException:
            self._pending.setdefault(vendor, set()).update(parts)
            self._metrics.share_failures.inc()
            raise
        for part, given in ((Part.LEARNED, learned), (Part.HOLD, held)):
            if given is not None:
                self._metrics.shared.labels(vendor, part.value).inc()
        log.info(
            "vendor_state_shared",
            vendor=vendor,
            state=None if learned is None else learned.state,
            reason=None if learned is None else learned.reason,
            held=held,
        )
        self.take(record)

    # --- the others' -----------------------------------------------------------------

    async def catch_up(self) -> None:
        """Read every vendor's record and take what is newer than this daemon has."""
        router = self._router
        if router is None:
            return
        for record in await self._states.read(list(router.vendors)):
            self.take(record)

    async def _follow(self) -> None:
        async with contextlib.aclosing(self._states.follow()) as records:
            async for record in records:
                if record is None:
                    await self.catch_up()  # what was written before we listened
                else:
                    self.take(record)

    def take(self, record: VendorRecord) -> None:
        """Take each part of ``record`` newer than this daemon has; this daemon's own
        writes only say who saw it, when (its health knows it already, or newer)."""
        name = record.vendor
        router = self._router
        runtime = router.vendors.get(name) if router is not None else None
        if runtime is None:
            return  # not a vendor of this daemon's config
        health = runtime.health
        learned_v, hold_v = self._versions.get(name, (0, 0))
        shared, hold = record.learned, record.hold
        pending = self._pending.get(name, set())
        if shared is not None and shared.version > learned_v:
            learned_v = shared.version
            if shared.seen.daemon == self.daemon or Part.LEARNED in pending:
                health.learned_seen = shared.seen  # ours is newer: written next
            else:
                health.observe_learned(shared.learned, shared.seen)
                self._metrics.taken.labels(name, Part.LEARNED.value).inc()
                log.info(
                    "vendor_state_taken",
                    vendor=name,
                    state=shared.learned.state,
                    reason=shared.learned.reason,
                    seen_by=shared.seen.daemon,
                )
        if hold is not None and hold.version > hold_v:
            hold_v = hold.version
            self._holds[name] = record
            if hold.seen.daemon == self.daemon or Part.HOLD in pending:
                health.hold_seen = hold.seen
            else:
                health.observe_hold(hold.held, hold.seen)
                self._metrics.taken.labels(name, Part.HOLD.value).inc()
                log.info("vendor_hold_taken", vendor=name, held=hold.held, by=hold.seen.daemon)
        self._versions[name] = (learned_v, hold_v)
