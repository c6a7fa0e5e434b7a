"""What one daemon does for every daemon on one Redis: balance checks and probes.

A vendor counts its balance queries per account, not per daemon (esms100:
once a minute), so two daemons must not query twice as often; and when a
vendor's ejection ends, one probe tells every daemon whether it is back, so
two daemons must not send it two.  The simulators count what reached them.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.vendor_cluster import vendor_cluster
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
