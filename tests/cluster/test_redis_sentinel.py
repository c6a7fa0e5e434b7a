"""The Redis store through Sentinel, across a real failover (issue 17, item 3).

A private master, replica and three sentinels (:mod:`tests.redis_sentinel`);
the store is opened from ``[state]`` as the daemon opens it.  A writer
records sends one at a time, as the send path does, while the master is
failed over: by ``SENTINEL FAILOVER`` (the old master turns replica and
refuses writes with ``READONLY``) or by SIGKILL (its connections die, and
nothing answers until the sentinels agree it is down and promote the
replica).  Every write must come back (waited out, not failed), and with
``state.redis_min_replicas_acked = 1`` every write acknowledged before the
SIGKILL must be on the new master.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from config.state import StateSettings
from proxy.store.base import Store
from proxy.store.open import open_store
from proxy.store.redis.connect import BlockingSentinelPool, ReplicasBehind, through_sentinels
from proxy.store.sends import RecordState, SendRecord
from tests.redis_sentinel import MASTER_NAME, SENTINEL_PASSWORD, SentinelSet

FAILOVER_TIMEOUT_S = 20.0
# What the writes need again after a failover: as many replicas on the new
# master as redis_min_replicas_acked, and at least one.  Waiting for both took over
# 45 s once on a loaded host: the restarted old master rejoins only when a
# sentinel notices it again and reconfigures it.
REJOIN_TIMEOUT_S = 30.0


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    cluster = SentinelSet(tmp_path).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Writer:
    store: Store
    acked: list[str] = field(default_factory=list)  # phones whose write came back
    errors: list[str] = field(default_factory=list)
    slowest_s: float = 0.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            phone = f"138{i:08d}"
            record = SendRecord(
                f"send-{i}",
                "acme",
                "esms100",
                phone,
                RecordState.IN_FLIGHT,
                "",
                None,
                "d",
                1,
                int(time.time() * 1000),
            )
            started = time.monotonic()
            try:
                await self.store.sends.record_sends([record])
                self.acked.append(phone)
            except Exception as exc:  # what the send path would answer non-zero for
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            i += 1
            await asyncio.sleep(0.002)


@dataclass
class Carried:
    writer: Writer
    lost: list[str]  # acknowledged, not on the new master
    failed_over_s: float  # from the fault to a new master the sentinels all name


async def carry_through(sentinels: SentinelSet, how: str, **state: object) -> Carried:
    store = await open_store(
        StateSettings(**sentinels.state_settings(redis_prefix="t:", **state))  # type: ignore[arg-type]
    )
    writer = Writer(store)
    task = asyncio.create_task(writer.run())
    try:
        await asyncio.sleep(0.5)
        began = time.monotonic()
        old = sentinels.failover() if how == "failover" else sentinels.kill_master()
        new = await sentinels.wait_new_master(old, FAILOVER_TIMEOUT_S)
        failed_over_s = time.monotonic() - began
        if how == "sigkill":
            await sentinels.restart(old)  # as systemd would; it comes back as a replica
        needed = max(1, int(str(state.get("redis_min_replicas_acked", 0))))
        await sentinels.wait_replicas_async(needed, REJOIN_TIMEOUT_S, new)
        await asyncio.sleep(0.3)
        before, errors = len(writer.acked), len(writer.errors)
        await asyncio.sleep(1.0)
        # Writing again once the new master has a replica.  A write may still miss
        # its acknowledgement now and then (answered non-zero, so honest): the third
        # node rejoining forces a full resync, whose fork on a loaded host can hold
        # a replica's acknowledgement past the 100 ms WAIT (once in a CI run).
        acked, failed = len(writer.acked) - before, len(writer.errors) - errors
        assert acked > 0, f"no write after the failover to :{new}"
        assert failed * 10 <= acked, (acked, writer.errors[errors:][:5])
    finally:
        writer.stop.set()
        await task
    lost = [p for p in writer.acked if await store.sends.last_sender(p, None) is None]
    await store.close()
    return Carried(writer, lost, failed_over_s)


@pytest.mark.parametrize(("how", "replicas"), [("failover", 2), ("sigkill", 1)])
async def test_acknowledged_writes_survive_a_failover(
    sentinels: SentinelSet, how: str, replicas: int
) -> None:
    """Nothing a replica acknowledged is lost: after a dead master (SIGKILL) the
    sentinels promote the replica with the most data, so one acknowledgement
    is enough; while the old master lives on (``SENTINEL FAILOVER``, or a
    partition) the replicas still following it acknowledge writes the
    promotion throws away, so only all of them (2 here) is.  The writes not
    acknowledged so fail (ReplicasBehind): the send path answers them non-zero."""
    carried = await carry_through(sentinels, how, redis_min_replicas_acked=replicas)
    writer = carried.writer
    print(
        f"\n{how}, WAIT {replicas}: {len(writer.acked)} acknowledged, {len(carried.lost)} lost, "
        f"{len(writer.errors)} failed, slowest {writer.slowest_s:.2f} s, "
        f"new master in {carried.failed_over_s:.1f} s"
    )
    assert not carried.lost, f"{len(carried.lost)} of {len(writer.acked)} acknowledged writes lost"
    refused = ("ReplicasBehind", "NotSent", "MaybeRan")  # each answered non-zero
    assert all(any(r in e for r in refused) for e in writer.errors), writer.errors[:5]
    assert writer.slowest_s < 12.0


@pytest.mark.parametrize("how", ["failover", "sigkill"])
async def test_without_replica_acks_writes_wait_out_a_failover(
    sentinels: SentinelSet, how: str
) -> None:
    """Asynchronous replication: no write fails, each waits for the new master;
    what the old master acknowledged and never passed on is lost (printed)."""
    carried = await carry_through(sentinels, how)
    writer = carried.writer
    print(
        f"\n{how}, no WAIT: {len(writer.acked)} acknowledged, {len(carried.lost)} lost, "
        f"slowest {writer.slowest_s:.2f} s, new master in {carried.failed_over_s:.1f} s"
    )
    assert not writer.errors, writer.errors[:5]
    assert writer.slowest_s < 12.0


async def test_connections_to_a_former_master_are_dropped_once_the_sentinels_name_another(
    sentinels: SentinelSet,
) -> None:
    """A master the sentinels replaced may live on believing it is one (it
    stalled, or was cut off from them, or lost a second failover) until a
    sentinel turns it into a replica, seconds later.  It takes writes, and
    no replica acknowledges them.  In a CI run all three daemons answered
    -15 for 5-10 s after the sentinels had named a new master: the sentinel
    that led the failover still showed the old one in ``SENTINEL MASTERS``,
    which redis-py asks, and connections in use when the new master was
    learnt went back into the pool still open to the old."""
    target = StateSettings(**sentinels.state_settings()).redis_target()  # type: ignore[arg-type]
    assert target is not None
    client = through_sentinels(target, SENTINEL_PASSWORD, 5.0, min_replicas=1)
    pool = client.connection_pool
    write = "return redis.call('INCR', KEYS[1])"
    try:
        assert await client.eval(write, 1, "t:n") == 1  # type: ignore[misc]
        # Sends in flight on connections to the first master.
        in_use = [await pool.get_connection() for _ in range(4)]  # type: ignore[no-untyped-call]
        # The master stalls past the sentinels' patience, then lives on.
        old = sentinels.master_port()
        stall_s = 6.0
        stalled_until = time.monotonic() + stall_s
        node = sentinels.node(old)
        try:
            node.execute_command("CLIENT", "PAUSE", int(stall_s * 1000), "ALL")
        finally:
            node.close()
        new = await sentinels.wait_new_master(old, FAILOVER_TIMEOUT_S)
        await sentinels.wait_replicas_async(1, REJOIN_TIMEOUT_S, new)  # what writes wait for
        await asyncio.sleep(max(0.0, stalled_until - time.monotonic()) + 0.2)
        # A write on the pooled idle connection finds the old master with no
        # replica: refused, and the sentinels are asked who the master is.
        with contextlib.suppress(ReplicasBehind):
            await client.eval(write, 1, "t:n")
        for connection in in_use:
            await pool.release(connection)
        behind = 0
        for _ in range(8):
            try:
                await client.eval(write, 1, "t:n")
            except ReplicasBehind:
                behind += 1
        assert behind == 0, f"{behind} of 8 writes went to the former master"
    finally:
        await client.aclose()


async def test_the_master_is_the_one_most_sentinels_name_while_a_failover_ends(
    sentinels: SentinelSet,
) -> None:
    """The sentinel that led a failover shows the old master in ``SENTINEL
    MASTERS`` until it has reconfigured the replicas; redis-py, asking it
    first, named the old master while the others named the new."""
    target = StateSettings(**sentinels.state_settings()).redis_target()  # type: ignore[arg-type]
    assert target is not None
    client = through_sentinels(target, SENTINEL_PASSWORD, 5.0)
    try:
        leader = next(iter(sentinels.sentinels))  # the one failover() asks, listed first
        assert target.sentinels[0][1] == leader
        old = sentinels.failover()
        new = await sentinels.wait_new_master(old, FAILOVER_TIMEOUT_S)
        pool = client.connection_pool
        assert isinstance(pool, BlockingSentinelPool)
        named = await pool.sentinel_manager.discover_master(MASTER_NAME)
        assert named[1] == new, f"named :{named[1]}, the old master :{old}, the new :{new}"
    finally:
        await client.aclose()
