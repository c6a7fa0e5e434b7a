"""Two daemons behind one load balancer, sharing one Redis: to a client, one daemon.

Both run in this process on real sockets, with the session's private
redis-server and a key prefix of this test's own; the vendor simulators'
records show what really went out.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path
from typing import Any

from adapters.chuanglan.simulator import ChuanglanSimulator
from adapters.esms100.simulator import Esms100Simulator
from adapters.simulator import SimulatorServer
from proxy.ingest.pollers import Poller
from proxy.serve import Daemon
from tests.conftest import CPID, PASSWORD, DaemonFactory, base_config
from tests.e2e.legacy_client import LegacyClient
from tests.redis_server import RedisServer

TEXT = "【ACME】您的验证码是 246810"
PHONES = ["13800138000", "13900139000"]
NEW_PASSWORD = "changed-on-a"


def shared_config(
    tmp_path: Path, redis: RedisServer, prefix: str, vendor: dict[str, Any], **reports: Any
) -> dict[str, Any]:
    state = {"engine": "redis", "redis_url": redis.url, "redis_prefix": prefix}
    config = base_config(tmp_path, state=state, vendors=[vendor])
    config["reports"] = {"poll_interval_override_s": 0.1, **reports}
    return config


def vendor_entry(kind: str, server: SimulatorServer) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": kind,
        "base_url": server.url,
        "price_per_segment": 0.05,
        "timeout_s": 1.0,
        "connect_timeout_s": 0.5,
        **server.simulator.credentials(),
    }


def cppwd(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest().upper()


async def test_two_daemons_are_one_to_their_clients(
    start_daemon: DaemonFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    sim = ChuanglanSimulator()
    async with SimulatorServer(sim) as server:
        config = shared_config(
            tmp_path,
            redis_server,
            f"e2e-{uuid.uuid4().hex[:8]}:",
            vendor_entry("chuanglan", server),
        )
        a = await start_daemon(config)
        b = await start_daemon(config)
        # The vendor pushes its reports to B only.
        sim.faults.push_url = f"{b.push_url}/push/chuanglan"
        sim.faults.report_delay_s = 0.05
        on_a = LegacyClient(a.legacy_url, CPID, PASSWORD)
        on_b = LegacyClient(b.legacy_url, CPID, PASSWORD)

        # A send through A, and the client's retry of it through B: sent once.
        assert await on_a.send(PHONES, TEXT) == b"0"
        assert sorted(sim.phones_of(TEXT)) == PHONES
        assert await on_b.send(PHONES, TEXT) == b"0"
        assert sorted(sim.phones_of(TEXT)) == PHONES

        # Reports pushed into B are served once, to the client polling A.
        got = await on_a.wait_reports(len(PHONES))
        assert sorted((r.phone, r.status) for r in got) == [(p, 1) for p in PHONES]
        await asyncio.sleep(0.3)  # a second copy would have arrived by now
        assert await on_a.call("/qreport/") == b"0"
        assert await on_b.call("/qreport/") == b"0"

        # A password changed through A works through B at once ...
        query = f"oldpwd={cppwd(PASSWORD)}&newpwd={NEW_PASSWORD}"
        assert await on_a.call("/ent/", query) == b"0"
        renamed = LegacyClient(b.legacy_url, CPID, NEW_PASSWORD)
        assert await renamed.call("/qreport/") == b"0"
        assert await renamed.send("13700137000", TEXT) == b"0"
        # ... and the old one stops working there at B's next refresh.
        await b.engine.clients.refresh()
        assert await on_b.call("/qreport/") == b"-1"
        assert await on_a.call("/qreport/") == b"-1"


def report_pollers(daemon: Daemon) -> list[Poller]:
    return [p for p in daemon.engine.ingest.pollers.pollers if p.what == "reports"]


async def test_one_daemon_polls_an_account_and_another_takes_over(
    start_daemon: DaemonFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    sim = Esms100Simulator(cpid="vendor-acct", password="vendor-pw")
    async with SimulatorServer(sim) as server:
        config = shared_config(
            tmp_path, redis_server, f"e2e-{uuid.uuid4().hex[:8]}:", vendor_entry("esms100", server)
        )
        a = await start_daemon(config)
        b = await start_daemon(config)
        sim.faults.report_delay_s = 0.05
        assert await LegacyClient(a.legacy_url, CPID, PASSWORD).send(PHONES, TEXT) == b"0"
        got = await LegacyClient(b.legacy_url, CPID, PASSWORD).wait_reports(len(PHONES))
        assert sorted(r.phone for r in got) == PHONES

        [on_a], [on_b] = report_pollers(a), report_pollers(b)
        holder, other = (on_a, on_b) if on_a.polls else (on_b, on_a)
        assert holder.polls > 0 and holder.standby == 0, (holder, other)
        assert other.polls == 0 and other.standby > 0, (holder, other)

        # The holder goes away; once its lease runs out the other polls.
        await (a if holder is on_a else b).stop()
        for _ in range(60):
            if other.polls:
                break
            await asyncio.sleep(0.1)
        assert other.polls > 0, other
