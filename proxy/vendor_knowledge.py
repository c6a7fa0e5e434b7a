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
from proxy.store.leases import Leases
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

    def __init__(
        self,
        states: VendorStates,
        daemon: str,
        metrics: KnowledgeMetrics,
        leases: Leases | None = None,
    ) -> None:
        self.daemon = daemon  # this process's name in the records
        self._states = states
        self._leases = leases  # for the probe turns; None: each daemon probes alone
        self._metrics = metrics
        self._router: Router[VendorClient] | None = None
        self._pending: dict[str, set[Part]] = {}  # changed here, not yet written
        self._versions: dict[str, dict[Part, int]] = {}  # the versions taken, a part each
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
            if self._leases is not None:
                health.probe_turns = self
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
        # What it is now: the check's figure, less what was sent since.
        balance = health.balance_segments if Part.BALANCE in parts else None
        if learned is None and held is None and balance is None:
            return
        try:
            record = await self._states.share(vendor, self.daemon, learned, held, balance)
        except BaseException:
            self._pending.setdefault(vendor, set()).update(parts)
            self._metrics.share_failures.inc()
            raise
        for part, given in ((Part.LEARNED, learned), (Part.HOLD, held), (Part.BALANCE, balance)):
            if given is not None:
                self._metrics.shared.labels(vendor, part.value).inc()
        if learned is not None or held is not None:  # a balance figure comes every check
            log.info(
                "vendor_state_shared",
                vendor=vendor,
                state=None if learned is None else learned.state,
                reason=None if learned is None else learned.reason,
                held=held,
            )
        self.take(record)

    async def take_probe_turn(self, vendor: str, ttl_s: float) -> bool:
        """The :class:`~routing.knowledge.ProbeTurns` of every vendor: a lease
        ``probe:<vendor>`` for ``ttl_s``, which its holder may take again (its
        probe's outcome changed nothing, and it is due another)."""
        if self._leases is None:
            return True
        ttl_ms = max(1, int(ttl_s * 1000))
        try:
            won = await self._leases.acquire_lease(f"probe:{vendor}", self.daemon, ttl_ms)
        except Exception as exc:
            # The store is down: nothing is shared either, so probe as if alone.
            log.warning("probe_turn_unknown", vendor=vendor, error=repr(exc))
            return True
        if not won:
            log.info("vendor_probed_elsewhere", vendor=vendor, for_s=ttl_s)
        return won

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
        """Take each part of ``record`` newer than this daemon has, the older first (a
        send that found the vendor out of money after a balance check stands); this
        daemon's own writes only say who saw it, when (its health knows it already,
        or newer)."""
        name = record.vendor
        router = self._router
        runtime = router.vendors.get(name) if router is not None else None
        if runtime is None:
            return  # not a vendor of this daemon's config
        health = runtime.health
        known = self._versions.get(name, {})
        pending = self._pending.get(name, set())
        shared, hold, balance = record.learned, record.hold, record.balance
        if hold is not None and hold.version > known.get(Part.HOLD, 0):
            self._holds[name] = record
        parts = [
            (part.version, kind, part.seen)
            for kind, part in ((Part.LEARNED, shared), (Part.HOLD, hold), (Part.BALANCE, balance))
            if part is not None and part.version > known.get(kind, 0)
        ]
        for version, kind, seen in sorted(parts, key=lambda p: p[0]):
            known[kind] = version
            ours = seen.daemon == self.daemon or kind in pending  # ours is newer: written next
            if kind is Part.LEARNED and shared is not None:
                if ours:
                    health.learned_seen = seen
                    continue
                health.observe_learned(shared.learned, seen)
                log.info(
                    "vendor_state_taken",
                    vendor=name,
                    state=shared.learned.state,
                    reason=shared.learned.reason,
                    seen_by=seen.daemon,
                )
            elif kind is Part.HOLD and hold is not None:
                if ours:
                    health.hold_seen = seen
                    continue
                health.observe_hold(hold.held, seen)
                log.info("vendor_hold_taken", vendor=name, held=hold.held, by=seen.daemon)
            elif kind is Part.BALANCE and balance is not None:
                if ours:
                    health.balance_seen = seen
                    continue
                health.observe_balance(balance.segments, seen)
            self._metrics.taken.labels(name, kind.value).inc()
        self._versions[name] = known
