"""Which Redis scripts wait for replicas (``state.redis_min_replicas_acked``).

What a ``0`` or a hand-out stands on waits (``WAIT``) and fails when the
replicas lag; a read and a rate-limit slot do not.  The server here has no
replica, so every wait runs out: a replica still catching up after a
failover, as in the HAProxy + Sentinel test, where a daemon restarted then
died at start with ``ReplicasBehind`` reading the vendors' records.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from proxy.rate_limits import RateLimits
from proxy.store.redis.connect import FailoverRedis, ReplicasBehind
from proxy.store.redis.inbox import RedisInbox
from proxy.store.redis.keyspace import Keyspace
from proxy.store.redis.sends import RedisSendLog
from proxy.store.redis.vendor_states import RedisVendorStates
from proxy.store.sends import CandidateQuery
from tests.redis_server import RedisServer


@pytest.fixture
async def lagging(redis_server: RedisServer) -> AsyncIterator[Keyspace]:
    client = FailoverRedis.from_url(redis_server.url, decode_responses=True)
    client.min_replicas, client.replica_timeout_ms = 1, 300
    try:
        yield Keyspace(client, f"waits-{uuid.uuid4().hex[:8]}:")
    finally:
        await client.aclose()


async def test_a_vendor_state_is_written_only_once_a_replica_has_it(lagging: Keyspace) -> None:
    with pytest.raises(ReplicasBehind):
        await RedisVendorStates(lagging).share("esms100", "d1", None, True)


async def test_the_vendor_states_are_read_without_waiting(lagging: Keyspace) -> None:
    started = time.monotonic()
    assert await RedisVendorStates(lagging).read(["esms100"]) == []
    assert time.monotonic() - started < 0.2


async def test_a_slot_does_not_wait_for_replicas(lagging: Keyspace) -> None:
    # A grant is stamped when its script runs: held back by a WAIT, the
    # request reached the vendor up to redis_replica_ack_timeout_ms later.
    started = time.monotonic()
    assert await RateLimits(lagging).vendor("esms100", 2).try_acquire() == 0.0
    assert time.monotonic() - started < 0.2


async def test_the_send_log_and_the_inbox_are_read_without_waiting(lagging: Keyspace) -> None:
    # Read after a failover while a replica resynced, the last sender of a
    # number failed with ReplicasBehind (the Sentinel test, in a CI run).
    sends, inbox = RedisSendLog(lagging), RedisInbox(lagging)
    started = time.monotonic()
    assert await sends.last_sender("13800000000", None) is None
    assert await sends.unresolved(0, 10) == (0, [])
    query = CandidateQuery(("esms100",), "13800000000", None)
    assert await sends.send_candidates_many([query]) == [[]]
    assert await inbox.pending_reports(int(time.time() * 1000), 10) == []
    assert await inbox.pending_replies(10) == []
    assert await inbox.unmatched_reports(10) == []
    assert time.monotonic() - started < 0.2
