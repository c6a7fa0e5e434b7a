"""What one daemon does for every daemon on one Redis: balance checks and probes.

A vendor counts its balance queries per account, not per daemon (esms100:
once a minute), so two daemons must not query twice as often; and when a
vendor's ejection ends, one probe tells every daemon whether it is back, so
two daemons must not send it two.  The simulators count what reached them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from core.outcome import Outcome
from tests.e2e.vendor_cluster import Cluster, vendor_cluster
from tests.redis_server import RedisServer

INTERVAL_S = 1.0  # routing.balance_interval_override_s: the vendors' own are 10 s to 60 s


async def test_one_balance_query_an_interval_and_every_daemon_knows_the_figure(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    routing = {"routing": {"balance_interval_override_s": INTERVAL_S}}
    async with vendor_cluster(tmp_path, redis_server.url, routing) as c:
        await c.balances_known()
        await asyncio.sleep(INTERVAL_S)  # past the daemons' first checks
        before = c.a.balance_queries, c.b.balance_queries
        c.a.faults.balance = 777
        began = time.monotonic()
        await asyncio.sleep(5 * INTERVAL_S)
        queries = (c.a.balance_queries - before[0], c.b.balance_queries - before[1])
        elapsed = time.monotonic() - began
        # One query an interval (a check takes a few ms more than the interval);
        # a daemon each would be twice as many.
        for count in queries:
            assert count <= elapsed / INTERVAL_S + 1, (queries, elapsed)
            assert count >= elapsed / INTERVAL_S - 2, (queries, elapsed)
        # The daemon that did not query knows what the other learnt.
        for daemon in (1, 2):
            seen = await c.vendor(daemon, "a")
            assert seen["balance_segments"] == 777, (daemon, seen)
        status, body = await c.admin(1, "GET", "/admin/vendors")
        assert status == 200
        checkers = {v["balance_checked_by"]["daemon"] for v in body["vendors"]}
        assert checkers <= {await c.daemon_id(1), await c.daemon_id(2)}


async def eject(c: Cluster) -> float:
    """Vendor ``a`` ejected by daemon 1's five failed sends (each failed over to
    ``b``) and known to daemon 2: seconds until the ejection ends."""
    c.a.faults.forced_outcome = Outcome.VENDOR_BUSY
    for _ in range(5):
        assert await c.send(1) == b"0"
    assert c.a.sends == 5
    for _ in range(100):
        seen = await c.vendor(2, "a")
        if seen["state"] == "ejected":
            return float(seen["seconds_left"])
        await asyncio.sleep(0.05)
    raise AssertionError("daemon 2 did not learn of the ejection")


async def test_one_probe_after_an_ejection_whatever_the_number_of_daemons(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with vendor_cluster(tmp_path, redis_server.url) as c:
        await c.balances_known()
        left_s = await eject(c)
        assert 7 < left_s <= 12.5  # 10 s, with jitter
        # Still down when the ejection ends, and slow to say so: a probe takes 1.5 s,
        # time enough for the other daemon's ejection to end too.
        c.a.faults.latency_s = 1.5
        until = time.monotonic() + left_s + 4.0

        async def keep_sending(daemon: int) -> None:
            while time.monotonic() < until:
                assert await c.send(daemon) in (b"0", b"-17"), daemon
                await asyncio.sleep(0.1)

        await asyncio.gather(keep_sending(1), keep_sending(2))
        assert c.a.sends - 5 == 1, f"{c.a.sends - 5} probes after the ejection, not 1"
        for daemon in (1, 2):  # its outcome, shared: ejected again, for longer
            seen = await c.vendor(daemon, "a")
            assert seen["state"] == "ejected" and seen["seconds_left"] > 10, seen


async def test_when_the_probing_daemon_dies_another_probes_once_its_turn_expires(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    quiet = {
        # Nothing but sends reaches the vendors once the daemons are up.
        "routing": {"balance_interval_override_s": 3600.0},
        "reports": {"poll_interval_override_s": 3600.0},
    }
    async with vendor_cluster(tmp_path, redis_server.url, quiet) as c:
        await c.balances_known()
        left_s = await eject(c)
        c.a.faults.hang = True  # the probe never comes back
        await asyncio.sleep(left_s + 0.2)
        requests = c.a.requests
        probe = asyncio.create_task(c.send(1))
        for _ in range(100):
            if c.a.requests > requests:
                break
            await asyncio.sleep(0.02)
        assert c.a.requests == requests + 1  # daemon 1's probe, hanging
        d1 = c.daemons[0]
        d1.kill()
        await d1.wait_dead()
        killed = time.monotonic()
        probe.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await probe
        # Daemon 2 keeps the vendor out while daemon 1's turn lasts (the vendor's
        # timeout_s, 2 s, and 1 s for the outcome to be shared), then probes.

        async def keep_sending() -> None:
            while True:
                await c.send(2)  # to b while a is out; the probe's answer: none soon
                await asyncio.sleep(0.1)

        sending = asyncio.create_task(keep_sending())
        try:
            while c.a.requests == requests + 1:
                assert time.monotonic() - killed < 6.0, "nobody probed after the prober died"
                await asyncio.sleep(0.01)
            probed_after_s = time.monotonic() - killed
        finally:
            sending.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await sending
        assert c.a.requests == requests + 2
        assert probed_after_s > 1.0, "daemon 2 probed while daemon 1's turn lasted"
        c.a.faults.hang = False
