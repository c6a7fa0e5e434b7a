"""Two daemon processes on one Redis know the same of their vendors.

Vendor ``a`` is the cheaper, so each daemon sends to it first and fails over
to ``b``.  What one daemon learns of ``a`` (out of balance, backed off,
ejected) or what an operator does to it through one daemon's admin API
(drain, enable) must reach the other within a second, so that it never
rediscovers a dead vendor with a real send: the simulator's own count of
sends says whether it did.  A restarted daemon still knows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.outcome import Outcome
from tests.e2e.vendor_cluster import Cluster, vendor_cluster
from tests.redis_server import RedisServer, start_redis_server

WITHIN_S = 1.0  # what the issue asks: every daemon knows within a second


@pytest.fixture
async def cluster(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Cluster]:
    async with vendor_cluster(tmp_path, redis_server.url) as c:
        await c.balances_known()
        yield c


async def test_a_vendor_out_of_balance_on_one_daemon_is_not_tried_by_the_other(
    cluster: Cluster,
) -> None:
    c = cluster
    c.a.faults.balance = 0
    assert await c.send(1) == b"0"
    learnt = time.monotonic()
    assert c.a.sends == 1  # daemon 1 found out with a real send, and failed over
    assert len(c.b.accepted) == 1
    await asyncio.sleep(WITHIN_S - (time.monotonic() - learnt))
    for _ in range(3):
        assert await c.send(2) == b"0"
    assert c.a.sends == 1, "daemon 2 tried the vendor daemon 1 found out of balance"
    assert len(c.b.accepted) == 4
    seen = await c.vendor(2, "a")
    assert (seen["state"], seen["reason"]) == ("drained", "balance_exhausted")
    assert seen["balance_segments"] == 0
    assert seen["seen"]["daemon"] == await c.daemon_id(1) != seen["daemon"]
    assert seen["recent"][0]["daemon"] == seen["seen"]["daemon"]
    assert seen["recent"][0]["state"] == "drained"


async def test_a_vendor_backed_off_or_ejected_on_one_daemon_is_not_tried_by_the_other(
    cluster: Cluster,
) -> None:
    c = cluster
    c.a.faults.forced_outcome = Outcome.RATE_LIMITED
    assert await c.send(1) == b"0"
    assert c.a.sends == 1
    await asyncio.sleep(0.5)  # well inside the 2 s back-off, past the second allowed
    assert await c.send(2) == b"0"
    assert c.a.sends == 1, "daemon 2 tried the vendor that told daemon 1 to slow down"
    assert (await c.vendor(2, "a"))["state"] == "backed_off"
    # Back-off over, on both daemons alike: the vendor is tried again.
    c.a.faults.forced_outcome = Outcome.AUTH_FAILED
    await asyncio.sleep(2.0)
    assert await c.send(2) == b"0"
    assert c.a.sends == 2  # daemon 2's own try: our credentials are refused
    await asyncio.sleep(WITHIN_S)
    assert await c.send(1) == b"0"
    assert c.a.sends == 2, "daemon 1 tried the vendor daemon 2 ejected"
    seen = await c.vendor(1, "a")
    assert (seen["state"], seen["reason"]) == ("ejected", "auth_failed")
    assert seen["seen"]["daemon"] == await c.daemon_id(2)


async def test_an_operator_drain_holds_on_every_daemon_and_across_a_restart(
    cluster: Cluster,
) -> None:
    c = cluster
    status, body = await c.admin(1, "POST", "/admin/vendors/a/drain")
    assert status == 200, body
    await asyncio.sleep(WITHIN_S)
    assert await c.send(2) == b"0"
    assert c.a.sends == 0, "daemon 2 sent to a vendor drained through daemon 1"

    status, body = await c.admin(2, "POST", "/admin/vendors/a/enable")
    assert status == 200, body
    await asyncio.sleep(WITHIN_S)
    assert await c.send(1) == b"0"
    assert c.a.sends == 1, "daemon 1 did not send to a vendor enabled through daemon 2"

    status, body = await c.admin(1, "POST", "/admin/vendors/a/drain")
    assert status == 200, body
    drained_by = await c.daemon_id(1)
    d2 = c.daemons[1]
    before = await c.daemon_id(2)
    await d2.stop()
    await d2.start()
    assert await c.send(2) == b"0"
    assert c.a.sends == 1, "daemon 2 forgot, restarted, that the vendor is drained"
    after = await c.vendor(2, "a")
    assert after["daemon"] != before  # a new process, not the old one's memory
    assert (after["state"], after["held_by_operator"]) == ("drained", True)
    assert after["held_by"]["daemon"] == drained_by
    operator = [e["operator"] for e in after["recent"] if "operator" in e]
    assert operator[:3] == ["drain", "enable", "drain"]  # newest first
    on_1 = await c.vendor(1, "a")
    assert on_1["held_by"] == after["held_by"]  # one view, from either daemon


async def test_a_drain_while_redis_is_down_is_answered_503_and_reaches_the_others_after(
    tmp_path: Path,
) -> None:
    data = tmp_path / "redis-data"
    data.mkdir()
    redis = start_redis_server(data)
    try:
        async with vendor_cluster(tmp_path, redis.url) as c:
            await c.balances_known()
            redis.stop()
            status, body = await c.admin(1, "POST", "/admin/vendors/a/drain")
            assert status == 503, body
            assert body["error"].startswith(
                "drained on this daemon only, for now: the store did not take it"
                " (Unanswered); it is tried again every second"
            ), body["error"]
            assert (body["state"], body["held_by_operator"]) == ("drained", True)

            redis = start_redis_server(data, redis.port)  # empty: the drain is written anew
            back = time.monotonic()
            while not (await c.vendor(2, "a"))["held_by_operator"]:
                assert time.monotonic() - back < 5.0, "the drain never reached daemon 2"
                await asyncio.sleep(0.1)
            assert await c.send(2) == b"0"
            assert c.a.sends == 0, "daemon 2 sent to a vendor drained through daemon 1"
            seen = await c.vendor(2, "a")
            assert seen["held_by"]["daemon"] == await c.daemon_id(1)
    finally:
        redis.stop()


async def test_a_daemon_named_in_its_config_keeps_its_name_across_a_restart(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with vendor_cluster(tmp_path, redis_server.url, named=True) as c:
        status, body = await c.admin(1, "POST", "/admin/vendors/a/drain")
        assert status == 200, body
        before = await c.daemon_id(1)
        d1 = c.daemons[0]
        await d1.stop()
        await d1.start()
        status, body = await c.admin(1, "GET", "/admin/vendors")
        assert status == 200, body
        assert body["daemon_name"] == "d1" and body["daemon"] != before  # a new process
        [on_1] = [v for v in body["vendors"] if v["name"] == "a"]
        # Its earlier self's drain: taken, not mistaken for a write of its own.
        assert (on_1["state"], on_1["held_by_operator"]) == ("drained", True)
        on_2 = await c.vendor(2, "a")
        assert on_2["held_by"]["daemon"] == before
        assert on_2["held_by"]["name"] == on_1["held_by"]["name"] == "d1"
        assert await c.send(1) == b"0"
        assert c.a.sends == 0
