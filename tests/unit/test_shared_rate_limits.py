"""Rate limits shared through Redis: daemons together keep to one vendor's rate.

Each "daemon" here is its own Redis store (its own connection pool and
holder id) on the tests' private redis-server, as two processes have.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from proxy.rate_limits import RETRY_S, RateLimits, SharedWindow
from proxy.store.redis.keyspace import Keyspace
from proxy.store.redis.store import RedisStore
from routing.limits import WINDOW_SLACK_S, Slot
from tests.redis_server import RedisServer
from tests.unit.test_logging import json_logs, lines
from tests.unit.test_rate_limits import most_in_any_window

__all__ = ["json_logs"]  # the fixture, shared with the logging tests


@pytest.fixture
async def two_daemons(redis_server: RedisServer) -> AsyncIterator[tuple[RateLimits, RateLimits]]:
    prefix = f"limits-{uuid.uuid4().hex[:8]}:"
    a = await RedisStore.open(redis_server.url, prefix=prefix)
    b = await RedisStore.open(redis_server.url, prefix=prefix)
    try:
        yield RateLimits.of(a), RateLimits.of(b)
    finally:
        await a.close()
        await b.close()


async def test_two_daemons_keep_together_to_one_vendor_rate(
    two_daemons: tuple[RateLimits, RateLimits],
) -> None:
    a, b = two_daemons
    assert a.shared and b.shared
    limiters = [a.vendor("esms100", 8), b.vendor("esms100", 8)]
    grants: list[float] = []
    stop = time.monotonic() + 3.0

    async def sender(i: int) -> None:
        limiter = limiters[i % 2]
        while time.monotonic() < stop:
            slot = await limiter.acquire(time.monotonic() + 2.0)
            if slot is not Slot.MISSED:
                grants.append(time.monotonic())

    # Ten senders on each daemon, each sending as fast as it is let: 20x the rate.
    await asyncio.gather(*(sender(i) for i in range(20)))
    assert most_in_any_window(grants) <= 8
    # Together, not each: a daemon alone would have let 8 a second through.
    assert 8 * 2.5 <= len(grants) <= 8 * 3 + 8


async def test_a_vendor_and_a_client_of_one_name_are_counted_apart(
    two_daemons: tuple[RateLimits, RateLimits],
) -> None:
    a, _ = two_daemons
    vendor, client = a.vendor("acme", 1), a.client("acme", 1)
    assert await vendor.try_acquire() == 0.0
    assert await client.try_acquire() == 0.0
    assert await vendor.try_acquire() > 0.0


async def test_a_refusal_says_when_the_shared_slot_frees(
    two_daemons: tuple[RateLimits, RateLimits],
) -> None:
    a, b = two_daemons
    # 0.5/s: one send in any two seconds, whichever daemon sends it.
    first = time.monotonic()
    assert await a.client("slow", 0.5).try_acquire() == 0.0
    wait = await b.client("slow", 0.5).try_acquire()
    # The window less the time between the two calls (a slow machine's, too).
    elapsed = time.monotonic() - first
    assert 2.0 + WINDOW_SLACK_S - elapsed - 0.01 <= wait <= 2.0 + WINDOW_SLACK_S + 0.01
    started = time.monotonic()
    assert await b.client("slow", 0.5).acquire(started + 0.5) is Slot.MISSED
    assert time.monotonic() - started < 0.45  # the slot frees after the deadline: no wait


async def test_without_redis_no_slot_is_granted_and_the_send_gives_up_at_its_deadline(
    json_logs: io.StringIO,
) -> None:
    # Redis gone (a port nobody listens on).  Counting alone would let N
    # daemons send N times the rate, as a failover did in the HAProxy test:
    # no slot, and the send gives up at its deadline, unsent.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.2)
    try:
        limiter = RateLimits(Keyspace(client, "gone:")).vendor("esms100", 3)
        assert isinstance(limiter, SharedWindow)
        answers = [await limiter.try_acquire() for _ in range(3)]
        assert answers == [RETRY_S] * 3
        # Once, naming the limit (a field called "key" was masked as a secret).
        said = [e for e in lines(json_logs) if e["event"] == "rate_limit_unanswered"]
        assert [e["limit"] for e in said] == ["gone:rate:vendor:esms100"]
        started = time.monotonic()
        assert await limiter.acquire(started + 0.5) is Slot.MISSED
        assert time.monotonic() - started < 1.5
    finally:
        await client.aclose()


async def test_a_limiter_remade_by_a_reload_still_counts_the_old_ones_grants(
    two_daemons: tuple[RateLimits, RateLimits],
) -> None:
    # A reload that changes a vendor's settings makes a new limiter on the
    # same RateLimits (same holder id): its grants must not take the names
    # of the old limiter's grants still in the window, or ZADD overwrites
    # them and the log counts fewer than were let through.
    a, _ = two_daemons
    old = a.vendor("esms100", 3)
    assert [await old.try_acquire() for _ in range(2)] == [0.0, 0.0]
    new = a.vendor("esms100", 3)
    answers = [await new.try_acquire() for _ in range(3)]
    assert answers[0] == 0.0
    assert all(wait > 0.0 for wait in answers[1:]), answers


async def test_slots_asked_in_one_turn_are_one_script_call_and_keep_each_limit(
    two_daemons: tuple[RateLimits, RateLimits], redis_server: RedisServer
) -> None:
    # The sends one group commit wakes ask for their vendors' slots together:
    # one call of the script, answered as the asks one after the other.
    a, _ = two_daemons
    vendor, client = a.vendor("esms100", 3), a.client("acme", 2)
    async with Redis.from_url(redis_server.url) as admin:
        before = await script_calls(admin)
        answers = await asyncio.gather(
            *(vendor.try_acquire() for _ in range(5)), *(client.try_acquire() for _ in range(3))
        )
        assert await script_calls(admin) - before == 1
    assert answers[:3] == [0.0] * 3 and answers[5:7] == [0.0] * 2
    waits = answers[3:5] + answers[7:]
    assert all(0.0 < wait <= 1.0 + WINDOW_SLACK_S for wait in waits), answers
    # The next turn's ask sees this one's grants.
    assert await vendor.try_acquire() > 0.0


async def script_calls(client: Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))
