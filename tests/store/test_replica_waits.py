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
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from proxy.rate_limits import RateLimits
from proxy.store.claims import ClaimWindow, Taken
from proxy.store.queues import TAKE_HOLD_MS, QueuedReport
from proxy.store.quotas import QuotaAsk
from proxy.store.redis.claims import RedisClaims
from proxy.store.redis.connect import (
    SCRIPT_COMMANDS,
    FailoverRedis,
    MaybeRan,
    NotSent,
    ReplicasBehind,
)
from proxy.store.redis.inbox import RedisInbox
from proxy.store.redis.keyspace import Keyspace
from proxy.store.redis.queues import RedisQueues
from proxy.store.redis.quotas import RedisQuotas
from proxy.store.redis.sends import RedisSendLog
from proxy.store.redis.vendor_states import RedisVendorStates
from proxy.store.sends import CandidateQuery, RecordState
from tests.redis_server import RedisServer
from tests.store.contract import T0, WINDOW_MS, record


@pytest.fixture
async def lagging(redis_server: RedisServer) -> AsyncIterator[Keyspace]:
    client = FailoverRedis.from_url(redis_server.url, decode_responses=True)
    # A WAIT of 1 s: what does not wait answers well within it, even on a slow machine.
    client.min_replicas, client.replica_timeout_ms = 1, 1000
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
    assert time.monotonic() - started < 0.7


async def test_a_slot_does_not_wait_for_replicas(lagging: Keyspace) -> None:
    # A grant is stamped when its script runs: held back by a WAIT, the
    # request reached the vendor up to redis_replica_ack_timeout_ms later.
    started = time.monotonic()
    assert await RateLimits(lagging).vendor("esms100", 2).try_acquire() == 0.0
    assert time.monotonic() - started < 0.7


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
    assert time.monotonic() - started < 0.7


@pytest.fixture
async def steady(redis_server: RedisServer, lagging: Keyspace) -> AsyncIterator[Keyspace]:
    """The same keys through a client that does not wait: the replicas caught up."""
    client = FailoverRedis.from_url(redis_server.url, decode_responses=True)
    try:
        yield Keyspace(client, lagging.prefix)
    finally:
        await client.aclose()


PHONE = "13800138000"
# Past a claim's stale age, inside an unresolved answer's expiry: a retry here
# tells a number left unresolved from one merely claimed.
LATER = ClaimWindow(T0 + 30_000, WINDOW_MS, 120_000, stale_claim_ms=20_000)


async def retry_finds(keys: Keyspace, send_id: str, window: ClaimWindow = LATER) -> list[Taken]:
    return await RedisClaims(keys).claim_recipients("acme", "d1", send_id, [PHONE], window)


async def unresolved_at_first_vendor(keys: Keyspace, send_id: str) -> None:
    await RedisClaims(keys).claim_recipients(
        "acme", "d1", send_id, [PHONE], ClaimWindow(T0, WINDOW_MS, 120_000)
    )
    await RedisSendLog(keys).record_sends(
        [record(PHONE, outcome=RecordState.AMBIGUOUS, send_id=send_id)]
    )


async def test_a_resend_given_up_leaves_the_earlier_unresolved_claim(
    lagging: Keyspace, steady: Keyspace
) -> None:
    # A rule that resends after no clear answer takes over the claim; a send
    # that then reaches no vendor, or whose claim the replicas did not
    # acknowledge, must leave the first send's unresolved one for a retry
    # under another rule (rules change with the hour and the recipient count).
    await unresolved_at_first_vendor(steady, "s0")
    resend = LATER._replace(resend_unresolved=frozenset({PHONE}))
    assert await retry_finds(steady, "s1", resend) == []
    await RedisClaims(steady).release_claims("acme", "d1", "s1", [PHONE])
    assert await retry_finds(steady, "s2") == [Taken(PHONE, False)]

    with pytest.raises(ReplicasBehind):
        await retry_finds(lagging, "s3", resend)
    assert await retry_finds(steady, "s4") == [Taken(PHONE, False)]


async def test_an_unacknowledged_record_leaves_the_sends_earlier_answer(
    lagging: Keyspace, steady: Keyspace
) -> None:
    # First vendor ambiguous, the failover's record not acknowledged: the send
    # is answered -15 with the first vendor maybe holding the message, so a
    # retry must still find it unresolved, not merely claimed (stale sooner).
    await unresolved_at_first_vendor(steady, "s1")
    with pytest.raises(ReplicasBehind):
        await RedisSendLog(lagging).record_sends(
            [record(PHONE, vendor="v2", outcome=RecordState.IN_FLIGHT, send_id="s1")]
        )
    assert await retry_finds(steady, "s2") == [Taken(PHONE, False)]


async def test_the_sends_earlier_answer_is_found_behind_other_sends_records(
    lagging: Keyspace, steady: Keyspace
) -> None:
    # Between the first vendor's answer and the failover's record, other sends
    # (other clients, other texts) to the same number were recorded.
    await unresolved_at_first_vendor(steady, "s1")
    others = [record(PHONE, digest=f"other{i}", send_id=f"o{i}") for i in range(30)]
    await RedisSendLog(steady).record_sends(others)
    with pytest.raises(ReplicasBehind):
        await RedisSendLog(lagging).record_sends(
            [record(PHONE, vendor="v2", outcome=RecordState.IN_FLIGHT, send_id="s1")]
        )
    assert await retry_finds(steady, "s2") == [Taken(PHONE, False)]


async def test_a_claim_call_run_twice_reserves_the_quota_once(
    lagging: Keyspace, steady: Keyspace
) -> None:
    # The connection layer runs a call again after a lost connection: the
    # script may have run already, and its claims are this send's own.
    ask = QuotaAsk(1, 10)
    for _ in range(2):
        await RedisClaims(steady).claim_recipients("acme", "d1", "s1", [PHONE], LATER, ask)
    assert await RedisQuotas(steady).quota_used("acme") == 1
    # A third run the replicas do not acknowledge: its undo gives back what
    # the send reserved, once.
    with pytest.raises(ReplicasBehind):
        await RedisClaims(lagging).claim_recipients("acme", "d1", "s1", [PHONE], LATER, ask)
    assert await RedisQuotas(steady).quota_used("acme") == 0


class LostOnce(Redis):
    """The first script runs, then its connection is lost before the answer;
    with ``then_no_master`` the retry finds no master.  After that the server
    answers again."""

    then_no_master = False
    calls = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if str(args[0]).upper() in SCRIPT_COMMANDS:
            if self.calls == 0:
                await super().execute_command(*args, **options)  # NoScriptError: not yet
                self.calls = 1
                raise RedisConnectionError("Connection closed by server.")
            if self.calls == 1 and self.then_no_master:
                self.calls = 2
                raise NotSent("no master yet")
        return await super().execute_command(*args, **options)


class LossyOnce(FailoverRedis, LostOnce):
    pass


class Flaky(LossyOnce):
    then_no_master = True


async def test_a_claim_lost_once_sent_is_undone_though_its_retry_was_not_sent(
    redis_server: RedisServer, steady: Keyspace
) -> None:
    # The first run claimed and reserved; only its answer was lost.  Taken as
    # never run (NotSent), it stayed: the client's retry read -17 until the
    # claim went stale, and the quota stayed spent.
    flaky = Flaky.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(MaybeRan):
            await RedisClaims(Keyspace(flaky, steady.prefix)).claim_recipients(
                "acme", "d1", "s1", [PHONE], LATER, QuotaAsk(1, 10)
            )
    finally:
        await flaky.aclose()
    assert await RedisQuotas(steady).quota_used("acme") == 0
    assert await retry_finds(steady, "s2") == []


async def test_a_send_record_call_run_again_writes_its_records_once(
    redis_server: RedisServer, steady: Keyspace
) -> None:
    # Run twice, the second copy of the record stood in flight: the number
    # read unresolved (-17) until it expired, and /admin/unresolved listed it.
    lossy = LossyOnce.from_url(redis_server.url, decode_responses=True)
    try:
        first = await RedisSendLog(Keyspace(lossy, steady.prefix)).record_sends(
            [record(PHONE, outcome=RecordState.IN_FLIGHT)]
        )
    finally:
        await lossy.aclose()
    assert await steady.client.zrange(steady.key("to:", PHONE), 0, -1) == [f"{first:016d}"]
    assert (await RedisSendLog(steady).unresolved(0, 10))[0] == 1


async def test_a_quota_reservation_run_again_reserves_once(
    redis_server: RedisServer, steady: Keyspace
) -> None:
    lossy = LossyOnce.from_url(redis_server.url, decode_responses=True)
    try:
        assert await RedisQuotas(Keyspace(lossy, steady.prefix)).reserve_quota("acme", 2, 10)
    finally:
        await lossy.aclose()
    assert await RedisQuotas(steady).quota_used("acme") == 2


async def test_reports_held_for_a_busy_answer_are_back_in_line_at_once(
    lagging: Keyspace, steady: Keyspace
) -> None:
    # The hold ran on the master and the client heard -15; the reports came
    # back only when the hold ran out, a minute later.
    queued = QueuedReport(PHONE, 1, datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    await RedisQueues(steady).enqueue_report("acme", queued)
    with pytest.raises(ReplicasBehind):
        await RedisQueues(lagging).hold_reports("acme", 10, TAKE_HOLD_MS)
    _, reports = await RedisQueues(steady).hold_reports("acme", 10, TAKE_HOLD_MS)
    assert reports == [queued]
