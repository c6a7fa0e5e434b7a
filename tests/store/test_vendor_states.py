"""Vendor states shared through Redis, daemon by daemon, in one process.

Each "daemon" here is a store of its own on the session's redis-server
(one key prefix for the test) and a :class:`SharedVendorKnowledge` over a
router whose vendor health runs on a clock the test moves.  The end-to-end
test with two daemon processes is :mod:`tests.e2e.test_shared_vendor_states`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from core.outcome import Outcome
from proxy.loops import cancel_all, start_all
from proxy.store.redis.store import RedisStore
from proxy.store.sqlite.store import SqliteStore
from proxy.vendor_knowledge import KnowledgeMetrics, SharedVendorKnowledge
from routing.health import HealthPolicy, VendorHealth, VendorState
from routing.knowledge import Learned
from routing.router import Router, VendorRuntime
from tests.redis_server import RedisServer

WITHIN_S = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Daemon:
    def __init__(self, store: RedisStore, name: str) -> None:
        self.store = store
        self.clock = Clock()
        self.registry = CollectorRegistry()
        health = VendorHealth("a", HealthPolicy(jitter=0.0), clock=self.clock)
        runtime: VendorRuntime[Any] = VendorRuntime("a", None, health, None, 0.05)  # type: ignore[arg-type]
        self.router: Router[Any] = Router([runtime])
        assert store.vendor_states is not None
        self.knowledge = SharedVendorKnowledge(
            store.vendor_states, name, KnowledgeMetrics(self.registry), store.leases
        )
        self.knowledge.attach(self.router)

    @property
    def health(self) -> VendorHealth:
        return self.router.vendors["a"].health

    def count(self, metric: str, **labels: str) -> float:
        return self.registry.get_sample_value(metric, labels) or 0.0


Start = Callable[[str], Awaitable[Daemon]]


@pytest.fixture
async def start(redis_server: RedisServer) -> AsyncIterator[Start]:
    prefix = f"vs-{uuid.uuid4().hex[:8]}:"
    started: list[Daemon] = []

    async def start_(name: str) -> Daemon:
        daemon = Daemon(await RedisStore.open(redis_server.url, prefix=prefix), name)
        await daemon.knowledge.catch_up()
        start_all(daemon.knowledge.loops)
        started.append(daemon)
        return daemon

    yield start_
    for d in started:
        await cancel_all(d.knowledge.loops)
        await d.store.close()


async def within(check: Callable[[], bool], seconds: float = WITHIN_S) -> float:
    """Seconds until ``check`` holds; fails after ``seconds``."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not check():
        assert loop.time() - began < seconds, "not within the time"
        await asyncio.sleep(0.01)
    return loop.time() - began


async def test_drained_then_found_healthy_by_a_probe_reaches_the_other_daemon(
    start: Start,
) -> None:
    one, two = await start("one"), await start("two")
    one.health.record(Outcome.BALANCE_EXHAUSTED)
    await within(lambda: two.health.state is VendorState.DRAINED)
    assert two.health.reason == "balance_exhausted"
    assert two.health.balance_segments == 0
    assert not two.health.available()  # no probe of its own before the recheck
    assert 55 < two.health.seconds_left() <= 60  # "until", as daemon one set it
    assert two.health.learned_seen is not None and two.health.learned_seen.daemon == "one"

    # Daemon one's recheck: its probe goes through, and daemon two sends again.
    one.clock.now += 61
    assert one.health.available()
    one.health.begin_attempt()
    one.health.record(Outcome.ACCEPTED)
    await within(lambda: two.health.state is VendorState.ROUTABLE)
    assert two.health.balance_segments is None  # how much, its next balance check says
    assert two.count("smsproxy_vendor_states_taken_total", vendor="a", part="learned") == 2
    assert one.count("smsproxy_vendor_states_taken_total", vendor="a", part="learned") == 0


async def test_an_ejection_lasts_as_long_on_every_daemon(start: Start) -> None:
    one, two = await start("one"), await start("two")
    for _ in range(5):
        one.health.record(Outcome.UNREACHABLE)
    assert one.health.state is VendorState.EJECTED
    await within(lambda: two.health.state is VendorState.EJECTED)
    assert abs(two.health.seconds_left() - one.health.seconds_left()) < 0.5
    assert two.health.ejections == 1  # the next ejection of either lasts longer
    two.clock.now += 10.5
    assert two.health.available()  # its one probe after the ejection
    two.health.begin_attempt()
    two.health.record(Outcome.UNREACHABLE)
    await within(lambda: one.health.seconds_left() > 15)  # doubled, from daemon two


async def test_a_daemon_that_starts_later_or_missed_an_announcement_catches_up(
    start: Start, redis_server: RedisServer
) -> None:
    one = await start("one")
    one.health.hold()
    await within(
        lambda: one.count("smsproxy_vendor_states_shared_total", vendor="a", part="hold") == 1
    )
    one.health.record(Outcome.AUTH_FAILED)  # learnt nothing while held
    late = await start("late")
    assert late.health.held and late.health.state is VendorState.DRAINED
    assert late.health.hold_seen is not None and late.health.hold_seen.daemon == "one"

    # A daemon whose follower is not running (its connection down) still learns,
    # from its catch-up, within the catch-up's period.
    deaf = await start("deaf")
    await cancel_all(deaf.knowledge.loops[1:2])
    assert deaf.knowledge.loops[1].name == "vendor-states-follow"
    late.health.release()
    await within(lambda: not one.health.held)
    # (Not "deaf is still held" here: its catch-up, every 2 s, may already have run.)
    await within(lambda: not deaf.health.held, 2.5)
    assert deaf.health.state is VendorState.ROUTABLE


async def test_a_burst_of_changes_is_a_few_writes_and_an_older_one_is_ignored(
    start: Start,
) -> None:
    one, two = await start("one"), await start("two")
    for _ in range(200):
        one.health.record(Outcome.RATE_LIMITED)
    await within(lambda: two.health.state is VendorState.BACKED_OFF)
    await asyncio.sleep(0.2)
    writes = one.count("smsproxy_vendor_states_shared_total", vendor="a", part="learned")
    assert 1 <= writes <= 2, writes
    states = one.store.vendor_states
    assert states is not None
    [old] = await states.read(["a"])
    assert old.learned is not None
    two.health.record(Outcome.BALANCE_EXHAUSTED)
    await within(lambda: one.health.state is VendorState.DRAINED)
    two.knowledge.take(old)  # a late copy of one's older record changes nothing
    assert two.health.state is VendorState.DRAINED


async def test_the_parts_are_written_apart_on_the_servers_clock(start: Start) -> None:
    one = await start("one")
    states = one.store.vendor_states
    assert states is not None
    held = await states.share("a", "x", None, True)
    learned = Learned("backed_off", "rate_limited", 2.0, None, 0)
    both = await states.share("a", "y", learned, None)
    assert held.hold is not None and both.hold == held.hold  # a learnt change kept the hold
    assert both.learned is not None and both.learned.version > held.hold.version
    assert both.learned.seen.daemon == "y"
    assert 1.9 <= both.learned.learned.left_s <= 2.0
    await asyncio.sleep(0.5)
    [now] = await states.read(["a", "unknown"])
    assert now.learned is not None and 1.4 <= now.learned.learned.left_s <= 1.55
    recent = await states.recent("a", 5)
    assert [(e["daemon"], e.get("state"), e.get("operator")) for e in recent] == [
        ("y", "backed_off", None),
        ("x", None, "drain"),
    ]


async def test_alone_on_sqlite_a_daemon_shares_nothing(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        assert store.vendor_states is None
    finally:
        await store.close()


async def test_a_follower_whose_connection_drops_follows_again(
    start: Start, redis_server: RedisServer
) -> None:
    one, two = await start("one"), await start("two")
    one.health.record(Outcome.RATE_LIMITED)
    await within(lambda: two.health.state is VendorState.BACKED_OFF)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await raw.client_kill_filter(_type="pubsub") >= 2
    finally:
        await raw.aclose()
    await asyncio.sleep(0.5)
    one.health.hold()
    await within(lambda: two.health.held, WITHIN_S + 2.0)  # announced, or caught up
    one.health.release()
    await within(lambda: not two.health.held)  # following again: announced at once


async def test_a_reload_that_remakes_a_vendors_health_keeps_the_operators_drain(
    start: Start,
) -> None:
    one, two = await start("one"), await start("two")
    one.health.record(Outcome.AUTH_FAILED)
    one.health.hold()
    await within(lambda: two.health.held)
    # The vendor's settings changed: a new health, which forgets what was learnt...
    fresh = VendorHealth("a", clock=two.clock)
    runtime: VendorRuntime[Any] = VendorRuntime("a", None, fresh, None, 0.05)  # type: ignore[arg-type]
    two.router = Router([runtime])
    two.knowledge.attach(two.router)
    assert fresh.held and fresh.state is VendorState.DRAINED  # ... but not the drain
    assert fresh.listener is two.knowledge
    one.health.release()
    await within(lambda: not fresh.held)


async def test_a_balance_check_reaches_every_daemon_and_a_later_drain_stands(
    start: Start,
) -> None:
    one, two = await start("one"), await start("two")
    one.health.record(Outcome.BALANCE_EXHAUSTED)
    await within(lambda: two.health.state is VendorState.DRAINED)
    one.health.record_balance(500)  # one daemon checks for all: money again
    await within(lambda: two.health.balance_segments == 500)
    assert two.health.state is VendorState.ROUTABLE
    assert two.health.balance_seen is not None and two.health.balance_seen.daemon == "one"
    assert one.health.balance_seen is not None and one.health.balance_seen.daemon == "one"
    assert two.count("smsproxy_vendor_states_taken_total", vendor="a", part="balance") == 1
    one.health.record_balance(480)  # the same state, a new figure: shared all the same
    await within(lambda: two.health.balance_segments == 480)

    # A send that found it out of money after the check: newer, so it stands, also
    # for a daemon that reads both parts at once.
    two.health.record(Outcome.BALANCE_EXHAUSTED)
    await within(lambda: one.health.state is VendorState.DRAINED)
    late = await start("late")
    assert late.health.state is VendorState.DRAINED
    assert late.health.balance_segments == 0
    states = one.store.vendor_states
    assert states is not None
    recent = await states.recent("a", 10)
    assert [e.get("state") for e in recent] == ["drained", "routable", "drained"]


async def test_one_daemon_probes_and_the_others_wait_for_its_outcome(start: Start) -> None:
    one, two = await start("one"), await start("two")
    for _ in range(5):
        one.health.record(Outcome.UNREACHABLE)
    await within(lambda: two.health.state is VendorState.EJECTED)
    one.clock.now += 10.5
    two.clock.now += 10.5
    assert one.health.probe_due() and two.health.probe_due()
    assert await one.health.take_probe_turn(3.0)
    assert not await two.health.take_probe_turn(3.0)
    assert not two.health.available()  # out here while one probes
    two.clock.now += 1.0
    assert not two.health.available()
    one.health.begin_attempt()
    one.health.record(Outcome.ACCEPTED)  # the probe went through: back, everywhere
    await within(lambda: two.health.state is VendorState.ROUTABLE)
    assert two.health.available()

    # A prober whose outcome never comes (it died): its turn ends, another probes.
    for _ in range(5):
        one.health.record(Outcome.UNREACHABLE)
    await within(lambda: two.health.state is VendorState.EJECTED)
    one.clock.now += 30
    two.clock.now += 30
    assert await one.health.take_probe_turn(0.3)
    assert not await two.health.take_probe_turn(0.3)
    await asyncio.sleep(0.35)  # the lease expires on the server's clock
    two.clock.now += 0.35
    assert two.health.available()
    assert await two.health.take_probe_turn(0.3)
